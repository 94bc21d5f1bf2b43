"""The rules a team relies on, as values in and values out: verdicts, votes, releases,
baselines and gates. No database, no Slack, no provider: milliseconds each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.approvals import APPROVE, REJECT, approvers_of, judge_reaction, needs_gate
from commands.eval.compare import Side, compare_sides
from commands.releases import PastRun, choose_baseline, new_releases
from commands.verdicts import proposal_candidate
from storage.tables import SampleResult


def side(model: str, outcomes: list[bool | None], run_id: int = 1) -> Side:
    """A model's results: True passed, False failed, None errored."""
    results = {
        i: SampleResult(
            run_id=run_id,
            model=model,
            item_index=i,
            status="errored" if ok is None else ("passed" if ok else "failed"),
        )
        for i, ok in enumerate(outcomes)
    }
    return Side(model, model, run_id, results)


# Verdicts ---------------------------------------------------------------------------


def test_a_challenger_that_fixes_many_samples_is_better() -> None:
    base = side("prod", [False] * 30 + [True] * 10)
    challenger = side("new", [True] * 40)
    ((got, diff),) = compare_sides("s", base, [challenger]).challengers
    assert got.model == "new"
    assert (diff.improved, diff.regressed, diff.paired) == (30, 0, 40)
    assert diff.diff_pp == pytest.approx(75.0)
    assert diff.verdict == "better"


def test_a_few_flips_either_way_is_no_significant_difference() -> None:
    base = side("prod", [True, False, True, False] * 5)
    challenger = side("new", [False, True, True, False] * 5)
    ((_, diff),) = compare_sides("s", base, [challenger]).challengers
    assert diff.verdict == "no significant difference"
    assert diff.diff_pp == pytest.approx(0.0)


def test_errored_samples_are_left_out_of_the_pairing() -> None:
    base = side("prod", [True, None, False, True])
    challenger = side("new", [True, True, None, False])
    ((_, diff),) = compare_sides("s", base, [challenger]).challengers
    assert diff.paired == 2  # items 0 and 3 were graded for both
    assert (diff.improved, diff.regressed) == (0, 1)


def test_a_proposal_follows_only_a_significantly_better_challenger_over_production() -> None:
    better = compare_sides("s", side("prod", [False] * 30), [side("new", [True] * 30)])
    same = compare_sides("s", side("prod", [True] * 30), [side("new", [True] * 30)])
    kw = {"over_production": True, "has_approvers": True}
    assert proposal_candidate(better, production="prod", **kw) == "new"
    assert proposal_candidate(same, production="prod", **kw) is None
    # The baseline is not production (or there is none): nothing to propose over it.
    assert proposal_candidate(better, production="other", **kw) is None
    assert proposal_candidate(better, production=None, **kw) is None
    # A fine-tune against its base: over the baseline, whatever production is.
    assert (
        proposal_candidate(better, production=None, over_production=False, has_approvers=True)
        == "new"
    )
    # Nobody could approve it: no proposal.
    assert (
        proposal_candidate(better, production="prod", over_production=True, has_approvers=False)
        is None
    )


def test_the_best_of_several_better_challengers_is_proposed() -> None:
    c = compare_sides(
        "s",
        side("prod", [False] * 40),
        [side("good", [True] * 25 + [False] * 15), side("best", [True] * 40)],
    )
    assert proposal_candidate(c, production="prod", over_production=True, has_approvers=True) == (
        "best"
    )


# Votes ------------------------------------------------------------------------------

APPROVERS = {"UAPPROVER", "UOWNER"}


def judge(reaction: str, user: str, *, added: bool = True, self_ok: bool = False) -> str:
    j = judge_reaction(
        reaction=reaction,
        user=user,
        added=added,
        approvers=APPROVERS,
        proposer="UOWNER",
        self_approval=self_ok,
    )
    return j.kind if j.vote is None else j.vote


def test_only_approvers_vote_and_only_with_the_two_emoji() -> None:
    assert judge(APPROVE, "UAPPROVER") == "approve"
    assert judge(REJECT, "UAPPROVER") == "reject"
    assert judge(f"{REJECT}::skin-tone-3", "UAPPROVER") == "reject"
    assert judge("thumbsup", "UAPPROVER") == "ignored"
    assert judge(APPROVE, "") == "ignored"
    assert judge(APPROVE, "USOMEONE") == "not_approver"


def test_a_proposer_cannot_approve_their_own_proposal_unless_the_suite_allows_it() -> None:
    assert judge(APPROVE, "UOWNER") == "self_approval"
    assert judge(APPROVE, "UOWNER", self_ok=True) == "approve"
    assert judge(REJECT, "UOWNER") == "reject"  # withdrawing your own is fine
    assert judge(APPROVE, "UOWNER", added=False) == "approve"  # removing a vote


def test_approvers_are_the_deployment_and_the_suite_owners() -> None:
    assert approvers_of(["U1"], ["U2", "U1"]) == {"U1", "U2"}
    assert approvers_of([], []) == set()


# Gates ------------------------------------------------------------------------------


def test_a_fine_tune_over_the_limit_or_of_unknown_cost_waits_for_an_approver() -> None:
    assert not needs_gate(99.99, 100.0)
    assert not needs_gate(100.0, 100.0)
    assert needs_gate(100.01, 100.0)
    assert needs_gate(None, 100.0)


# Releases ---------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_only_models_that_appear_after_the_watch_was_added_are_releases() -> None:
    first_seen = {
        "gpt-old": T0 - timedelta(days=3),
        "gpt-at-add": T0,
        "gpt-new": T0 + timedelta(hours=1),
        "other-new": T0 + timedelta(hours=1),
    }
    listed = [*first_seen, "gpt-unrecorded"]
    assert new_releases(listed, glob="gpt-*", first_seen=first_seen, baseline_at=T0) == ["gpt-new"]
    # The first poll only records what exists.
    assert new_releases(listed, glob="*", first_seen=first_seen, baseline_at=None) == []


# Baselines --------------------------------------------------------------------------


def past(run_id: int, models: list[str], rates: dict[str, float | None], **kw: object) -> PastRun:
    fields: dict[str, object] = {
        "status": "finished",
        "data_version": "v1",
        "total": 10,
        "sample_limit": None,
    }
    fields.update(kw)
    return PastRun(run_id, models=models, pass_rates=rates, **fields)  # type: ignore[arg-type]


def test_production_is_the_baseline_and_a_full_run_of_it_is_reused() -> None:
    runs = [past(7, ["prod"], {"prod": 0.8})]
    b = choose_baseline("new", production="prod", runs=runs, data_version="v1", total=10)
    assert (b.model, b.basis, b.base_run, b.models) == ("prod", "production", 7, ["new"])


def test_production_is_run_again_when_no_full_run_on_this_data_exists() -> None:
    runs = [
        past(7, ["prod"], {"prod": 0.8}, data_version="v0"),
        past(8, ["prod"], {"prod": 0.8}, sample_limit=5),
        past(9, ["prod"], {"prod": 0.8}, status="cancelled"),
    ]
    b = choose_baseline("new", production="prod", runs=runs, data_version="v1", total=10)
    assert (b.model, b.base_run, b.models) == ("prod", None, ["prod", "new"])


def test_without_production_the_best_recent_run_is_the_baseline() -> None:
    runs = [past(3, ["a", "b"], {"a": 0.5, "b": 0.9}), past(4, ["c"], {"c": 0.7})]
    b = choose_baseline("new", production=None, runs=runs, data_version="v1", total=10)
    assert (b.model, b.basis, b.base_run, b.models) == ("b", "best recent run", 3, ["new"])


def test_with_nothing_to_compare_the_new_model_stands_alone() -> None:
    b = choose_baseline("new", production=None, runs=[], data_version="v1", total=10)
    assert (b.model, b.base_run, b.models) == (None, None, ["new"])
    b = choose_baseline("new", production="new", runs=[], data_version="v1", total=10)
    assert b.models == ["new"]  # the release is production already

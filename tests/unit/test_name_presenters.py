"""Names in the messages about proposals, watches and `/models` are shown literally.

A suite, model, provider, alias or glob, a provider's error text and even a user id may
contain `<!channel>`, a mention, a disguised link, `*`, `_` or a backtick. In Slack none
of it may become live mrkdwn (escaped, and shown as code with backticks neutralised); in a
terminal (the plain style) it prints as written. Ordinary names read exactly as before:
the exact lines below are the texts users already see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import pytest

from bot.presenters.mrkdwn import SLACK
from bot.presenters.plain import PLAIN
from bot.presenters.slack import StyledPresenter
from commands.reports import (
    AliasHistory,
    AliasMove,
    EvidenceRun,
    MissingEvidence,
    PairedEvidence,
    ProductionModels,
    ProposalReport,
    ProvidedModels,
    ProviderFailure,
    RankedModel,
    RetirementNotice,
    ServedModel,
    StartedRun,
    WatchAdded,
    WatchCheck,
    WatchChecked,
    WatchLine,
    WatchList,
)

HOSTILE = "<!channel> <@U1> <http://x|y> *b* _i_ `t`"
APPROVER = "U0OWNER"  # a real user id: its mention is meant to be live
WHEN = datetime(2026, 12, 1, 10, 30)

slack = StyledPresenter(SLACK)
plain = StyledPresenter(PLAIN)


def live_mrkdwn(text: str) -> list[str]:
    """What Slack would act on: <...> sequences (specials, mentions, links)."""
    return re.findall(r"<[^<>]*>", text)


def outside_code(text: str) -> str:
    """The text with inline code spans removed: where * and _ would format."""
    return re.sub(r"`[^`]*`", "", text)


def assert_shown_literally(slack_text: str, plain_text: str) -> None:
    assert set(live_mrkdwn(slack_text)) <= {f"<@{APPROVER}>"}, slack_text
    assert "&lt;!channel&gt;" in slack_text and "&lt;http://x|y&gt;" in slack_text
    rest = outside_code(slack_text)
    assert "!channel" not in rest and "*b*" not in rest and "_i_" not in rest, slack_text
    assert "`t`" not in slack_text, "a backtick in a name ended its code span"
    assert HOSTILE in plain_text, plain_text


def evidence_run(model: str, run: str = "r2") -> EvidenceRun:
    return EvidenceRun(model, run, 17, 20, 0.85, (0.64, 0.95))


def proposal(status: str, **kw: object) -> ProposalReport:
    fields: dict[str, object] = dict(
        id=7,
        suite=HOSTILE,
        alias="production",
        candidate=HOSTILE,
        current=HOSTILE,
        proposer=HOSTILE,
        status=status,
        approvals_needed=1,
        approvers=(APPROVER, HOSTILE),
        approvals=(HOSTILE,),
        candidate_run=evidence_run(HOSTILE),
        current_run=evidence_run(HOSTILE, "r1"),
        paired=PairedEvidence("r2 and r1", 20, 85.0, (60.0, 94.0), 1e-5, 17, 0, "better"),
        expires_at=WHEN,
        decided_at=WHEN,
        decided_by=HOSTILE,
        void=MissingEvidence(HOSTILE, HOSTILE, HOSTILE),
    )
    fields.update(kw)
    return ProposalReport(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["open", "approved", "rejected", "expired", "void"])
def test_a_proposal_shows_its_names_literally(status: str) -> None:
    report = proposal(status)
    assert_shown_literally(slack.proposal(report), plain.proposal(report))
    if status == "expired":  # the thread says only that nothing changed: no names
        assert live_mrkdwn(slack.proposal_outcome(report)) == []
    elif status != "open":
        assert_shown_literally(slack.proposal_outcome(report), plain.proposal_outcome(report))


def test_a_proposal_without_evidence_or_production_shows_the_candidate_literally() -> None:
    report = proposal("open", current=None, candidate_run=None, current_run=None, paired=None)
    assert_shown_literally(slack.proposal(report), plain.proposal(report))


def test_a_void_reason_kept_as_text_by_an_older_row_is_not_live() -> None:
    report = proposal("void", void=HOSTILE, suite="s", candidate="m", current=None)
    text = slack.proposal_outcome(report)
    assert live_mrkdwn(text) == [] and "&lt;!channel&gt;" in text
    assert "*b*" not in text and "_i_" not in text  # emphasis cannot pair
    assert HOSTILE in plain.proposal_outcome(report)


def test_a_refusal_for_missing_evidence_shows_its_names_literally() -> None:
    missing = MissingEvidence(HOSTILE, HOSTILE, HOSTILE)
    assert_shown_literally(slack.line(missing.words()), plain.line(missing.words()))
    gone = MissingEvidence(HOSTILE)
    assert_shown_literally(slack.line(gone.words()), plain.line(gone.words()))


def test_a_proposal_reads_as_before_for_ordinary_names() -> None:
    report = proposal(
        "open",
        suite="parity",
        candidate="m-good",
        current="m-bad",
        proposer="U9",
        approvers=(APPROVER,),
        approvals=(),
        candidate_run=evidence_run("m-good"),
        current_run=EvidenceRun("m-bad", "r1", 0, 20, 0.0, (0.0, 0.16)),
    )
    assert slack.proposal(report).splitlines() == [
        ":ballot_box_with_check: *Proposal p7*: `m-good` as production of `parity` (now "
        "`m-bad`) — 85.0% vs 0.0%, +85.0 pp, p<0.001, better → react :white_check_mark: to "
        "approve (1 approval needed)",
        "`parity` production: `m-bad` → `m-good` · proposed by <@U9>",
        "*Evidence*",
        "• candidate `m-good` in r2: 17/20 passed — 85.0% (95% CI 64.0–95.0%)",
        "• current `m-bad` in r1: 0/20 passed — 0.0% (95% CI 0.0–16.0%)",
        "• paired on 20 samples of r2 and r1: +85.0 pp (95% CI +60.0 to +94.0), p = 1e-05, "
        "17 improved, 0 regressed → better",
        "*Approvers*: <@U0OWNER> · needs 1 approval, 0 so far · expires 2026-12-01 10:30 UTC",
        "React :white_check_mark: to approve or :x: to reject.",
    ]
    void = proposal("void", suite="parity", candidate="m-good", current=None, approvals=("U2",))
    void = ProposalReport(**{**void.__dict__, "void": MissingEvidence("parity", "m-good")})
    assert slack.proposal_outcome(void).startswith(
        ":no_entry: Not promoted: `m-good` has no finished, complete run on `parity`'s current "
        "data: run `/eval run parity m-good` (no `limit=`), then propose it again."
    )
    assert slack.proposal_outcome(void).endswith(" `parity` production stays unset.")
    assert ".." not in slack.proposal_outcome(void)  # the reason's own full stop, once


def watch(**kw: object) -> WatchLine:
    fields: dict[str, object] = dict(
        id=3,
        glob=HOSTILE,
        drift=False,
        provider=HOSTILE,
        every_s=3600,
        suites=(HOSTILE, "qa"),
        paused=True,
        last_checked_at=WHEN,
    )
    fields.update(kw)
    return WatchLine(**fields)  # type: ignore[arg-type]


MESSAGES: dict[str, Callable[[StyledPresenter], str]] = {
    "watch added": lambda p: p.watch_added(WatchAdded(HOSTILE, watch(), matching=4)),
    "watch added, first check failed": lambda p: p.watch_added(
        WatchAdded(APPROVER, watch(), failure=ProviderFailure("server", HOSTILE))
    ),
    "watches": lambda p: p.watches(WatchList((watch(), watch(drift=True, glob="@production")))),
    "watch check": lambda p: p.watch_check(
        WatchCheck(
            (
                WatchChecked(3, HOSTILE, False, runs=(StartedRun(4, HOSTILE, HOSTILE),)),
                WatchChecked(4, "@production", True, runs=(StartedRun(5, "qa", HOSTILE, True),)),
                WatchChecked(5, "m-*", False, failure=ProviderFailure("server", HOSTILE)),
                WatchChecked(6, HOSTILE, False),
            )
        )
    ),
    "retirement": lambda p: p.retirement(
        RetirementNotice(
            3,
            HOSTILE,
            HOSTILE,  # the shutdown date, as the provider lists it
            12,
            False,
            (HOSTILE, "gone"),
            ((HOSTILE, (RankedModel(HOSTILE, 0.85, 17, 20, 2),)),),
        )
    ),
    "production models": lambda p: p.production_models(
        ProductionModels(((HOSTILE, {HOSTILE: HOSTILE}), ("qa", {})))
    ),
    "alias history": lambda p: p.alias_history(
        AliasHistory(
            HOSTILE,
            (
                AliasMove(WHEN, HOSTILE, HOSTILE, HOSTILE, (APPROVER, HOSTILE), 2),
                AliasMove(WHEN, "production", None, HOSTILE, (), None),
            ),
        )
    ),
    "provided models": lambda p: p.provided_models(
        ProvidedModels(HOSTILE, HOSTILE + ":", (ServedModel(HOSTILE, HOSTILE),), 90)
    ),
}


@pytest.mark.parametrize("kind", MESSAGES)
def test_watch_and_models_messages_show_names_literally(kind: str) -> None:
    assert_shown_literally(MESSAGES[kind](slack), MESSAGES[kind](plain))


def test_watch_and_models_lines_read_as_before_for_ordinary_names() -> None:
    line = watch(glob="m-*", provider="default", suites=("parity",), paused=False)
    assert slack.watch_added(WatchAdded(APPROVER, line, matching=2)) == (
        "<@U0OWNER> added a watch: `w3` `m-*` on `default` every 1h → `parity` · last checked "
        "2026-12-01 10:30 UTC. 2 matching models are listed now; only models that appear later "
        "count as releases."
    )
    checked = WatchCheck((WatchChecked(3, "m-*", False, runs=(StartedRun(4, "parity", "m-new"),)),))
    assert slack.watch_check(checked) == (
        "*Checked*\n• `w3` `m-*`: new model `m-new`: running `parity` as `r4`"
    )
    history = AliasHistory("qa", (AliasMove(WHEN, "production", "m-a", "m-b", ("U2",), 4),))
    assert slack.alias_history(history) == (
        "*Aliases of `qa`*, newest first\n"
        "• 2026-12-01 10:30 production: `m-a` → `m-b` by <@U2> (p4)"
    )


def test_a_long_provider_id_is_cut_and_stays_inside_its_code_span() -> None:
    long = "a`" * 60
    text = slack.provided_models(ProvidedModels("default", "", (ServedModel(long, None),), 1))
    item = text.splitlines()[1]
    assert item.startswith("• `") and item.endswith("…`") and item.count("`") == 2

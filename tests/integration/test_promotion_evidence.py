"""Promotion on evidence (issue 11, item 4), on SQLite and PostgreSQL: a proposal needs a
finished, complete run of the candidate on the suite's current data (paired with the
production model when there is one), and the deciding approval re-checks it in the same
transaction that would move the alias."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.presenters.mrkdwn import SLACK
from commands.promote.evidence import (
    evidence_run,
    evidence_runs,
    gather_evidence,
    missing_evidence,
)
from commands.reports import MissingEvidence
from storage import aliases as alias_store
from storage import proposals as store
from storage import runs as run_store
from storage.db import Database
from storage.tables import Proposal, SampleResult
from tests.integration.test_run_queries import run


def missing(db: Database, candidate: str, current: str | None, version: str = "v2") -> str | None:
    """The refusal as Slack shows it; None when the evidence is there."""
    reason = db.call(
        missing_evidence, suite="s", data_version=version, candidate=candidate, current=current
    )
    return SLACK.title(reason.words()) if reason is not None else None


def test_only_a_finished_complete_run_on_the_current_data_is_evidence(
    database: Database,
) -> None:
    run(database, ["cand"], sample_limit=3)
    run(database, ["cand"], data_version="v1")
    run(database, ["cand"], status="cancelled")
    run(database, ["cand"], status="running")
    run(database, ["cand"], suite="other")
    reason = missing(database, "cand", None)
    assert reason is not None and "`/eval run s cand` (no `limit=`)" in reason
    assert missing(database, "gpt-9-ultra", None) is not None
    full = run(database, ["cand"])
    assert missing(database, "cand", None) is None
    found = database.call(
        evidence_run, suite="s", data_version="v2", candidate="cand", current=None
    )
    assert found is not None and found.id == full


def test_with_a_production_model_the_candidate_is_paired_with_it(database: Database) -> None:
    """Paired with production item by item: in one run that ran both, else the candidate's
    complete run against production's complete run on the same data (a release alert's
    comparison), never against production on older data."""
    cand = run(database, ["cand"])
    run(database, ["prod"], data_version="v1")
    run(database, ["prod"], sample_limit=5)
    reason = missing(database, "cand", "prod")
    assert reason is not None and "`/eval run s prod cand`" in reason
    prod = run(database, ["prod"])
    assert missing(database, "cand", "prod") is None
    # Items 0-5 in both runs; prod fails 0-3, cand passes all but 5: 4 improved, 1 regressed.
    results = [
        SampleResult(
            run_id=prod, model="prod", item_index=i, status="failed" if i < 4 else "passed"
        )
        for i in range(6)
    ] + [
        SampleResult(
            run_id=cand, model="cand", item_index=i, status="failed" if i == 5 else "passed"
        )
        for i in range(6)
    ]
    database.call(run_store.save_results, results=results)
    found = database.call(
        evidence_runs, suite="s", data_version="v2", candidate="cand", current="prod"
    )
    assert found is not None and (found.candidate.id, found.current.id) == (cand, prod)
    evidence = database.call(
        gather_evidence, suite="s", data_version="v2", candidate="cand", current="prod"
    )
    assert evidence["runs"] == [f"r{cand}", f"r{prod}"]
    paired = evidence["paired"]
    assert paired["run"] == f"r{cand} and r{prod}"
    assert (paired["paired"], paired["improved"], paired["regressed"]) == (6, 4, 1)
    assert round(paired["diff_pp"], 1) == 50.0
    both = run(database, ["prod", "cand", "other"])
    found = database.call(
        evidence_runs, suite="s", data_version="v2", candidate="cand", current="prod"
    )
    assert found is not None and found.candidate.id == found.current.id == both


def _proposal(db: Database, candidate: str) -> int:
    p = db.call(
        store.create_proposal,
        suite="s",
        candidate=candidate,
        current=None,
        proposer="U1",
        approvals_needed=1,
        lifetime=timedelta(days=1),
        evidence={},
    )
    assert p.id is not None
    return p.id


def test_the_deciding_vote_rechecks_and_a_void_proposal_moves_nothing(
    database: Database,
) -> None:
    run(database, ["cand"])
    version = {"now": "v2"}

    def gate(session: Session, proposal: Proposal) -> dict[str, Any] | None:
        reason = missing_evidence(
            session,
            suite=proposal.suite,
            data_version=version["now"],
            candidate=proposal.candidate,
            current=None,
        )
        return reason.as_json() if reason is not None else None

    held = _proposal(database, "cand")
    version["now"] = "v3"  # the suite's data changed after the proposal
    outcome = database.call(
        store.vote, proposal_id=held, user_id="U2", kind="approve", added=True, gate=gate
    )
    assert outcome.result == "void" and outcome.proposal.status == "void"
    kept = MissingEvidence.from_json(outcome.proposal.evidence["void_reason"])
    assert "no finished, complete run" in SLACK.title(kept.words())
    assert database.call(alias_store.all_aliases) == {}

    version["now"] = "v2"
    fine = _proposal(database, "cand")
    outcome = database.call(
        store.vote, proposal_id=fine, user_id="U2", kind="approve", added=True, gate=gate
    )
    assert outcome.result == "approved"
    assert database.call(alias_store.all_aliases) == {"s": {"production": "cand"}}

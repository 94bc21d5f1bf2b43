"""The evidence a proposal shows: the suite's latest runs of the candidate and current model."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from commands.stats import paired_diff, wilson_interval
from storage import runs as store
from storage.tables import EvalRun


def _model_summary(session: Session, run: EvalRun, model: str) -> dict[str, Any]:
    counts = store.tallies(session=session, run_id=run.id or 0, with_latencies=False)
    t = counts.get(model, store.ModelTally())
    lo, hi = wilson_interval(t.passed, t.graded)
    return {
        "model": model,
        "run": f"r{run.id}",
        "passed": t.passed,
        "graded": t.graded,
        "errored": t.errored,
        "pass_rate": t.pass_rate,
        "ci95": [lo, hi],
        "data_version": run.data_version,
    }


def _pairs(session: Session, run_id: int, base: str, challenger: str) -> list[tuple[bool, bool]]:
    rows = store.results(session=session, run_id=run_id)
    graded: dict[str, dict[int, bool]] = {base: {}, challenger: {}}
    for r in rows:
        if r.model in graded and r.status != "errored":
            graded[r.model][r.item_index] = r.status == "passed"
    a, b = graded[base], graded[challenger]
    return [(a[i], b[i]) for i in sorted(a.keys() & b.keys())]


def gather_evidence(
    session: Session, *, suite: str, candidate: str, current: str | None
) -> dict[str, Any]:
    """Latest finished runs of the candidate (and current model); a paired diff when one
    run has both. Empty lists mean no evidence: the proposal says so."""
    finished = [
        r
        for r in store.recent_runs(session=session, suite=suite, limit=200)
        if r.status == "finished"
    ]
    evidence: dict[str, Any] = {"runs": []}
    both = next(
        (r for r in finished if current and candidate in r.models and current in r.models), None
    )
    cand_run = both or next((r for r in finished if candidate in r.models), None)
    if cand_run is not None:
        evidence["candidate"] = _model_summary(session, cand_run, candidate)
        evidence["runs"].append(f"r{cand_run.id}")
    if current:
        cur_run = both or next((r for r in finished if current in r.models), None)
        if cur_run is not None:
            evidence["current"] = _model_summary(session, cur_run, current)
            if f"r{cur_run.id}" not in evidence["runs"]:
                evidence["runs"].append(f"r{cur_run.id}")
    if both is not None and current:
        d = paired_diff(_pairs(session, both.id or 0, current, candidate))
        evidence["paired"] = {
            "run": f"r{both.id}",
            "diff_pp": d.diff_pp,
            "ci95_pp": list(d.ci95_pp),
            "p_value": d.p_value,
            "improved": d.improved,
            "regressed": d.regressed,
            "paired": d.paired,
            "verdict": d.verdict,
        }
    return evidence


def evidence_run(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> EvalRun | None:
    """The run a promotion rests on: the newest finished, complete run (every sample, no
    `limit=`) of the suite's current data that ran the candidate, paired with the current
    model in that same run when there is one. None: no evidence."""
    for run in store.complete_runs(
        session, suite=suite, data_version=data_version, model=candidate
    ):
        if current is None or current == candidate or current in run.models:
            return run
    return None


def missing_evidence(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> str | None:
    """Why `candidate` may not be proposed (or approved) now, with the command that would
    make the evidence; None when the evidence is there."""
    found = evidence_run(
        session, suite=suite, data_version=data_version, candidate=candidate, current=current
    )
    if found is not None:
        return None
    models = f"{current} {candidate}" if current and current != candidate else candidate
    paired = f" alongside the production model `{current}`" if current else ""
    return (
        f"`{candidate}` has no finished, complete run on `{suite}`'s current data{paired}: "
        f"run `/eval run {suite} {models}` (no `limit=`), then propose it again."
    )

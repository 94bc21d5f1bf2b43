"""The evidence a proposal shows: the suite's latest runs of the candidate and current model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from commands.reports import MissingEvidence
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


def _outcomes(session: Session, run_id: int, model: str) -> dict[int, bool]:
    """Pass (True) or fail per item of `model` in a run; errored samples are left out."""
    return {
        r.item_index: r.status == "passed"
        for r in store.results(session=session, run_id=run_id)
        if r.model == model and r.status != "errored"
    }


def _pairs(
    session: Session, base_run: int, base: str, cand_run: int, challenger: str
) -> list[tuple[bool, bool]]:
    """The two models' outcomes item by item. Both runs are complete runs of the same data
    version, so item `i` is the same sample in each (one run or two)."""
    a = _outcomes(session, base_run, base)
    b = _outcomes(session, cand_run, challenger)
    return [(a[i], b[i]) for i in sorted(a.keys() & b.keys())]


@dataclass(frozen=True)
class Evidence:
    """The runs a promotion rests on: `candidate` ran the candidate, `current` the production
    model (the same run when one ran both; None when there is no production model)."""

    candidate: EvalRun
    current: EvalRun | None

    @property
    def run_ids(self) -> list[str]:
        ids = [f"r{self.candidate.id}"]
        if self.current is not None and self.current.id != self.candidate.id:
            ids.append(f"r{self.current.id}")
        return ids


def evidence_runs(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> Evidence | None:
    """The runs a promotion rests on: finished, complete runs (every sample, no `limit=`)
    of the suite's current data. The newest run that ran the candidate beside the current
    model is preferred; otherwise the candidate's newest complete run is paired item by item
    with the current model's newest one on the same data (what a release alert compares:
    the new model's run against production's earlier run). None: no evidence."""
    newest: EvalRun | None = None
    for run in store.complete_runs(
        session, suite=suite, data_version=data_version, model=candidate
    ):
        if current is None or current == candidate or current in run.models:
            return Evidence(run, run if current and current != candidate else None)
        newest = newest or run
    if newest is None or current is None:
        return None
    base = store.latest_complete_run(session, suite=suite, data_version=data_version, model=current)
    return Evidence(newest, base) if base is not None else None


def evidence_run(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> EvalRun | None:
    """The run of the candidate a promotion rests on (see `evidence_runs`), or None."""
    found = evidence_runs(
        session, suite=suite, data_version=data_version, candidate=candidate, current=current
    )
    return found.candidate if found is not None else None


def gather_evidence(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> dict[str, Any]:
    """What a proposal shows: the candidate's (and current model's) results in the runs it
    rests on, and their paired difference item by item. Empty `runs`: no evidence."""
    found = evidence_runs(
        session, suite=suite, data_version=data_version, candidate=candidate, current=current
    )
    evidence: dict[str, Any] = {"runs": []}
    if found is None:
        return evidence
    evidence["runs"] = found.run_ids
    evidence["candidate"] = _model_summary(session, found.candidate, candidate)
    if found.current is None or current is None:
        return evidence
    evidence["current"] = _model_summary(session, found.current, current)
    d = paired_diff(
        _pairs(session, found.current.id or 0, current, found.candidate.id or 0, candidate)
    )
    evidence["paired"] = {
        "run": " and ".join(found.run_ids),
        "diff_pp": d.diff_pp,
        "ci95_pp": list(d.ci95_pp),
        "p_value": d.p_value,
        "improved": d.improved,
        "regressed": d.regressed,
        "paired": d.paired,
        "verdict": d.verdict,
    }
    return evidence


def missing_evidence(
    session: Session, *, suite: str, data_version: str, candidate: str, current: str | None
) -> MissingEvidence | None:
    """Why `candidate` may not be proposed (or approved) now, with the command that would
    make the evidence (`MissingEvidence.words`); None when the evidence is there."""
    found = evidence_runs(
        session, suite=suite, data_version=data_version, candidate=candidate, current=current
    )
    if found is not None:
        return None
    return MissingEvidence(suite=suite, candidate=candidate, current=current)

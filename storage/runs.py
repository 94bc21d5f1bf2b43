"""Eval runs and their sample results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import leases
from storage.tables import EvalRun, SampleResult, utcnow

ACTIVE = ("queued", "running")
TERMINAL = ("finished", "cancelled", "failed")


def create_run(
    session: Session,
    *,
    suite: str,
    data_version: str,
    models: Sequence[str],
    total: int,
    sample_limit: int | None = None,
    channel: str | None = None,
    user_id: str | None = None,
    origin: str = "slack",
    origin_ref: str | None = None,
) -> EvalRun:
    """Insert a queued run and return it with its id."""
    run = EvalRun(
        suite=suite,
        data_version=data_version,
        models=list(models),
        total=total,
        sample_limit=sample_limit,
        channel=channel,
        user_id=user_id,
        origin=origin,
        origin_ref=origin_ref,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, *, run_id: int) -> EvalRun | None:
    return session.get(EvalRun, run_id)


def set_message(session: Session, *, run_id: int, channel: str, ts: str) -> None:
    """Remember the message that shows the run, so a resumed run updates it."""
    run = session.get(EvalRun, run_id)
    if run is not None:
        run.channel, run.message_ts = channel, ts


def mark_running(session: Session, *, run_id: int) -> None:
    run = session.get(EvalRun, run_id)
    if run is not None and run.status == "queued":
        run.status = "running"
        run.started_at = run.started_at or utcnow()


def finish(session: Session, *, run_id: int, status: str, error: str | None = None) -> bool:
    """Move an active run to a terminal status; False if it had already ended."""
    if status not in TERMINAL:
        raise ValueError(status)
    run = session.get(EvalRun, run_id, with_for_update=True)
    if run is None or run.status in TERMINAL:
        return False
    run.status, run.error, run.finished_at = status, error, utcnow()
    return True


def drop_param(session: Session, *, run_id: int, model: str, param: str) -> None:
    """Record that `model` runs without the sampling parameter `param` it refused."""
    run = session.get(EvalRun, run_id, with_for_update=True)
    if run is not None:
        dropped = dict(run.adjustments or {})
        dropped[model] = sorted({*dropped.get(model, []), param})
        run.adjustments = dropped


def mark_announced(session: Session, *, run_id: int) -> None:
    run = session.get(EvalRun, run_id)
    if run is not None:
        run.announced = True


def active_runs(session: Session, *, channel: str | None = None) -> list[EvalRun]:
    query = select(EvalRun).where(col(EvalRun.status).in_(ACTIVE)).order_by(col(EvalRun.id))
    if channel is not None:
        query = query.where(EvalRun.channel == channel)
    return list(session.exec(query))


def orphaned_runs(session: Session, *, now: datetime, grace: timedelta) -> list[EvalRun]:
    """Runs no live process is looking after: to resume (or to announce).

    A run is held from its start until its summary is posted. It is orphaned when its
    owner's lease has lapsed (the owner crashed) or was released (a clean shutdown); one
    never claimed counts `grace` after it was created or ended, which leaves the process
    that created or cancelled it time to start or announce it.
    """
    before = now - grace
    lapsed = col(EvalRun.lease_until).is_not(None) & (col(EvalRun.lease_until) < now)
    never_held = col(EvalRun.lease_until).is_(None) & (
        (col(EvalRun.status).in_(ACTIVE) & (col(EvalRun.created_at) < before))
        | (col(EvalRun.finished_at) < before)
    )
    released = col(EvalRun.owner).is_(None) & col(EvalRun.lease_until).is_not(None)
    query = (
        select(EvalRun)
        .where(col(EvalRun.announced).is_(False))
        .where(lapsed | released | never_held)
        .where(col(EvalRun.origin) != "cli")  # a terminal's run belongs to its terminal
        .order_by(col(EvalRun.id))
    )
    return list(session.exec(query))


def held_runs(session: Session, *, now: datetime) -> list[EvalRun]:
    """Runs whose owner's lease still holds (a restart checks for its own)."""
    query = (
        select(EvalRun)
        .where(col(EvalRun.announced).is_(False))
        .where(col(EvalRun.owner).is_not(None))
        .where(col(EvalRun.lease_until) >= now)
    )
    return list(session.exec(query))


def claim(session: Session, *, run_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Take an unannounced run for `owner` unless another owner's lease still holds it."""
    return leases.claim(
        session=session,
        table=EvalRun,
        row_id=run_id,
        statuses=ACTIVE + TERMINAL,
        owner=owner,
        now=now,
        until=until,
    )


def release(session: Session, *, run_id: int, owner: str, now: datetime) -> None:
    """Give a run up so that another process may take it at once."""
    leases.release(session=session, table=EvalRun, row_id=run_id, owner=owner, now=now)


def complete_runs(
    session: Session,
    *,
    suite: str,
    data_version: str,
    model: str | None = None,
    limit: int | None = None,
) -> list[EvalRun]:
    """Finished runs of `suite` on `data_version` that covered every sample (no
    `limit=`), newest first; only those that ran `model` when it is given.

    This is what "the suite's last result" means wherever a baseline, a reusable run or
    a pass rate to show is looked up: a sampled run or one on older data says nothing
    about the suite as it is now.
    """
    query = (
        select(EvalRun)
        .where(EvalRun.suite == suite)
        .where(EvalRun.status == "finished")
        .where(EvalRun.data_version == data_version)
        .where(col(EvalRun.sample_limit).is_(None))
        .order_by(col(EvalRun.id).desc())
        .execution_options(yield_per=50)
    )
    found: list[EvalRun] = []
    # `models` is a JSON list: membership is checked here rather than in
    # dialect-specific SQL (json_each on SQLite, jsonb containment on PostgreSQL).
    result = session.exec(query)
    try:
        for run in result:
            if model is None or model in run.models:
                found.append(run)
                if limit is not None and len(found) >= limit:
                    break
    finally:
        result.close()  # stop streaming: the rest is not needed
    return found


def latest_complete_run(
    session: Session, *, suite: str, data_version: str, model: str | None = None
) -> EvalRun | None:
    """The newest of `complete_runs` (of `model` when given), or None."""
    runs = complete_runs(session, suite=suite, data_version=data_version, model=model, limit=1)
    return runs[0] if runs else None


def recent_runs(session: Session, *, suite: str, limit: int = 50) -> list[EvalRun]:
    query = (
        select(EvalRun).where(EvalRun.suite == suite).order_by(col(EvalRun.id).desc()).limit(limit)
    )
    return list(session.exec(query))


def save_results(session: Session, *, results: Iterable[SampleResult]) -> int:
    """Insert sample results, skipping any (run, model, item) already stored."""
    batch = list(results)
    if not batch:
        return 0
    run_ids = {r.run_id for r in batch}
    existing = set(
        session.exec(
            select(SampleResult.run_id, SampleResult.model, SampleResult.item_index).where(
                col(SampleResult.run_id).in_(run_ids)
            )
        ).all()
    )
    fresh = [r for r in batch if (r.run_id, r.model, r.item_index) not in existing]
    session.add_all(fresh)
    session.flush()
    return len(fresh)


class ResultRow(TypedDict):
    """A sample result as a plain row: what the run engine builds for every sample.

    The engine makes thousands of these a second; a `SampleResult` model object costs
    ten times more to build (SQLModel validation and SQLAlchemy instrumentation on every
    attribute), on the event loop. `save_result_rows` inserts them in one statement.
    """

    run_id: int
    model: str
    item_index: int
    status: str
    score: float | None
    output: str | None
    error: str | None
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    latency_ms: int
    truncated: bool
    cost_usd: float
    attempts: int
    created_at: datetime
    criteria: dict[str, Any] | None


def new_result_row(run_id: int, model: str, item_index: int) -> ResultRow:
    """An errored result with nothing measured yet, for the engine to fill in."""
    return {
        "run_id": run_id,
        "model": model,
        "item_index": item_index,
        "status": "errored",
        "score": None,
        "output": None,
        "error": None,
        "input_tokens": 0,
        "cached_input_tokens": 0,
        "output_tokens": 0,
        "latency_ms": 0,
        "truncated": False,
        "cost_usd": 0.0,
        "attempts": 1,
        "created_at": utcnow(),
        "criteria": None,
    }


def save_result_rows(session: Session, *, rows: Sequence[ResultRow]) -> int:
    """Insert result rows in one executemany, skipping any (run, model, item) already
    stored (or repeated in `rows`); returns how many were inserted.

    Only stored items in the batch's index range are read back, so a batch costs the
    same at the end of a 20,000-sample run as at its start.
    """
    if not rows:
        return 0
    table: Any = SampleResult.__table__  # type: ignore[attr-defined]
    by_run: dict[int, list[ResultRow]] = {}
    for row in rows:
        by_run.setdefault(row["run_id"], []).append(row)
    fresh: list[ResultRow] = []
    for run_id, group in by_run.items():
        indexes = [row["item_index"] for row in group]
        stored = session.execute(
            sa_select(table.c.model, table.c.item_index).where(
                table.c.run_id == run_id,
                table.c.item_index.between(min(indexes), max(indexes)),
            )
        ).all()
        seen: set[tuple[str, int]] = {(model, index) for model, index in stored}
        for row in group:
            key = (row["model"], row["item_index"])
            if key not in seen:
                seen.add(key)
                fresh.append(row)
    if fresh:
        session.execute(table.insert(), fresh)
    return len(fresh)


def done_items(session: Session, *, run_id: int) -> set[tuple[str, int]]:
    """(model, item_index) pairs already graded or errored in a run."""
    rows = session.exec(
        select(SampleResult.model, SampleResult.item_index).where(SampleResult.run_id == run_id)
    ).all()
    return {(m, i) for m, i in rows}


def results(
    session: Session, *, run_id: int, model: str | None = None, status: str | None = None
) -> list[SampleResult]:
    query = select(SampleResult).where(SampleResult.run_id == run_id)
    if model is not None:
        query = query.where(SampleResult.model == model)
    if status is not None:
        query = query.where(SampleResult.status == status)
    return list(session.exec(query.order_by(col(SampleResult.item_index))))


@dataclass
class ModelTally:
    """Counts and sums of one model in one run."""

    passed: int = 0
    failed: int = 0
    errored: int = 0
    truncated: int = 0  # answers cut at the output-token cap, whatever their status
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latencies_ms: list[int] = field(default_factory=list)

    @property
    def graded(self) -> int:
        return self.passed + self.failed

    @property
    def done(self) -> int:
        return self.graded + self.errored

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


def cost_per_sample(session: Session, *, suite: str, model: str) -> float | None:
    """The mean cost of one answered sample of `model` on `suite` so far, if any."""
    query = (
        sa_select(func.avg(col(SampleResult.cost_usd)), func.count())
        .join(EvalRun, col(EvalRun.id) == col(SampleResult.run_id))
        .where(col(EvalRun.suite) == suite)
        .where(col(SampleResult.model) == model)
        .where(col(SampleResult.status) != "errored")
    )
    mean, count = session.execute(query).one()
    return float(mean) if count else None


def tallies(session: Session, *, run_id: int, with_latencies: bool = True) -> dict[str, ModelTally]:
    """Per-model counts, tokens and cost of a run, computed in the database."""
    query = (
        sa_select(
            col(SampleResult.model),
            col(SampleResult.status),
            func.count(),
            func.sum(SampleResult.input_tokens),
            func.sum(SampleResult.cached_input_tokens),
            func.sum(SampleResult.output_tokens),
            func.sum(SampleResult.cost_usd),
            func.sum(case((col(SampleResult.truncated), 1), else_=0)),
        )
        .where(col(SampleResult.run_id) == run_id)
        .group_by(SampleResult.model, SampleResult.status)
    )
    out: dict[str, ModelTally] = {}
    for model, status, count, tin, tcached, tout, cost, cut in session.execute(query).all():
        tally = out.setdefault(model, ModelTally())
        setattr(tally, status, getattr(tally, status) + int(count))
        tally.truncated += int(cut or 0)
        tally.input_tokens += int(tin or 0)
        tally.cached_input_tokens += int(tcached or 0)
        tally.output_tokens += int(tout or 0)
        tally.cost_usd += float(cost or 0.0)
    if with_latencies:
        lat = select(SampleResult.model, SampleResult.latency_ms).where(
            SampleResult.run_id == run_id, SampleResult.status != "errored"
        )
        for model, ms in session.exec(lat).all():
            out.setdefault(model, ModelTally()).latencies_ms.append(int(ms))
    return out


def run_as_dict(
    run: EvalRun,
    counts: dict[str, ModelTally],
    criteria: dict[str, dict[str, CriterionTally]] | None = None,
) -> dict[str, Any]:
    """The run in the JSON shape of GET /api/runs/<id>; each model's `criteria` holds
    every testing criterion's own {passed, graded, pass_rate}."""

    def iso(value: datetime | None) -> str | None:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

    models: dict[str, Any] = {}
    for model in run.models:
        t = counts.get(model, ModelTally())
        models[model] = {
            "passed": t.passed,
            "failed": t.failed,
            "errored": t.errored,
            "graded": t.graded,
            "total": run.total,
            "pass_rate": round(t.pass_rate, 4) if t.pass_rate is not None else None,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "cost_usd": round(t.cost_usd, 6),
            "criteria": {
                name: {
                    "passed": c.passed,
                    "graded": c.graded,
                    "pass_rate": round(c.pass_rate, 4) if c.pass_rate is not None else None,
                }
                for name, c in (criteria or {}).get(model, {}).items()
            },
        }
    return {
        "id": f"r{run.id}",
        "suite": run.suite,
        "status": run.status,
        "data_version": run.data_version,
        "created_at": iso(run.created_at),
        "finished_at": iso(run.finished_at),
        "models": models,
    }


@dataclass
class CriterionTally:
    """One testing criterion's verdicts for one model in one run."""

    passed: int = 0
    graded: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


def criteria_tallies(session: Session, *, run_id: int) -> dict[str, dict[str, CriterionTally]]:
    """{model: {criterion: tally}} over the run's graded samples, criteria in suite order.

    Only samples that stored a breakdown count (errored ones, and results from before
    criteria existed, have none).
    """
    table: Any = SampleResult.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa_select(table.c.model, table.c.criteria)
        .where(table.c.run_id == run_id, table.c.criteria.is_not(None))
        .order_by(table.c.item_index)
    ).all()
    out: dict[str, dict[str, CriterionTally]] = {}
    for model, criteria in rows:
        if not isinstance(criteria, dict):
            continue
        per_model = out.setdefault(model, {})
        for name, verdict in criteria.items():
            tally = per_model.setdefault(str(name), CriterionTally())
            tally.graded += 1
            if isinstance(verdict, dict) and verdict.get("passed") is True:
                tally.passed += 1
    return out

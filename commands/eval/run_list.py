"""`/eval runs`: the recent runs of every suite (or one), finished or not.

`/eval status` shows what is in flight; this is where a run from yesterday is found
again: its id, suite, models, one word for its state, pass rates, when and who.
A queued run says what it waits for, so "queued" never reads like "stuck".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage import runs as store
from storage.tables import EvalRun


@dataclass(frozen=True)
class ListedRun:
    """One run as the list shows it."""

    id: int
    suite: str
    models: list[str]
    status: str  # queued running finished cancelled failed
    rates: dict[str, tuple[int, int]]  # model -> (passed, graded)
    created_at: datetime
    started_by: str  # "<@U1>", "watch w2", "fine-tune f1", "the CLI"
    limit: int | None
    waits_for: list[int]  # a queued run: the runs ahead of it


def _started_by(run: EvalRun) -> str:
    if run.user_id:
        return f"<@{run.user_id}>"
    try:
        ref = json.loads(run.origin_ref or "{}")
    except ValueError:
        ref = {}
    ref = ref if isinstance(ref, dict) else {}
    if run.origin in ("watch", "drift") and ref.get("watch"):
        return f"watch w{ref['watch']}"
    if run.origin == "finetune" and ref.get("job"):
        return f"fine-tune f{ref['job']}"
    return {"cli": "the CLI", "finetune": "a fine-tune"}.get(run.origin, "evalbot")


def listed_runs(session: Session, *, suite: str | None, limit: int) -> list[ListedRun]:
    """The newest `limit` runs (of `suite` when given), newest first."""
    query = select(EvalRun).order_by(col(EvalRun.id).desc()).limit(limit)
    if suite is not None:
        query = query.where(EvalRun.suite == suite)
    runs = list(session.exec(query))
    active = store.active_runs(session=session)
    running = [r.id or 0 for r in active if r.status == "running"]
    out: list[ListedRun] = []
    for run in runs:
        counts = store.tallies(session=session, run_id=run.id or 0, with_latencies=False)
        rates = {m: (counts[m].passed, counts[m].graded) for m in run.models if m in counts}
        # A queued run waits for the runs executing now and those queued before it.
        ahead = (
            running
            + [r.id or 0 for r in active if r.status == "queued" and (r.id or 0) < (run.id or 0)]
            if run.status == "queued"
            else []
        )
        out.append(
            ListedRun(
                id=run.id or 0,
                suite=run.suite,
                models=list(run.models),
                status=run.status,
                rates=rates,
                created_at=run.created_at,
                started_by=_started_by(run),
                limit=run.sample_limit,
                waits_for=ahead,
            )
        )
    return out


def _rate(passed: int, graded: int) -> str:
    return f"{passed}/{graded} ({passed / graded * 100:.1f}%)" if graded else "nothing graded"


def _model(name: str) -> str:
    shown = name if len(name) <= 60 else name[:59] + "…"
    safe = shown.replace("`", "\u02cb").replace("&", "&amp;").replace("<", "&lt;")
    return "`" + safe.replace(">", "&gt;") + "`"


def runs_text(runs: list[ListedRun], *, suite: str | None) -> str:
    """The list in Slack mrkdwn, one line a run."""
    scope = f" of `{suite}`" if suite else ""
    if not runs:
        return f"No runs{scope} yet. Start one with `/eval run <suite> <model>`."
    lines = [f"*Recent runs{scope}*, newest first"]
    for r in runs:
        parts: list[Any] = []
        for m in r.models:
            passed, graded = r.rates.get(m, (0, 0))
            parts.append(f"{_model(m)} {_rate(passed, graded)}" if graded else _model(m))
        state = r.status
        if r.status == "queued":
            state = (
                "queued behind " + ", ".join(f"`r{i}`" for i in r.waits_for)
                if r.waits_for
                else "queued"
            )
        part = f" · limit={r.limit}" if r.limit else ""
        lines.append(
            f"• `r{r.id}` `{r.suite}` · {', '.join(parts)} · {state}{part}"
            f" · {r.created_at:%Y-%m-%d %H:%M} UTC · by {r.started_by}"
        )
    return "\n".join(lines)

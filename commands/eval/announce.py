"""Posting a finished run: the summary in its message, failures in its thread.

Called once per run, and again (at start-up, by the resume job) for a run whose
announcement was not complete: each part is a step recorded when it succeeded
(commands.steps), so what was posted is not posted again.
"""

from __future__ import annotations

import logging
from typing import Any

from commands.eval.render import run_header
from commands.ports import ChatError, Posted
from commands.reports import Failure, FailureList, RunSummary
from commands.services import Ports
from commands.steps import Steps
from commands.suites.suite import Suite
from commands.suites.templates import TemplateError, render
from storage import runs as store
from storage.ids import format_id
from storage.tables import EvalRun

log = logging.getLogger(__name__)

MAX_FAILURES = 10


def expected_of(suite: Suite, item: dict[str, Any]) -> str | None:
    """What the grader compares against, rendered for the item (None if it has none)."""
    reference = suite.grader.get("reference")
    if not isinstance(reference, str):
        return None
    try:
        return render(reference, {"item": item, "sample": {"output_text": ""}})
    except TemplateError:
        return None


def input_of(suite: Suite, item: dict[str, Any]) -> str:
    """The last user message of the rendered input: what the model was asked."""
    for message in reversed(suite.input):
        if message.get("role") == "user":
            try:
                return render(str(message["content"]), {"item": item})
            except TemplateError:
                break
    return str(item)


def costs_of(
    services: Ports, models: list[str], counts: dict[str, store.ModelTally]
) -> dict[str, float | None]:
    """Cost per model; None where the price table does not know the model."""
    return {
        m: (counts[m].cost_usd if m in counts and services.prices.price(m) else None)
        for m in models
    }


def summary_for(
    services: Ports,
    run: EvalRun,
    counts: dict[str, store.ModelTally],
    criteria: dict[str, dict[str, store.CriterionTally]] | None = None,
) -> RunSummary:
    """The report of a stored run that has ended (or of where it stands)."""
    elapsed = None
    if run.started_at and run.finished_at:
        elapsed = (run.finished_at - run.started_at).total_seconds()
    return RunSummary(
        header=run_header(run),
        state=run.status,
        models=run.models,
        counts=counts,
        costs=costs_of(services, run.models, counts),
        elapsed_s=elapsed,
        error=run.error if run.status == "failed" else None,
        adjustments=dict(run.adjustments or {}),
        criteria=criteria or {},
    )


async def announce(services: Ports, run: EvalRun, steps: Steps | None = None) -> Posted | None:
    """Show a terminal run's summary in its message and its failures in the thread.

    Returns where the summary is (None if it could not be shown); what follows the
    run (comparisons, alerts, proposals) is commands.outcomes' business. Both parts are
    steps (commands.steps): one Slack refuses for now is left in `steps.retry_later`.
    """
    run_id = run.id or 0
    steps = steps or Steps(services, f"run:{run_id}")
    where: Posted | None = None
    if await steps.done("summary"):
        if run.channel and run.message_ts:
            where = Posted(run.channel, run.message_ts)
    else:
        counts = await services.db.run(store.tallies, run_id=run_id)
        criteria = await services.db.run(store.criteria_tallies, run_id=run_id)
        text = services.presenter.run_summary(summary_for(services, run, counts, criteria))

        async def show() -> None:
            nonlocal where
            where = await _show_summary(services, run, text)

        await steps.run("summary", show)
    steps.where = where
    # A cancelled run stops where it was: its failing samples are not what anyone asked.
    if where is not None and run.status == "finished":
        thread = where
        await steps.run("failures", lambda: _post_failures(services, run, thread))
    return where


async def _show_summary(services: Ports, run: EvalRun, text: str) -> Posted | None:
    """Edit the run's message into its summary; post it anew only when the message is
    gone (Chat.update retries a final edit while Slack says later), and remember it."""
    if not run.channel:
        return None
    if run.message_ts:
        where = Posted(run.channel, run.message_ts)
        try:
            await services.chat.update(where, text)
            return where
        except ChatError as exc:
            if exc.retryable:
                raise
            log.warning("final update failed (%s); posting the summary anew", exc.code)
    posted = await services.chat.post(run.channel, text)
    await services.db.run(
        store.set_message, run_id=run.id or 0, channel=posted.channel, ts=posted.ts
    )
    run.message_ts = posted.ts
    return posted


async def post_note(services: Ports, where: Posted, text: str) -> None:
    """A line in the thread of `where`; a refusal is logged, not raised."""
    try:
        await services.chat.post(where.channel, text, thread_ts=where.ts)
    except ChatError as exc:
        log.warning("thread note failed: %s", exc.code)


async def _post_failures(services: Ports, run: EvalRun, where: Posted) -> None:
    run_id = run.id or 0
    failed = await services.db.run(store.results, run_id=run_id, status="failed")
    if not failed:
        return
    suite = services.suites.get(run.suite)
    shown: list[Failure] = []
    for r in failed[:MAX_FAILURES]:
        item = suite.items[r.item_index] if suite and r.item_index < len(suite.items) else {}
        shown.append(
            Failure(
                index=r.item_index,
                model=r.model,
                input=input_of(suite, item) if suite else "",
                expected=expected_of(suite, item) if suite else None,
                got=r.output or "",
                score=r.score,
            )
        )
    text = services.presenter.failures(FailureList(format_id("run", run_id), shown, len(failed)))
    await services.chat.post(where.channel, text, thread_ts=where.ts)

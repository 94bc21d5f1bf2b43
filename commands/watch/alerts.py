"""What a watch's run says when it ends: the release alert, or a drift alarm."""

from __future__ import annotations

import json
import logging
from typing import Any

from commands.eval import compare
from commands.ports import ChatError, Posted
from commands.services import Services
from storage import runs as run_store
from storage.tables import EvalRun

log = logging.getLogger(__name__)


def origin_ref(run: EvalRun) -> dict[str, Any]:
    try:
        ref = json.loads(run.origin_ref or "{}")
    except ValueError:
        return {}
    return ref if isinstance(ref, dict) else {}


async def after_run(services: Services, run: EvalRun, where: Posted | None) -> None:
    ref = origin_ref(run)
    if ref.get("kind") in ("release", "finetune") and where is not None:
        await release_report(services, run, ref, where)
    elif ref.get("kind") == "drift":
        await drift_report(services, run, ref)


async def release_report(
    services: Services, run: EvalRun, ref: dict[str, Any], where: Posted
) -> None:
    """The new model against production (or the best recent model), chart and proposal."""
    new, baseline = str(ref.get("new")), ref.get("baseline")
    finetune = ref.get("kind") == "finetune"
    title = f"Fine-tuned `{new}`" if finetune else f"Release alert: `{new}`"
    if finetune and ref.get("channel") and ref.get("thread"):
        where = Posted(str(ref["channel"]), str(ref["thread"]))  # the job's thread
    comparison = None
    if ref.get("base_run"):
        base = await services.db.run(run_store.get_run, run_id=int(ref["base_run"]))
        if base is not None:
            try:
                comparison = await compare.for_two_runs(services, base, run, baseline=baseline)
            except compare.CompareRefused as exc:
                log.warning("release comparison refused: %s", exc)
    elif len(run.models) > 1:
        comparison = await compare.for_run(services, run)
    if comparison is None:
        note = (
            "no production model or earlier run to compare with: the new model's "
            "results stand alone above."
        )
        await _post(services, where, f"*{title}* on `{run.suite}` — {note}")
        return
    basis = ref.get("basis", "base model" if finetune else "production")
    await compare.post_report(
        services, comparison, where, f"{title} vs `{comparison.baseline.model}` ({basis})"
    )
    await compare.propose_if_better(services, comparison, where, over_production=not finetune)


async def drift_report(services: Services, run: EvalRun, ref: dict[str, Any]) -> None:
    """Alert the watch's channel only when the production model dropped significantly."""
    previous_id = ref.get("previous_run")
    channel = ref.get("channel")
    if not previous_id or not channel:
        return
    previous = await services.db.run(run_store.get_run, run_id=int(previous_id))
    if previous is None:
        return
    try:
        comparison = await compare.for_two_runs(
            services, previous, run, baseline=str(ref.get("model"))
        )
    except compare.CompareRefused as exc:
        log.info("drift check skipped: %s", exc)
        return
    _, diff = comparison.challengers[0]
    log.info("drift of %s on %s: %s", ref.get("model"), run.suite, diff.verdict)
    if diff.verdict != "worse":
        return
    try:
        posted = await services.chat.post(
            str(channel),
            f":chart_with_downwards_trend: *Drift*: `{ref.get('model')}` on `{run.suite}` "
            f"dropped {diff.diff_pp:+.1f} pp since r{previous.id} (r{run.id}, p = "
            f"{diff.p_value:.3g}, {diff.regressed} samples regressed).",
        )
    except ChatError as exc:
        log.warning("drift alert failed: %s", exc.code)
        return
    await compare.post_report(
        services, comparison, posted, f"Drift of `{ref.get('model')}`: r{previous.id} vs r{run.id}"
    )


async def _post(services: Services, where: Posted, text: str) -> None:
    try:
        await services.chat.post(where.channel, text, thread_ts=where.ts)
    except ChatError as exc:
        log.warning("release note failed: %s", exc.code)

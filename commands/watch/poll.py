"""One poll of a watch: detect releases, start their runs, warn of retirements, check drift.

Every announcement is claimed in the notices table before it is made, keyed by what it
is about (provider, model, suite, stage), so restarts and replicas sharing one database
announce each thing once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from datetime import UTC, date, datetime
from typing import Any

from commands.model_shapes import MODEL_NAME
from commands.origins import Drift, Release, stored
from commands.ports import ChatError, ModelInfo
from commands.releases import PastRun, choose_baseline, new_releases, reusable_run
from commands.reports import Code, RankedModel, RetirementNotice, StartedRun
from commands.services import Services
from commands.suites.suite import Suite
from storage import aliases as alias_store
from storage import notices
from storage import runs as run_store
from storage import watches as store
from storage.tables import EvalRun, Watch

log = logging.getLogger(__name__)

DRIFT = "@production"
MAX_RELEASES_PER_POLL = 3  # new models started per check; the rest wait for the next


def qualified(provider: str, model_id: str) -> str:
    """The name users type: bare for the default provider, `provider:model` otherwise."""
    return model_id if provider == "default" else f"{provider}:{model_id}"


async def poll(
    services: Services, watch_id: int, *, drift_channel: str | None = None
) -> list[StartedRun]:
    """Poll a watch; returns the runs it started.

    `drift_channel`: a person asked for this check there (`/watch check`), so a drift
    rerun is shown there as it goes, not only when it finds a drop."""
    watch = await services.db.run(store.get_watch, watch_id=watch_id)
    if watch is None or watch.paused:
        return []
    listed = await services.models.list_models(watch.provider)

    def record(session: Any) -> tuple[dict[str, datetime], Watch | None]:
        store.record_seen(
            session=session,
            provider=watch.provider,
            models=[(m.id, m.shutdown_date) for m in listed],
        )
        firsts = store.first_seen(session=session, provider=watch.provider)
        store.mark_checked(session=session, watch_id=watch_id)
        return firsts, store.get_watch(session=session, watch_id=watch_id)

    firsts, updated = await services.db.run(record)
    if updated is None:
        return []
    started: list[StartedRun] = []
    if watch.glob == DRIFT:
        if watch.initialized:  # the first poll only records
            started += await check_drift(services, updated, channel=drift_channel)
    elif watch.initialized:
        releases = new_releases(
            [m.id for m in listed],
            glob=watch.glob,
            first_seen=firsts,
            baseline_at=updated.baseline_at,
        )
        # A provider's list is outside text: an id that is not a model name starts nothing.
        releases = [m for m in releases if MODEL_NAME.match(qualified(watch.provider, m))]
        waiting: list[str] = []
        for model_id in releases:
            name = qualified(watch.provider, model_id)
            if len(set(started)) >= MAX_RELEASES_PER_POLL:
                # The rest start on the next polls: a glob that suddenly matches a whole
                # catalogue must not start dozens of paid runs at once.
                keys = [f"release:{watch.provider}:{model_id}:{s}" for s in watch.suites]
                if not all([await services.db.run(notices.claimed, key=k) for k in keys]):
                    waiting.append(name)
                continue
            for suite in watch.suites:
                key = f"release:{watch.provider}:{model_id}:{suite}"
                if await services.db.run(notices.claim, key=key, channel=watch.channel):
                    run_id = await start_release_run(services, updated, name, suite)
                    if run_id is not None:
                        started.append(StartedRun(run_id, suite, name))
        if waiting:
            await _tell_waiting(services, updated, waiting)
    await check_retirements(services, updated, listed)
    return started


async def _tell_waiting(services: Services, watch: Watch, waiting: list[str]) -> None:
    """Once per set of waiting releases: they start over the next polls, a few at a time."""
    key = f"release-wait:{watch.id}:" + hashlib.sha256(",".join(waiting).encode()).hexdigest()[:16]
    if not await services.db.run(notices.claim, key=key, channel=watch.channel):
        return
    names = services.presenter.line(
        tuple(part for m in waiting[:10] for part in (Code(m), " "))  # names as code
    )
    more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
    text = (
        f":hourglass_flowing_sand: Watch `w{watch.id}`: {len(waiting)} more new models match, "
        f"{names.strip()}{more}: they are run over the next checks, at most "
        f"{MAX_RELEASES_PER_POLL} per check."
    )
    try:
        await services.chat.post(watch.channel, text)
    except ChatError as exc:
        log.warning("cannot tell w%s about waiting releases: %s", watch.id, exc.code)


def past_runs(session: Any, suite: str, *, rates: bool) -> list[PastRun]:
    """The suite's recent runs as the release rules see them (commands.releases)."""
    out = []
    for run in run_store.recent_runs(session=session, suite=suite, limit=30):
        pass_rates: dict[str, float | None] = {}
        if rates and run.status == "finished":
            tallies = run_store.tallies(session=session, run_id=run.id or 0, with_latencies=False)
            pass_rates = {m: t.pass_rate for m, t in tallies.items()}
        out.append(
            PastRun(
                id=run.id or 0,
                status=run.status,
                models=list(run.models),
                data_version=run.data_version,
                total=run.total,
                sample_limit=run.sample_limit,
                pass_rates=pass_rates,
            )
        )
    return out


async def start_release_run(
    services: Services, watch: Watch, model: str, suite_name: str
) -> int | None:
    """Run the suite on a new model, against production (or the best recent model);
    the run's id, None when the suite is not loaded."""
    suite = services.suites.get(suite_name)
    if suite is None:
        log.warning("watch w%s names suite %s, which is not loaded", watch.id, suite_name)
        return None
    total = len(suite.items)

    def plan(session: Any) -> EvalRun:
        production = alias_store.get_alias(session=session, suite=suite_name)
        choice = choose_baseline(
            model,
            production=production,
            runs=past_runs(session, suite_name, rates=production is None),
            data_version=suite.data_version,
            total=total,
        )
        baseline, basis, base_run, models = (
            choice.model,
            choice.basis,
            choice.base_run,
            choice.models,
        )
        origin, origin_ref = stored(
            Release(watch=watch.id, new=model, baseline=baseline, basis=basis, base_run=base_run)
        )
        return run_store.create_run(
            session=session,
            suite=suite_name,
            data_version=suite.data_version,
            models=models,
            total=total,
            channel=watch.channel,
            user_id=None,
            origin=origin,
            origin_ref=origin_ref,
        )

    run = await services.db.run(plan)
    log.info("release %s: running %s as r%s", model, suite_name, run.id)
    await services.engine.start(run.id or 0)
    return run.id


def _plan_drift(session: Any, *, watch: Watch, suite: Suite, channel: str | None) -> EvalRun | None:
    production = alias_store.get_alias(session=session, suite=suite.name)
    if production is None:
        return None
    previous = reusable_run(
        past_runs(session, suite.name, rates=False),
        model=production,
        data_version=suite.data_version,
        total=len(suite.items),
    )
    origin, origin_ref = stored(
        Drift(watch=watch.id, model=production, previous_run=previous, channel=watch.channel)
    )
    # No channel: a scheduled drift run posts nothing unless it finds a drop. One a
    # person asked for (`/watch check`) is shown where they asked, as any run is.
    return run_store.create_run(
        session=session,
        suite=suite.name,
        data_version=suite.data_version,
        models=[production],
        total=len(suite.items),
        channel=channel,
        origin=origin,
        origin_ref=origin_ref,
    )


async def check_drift(
    services: Services, watch: Watch, *, channel: str | None = None
) -> list[StartedRun]:
    """Rerun each suite's production model; the run alerts only on a significant drop."""
    started: list[StartedRun] = []
    for suite_name in watch.suites:
        suite = services.suites.get(suite_name)
        if suite is None:
            continue
        run = await services.db.run(_plan_drift, watch=watch, suite=suite, channel=channel)
        if run is None:
            log.info("drift watch w%s: %s has no production model", watch.id, suite_name)
            continue
        await services.engine.start(run.id or 0)
        started.append(StartedRun(run.id or 0, suite_name, run.models[0], drift=True))
    return started


def _days_left(shutdown: str, today: date) -> int | None:
    try:
        return (date.fromisoformat(shutdown) - today).days
    except ValueError:
        return None


async def check_retirements(services: Services, watch: Watch, listed: list[ModelInfo]) -> None:
    """Tell the channel once when a covered model gets a shutdown date; remind at 30 and 7."""
    productions = await services.db.run(alias_store.all_aliases)
    in_production: dict[str, list[str]] = {}
    for suite in watch.suites:
        prod = productions.get(suite, {}).get("production")
        if prod:
            in_production.setdefault(prod, []).append(suite)
    today = datetime.now(UTC).date()
    for model in listed:
        if not model.shutdown_date:
            continue
        name = qualified(watch.provider, model.id)
        covered = name in in_production or (
            watch.glob != DRIFT and fnmatch.fnmatchcase(model.id, watch.glob)
        )
        if not covered:
            continue
        left = _days_left(model.shutdown_date, today)
        if left is None:
            continue
        stages = ["announced"] + [str(d) for d in (30, 7) if left <= d]
        claimed = []
        for stage in stages:
            key = (
                f"retire:{watch.channel}:{watch.provider}:{model.id}:{model.shutdown_date}:{stage}"
            )
            if await services.db.run(notices.claim, key=key, channel=watch.channel):
                claimed.append(stage)
        if not claimed:
            continue
        notice = await retirement_notice(
            services,
            watch.id,
            name,
            model.shutdown_date,
            left,
            in_production.get(name, []),
            reminder=claimed[0] != "announced",
        )
        try:
            await services.chat.post(watch.channel, services.presenter.retirement(notice))
        except ChatError as exc:
            log.warning("retirement notice failed: %s", exc.code)


async def retirement_notice(
    services: Services,
    watch_id: int | None,
    model: str,
    shutdown: str,
    left: int,
    suites: list[str],
    *,
    reminder: bool,
) -> RetirementNotice:
    """The notice of `model`'s shutdown, with the best recent models of each suite it
    serves as production (latest complete run on the suite's current data)."""

    def candidates(session: Any) -> list[tuple[str, tuple[RankedModel, ...]]]:
        out = []
        for suite in suites:
            spec = services.suites.get(suite)
            if spec is None:
                continue
            rates: dict[str, RankedModel] = {}
            for run in run_store.complete_runs(
                session, suite=suite, data_version=spec.data_version, limit=30
            ):
                for m, t in run_store.tallies(
                    session=session, run_id=run.id or 0, with_latencies=False
                ).items():
                    if t.pass_rate is not None and m not in rates:
                        rates[m] = RankedModel(m, t.pass_rate, t.passed, t.graded, run.id or 0)
            ranked = sorted(rates.values(), key=lambda r: -r.pass_rate)[:5]
            out.append((suite, tuple(ranked)))
        return out

    return RetirementNotice(
        watch_id=watch_id,
        model=model,
        shutdown=shutdown,
        days_left=left,
        reminder=reminder,
        production_of=tuple(suites),
        candidates=tuple(await services.db.run(candidates)) if suites else (),
    )

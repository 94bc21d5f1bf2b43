"""`/watch`: scheduled checks of a provider for new models, which rerun the suites."""

from __future__ import annotations

import fnmatch
from typing import Any

from commands import schedule as jobs
from commands.formats import clip
from commands.grammar import Parsed, duration_option, list_option
from commands.model_shapes import check_model_glob
from commands.permissions import check_start, check_stop, refused_at_once
from commands.ports import ProviderError
from commands.registry import Family, Invocation, Started, UsageError, UserFacingError, id_arg
from commands.reports import (
    Code,
    ProviderFailure,
    Title,
    WatchAdded,
    WatchCheck,
    WatchChecked,
    WatchLine,
    WatchList,
)
from commands.services import Services
from commands.watch.poll import DRIFT, poll
from storage import watches as store
from storage.tables import Watch

WATCH = Family("/watch", "check providers for new models and rerun suites on them")

MIN_EVERY, MAX_EVERY = 300, 7 * 86400


async def _load(services: Services, inv: Invocation, watch_id: int) -> Watch:
    watch = await services.db.run(store.get_watch, watch_id=watch_id)
    if watch is None or watch.channel != inv.channel_id:
        watches = await services.db.run(store.list_watches, channel=inv.channel_id)
        known = ", ".join(f"`w{w.id}`" for w in watches) or "none"
        raise UserFacingError(
            f"There is no watch `w{watch_id}` in this channel. Watches here: {known}."
        )
    return watch


def watch_line(watch: Watch) -> WatchLine:
    """The watch as the presenters show it."""
    return WatchLine(
        id=watch.id,
        glob=watch.glob,
        drift=watch.glob == DRIFT,
        provider=watch.provider,
        every_s=watch.every_s,
        suites=tuple(watch.suites),
        paused=watch.paused,
        last_checked_at=watch.last_checked_at,
    )


@WATCH.sub(
    "add",
    "<model-glob> suites=<a,b> [every=1h] [provider=P]",
    keys=("suites", "every", "provider", "model"),
)
def add(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Watch a provider for new models matching a glob and run these suites on them;
    `model=@production` reruns the production models and alerts on a drop."""
    drift = parsed.options.get("model") == DRIFT
    if "model" in parsed.options and not drift:
        raise UsageError(
            "`model=` takes only `@production` (drift checks); "
            "give a glob as a word to watch for releases."
        )
    if drift and parsed.words:
        raise UsageError("A drift watch (`model=@production`) takes no glob.")
    if not drift and len(parsed.words) != 1:
        raise UsageError("Give one model glob, like `gpt-5*` or `*-mini`.")
    glob = DRIFT if drift else parsed.words[0]
    if not drift:
        check_model_glob(glob)
    suites = list_option(parsed, "suites")
    if not suites:
        raise UsageError("Missing `suites=<a,b>`: the suites to run on a new model.")
    for name in suites:
        if services.suites.get(name) is None:
            raise UsageError(services.suites.unknown(name))
    every = duration_option(
        parsed, "every", 86400 if drift else 3600, min_s=MIN_EVERY, max_s=MAX_EVERY
    )
    provider = parsed.options.get("provider", "default")
    if provider not in services.models.providers():
        names: Title = ()
        for n, p in enumerate(services.models.providers()):
            names += (", ", Code(p)) if n else (Code(p),)
        raise UsageError(
            services.presenter.line(
                ("Unknown provider ", Code(clip(provider, 30)), "; configured: ", *names, ".")
            )
        )
    refusal = refused_at_once(services.policy, inv.user_id)
    if refusal is not None:
        return refusal

    async def work() -> None:
        await check_start(services.policy, services.chat, inv.user_id)
        watch = await services.db.run(
            store.create_watch,
            channel=inv.channel_id,
            user_id=inv.user_id,
            glob=glob,
            suites=list(dict.fromkeys(suites)),
            every_s=every,
            provider=provider,
        )
        watch_id = watch.id or 0
        await services.scheduler.every(
            jobs.watch_job_id(watch_id), jobs.POLL_WATCH, every, (watch_id,)
        )
        matching: int | None = None
        failure: ProviderFailure | None = None
        try:
            await poll(services, watch_id)  # the first poll records what exists
            listed = await services.models.list_models(provider)
            if not drift:
                matching = sum(1 for m in listed if fnmatch.fnmatchcase(m.id, glob))
        except ProviderError as exc:
            failure = ProviderFailure(exc.kind, exc.message)
        watch = await _load(services, inv, watch_id)
        report = WatchAdded(inv.user_id, watch_line(watch), matching, failure)
        await services.chat.post(inv.channel_id, services.presenter.watch_added(report))

    return Started("Adding the watch…", work, "watch-add")


@WATCH.sub("list")
def list_watches(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Watches of this channel."""
    if parsed.words or parsed.options:
        raise UsageError("`/watch list` takes no arguments.")

    async def work() -> None:
        watches = await services.db.run(store.list_watches, channel=inv.channel_id)
        if not watches:
            await inv.respond(
                "No watches in this channel. Add one with `/watch add gpt-5* suites=<suite>`."
            )
            return
        report = WatchList(tuple(watch_line(w) for w in watches))
        await inv.respond(services.presenter.watches(report))

    return Started("Listing watches…", work, "watch-list")


def _change(verb: str, action: Any) -> Any:
    def handler(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
        watch_id = id_arg(parsed, "watch", only=True)

        async def work() -> None:
            watch = await _load(services, inv, watch_id)
            check_stop(
                services.policy,
                services.suites,
                user_id=inv.user_id,
                starter=watch.user_id,
                suite_names=watch.suites,
                what=f"watch `w{watch_id}`",
            )
            await action(services, watch)
            await inv.respond(f"Watch `w{watch_id}` {verb}.")

        return Started(f"Watch `w{watch_id}`…", work, f"watch-{verb}")

    return handler


async def _remove(services: Services, watch: Watch) -> None:
    await services.db.run(store.delete_watch, watch_id=watch.id or 0)
    await services.scheduler.cancel(jobs.watch_job_id(watch.id or 0))


async def _pause(services: Services, watch: Watch) -> None:
    await services.db.run(store.set_paused, watch_id=watch.id or 0, paused=True)
    await services.scheduler.pause(jobs.watch_job_id(watch.id or 0))


async def _resume(services: Services, watch: Watch) -> None:
    await services.db.run(store.set_paused, watch_id=watch.id or 0, paused=False)
    await services.scheduler.resume(jobs.watch_job_id(watch.id or 0))


_remove_h = _change("removed", _remove)
_remove_h.__doc__ = "Delete a watch."
WATCH.sub("remove", "<watch-id>")(_remove_h)
_pause_h = _change("paused", _pause)
_pause_h.__doc__ = "Stop checking until resumed."
WATCH.sub("pause", "<watch-id>")(_pause_h)
_resume_h = _change("resumed", _resume)
_resume_h.__doc__ = "Check again on schedule."
WATCH.sub("resume", "<watch-id>")(_resume_h)


@WATCH.sub("check")
def check(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Check every watch of this channel now."""
    if parsed.words or parsed.options:
        raise UsageError("`/watch check` takes no arguments.")

    async def work() -> None:
        watches = [
            w
            for w in await services.db.run(store.list_watches, channel=inv.channel_id)
            if not w.paused
        ]
        if not watches:
            await inv.respond("No active watches in this channel.")
            return
        checked = []
        for watch in watches:
            drift = watch.glob == DRIFT
            try:
                started = await poll(services, watch.id or 0, drift_channel=inv.channel_id)
            except ProviderError as exc:
                failure = ProviderFailure(exc.kind, exc.message)
                checked.append(WatchChecked(watch.id, watch.glob, drift, failure=failure))
                continue
            # Every run the check started is named: a drift rerun spends as much as any.
            checked.append(WatchChecked(watch.id, watch.glob, drift, runs=tuple(started)))
        await inv.respond(services.presenter.watch_check(WatchCheck(tuple(checked))))

    return Started("Checking the watches now…", work, "watch-check")

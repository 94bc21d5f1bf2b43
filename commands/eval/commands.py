"""`/eval`: suites, run, status, show, compare, history, cancel.

Handlers parse and validate from memory, then return the work to run after the ack.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from commands.eval import announce
from commands.eval.render import clip, pct, run_header
from commands.grammar import Parsed, int_option
from commands.headline import compare_step, lead_of, verdict_line
from commands.model_names import resolve, resolve_cached, split_names
from commands.model_shapes import check_run_models
from commands.permissions import check_start, check_stop, refused_at_once
from commands.ports import ChatError
from commands.registry import Family, Invocation, Started, UsageError, UserFacingError, id_arg
from commands.reports import Code, FailureList, Prose, RunProgress, Title
from commands.scope import elsewhere_note, samples_visible
from commands.services import Services
from commands.suites.suite import Suite
from storage import aliases as alias_store
from storage import runs as store

log = logging.getLogger(__name__)

EVAL = Family("/eval", "run the team's eval suites on models and compare them")

MAX_LIMIT = 100_000


def run_id_arg(parsed: Parsed, position: int = 0) -> int:
    """The run id at `position`, or a UsageError saying what is expected."""
    return id_arg(parsed, "run", position)


async def load_run(services: Services, run_id: int) -> Any:
    run = await services.db.run(store.get_run, run_id=run_id)
    if run is None:

        def recent(session: Any) -> list[Any]:
            return store.active_runs(session=session)[:5]

        active = await services.db.run(recent)
        hint = ", ".join(f"`r{r.id}`" for r in active)
        raise UserFacingError(
            f"There is no run `r{run_id}`."
            + (f" Runs in progress: {hint}." if hint else " `/eval status` lists runs.")
        )
    return run


async def _queued_behind(services: Services, run: Any) -> list[str] | None:
    """A queued run: the runs it waits for (those executing, and those queued before it)."""
    if run.status != "queued":
        return None

    def ahead(session: Any) -> list[str]:
        return [
            f"r{r.id}"
            for r in store.active_runs(session=session)
            if r.id != run.id and (r.status == "running" or (r.id or 0) < (run.id or 0))
        ]

    return list(await services.db.run(ahead))


def elapsed_since(started: datetime | None) -> float:
    """Seconds a run has been executing: from its start, not from its last update (a
    queued run has not started: 0)."""
    if started is None:
        return 0.0
    aware = started if started.tzinfo else started.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - aware).total_seconds())


@EVAL.sub("suites")
def suites_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """List suites: samples, grader, production model, last pass rate."""
    if parsed.words or parsed.options:
        raise UsageError("`/eval suites` takes no arguments.")

    async def work() -> None:
        def read(session: Any) -> tuple[dict[str, dict[str, str]], dict[str, Title]]:
            last: dict[str, Title] = {}
            for name in services.suites.names():
                version = services.suites.suites[name].data_version
                run = store.latest_complete_run(session, suite=name, data_version=version)
                if run is not None:
                    counts = store.tallies(
                        session=session, run_id=run.id or 0, with_latencies=False
                    )
                    # A fine-tuned model is named by its provider: quoted as inert prose.
                    best: Title = ()
                    for m in (m for m in run.models if m in counts):
                        best += (", " if best else "", Prose(m), f" {pct(counts[m].pass_rate)}")
                    last[name] = (f"r{run.id}: ", *best)
            return alias_store.all_aliases(session=session), last

        aliases, last = await services.db.run(read)
        lines = ["*Eval suites*"]
        for name in services.suites.names():
            suite = services.suites.suites[name]
            current = aliases.get(name, {}).get("production")
            production: Title = (" · production ", Code(current)) if current else ()
            lines.append(
                services.presenter.line(
                    (
                        "• ",
                        Code(name),
                        f" — {len(suite.items)} samples · grader {suite.grader.get('type')}",
                        *(production or (" · no production model",)),
                        " · last ",
                        *last.get(name, ("never run",)),
                    )
                )
            )
        if len(lines) == 1:
            lines.append(f"No suites in `{services.suites.root}`: add one (see examples/).")
        for err in services.suites.errors[:5]:
            lines.append(f":warning: not loaded: {err}")
        await inv.respond("\n".join(lines))

    return Started("Looking up the suites…", work, "eval-suites")


@EVAL.sub("run", "<suite> <model> [<model> ...] [limit=N]", keys=("limit",))
def run_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Run a suite on one or more models; two or more models make a comparison."""
    if not parsed.words:
        raise UsageError("Missing the suite and the model.")
    # `a, b` and `a,b` name two models: a comma is never part of a model's name.
    name, models = parsed.words[0], split_names(parsed.words[1:])
    suite = services.suites.get(name)
    if suite is None:
        raise UsageError(services.suites.unknown(name))
    if not models:
        raise UsageError(f"Name at least one model to run `{name}` on.")
    check_run_models(services.models, models)
    limit = int_option(parsed, "limit", min=1, max=MAX_LIMIT)
    total = min(limit or len(suite.items), len(suite.items))
    refusal = refused_at_once(services.policy, inv.user_id)
    if refusal is not None:
        return refusal
    # Names the cached lists already know are checked before the acknowledgement; the
    # others are checked with the provider first thing in the background, and a name it
    # does not serve is refused privately before anything is posted or requested.
    checked = resolve_cached(services.models.directory, services.models, models)

    async def work() -> None:
        await check_start(services.policy, services.chat, inv.user_id)
        chosen = checked
        if chosen is None:
            resolution = await resolve(services.models.directory, services.models, models)
            if resolution.problems:
                said: Title = ()
                for problem in resolution.problems:
                    said += (*problem, "\n")
                raise UserFacingError((*said, "Nothing was started."))
            chosen = resolution.models
        await _refuse_duplicate(services, suite, chosen, limit)
        await _check_cost(services, suite, chosen, total)
        run = await services.db.run(
            store.create_run,
            suite=suite.name,
            data_version=suite.data_version,
            models=chosen,
            total=total,
            sample_limit=limit,
            channel=inv.channel_id,
            user_id=inv.user_id,
        )
        # Post the run's message here, so a channel the bot cannot post in is reported to
        # the person who typed the command, and nothing is sent to the provider.
        try:
            posted = await services.chat.post(
                inv.channel_id,
                services.presenter.run_progress(RunProgress(run_header(run), chosen, {}, 0)),
            )
        except ChatError as exc:
            if exc.retryable:
                # Slack holds the post back (a burst of runs in one channel meets its
                # per-channel limit, or a network blip): the run is not lost for that.
                # The runner posts its message, retrying, before anything is requested.
                log.info("r%s: first post held back (%s); the runner posts it", run.id, exc.code)
                await services.engine.start(run.id or 0)
                return
            await services.db.run(
                store.finish,
                run_id=run.id or 0,
                status="failed",
                error=f"cannot post in the channel ({exc.code})",
            )
            await services.db.run(store.mark_announced, run_id=run.id or 0)
            raise UserFacingError(f"{exc.advice} Run `r{run.id}` was not started.") from exc
        await services.db.run(
            store.set_message, run_id=run.id or 0, channel=posted.channel, ts=posted.ts
        )
        await services.engine.start(run.id or 0)

    n = f"{total} samples" + (f" of {len(suite.items)}" if total < len(suite.items) else "")
    names = ", ".join(f"`{clip(m, 60)}`" for m in (checked or models))
    if checked is None:
        return Started(
            f"Checking {names} with the provider, then starting `{name}` ({n})…",
            work,
            "eval-run",
        )
    return Started(f"Starting `{name}` on {names} ({n})…", work, "eval-run")


async def _refuse_duplicate(
    services: Services, suite: Suite, models: list[str], limit: int | None
) -> None:
    """Point at a run in flight that does the same work (suite, models, limit, data)."""

    def same(session: Any) -> Any:
        for run in store.active_runs(session=session):
            if (
                run.suite == suite.name
                and run.data_version == suite.data_version
                and sorted(run.models) == sorted(models)
                and run.sample_limit == limit
            ):
                return run
        return None

    twin = await services.db.run(same)
    if twin is None:
        return
    where = f" in <#{twin.channel}>" if twin.channel else ""
    who = f", started by <@{twin.user_id}>" if twin.user_id else ""
    raise UserFacingError(
        f"The same run is already {twin.status}: `r{twin.id}`{where}{who}. Follow it there,"
        f" or `/eval status r{twin.id}`. Nothing was started."
    )


async def _check_cost(services: Services, suite: Suite, models: list[str], total: int) -> None:
    """Refuse a run estimated above EVALBOT_MAX_RUN_USD, saying what would fit."""
    cap = services.policy.max_run_usd
    if cap is None:
        return
    from commands.eval.estimate import estimate

    guess = await estimate(services, suite, models, total)
    if guess.total <= cap:
        return
    parts = ", ".join(f"`{m}` ${usd:.2f}" for m, usd in guess.per_model.items() if usd is not None)
    fits = int(cap / guess.per_sample())
    hint = (
        f" `limit={fits}` would cost about ${fits * guess.per_sample():.2f}."
        if fits >= 1
        else " Even one sample costs more; run fewer or cheaper models."
    )
    raise UserFacingError(
        f"This run would cost about ${guess.total:.2f} ({parts}; an estimate from earlier "
        f"runs or the price table), above the ${cap:.2f} a run may cost here "
        f"(EVALBOT_MAX_RUN_USD).{hint} Nothing was started."
    )


@EVAL.sub("status", "[<run-id>]")
def status_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Runs in progress, or the progress of one run."""
    if parsed.options or len(parsed.words) > 1:
        raise UsageError("`/eval status` takes at most a run id.")
    run_id = run_id_arg(parsed) if parsed.words else None

    async def work() -> None:
        if run_id is not None:
            run = await load_run(services, run_id)
            counts = await services.db.run(store.tallies, run_id=run_id)
            if run.status in store.TERMINAL:
                await inv.respond(
                    services.presenter.run_summary(announce.summary_for(services, run, counts))
                )
            else:
                live = services.engine.live.get(run_id)
                await inv.respond(
                    services.presenter.run_progress(
                        RunProgress(
                            live.header if live else run_header(run),
                            run.models,
                            live.stored if live else counts,
                            elapsed_since(run.started_at),
                            queued_behind=await _queued_behind(services, run),
                        )
                    )
                )
            return
        active = await services.db.run(store.active_runs)
        if not active:
            await inv.respond("No runs in progress. Start one with `/eval run <suite> <model>`.")
            return
        lines = ["*Runs in progress*"]
        for run in active:
            live = services.engine.live.get(run.id or 0)
            done = sum(t.done for t in live.stored.values()) if live else 0
            models: Title = ()
            for m in run.models:
                models += (", ", Prose(m)) if models else (Prose(m),)
            lines.append(
                services.presenter.line(
                    (
                        f"• `r{run.id}` ",
                        Code(run.suite),
                        " on ",
                        *models,
                        f" — {run.status}, {done}/{run.total * len(run.models)} samples",
                    )
                )
            )
        await inv.respond("\n".join(lines))

    return Started("Checking…", work, "eval-status")


@EVAL.sub("show", "<run-id>")
def show_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """A run's summary and its failing samples."""
    if parsed.options or len(parsed.words) != 1:
        raise UsageError("`/eval show` takes one run id.")
    run_id = run_id_arg(parsed)

    async def work() -> None:
        run = await load_run(services, run_id)
        counts = await services.db.run(store.tallies, run_id=run_id)
        criteria = await services.db.run(store.criteria_tallies, run_id=run_id)
        text = services.presenter.run_summary(announce.summary_for(services, run, counts, criteria))
        if not samples_visible([run.channel], inv.channel_id):
            await inv.respond(text + "\n\n" + elsewhere_note(f"`r{run_id}`", run.channel))
            return
        failed = await services.db.run(store.results, run_id=run_id, status="failed")
        suite = services.suites.get(run.suite)
        if failed and suite is not None:
            shown = [
                announce.failure_of(suite, r)
                for r in failed[: announce.MAX_FAILURES]
                if r.item_index < len(suite.items)
            ]
            report = FailureList(
                f"r{run_id}", shown, len(failed), threshold=announce.threshold_of(suite)
            )
            text += "\n\n" + services.presenter.failures(report)
        await inv.respond(text)

    return Started("Fetching the run…", work, "eval-show")


@EVAL.sub("cancel", "<run-id>")
def cancel_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Stop a run: requests in flight are abandoned and the run is marked cancelled."""
    if parsed.options or len(parsed.words) != 1:
        raise UsageError("`/eval cancel` takes one run id.")
    run_id = run_id_arg(parsed)

    async def work() -> None:
        run = await load_run(services, run_id)
        if run.status in store.TERMINAL:
            await inv.respond(f"`r{run_id}` has already {run.status}; nothing to cancel.")
            return
        check_stop(
            services.policy,
            services.suites,
            user_id=inv.user_id,
            starter=run.user_id,
            suite_names=[run.suite],
            what=f"`r{run_id}`",
        )
        if not services.engine.cancel(run_id):
            # Not executing in this process (e.g. queued before a restart): end it here.
            await services.db.run(store.finish, run_id=run_id, status="cancelled")
            ended = await load_run(services, run_id)
            await services.outcomes.run_finished(services, ended)
        await inv.respond(f"Cancelling `r{run_id}`.")

    return Started(f"Cancelling `r{run_id}`…", work, "eval-cancel")


@EVAL.sub("compare", "<run-id> <run-id>")
def compare_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Paired diff of two runs of one suite on the same data, with a chart."""
    if parsed.options or len(parsed.words) != 2:
        raise UsageError("`/eval compare` takes two run ids.")
    a_id, b_id = run_id_arg(parsed, 0), run_id_arg(parsed, 1)
    if a_id == b_id:
        raise UsageError(
            "Give two different runs (a run with several models compares itself when it ends)."
        )

    async def work() -> None:
        from commands.eval import compare

        a, b = await load_run(services, a_id), await load_run(services, b_id)
        try:
            comparison = await compare.for_two_runs(services, a, b)
        except compare.CompareRefused as exc:
            raise UserFacingError(str(exc)) from exc
        # The verdict is the message; the report, chart and flips are in its thread.
        lead = lead_of(comparison, best_is_baseline=False)
        if lead is None:
            raise UserFacingError(f"`r{b_id}` has no model to compare with `r{a_id}`.")
        leader, reference, numbers = lead
        verdict = verdict_line(
            leader,
            reference,
            numbers,
            reference_is=f"r{a_id}",
            follow=compare_step(numbers.verdict, a.suite, leader.model),
            prefix=(f"*r{a_id} vs r{b_id}*: ",),
        )
        here = samples_visible([a.channel, b.channel], inv.channel_id)
        posted = await services.chat.post(inv.channel_id, services.presenter.verdict(verdict))
        await compare.post_report(
            services, comparison, posted, (f"r{a_id} vs r{b_id}",), samples=here
        )
        if not here:
            other = a.channel if a.channel != inv.channel_id else b.channel
            run = a_id if a.channel != inv.channel_id else b_id
            await services.chat.post(
                inv.channel_id, elsewhere_note(f"`r{run}`", other), thread_ts=posted.ts
            )

    return Started(f"Comparing `r{a_id}` with `r{b_id}`…", work, "eval-compare")


@EVAL.sub("history", "<suite>")
def history_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Pass rate over time per model, as a chart."""
    if parsed.options or len(parsed.words) != 1:
        raise UsageError("`/eval history` takes one suite name.")
    name = parsed.words[0]
    if services.suites.get(name) is None:
        raise UsageError(services.suites.unknown(name))

    async def work() -> None:
        from commands.eval.history import post_history

        await post_history(services, name, inv.channel_id)

    return Started(f"Drawing the history of `{name}`…", work, "eval-history")


RUNS_SHOWN = 15


@EVAL.sub("runs", "[<suite>]")
def runs_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Recent runs, finished or not: id, suite, models, status, pass rates, when, who."""
    if parsed.options or len(parsed.words) > 1:
        raise UsageError("`/eval runs` takes at most a suite name.")
    name = parsed.words[0] if parsed.words else None
    if name is not None and services.suites.get(name) is None:
        raise UsageError(services.suites.unknown(name))

    async def work() -> None:
        from commands.eval.run_list import listed_runs, runs_text

        listed = await services.db.run(listed_runs, suite=name, limit=RUNS_SHOWN)
        await inv.respond(runs_text(listed, suite=name))

    return Started("Listing the runs…", work, "eval-runs")

"""The eval engine: runs a stored run to the end, resumably.

A run is a row in the database before anything happens. `RunEngine.execute` picks up
the samples not yet stored, sends them through `ResilientModels` (which bounds the
requests in flight per provider and retries faults), grades them, and writes results
in batches. The run's one Slack message is updated in place about once a second. Kill
the process at any point and `resume_all` finishes every run from where its stored
results end, without requesting a stored sample again, and updates the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from commands.eval.admission import CANCELLED, ENDED, Gate
from commands.eval.render import run_header
from commands.leases import Lease, dead_here
from commands.logctx import log_context
from commands.ports import ChatError, Posted, ProviderError
from commands.prices import PriceTable
from commands.reports import RunHeader, RunProgress
from commands.services import Ports
from commands.suites.catalog import SuiteCatalog
from commands.suites.graders.base import Sample
from commands.suites.grading import grade_sample
from commands.suites.suite import Suite
from commands.suites.templates import TemplateError, render
from commands.suites.tools import shown_output, tool_params
from commands.throttle import ResilientModels
from commands.waiting import wait_event
from storage import runs as store
from storage.admission import QueuePlace
from storage.tables import EvalRun, utcnow

log = logging.getLogger(__name__)

FATAL_KINDS = ("bad_request", "auth", "not_found")
# How long a run waits for Slack to take its first message (429s in a burst of runs,
# Slack's 5xx) before it goes on without one; its summary is posted at the end.
FIRST_POST_PATIENCE_S = 300.0

# Every answer is capped: a suite that sets no output limit gets this one, so a model
# that rambles (tens of thousands of words) costs bounded money, memory and grading
# time. A suite that needs longer answers sets its own under `sampling`.
DEFAULT_MAX_OUTPUT_TOKENS = 8192
_OUTPUT_LIMITS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


# A sample holds its slot until its result is stored unless grading and that wait
# take over 1/HOLD_RATIO of the provider's answer time, judged on at least
# HOLD_SAMPLES waits (RunEngine._sample).
HOLD_RATIO = 25
HOLD_SAMPLES = 16
_EWMA = 0.1  # the weight of the newest measure in the moving averages


def _average(average: float, value: float) -> float:
    """A moving average that starts at its first value."""
    return value if average == 0.0 else average + (value - average) * _EWMA


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RunRefused(Exception):
    """The provider refused the run's very first request: nothing else is sent."""


@dataclass
class Live:
    """In-memory state of a run being executed."""

    run: EvalRun
    suite: Suite
    counts: dict[str, store.ModelTally]
    started: float = field(default_factory=time.monotonic)
    buffer: list[store.ResultRow] = field(default_factory=list)
    dirty: bool = True
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when results are to be written now rather than on the timer: enough of them
    # wait (RunEngine.flush_batch), or a sample waits for its own (RunEngine._sample).
    flush_now: asyncio.Event = field(default_factory=asyncio.Event)
    # Done once the results now in `buffer` are in the database.
    buffered: asyncio.Future[None] | None = None
    # Samples asked for and not yet stored, while the engine holds them (_sample).
    slots: asyncio.Semaphore | None = None
    # Whether a sample holds its slot until its result is stored (RunEngine._sample),
    # and what that costs: moving averages of the provider's answers, of grading and
    # of the wait for a result to be stored, over `waits` waits.
    holding: bool = True
    latency_s: float = 0.0
    grade_s: float = 0.0
    wait_s: float = 0.0
    waits: int = 0

    recorded: set[tuple[str, int]] = field(default_factory=set)
    writing: asyncio.Future[int] | None = None  # the batch being written, if any
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[str, store.ModelTally] = field(default_factory=dict)  # counts in the DB

    def __post_init__(self) -> None:
        self.stored = {
            m: store.ModelTally(t.passed, t.failed, t.errored) for m, t in self.counts.items()
        }
        adjustments = self.run.adjustments or {}
        for model in self.run.models:
            dropped = set(adjustments.get(model, []))
            params = {k: v for k, v in self.suite.sampling.items() if k not in dropped}
            # The default cap goes too when the model refused it at preflight (dropped).
            if (
                not any(key in self.suite.sampling for key in _OUTPUT_LIMITS)
                and "max_completion_tokens" not in dropped
            ):
                params["max_completion_tokens"] = DEFAULT_MAX_OUTPUT_TOKENS
            self.params[model] = params

    @property
    def remaining(self) -> int:
        answered = sum(t.passed + t.failed + t.errored for t in self.counts.values())
        return self.run.total * len(self.run.models) - answered

    @property
    def header(self) -> RunHeader:
        return run_header(self.run)


def build_messages(suite: Suite, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's input templates rendered for one item."""
    context = {"item": item}
    return [{"role": m["role"], "content": render(m["content"], context)} for m in suite.input]


# What the engine calls once a run it executed has ended and is to be announced: the
# composition root passes commands.outcomes' entry point, so the engine knows nothing of
# summaries, comparisons, releases or proposals.
RunFinished = Callable[[EvalRun], Awaitable[object]]


class RunEngine:
    """Executes runs; one per process, shared by Slack commands, watches and the CLI."""

    def __init__(
        self,
        services: Ports,
        catalog: SuiteCatalog,
        prices: PriceTable,
        models: ResilientModels,
        *,
        on_finished: RunFinished,
        flush_every_s: float = 0.5,
        update_every_s: float = 1.0,
        flush_batch: int | None = None,
    ) -> None:
        self.services = services
        self.catalog = catalog
        self.prices = prices
        self.models = models
        self.on_finished = on_finished
        self.flush_every_s = flush_every_s
        self.update_every_s = update_every_s
        # Results are written as soon as this many wait (and on the timer anyway), or at
        # once when a sample waits for its own (_sample). A quarter of the concurrency:
        # at 64 a write carries 16, which keeps the database off the critical path.
        self.flush_batch = flush_batch or max(1, models.concurrency // 4)
        self.live: dict[int, Live] = {}
        self.gate = Gate(services)
        self._cancelled: set[int] = set()

    # Control ------------------------------------------------------------------

    def cancel(self, run_id: int) -> bool:
        """Ask a run executing in this process to stop; True if it was running here."""
        live = self.live.get(run_id)
        if live is None:
            # It may be between loading and going live here: the mark makes it stop as
            # soon as it does (the caller ends it in the database meanwhile).
            self._cancelled.add(run_id)
            return False
        live.cancel.set()
        return True

    # Execution ----------------------------------------------------------------

    async def execute(self, run_id: int) -> EvalRun | None:
        """Run (or resume) a run to a terminal state; returns the final row.

        Returns None without doing anything when the run is already being executed,
        here or by another process whose lease on it still holds (commands.leases).
        """
        return await self._leased(run_id, announce_after=False)

    async def execute_and_announce(self, run_id: int) -> EvalRun | None:
        """Execute the run, then post its summary: one lease covers both."""
        with log_context(run=f"r{run_id}"):
            return await self._leased(run_id, announce_after=True)

    async def _leased(self, run_id: int, *, announce_after: bool) -> EvalRun | None:
        db = self.services.db
        run = await db.run(store.get_run, run_id=run_id)
        if run is None or run.announced or (run.status in store.TERMINAL and not announce_after):
            return run
        lease = Lease(self.services, EvalRun, run_id, store.ACTIVE + store.TERMINAL)
        if not await lease.acquire():
            log.info("r%s is already being executed or announced", run_id)
            return None
        try:
            final = await self._execute(run_id, lease)
            if (
                announce_after
                and final is not None
                and final.status in store.TERMINAL
                and not final.announced
                and not lease.lost  # ended elsewhere: announced there
            ):
                await self.on_finished(final)
            return final
        finally:
            await asyncio.shield(lease.release())

    async def _execute(self, run_id: int, lease: Lease) -> EvalRun | None:
        db = self.services.db

        def load(
            session: Any,
        ) -> tuple[EvalRun | None, set[tuple[str, int]], dict[str, store.ModelTally]]:
            return (
                store.get_run(session=session, run_id=run_id),
                store.done_items(session=session, run_id=run_id),
                store.tallies(session=session, run_id=run_id),
            )

        run, done, counts = await db.run(load)
        if run is None or run.status in store.TERMINAL:
            return run
        suite = self.catalog.get(run.suite)
        if suite is None or suite.data_version != run.data_version:
            why = (
                f"suite `{run.suite}` no longer exists"
                if suite is None
                else f"suite `{run.suite}` changed since the run started"
            )
            await db.run(store.finish, run_id=run_id, status="failed", error=why)
            return await db.run(store.get_run, run_id=run_id)
        live = Live(run, suite, counts)
        # While it runs, the lease holds only as long as the run is active: one that
        # ends elsewhere (`/eval cancel` in another process) or is taken over stops.
        lease.statuses, lease.on_lost = store.ACTIVE, live.cancel.set
        self.live[run_id] = live
        if run_id in self._cancelled:
            live.cancel.set()
        try:
            # The message says "queued" while it waits; a cancel while Slack holds the
            # first post back (429) stops at once (the gate then sees the cancel).
            await self._until_cancelled(live, self._ensure_message(live))
            held = await self.gate.admit(
                run, cancel=live.cancel, on_queued=lambda place: self._queued(live, place)
            )
            if held is not None:
                return await self._not_admitted(run_id, held, lease)
            pending = [(m, i) for m in run.models for i in range(run.total) if (m, i) not in done]
            status, error = "finished", None
            try:
                await self._work(live, pending)
                if live.cancel.is_set():
                    status = "cancelled"
            except RunRefused as exc:
                status, error = "failed", str(exc)
            except Exception as exc:
                # Samples catch their own failures, so this is a bug of ours: the run
                # still ends (it must never stay "running" and be retried on every
                # start), with what was graded kept.
                log.exception("r%s stopped on an unexpected error", run_id)
                status, error = "failed", f"evalbot failed while running it ({type(exc).__name__})"
            except asyncio.CancelledError:
                # Shutting down: keep what was graded, so the resumed run asks for less;
                # the lease is released, so the next process takes the run at once.
                await asyncio.shield(self._flush(live))
                raise
            await self._flush(live)
            if not lease.lost:  # else the status is not ours to set
                # Held on while the summary is posted; a renewal racing the update
                # below must not read the run's end as the loss of the lease.
                lease.statuses = store.ACTIVE + store.TERMINAL
                ended_here = await db.run(store.finish, run_id=run_id, status=status, error=error)
                lease.statuses = store.TERMINAL
                if not ended_here:  # ended elsewhere a moment ago: announced there
                    lease.lost = True
        finally:
            self.live.pop(run_id, None)
            self._cancelled.discard(run_id)
        return await db.run(store.get_run, run_id=run_id)

    async def _not_admitted(self, run_id: int, why: str, lease: Lease) -> EvalRun | None:
        """A run that never started: cancelled while queued, over the daily budget, or
        ended elsewhere meanwhile (announced there)."""
        db = self.services.db
        lease.statuses = store.ACTIVE + store.TERMINAL
        if why == ENDED:
            lease.lost = True
        else:
            status, error = ("cancelled", None) if why == CANCELLED else ("failed", why)
            if not await db.run(store.finish, run_id=run_id, status=status, error=error):
                lease.lost = True
        lease.statuses = store.TERMINAL
        return await db.run(store.get_run, run_id=run_id)

    async def _queued(self, live: Live, place: QueuePlace) -> None:
        # In the background: the gate goes on watching for its turn and for a cancel
        # whatever Slack's update budget makes this wait.
        self.services.tasks.spawn(self._show_queued(live, place), name=f"queued-r{live.run.id}")

    async def _show_queued(self, live: Live, place: QueuePlace) -> None:
        run = live.run
        if run.channel is None or run.message_ts is None:
            return
        text = self.services.presenter.run_progress(
            RunProgress(live.header, run.models, live.stored, 0, queued=place)
        )
        try:
            # A refresh like progress: it never waits (the gate keeps watching for a
            # cancel) and never overwrites a final summary.
            await self.services.chat.update(
                Posted(run.channel, run.message_ts), text, progress=True
            )
        except ChatError as exc:
            log.warning("queued update failed: %s", exc.code)

    async def start(self, run_id: int) -> None:
        """Execute and announce a run in the background."""
        self.services.tasks.spawn(self.execute_and_announce(run_id), name=f"run-r{run_id}")

    async def resume_all(self) -> list[int]:
        """Continue every run no live process is looking after (see `orphaned_runs`)."""
        db, now = self.services.db, utcnow()
        for run in await db.run(store.held_runs, now=now):
            if run.owner and dead_here(run.owner, self.services.instance):
                log.info("r%s was held by %s, which has stopped", run.id, run.owner)
                await db.run(store.release, run_id=run.id or 0, owner=run.owner, now=now)
        grace = timedelta(seconds=self.services.policy.run_lease_s)
        runs = await db.run(store.orphaned_runs, now=now, grace=grace)
        started = []
        for run in runs:
            if run.id is None or ("eval_runs", run.id) in self.services.held:
                continue
            log.info("resuming r%s (%s)", run.id, run.status)
            await self.start(run.id)
            started.append(run.id)
        return started

    async def _ensure_message(self, live: Live) -> None:
        run = live.run
        if run.channel is None or run.message_ts is not None:
            return
        text = self.services.presenter.run_progress(
            RunProgress(live.header, run.models, live.stored, 0)
        )
        deadline, delay = time.monotonic() + FIRST_POST_PATIENCE_S, 1.0
        while True:
            try:
                posted = await self.services.chat.post(run.channel, text)
                break
            except ChatError as exc:
                if not exc.retryable or time.monotonic() >= deadline:
                    log.warning("cannot post run message: %s", exc.code)
                    return
                # Held back (429, Slack's 5xx, the network): nothing is requested from
                # the provider until the run's message is in the channel.
                wait = min(exc.retry_after_s or delay, 60.0)
                delay = min(delay * 2, 30.0)
                log.info("r%s: Slack held the run's message back (%s)", run.id, exc.code)
                await asyncio.sleep(wait)
        run.message_ts = posted.ts
        await self.services.db.run(
            store.set_message, run_id=run.id or 0, channel=posted.channel, ts=posted.ts
        )

    async def _until_cancelled(self, live: Live, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` unless the run is cancelled first (then `work` is stopped)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(live.cancel.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                pending.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure

    async def _work(self, live: Live, pending: list[tuple[str, int]]) -> None:
        """Post the run's message and grade `pending`, until done or cancelled.

        Everything that can wait (the first Slack post, the preflight, capacity at the
        provider, the samples) runs in one task that a cancel stops at once: nothing is
        sent after `/eval cancel` beyond the requests already in flight.
        """
        body = asyncio.create_task(self._post_and_grade(live, pending))
        cancel_wait = asyncio.create_task(live.cancel.wait())
        background = asyncio.create_task(self._background(live))
        try:
            await asyncio.wait({body, cancel_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (body, cancel_wait, background):
                task.cancel()
            # Awaited, so no exception is left unretrieved (and logged as such).
            await asyncio.gather(body, cancel_wait, background, return_exceptions=True)
        failure = None if body.cancelled() else body.exception()
        if failure is not None:
            raise failure

    async def _post_and_grade(self, live: Live, pending: list[tuple[str, int]]) -> None:
        await self._ensure_message(live)
        if not pending:
            return
        # Preflight: one sample per model first, so a refused parameter or an unknown
        # model is reported in plain words before the run burns through the suite.
        firsts: dict[str, tuple[str, int]] = {}
        for key in pending:
            firsts.setdefault(key[0], key)
        providers = {self.models.split(m)[0] for m in live.run.models}
        live.slots = asyncio.Semaphore(self.models.concurrency * len(providers))
        checks = [
            asyncio.create_task(self._sample(live, key, preflight=True)) for key in firsts.values()
        ]
        try:
            await asyncio.gather(*checks)
        finally:  # one model refused, or cancelled: the other checks stop too
            for check in checks:
                check.cancel()
            await asyncio.gather(*checks, return_exceptions=True)
        rest = [key for key in pending if key not in set(firsts.values())]
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        for key in rest:
            queue.put_nowait(key)

        async def worker() -> None:
            while True:
                try:
                    key = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self._sample(live, key)

        n_workers = min(len(rest), self.models.concurrency * len(providers) + 4)
        workers = [asyncio.create_task(worker()) for _ in range(n_workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _sample(self, live: Live, key: tuple[str, int], *, preflight: bool = False) -> None:
        """Ask and grade one sample; whatever happens, it ends recorded (or refused).

        Model answers, dataset items and graders are all outside our control: anything
        they make go wrong (a RecursionError on `[[[[...`, a grader bug) makes this one
        sample errored, never a dead worker and a run that cannot end.

        A sample holds one of the run's slots (the concurrency) from its request until
        its result is in the database: answers asked for and not yet stored never
        outnumber the concurrency, so after `kill -9` at most that many are asked again
        (docs/benchmarks.md, crash waste). A run stops holding, for good, when grading
        and waiting for the write take over 1/HOLD_RATIO of the provider's answer time
        (a fast provider at high concurrency, a heavy grader), where holding would cost
        throughput instead: its slots are then freed once a sample is graded, results
        are written in batches, and a crash may ask again up to a batch more.
        """
        slots = live.slots if live.holding else None
        async with slots or contextlib.nullcontext():
            try:
                await self._ask_and_grade(live, key, preflight=preflight)
            except (RunRefused, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("sample %s #%s failed unexpectedly", key[0], key[1])
                if key not in live.recorded:
                    result = store.new_result_row(live.run.id or 0, key[0], key[1])
                    result["error"] = f"evalbot could not grade this sample ({type(exc).__name__})"
                    self._record(live, result)
            if slots is not None and live.buffered is not None:
                live.flush_now.set()
                began = time.monotonic()
                await asyncio.shield(live.buffered)
                self._waited(live, time.monotonic() - began)

    @staticmethod
    def _waited(live: Live, wait_s: float) -> None:
        live.wait_s = _average(live.wait_s, wait_s)
        live.waits += 1
        cost = live.grade_s + live.wait_s
        if live.holding and live.waits >= HOLD_SAMPLES and cost * HOLD_RATIO > live.latency_s:
            live.holding = False
            log.info(
                "r%s: grading and storing take %.1f ms of the provider's %.0f ms; results "
                "are written in batches from now on",
                live.run.id,
                cost * 1000,
                live.latency_s * 1000,
            )

    async def _ask_and_grade(
        self, live: Live, key: tuple[str, int], *, preflight: bool = False
    ) -> None:
        model, index = key
        item = live.suite.items[index]
        # A plain row, not a SampleResult: building model objects for every sample
        # cost a third of the event loop's CPU at concurrency 64 (docs/benchmarks.md).
        result = store.new_result_row(live.run.id or 0, model, index)
        try:
            messages = build_messages(live.suite, item)
            while True:
                try:
                    completion, attempts = await self.models.complete_counted(
                        model,
                        messages,
                        {
                            **live.params[model],
                            **tool_params(live.suite.tools, live.suite.tool_choice),
                        },
                    )
                    break
                except ProviderError as exc:
                    # A model that refuses a sampling parameter (reasoning models and
                    # temperature) runs with the provider's default; the summary says so.
                    if not (
                        preflight
                        and exc.kind == "bad_request"
                        and exc.param
                        and exc.param in live.params[model]
                    ):
                        raise
                    live.params[model].pop(exc.param)
                    await self.services.db.run(
                        store.drop_param, run_id=live.run.id or 0, model=model, param=exc.param
                    )
                    live.run.adjustments = {
                        **(live.run.adjustments or {}),
                        model: sorted({*(live.run.adjustments or {}).get(model, []), exc.param}),
                    }
                    log.info("%s refused %s; running without it", model, exc.param)
        except ProviderError as exc:
            if preflight and exc.kind in FATAL_KINDS:
                raise RunRefused(self._refusal(model, exc, live.suite)) from exc
            result["error"] = f"{exc.kind}: {exc.message}"
            self._record(live, result)
            return
        except TemplateError as exc:  # the loader checks fields, so this is rare
            result["error"] = f"template: {exc}"
            self._record(live, result)
            return
        result["attempts"] = attempts
        result["output"] = shown_output(completion.text, completion.tool_calls)
        result["input_tokens"] = completion.input_tokens
        result["cached_input_tokens"] = completion.cached_input_tokens
        result["output_tokens"] = completion.output_tokens
        result["latency_ms"] = int(completion.latency_s * 1000)
        live.latency_s = _average(live.latency_s, completion.latency_s)
        result["truncated"] = completion.truncated
        result["cost_usd"] = (
            self.prices.cost(
                model,
                completion.input_tokens,
                completion.cached_input_tokens,
                completion.output_tokens,
            )
            or 0.0
        )
        sample = Sample(completion.text, output_tools=completion.tool_calls)
        began = time.monotonic()
        verdict = await grade_sample(live.suite.criteria, item, sample, self.models)
        live.grade_s = _average(live.grade_s, time.monotonic() - began)
        if verdict.status == "errored":
            result["error"] = verdict.error
        else:
            result["score"] = verdict.score
            result["status"] = verdict.status
            result["criteria"] = verdict.criteria
        self._record(live, result)

    @staticmethod
    def _refusal(model: str, exc: ProviderError, suite: Suite) -> str:
        if exc.kind == "not_found":
            return (
                f"`{model}` is not a model this provider serves ({exc.message}). "
                "Run it again with a model the provider lists."
            )
        if exc.kind == "auth":
            return (
                f"the provider refused our credentials for `{model}` ({exc.message}). "
                "Check the API key the bot is configured with."
            )
        hint = ""
        if exc.param and exc.param in suite.sampling:
            hint = (
                f" Remove or change `{exc.param}` under `sampling` in "
                f"{suite.folder.name}/suite.yaml for this model."
            )
        reason = exc.message.rstrip(". ")
        return f"`{model}` refused the request: {reason}.{hint} Nothing else was sent."

    def _record(self, live: Live, result: store.ResultRow) -> None:
        key = (result["model"], result["item_index"])
        if key in live.recorded:  # a sample is counted once, whatever failed after
            return
        live.recorded.add(key)
        tally = live.counts.setdefault(result["model"], store.ModelTally())
        status = result["status"]
        setattr(tally, status, getattr(tally, status) + 1)
        tally.truncated += int(result["truncated"])
        tally.input_tokens += result["input_tokens"]
        tally.cached_input_tokens += result["cached_input_tokens"]
        tally.output_tokens += result["output_tokens"]
        tally.cost_usd += result["cost_usd"]
        if status != "errored":
            tally.latencies_ms.append(result["latency_ms"])
        live.buffer.append(result)
        live.dirty = True
        if live.buffered is None:
            live.buffered = asyncio.get_running_loop().create_future()
        if len(live.buffer) >= self.flush_batch:
            live.flush_now.set()

    async def _flush(self, live: Live) -> None:
        if live.writing is not None and not live.writing.done():
            # A write whose flush was cancelled (the run ended, a shutdown) still runs
            # in its thread: wait for it, so nothing is written twice or lost.
            await asyncio.wait({live.writing})
        if not live.buffer:
            return
        batch, live.buffer = live.buffer, []
        stored, live.buffered = live.buffered, None
        # The counts as of this batch: what Slack is shown once the batch is stored, so
        # the channel never sees a sample the database does not have.
        snapshot = {
            m: store.ModelTally(t.passed, t.failed, t.errored) for m, t in live.counts.items()
        }
        write = asyncio.ensure_future(self.services.db.run(store.save_result_rows, rows=batch))

        def settled(done: asyncio.Future[int]) -> None:
            if done.cancelled() or done.exception() is not None:
                live.buffer[:0] = batch  # kept for the next attempt, and its waiters
                if stored is not None:
                    if live.buffered is None:
                        live.buffered = stored
                    else:
                        live.buffered.add_done_callback(lambda _: _resolve(stored))
            elif stored is not None:
                _resolve(stored)

        write.add_done_callback(settled)
        live.writing = write
        await asyncio.shield(write)
        live.stored = snapshot

    async def _background(self, live: Live) -> None:
        """Flush results (when `flush_batch` wait or a sample waits for its own, else
        every `flush_every_s`) and refresh the Slack message until cancelled.

        The refresh runs beside the flushing, never in its way: writes to the database
        do not wait on Slack. While one refresh is still out, no other is started (the
        next one carries newer numbers anyway).
        """
        last_update = 0.0
        refresh: asyncio.Task[None] | None = None
        try:
            while True:
                await wait_event(live.flush_now, self.flush_every_s)
                live.flush_now.clear()
                try:
                    await self._flush(live)
                except Exception:
                    log.exception("writing results failed; will retry")
                now = time.monotonic()
                idle = refresh is None or refresh.done()
                if live.dirty and idle and now - last_update >= self.update_every_s:
                    live.dirty = False
                    last_update = now
                    refresh = asyncio.create_task(self._show_progress(live))
        finally:
            if refresh is not None and not refresh.done():
                refresh.cancel()

    async def _show_progress(self, live: Live) -> None:
        run = live.run
        if run.channel is None or run.message_ts is None:
            return
        elapsed = time.monotonic() - live.started
        text = self.services.presenter.run_progress(
            RunProgress(live.header, run.models, live.stored, elapsed)
        )
        try:
            await self.services.chat.update(
                Posted(run.channel, run.message_ts), text, progress=True
            )
        except ChatError as exc:
            log.warning("progress update failed: %s", exc.code)
        except Exception:
            log.exception("progress update failed")

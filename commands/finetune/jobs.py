"""A fine-tuning job's life: submit once, follow live, evaluate the result.

Submission is idempotent: the request is in the database (with its key) before any
backend call; the job is created with one attempt and tagged with the key; after any
doubtful failure (timeout, dropped connection, 5xx) the backend is asked for the job of
that key before trying again. A restarted leader does the same for every request left
half-way, so no request ever becomes two jobs. The lifecycle is the same for every
backend (commands.ports.FineTuneBackend); the job row names the one it runs on.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from commands import schedule as scheduled
from commands.finetune import progress as tracking
from commands.finetune.render import job_text
from commands.finetune.steps import Step, friendly, step_text
from commands.leases import Lease, dead_here
from commands.origins import FineTune, stored
from commands.ports import (
    BackendUnavailable,
    ChatError,
    FineTuneBackend,
    FineTuneBackends,
    JobEvent,
    JobInfo,
    Posted,
    ProviderError,
    TrainingMethod,
    TrainingRequest,
    Upload,
)
from commands.registry import UserFacingError
from commands.reports import Code, Title
from commands.services import Ports, Services
from storage import finetunes as store
from storage import leases as lease_store
from storage import runs as run_store
from storage.tables import FineTuneJob, utcnow

log = logging.getLogger(__name__)

PROVIDER_STATES = ("validating_files", "queued", "running")
CREATE_ATTEMPTS = 4
SEEN_EVENTS_KEPT = 500
_METHODS: dict[str, TrainingMethod] = {"sft": "sft", "dpo": "dpo", "rft": "rft"}


def backends(services: Ports) -> FineTuneBackends:
    """The registry of fine-tuning backends; UserFacingError when there is none."""
    return services.finetune


def backend_of(services: Ports, job: FineTuneJob) -> FineTuneBackend:
    """The backend `job` was created with; UserFacingError when this process lacks it."""
    try:
        return backends(services).named(job.backend, job.provider)
    except BackendUnavailable as exc:
        raise UserFacingError(str(exc)) from exc


async def show(services: Ports, job: FineTuneJob, extra: str = "") -> None:
    """Update the job's one message in place."""
    if not (job.channel and job.message_ts):
        return
    try:
        await services.chat.update(
            Posted(job.channel, job.message_ts), job_text(job, services.presenter.line) + extra
        )
    except ChatError as exc:
        log.warning("job message update failed: %s", exc.code)


def evaluating_text(
    line: Callable[[Title], str], model: str, job: FineTuneJob, run: int | None
) -> str:
    """The job thread's note that its model is being evaluated. The model's name is the
    provider's (or the serving side's): code, through the presenter, never live mrkdwn."""
    return line(
        (":test_tube: Evaluating ", Code(model), " on ", Code(job.suite), " against ")
        + (Code(job.base_model), f" (run r{run}).")
    )


async def _thread(services: Ports, job: FineTuneJob, text: str) -> None:
    if job.channel and job.message_ts:
        try:
            await services.chat.post(job.channel, text, thread_ts=job.message_ts)
        except ChatError as exc:
            log.warning("job thread post failed: %s", exc.code)


async def _update(services: Ports, job_id: int, **fields: Any) -> FineTuneJob:
    job = await services.db.run(store.update, job_id=job_id, **fields)
    assert job is not None
    return job


def _other_providers(services: Ports, provider: str) -> str:
    others = [p for p in services.models.providers() if p != provider]
    if not others:
        return (
            "No other provider is configured; EVALBOT_PROVIDERS can add Azure OpenAI or "
            "a gateway that serves the same fine-tuning API."
        )
    return (
        "Other configured providers that may take it: "
        + ", ".join(f"`{p}`" for p in others)
        + " (name the base model as `provider:model`)."
    )


async def submit(services: Ports, job_id: int) -> FineTuneJob:
    """Upload the data and create the backend job exactly once; then follow it.

    One process at a time submits a job (a lease on its row): the command that asked
    for it and a leader resuming half-done requests never both create it.
    """
    job = await services.db.run(store.get_job, job_id=job_id)
    if job is None or job.status not in ("pending",):
        raise UserFacingError(f"Job f{job_id} is not waiting to be submitted.")
    lease = Lease(services, FineTuneJob, job_id, ("pending",))
    if not await lease.acquire():
        log.info("f%s is already being submitted", job_id)
        return job
    try:
        return await _submit(services, job)
    finally:
        await asyncio.shield(lease.release())


def _key(job: FineTuneJob) -> str:
    return job.request_key[:64]


async def _upload(services: Ports, job: FineTuneJob, part: str) -> str | None:
    """Stream the stored `part` to the backend through a temporary file; None if empty.

    The data goes database -> disk -> backend a chunk at a time, so a large training
    file is never whole in this process's memory.
    """
    job_id = job.id or 0
    with tempfile.TemporaryFile() as spool:
        size = await services.db.run(store.copy_data, job_id=job_id, part=part, into=spool)
        if not size:
            return None
        spool.seek(0)
        return await backend_of(services, job).upload(
            job.provider, f"f{job_id}-{part}.jsonl", spool
        )


async def _submit(services: Ports, job: FineTuneJob) -> FineTuneJob:
    job_id = job.id or 0
    fresh = await services.db.run(store.get_job, job_id=job_id)
    job = fresh or job
    if job.status != "pending":  # submitted by whoever held the lease before
        return job
    found = await _find(services, job)
    if found is None:
        if not job.training_file_id:
            file_id = await _upload(services, job, "train")
            job = await _update(services, job_id, training_file_id=file_id)
        if not job.validation_file_id:
            file_id = await _upload(services, job, "valid")
            if file_id:
                job = await _update(services, job_id, validation_file_id=file_id)
        found = await _create(services, job)
        if found is None:
            ended = await services.db.run(store.get_job, job_id=job_id)
            assert ended is not None
            return ended
    job = await _update(services, job_id, provider_job_id=found.id, status=found.status)
    await services.db.run(store.drop_data, job_id=job_id)  # the backend has the files now
    await show(services, job)
    await follow(services, job)
    return job


async def _find(services: Ports, job: FineTuneJob) -> JobInfo | None:
    try:
        return await backend_of(services, job).find(job.provider, _key(job))
    except ProviderError as exc:
        log.warning("looking up f%s by its request key failed: %s", job.id, exc.message)
        return None


def training_request(services: Ports, job: FineTuneJob) -> TrainingRequest:
    """The job's row as a backend's create() takes it."""
    return TrainingRequest(
        request_key=_key(job),
        label=f"f{job.id}",
        provider=job.provider,
        base_model=services.models.split(job.base_model)[1],
        method=_METHODS[job.method],
        hyperparameters=dict(job.hyperparameters or {}),
        training_file=job.training_file_id or "",
        validation_file=job.validation_file_id,
        grader=job.grader,
        suffix=job.suffix,
        seed=job.seed,
        suite=job.suite,
    )


async def _create(services: Ports, job: FineTuneJob) -> JobInfo | None:
    ft = backend_of(services, job)
    request = training_request(services, job)
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return await ft.create(request)
        except ProviderError as exc:
            if not exc.retryable:
                refused = await _update(services, job.id or 0, status="refused", error=exc.message)
                await services.db.run(store.drop_data, job_id=job.id or 0)
                await show(services, refused)
                await _thread(
                    services,
                    refused,
                    # The provider's words, escaped as code: never live mrkdwn.
                    services.presenter.line(
                        (":no_entry: The provider refused the job: ", Code(exc.message))
                    )
                    + "\n"
                    + _other_providers(services, job.provider),
                )
                return None
            log.warning(
                "creating f%s: %s (attempt %d); checking before retrying", job.id, exc.kind, attempt
            )
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            found = await _find(services, job)
            if found is not None:
                return found
    failed = await _update(
        services,
        job.id or 0,
        status="failed",
        error="the provider kept failing while the job was being created",
    )
    await services.db.run(store.drop_data, job_id=job.id or 0)
    await show(services, failed)
    return None


async def follow(services: Ports, job: FineTuneJob) -> None:
    """Poll the job on the scheduler (persisted: survives restarts)."""
    await services.scheduler.every(
        scheduled.finetune_job_id(job.id or 0),
        scheduled.POLL_FINETUNE,
        services.policy.poll_seconds,
        (job.id or 0,),
        first_in_s=1,
    )


async def poll(services: Services, job_id: int) -> FineTuneJob | None:
    """One look at the backend job: message, thread events, and the end of the job."""
    job = await services.db.run(store.get_job, job_id=job_id)
    if job is None or not job.provider_job_id or job.status in store.TERMINAL:
        await services.scheduler.cancel(scheduled.finetune_job_id(job_id))
        return job
    ft = backend_of(services, job)
    info = await ft.get(job.provider, job.provider_job_id)
    events = await ft.events(job.provider, job.provider_job_id)
    seen = set(job.seen_events or [])
    metrics = tracking.metrics_of(events)
    # The provider's log lines become the team's words (commands.finetune.steps).
    fresh = [friendly(e) for e in reversed(events) if e.id not in seen]
    for step in fresh:
        if step is not None:
            await _thread(services, job, step_text(step))
    fields: dict[str, Any] = {
        "status": info.status,
        "trained_tokens": info.trained_tokens,
        "seen_events": sorted(seen | {e.id for e in events})[-SEEN_EVENTS_KEPT:],
        **tracking.progress(metrics, info).columns(),
    }
    if info.fine_tuned_model:
        fields["fine_tuned_model"] = info.fine_tuned_model
    if info.error:
        fields["error"] = info.error
    if info.status == "succeeded" and info.fine_tuned_model and not job.serving_name:
        try:
            fields["serving_name"] = await ft.make_servable(job.provider, info)
        except ProviderError as exc:
            # Trained but not servable yet: try again at the next poll.
            log.warning("f%s trained but could not be served: %s", job_id, exc.message)
            fields["status"] = "serving"
    if fields["status"] not in ("succeeded", "failed", "cancelled"):
        job = await _update(services, job_id, **fields)
        await show(services, job)
        return job
    # A webhook and the scheduled poll may see the end at the same moment: the one that
    # records it does the rest (chart, eval), once.
    ended, ended_here = await services.db.run(store.conclude, job_id=job_id, **fields)
    if not ended_here:
        return ended
    await show(services, ended)
    await services.scheduler.cancel(scheduled.finetune_job_id(job_id))
    await finish(services, ended, metrics)
    return ended


async def finish(services: Services, job: FineTuneJob, metrics: list[JobEvent]) -> None:
    """The end of a job: loss chart, the provider's reason, or an eval against the base."""
    train, valid = tracking.loss_curve(metrics)
    reward = tracking.reward_curve(metrics)
    if (train or reward) and job.channel and job.message_ts:
        png = await services.charts.loss_curve(
            f"f{job.id}: {job.method} {job.base_model}", train, valid, reward
        )
        try:
            await services.chat.upload(
                job.channel,
                Upload("loss.png", png, title="Loss curve", alt_text="Training loss by step"),
                thread_ts=job.message_ts,
            )
        except ChatError as exc:
            log.warning("loss chart upload failed: %s", exc.code)
    if job.status == "failed":
        reason = Step(":x:", "The job failed", job.error or "no reason given")
        await _thread(services, job, step_text(reason))
        return
    if job.status == "cancelled":
        await _thread(services, job, ":no_entry_sign: The job was cancelled.")
        return
    if job.serving_name or job.fine_tuned_model:
        await services.outcomes.finetune_finished(services, job)


async def evaluate(services: Services, job: FineTuneJob) -> None:
    """Run the suite on the fine-tuned model and its base (reusing a recent base run)."""
    suite = services.suites.get(job.suite)
    model = job.serving_name or job.fine_tuned_model or ""
    if job.provider != "default":
        model = f"{job.provider}:{model}"
    if suite is None:
        said = services.presenter.line(
            (Code(job.suite), " is no longer loaded: nothing to evaluate.")
        )
        await _thread(services, job, said)
        return
    total = len(suite.items)

    def plan(session: Any) -> Any:
        latest = run_store.latest_complete_run(
            session, suite=suite.name, data_version=suite.data_version, model=job.base_model
        )
        base_run = latest.id if latest is not None else None
        models = [model] if base_run else [job.base_model, model]
        origin, origin_ref = stored(
            FineTune(
                job=job.id,
                new=model,
                baseline=job.base_model,
                base_run=base_run,
                channel=job.channel,
                thread=job.message_ts,
            )
        )
        return run_store.create_run(
            session=session,
            suite=suite.name,
            data_version=suite.data_version,
            models=models,
            total=total,
            channel=job.channel,
            user_id=job.user_id,
            origin=origin,
            origin_ref=origin_ref,
        )

    run = await services.db.run(plan)
    await services.db.run(store.update, job_id=job.id or 0, eval_run_id=run.id)
    await _thread(services, job, evaluating_text(services.presenter.line, model, job, run.id))
    await services.engine.start(run.id or 0)


async def cancel(services: Ports, job: FineTuneJob) -> FineTuneJob:
    """Cancel at the provider (or locally, before it was submitted)."""
    if job.status in store.TERMINAL:
        raise UserFacingError(f"`f{job.id}` has already {job.status}.")
    if job.provider_job_id:
        info = await backend_of(services, job).cancel(job.provider, job.provider_job_id)
        job = await _update(services, job.id or 0, status=info.status)
    else:
        job = await _update(services, job.id or 0, status="cancelled")
        await services.db.run(store.drop_data, job_id=job.id or 0)
    await show(services, job)
    if job.status == "cancelled":
        await services.scheduler.cancel(scheduled.finetune_job_id(job.id or 0))
        await _thread(services, job, ":no_entry_sign: Cancelled.")
    return job


async def _free_if_dead(services: Ports, job: FineTuneJob) -> FineTuneJob:
    """Release a pending job held by a stopped process on this host (a restart)."""
    now = utcnow()
    if (
        job.status == "pending"
        and job.owner
        and job.lease_until is not None
        and job.lease_until > now
        and dead_here(job.owner, services.instance)
    ):
        log.info("f%s was held by %s, which has stopped", job.id, job.owner)
        await services.db.run(
            lease_store.release, table=FineTuneJob, row_id=job.id or 0, owner=job.owner, now=now
        )
        job.owner, job.lease_until = None, now
    return job


async def resume_all(services: Services) -> None:
    """At leadership: finish submitting half-done requests and follow running jobs."""
    for job in await services.db.run(store.unfinished):
        job = await _free_if_dead(services, job)
        try:
            if job.status == "pending":
                await submit(services, job.id or 0)
            elif job.provider_job_id:
                await follow(services, job)
        except (ProviderError, UserFacingError) as exc:
            log.warning("resuming f%s failed: %s", job.id, exc)


async def resume_pending(services: Services) -> list[int]:
    """Submit requests a crashed process left half-way, once its lease has lapsed."""
    started = []
    for job in await services.db.run(store.unfinished):
        if job.status != "pending" or ("finetune_jobs", job.id or 0) in services.held:
            continue
        job = await _free_if_dead(services, job)
        now = utcnow()
        if job.lease_until is None:
            # Never claimed: the command (or the approval) that made it pending is about
            # to submit it, unless its process died first.
            if job.updated_at > now - timedelta(seconds=services.policy.run_lease_s):
                continue
        elif job.lease_until > now:
            continue  # still held
        services.tasks.spawn(_resume_one(services, job.id or 0), name=f"finetune-f{job.id}")
        started.append(job.id or 0)
    return started


async def _resume_one(services: Services, job_id: int) -> None:
    try:
        await submit(services, job_id)
    except (ProviderError, UserFacingError) as exc:
        log.warning("resuming f%s failed: %s", job_id, exc)


async def poll_by_provider_id(
    services: Services, provider_job_id: str, *, tries: int = 5, wait_s: float = 1.0
) -> None:
    """A webhook said this provider job changed: look at it now.

    A fast provider can announce a job before its creation has been answered and
    recorded here, so an unknown id is looked up again for a few seconds.
    """
    for attempt in range(tries):
        job = await services.db.run(store.by_provider_id, provider_job_id=provider_job_id)
        if job is not None:
            await poll(services, job.id or 0)
            return
        if attempt + 1 < tries:
            await asyncio.sleep(wait_s)
    log.info("webhook for unknown job %s ignored", provider_job_id)

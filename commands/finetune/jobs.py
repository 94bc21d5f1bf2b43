"""A fine-tuning job's life: submit once, follow live, evaluate the result.

Submission is idempotent: the request is in the database (with its key) before any
provider call; the job is created with one attempt and tagged with the key in its
metadata; after any doubtful failure (timeout, dropped connection, 5xx) the provider is
asked for a job with that metadata before trying again. A restarted leader does the same
for every request left half-way, so no request ever becomes two jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from commands import schedule as scheduled
from commands.finetune.render import job_text
from commands.leases import Lease, dead_here
from commands.origins import FineTune, stored
from commands.ports import (
    ChatError,
    FineTuneBackend,
    JobEvent,
    JobInfo,
    Posted,
    ProviderError,
    Upload,
)
from commands.registry import UserFacingError
from commands.services import Ports, Services
from storage import finetunes as store
from storage import leases as lease_store
from storage import runs as run_store
from storage.tables import FineTuneJob, utcnow

log = logging.getLogger(__name__)

PROVIDER_STATES = ("validating_files", "queued", "running")
CREATE_ATTEMPTS = 4


def backend(services: Ports) -> FineTuneBackend:
    return services.finetune


async def show(services: Ports, job: FineTuneJob, extra: str = "") -> None:
    """Update the job's one message in place."""
    if not (job.channel and job.message_ts):
        return
    try:
        await services.chat.update(Posted(job.channel, job.message_ts), job_text(job) + extra)
    except ChatError as exc:
        log.warning("job message update failed: %s", exc.code)


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
    """Upload the data and create the provider job exactly once; then follow it.

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


async def _submit(services: Ports, job: FineTuneJob) -> FineTuneJob:
    job_id = job.id or 0
    fresh = await services.db.run(store.get_job, job_id=job_id)
    job = fresh or job
    if job.status != "pending":  # submitted by whoever held the lease before
        return job
    ft = backend(services)
    options = job.options or {}
    metadata = {"evalbot_request": job.request_key[:64], "evalbot_job": f"f{job_id}"}
    found = await _find(services, job, metadata)
    if found is None:
        if not job.training_file_id:
            data = options.get("train_jsonl", "")
            file_id = await ft.upload(job.provider, f"f{job_id}-train.jsonl", data.encode())
            job = await _update(services, job_id, training_file_id=file_id)
        if options.get("valid_jsonl") and not job.validation_file_id:
            file_id = await ft.upload(
                job.provider, f"f{job_id}-valid.jsonl", str(options["valid_jsonl"]).encode()
            )
            job = await _update(services, job_id, validation_file_id=file_id)
        found = await _create(services, job, metadata)
        if found is None:
            ended = await services.db.run(store.get_job, job_id=job_id)
            assert ended is not None
            return ended
    job = await _update(services, job_id, provider_job_id=found.id, status=found.status)
    await services.db.run(store.set_option, job_id=job_id, key="train_jsonl", value=None)
    await services.db.run(store.set_option, job_id=job_id, key="valid_jsonl", value=None)
    await show(services, job)
    await follow(services, job)
    return job


async def _find(services: Ports, job: FineTuneJob, metadata: dict[str, str]) -> JobInfo | None:
    try:
        matches = await backend(services).find_jobs(job.provider, metadata)
    except ProviderError as exc:
        log.warning("looking up f%s by metadata failed: %s", job.id, exc.message)
        return None
    return next(
        (m for m in matches if m.metadata.get("evalbot_request") == metadata["evalbot_request"]),
        None,
    )


async def _create(services: Ports, job: FineTuneJob, metadata: dict[str, str]) -> JobInfo | None:
    ft = backend(services)
    options = job.options or {}
    base = services.models.split(job.base_model)[1]
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return await ft.create_job(
                job.provider,
                model=base,
                training_file=job.training_file_id or "",
                validation_file=job.validation_file_id,
                method=options.get("method", {}),
                suffix=options.get("suffix"),
                seed=options.get("seed"),
                metadata=metadata,
            )
        except ProviderError as exc:
            if not exc.retryable:
                refused = await _update(services, job.id or 0, status="refused", error=exc.message)
                await show(services, refused)
                await _thread(
                    services,
                    refused,
                    f":no_entry: The provider refused the job: {exc.message}\n"
                    + _other_providers(services, job.provider),
                )
                return None
            log.warning(
                "creating f%s: %s (attempt %d); checking before retrying", job.id, exc.kind, attempt
            )
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            found = await _find(services, job, metadata)
            if found is not None:
                return found
    failed = await _update(
        services,
        job.id or 0,
        status="failed",
        error="the provider kept failing while the job was being created",
    )
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
    """One look at the provider job: message, thread events, and the end of the job."""
    job = await services.db.run(store.get_job, job_id=job_id)
    if job is None or not job.provider_job_id or job.status in store.TERMINAL:
        await services.scheduler.cancel(scheduled.finetune_job_id(job_id))
        return job
    ft = backend(services)
    info = await ft.get_job(job.provider, job.provider_job_id)
    events = await ft.events(job.provider, job.provider_job_id)
    seen = set((job.options or {}).get("seen_events", []))
    metrics = [e for e in reversed(events) if e.type == "metrics" and e.data]
    progress = _progress(metrics, info)
    fresh = [
        e for e in reversed(events) if e.id not in seen and e.type == "message" and _noteworthy(e)
    ]
    for event in fresh:
        await _thread(services, job, f"`{event.level}` {event.message}")
    await services.db.run(
        store.set_option,
        job_id=job_id,
        key="seen_events",
        value=sorted(seen | {e.id for e in events})[-500:],
    )
    await services.db.run(store.set_option, job_id=job_id, key="progress", value=progress)
    fields: dict[str, Any] = {"status": info.status, "trained_tokens": info.trained_tokens}
    if info.fine_tuned_model:
        fields["fine_tuned_model"] = info.fine_tuned_model
    if info.error:
        fields["error"] = info.error
    if info.status not in ("succeeded", "failed", "cancelled"):
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


def _noteworthy(event: JobEvent) -> bool:
    if event.level in ("warn", "warning", "error"):
        return True
    text = event.message.lower()
    return any(
        w in text
        for w in (
            "validated",
            "started",
            "completed",
            "failed",
            "cancel",
            "new fine-tuned model",
            "checkpoint",
        )
    )


def _progress(metrics: list[JobEvent], info: JobInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if metrics:
        last = metrics[-1].data
        out["step"] = last.get("step")
        out["total_steps"] = last.get("total_steps")
        out["train_loss"] = last.get("train_loss")
        out["valid_loss"] = last.get("valid_loss", last.get("full_valid_loss"))
        first_t, last_t = metrics[0].created_at, metrics[-1].created_at
        step0, step1 = metrics[0].data.get("step"), last.get("step")
        total = last.get("total_steps")
        if (
            isinstance(step1, int)
            and isinstance(step0, int)
            and isinstance(total, int)
            and step1 > step0
            and last_t > first_t
        ):
            per_step = (last_t - first_t) / (step1 - step0)
            out["eta_s"] = int(per_step * (total - step1))
    if info.estimated_finish:
        out["eta_s"] = max(0, int(info.estimated_finish - time.time()))
    out["curve"] = [
        [
            e.data.get("step"),
            e.data.get("train_loss"),
            e.data.get("valid_loss", e.data.get("full_valid_loss")),
        ]
        for e in metrics
        if e.data.get("step") is not None
    ]
    return out


async def finish(services: Services, job: FineTuneJob, metrics: list[JobEvent]) -> None:
    """The end of a job: loss chart, the provider's reason, or an eval against the base."""
    curve = ((job.options or {}).get("progress") or {}).get("curve") or []
    train = [(int(s), float(t)) for s, t, _ in curve if s is not None and t is not None]
    valid = [(int(s), float(v)) for s, _, v in curve if s is not None and v is not None]
    if train and job.channel and job.message_ts:
        png = await services.charts.loss_curve(
            f"f{job.id}: {job.method} {job.base_model}", train, valid
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
        await _thread(services, job, f":x: The job failed: {job.error or 'no reason given'}.")
        return
    if job.status == "cancelled":
        await _thread(services, job, ":no_entry_sign: The job was cancelled.")
        return
    await services.outcomes.finetune_finished(services, job)


async def evaluate(services: Services, job: FineTuneJob) -> None:
    """Run the suite on the fine-tuned model and its base (reusing a recent base run)."""
    suite = services.suites.get(job.suite)
    model = job.fine_tuned_model or ""
    if job.provider != "default":
        model = f"{job.provider}:{model}"
    if suite is None:
        await _thread(services, job, f"`{job.suite}` is no longer loaded: nothing to evaluate.")
        return
    total = len(suite.items)

    def plan(*, session: Any) -> Any:
        base_run = None
        for run in run_store.recent_runs(session=session, suite=suite.name, limit=30):
            if (
                run.status == "finished"
                and job.base_model in run.models
                and run.data_version == suite.data_version
                and run.sample_limit is None
            ):
                base_run = run.id
                break
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
    await _thread(
        services,
        job,
        f":test_tube: Evaluating `{model}` on `{suite.name}` against "
        f"`{job.base_model}` (run r{run.id}).",
    )
    await services.engine.start(run.id or 0)


async def cancel(services: Ports, job: FineTuneJob) -> FineTuneJob:
    """Cancel at the provider (or locally, before it was submitted)."""
    if job.status in store.TERMINAL:
        raise UserFacingError(f"`f{job.id}` has already {job.status}.")
    if job.provider_job_id:
        info = await backend(services).cancel_job(job.provider, job.provider_job_id)
        job = await _update(services, job.id or 0, status=info.status)
    else:
        job = await _update(services, job.id or 0, status="cancelled")
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

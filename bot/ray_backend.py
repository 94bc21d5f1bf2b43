"""The `ray` fine-tuning backend: open-weight training on the team's Ray cluster.

It implements the same port as the OpenAI backend, so a Ray job has the OpenAI job's
lifecycle (one message, events in the thread, loss chart, cancel, eval against the base):
- upload: each data file becomes a content-addressed package on the cluster;
- create_job: a Ray job whose submission id is derived from evalbot's request key, so a
  retry or a restarted bot meets the job it already started instead of a second one;
- get_job / events / cancel_job: Ray's status, the progress lines in its log, stop;
- on success the model is made servable on the base model's provider (bot.serving).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.ray_jobs import (
    FAILED,
    PENDING,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    AlreadySubmitted,
    RayJob,
    RayJobsClient,
    package,
)
from bot.serving import Serving, TrainedModel
from bot.settings import ProviderConfig
from bot.training.spec import (
    DATA_DIRS,
    SPEC_FILE,
    TRAIN_FILE,
    VALID_FILE,
    GraderProvider,
    Hyperparameters,
    TrainingSpec,
    parse_events,
    parse_progress,
)
from commands.ports import CostEstimate, JobEvent, JobInfo, ProviderError

log = logging.getLogger(__name__)

STATUS = {
    PENDING: "queued",
    RUNNING: "running",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    STOPPED: "cancelled",
}
METHODS = {"supervised": "sft", "dpo": "dpo", "reinforcement": "rft"}


@dataclass(frozen=True)
class GpuPricing:
    """How GPU-hours are estimated before a job is approved."""

    tokens_per_gpu_hour: float = 10_000_000  # LoRA on a ~8B model on one modern GPU
    usd_per_gpu_hour: float = 2.0
    rft_factor: float = 8.0  # GRPO samples and grades a group of answers per prompt

    def gpu_hours(self, method: str, tokens: int, epochs: int) -> float:
        work = max(0, tokens) * max(1, epochs) * (self.rft_factor if method == "rft" else 1.0)
        return work / self.tokens_per_gpu_hour


def submission_id(metadata: Mapping[str, str]) -> str:
    """evalbot-f12-<request key prefix>: the same request always gets the same id."""
    job = metadata.get("evalbot_job", "f0")
    key = metadata.get("evalbot_request", "")
    return f"evalbot-{job}-{key[:16]}"


class RayFineTuning:
    """Implements commands.ports.FineTuneBackend over Ray's job REST API."""

    def __init__(
        self,
        client: RayJobsClient,
        *,
        store: str,
        python: str,
        serving: Serving,
        providers: Mapping[str, ProviderConfig],
        pricing: GpuPricing | None = None,
    ) -> None:
        self.client = client
        self.store = store.rstrip("/")
        self.python = python
        self.serving = serving
        self.providers = dict(providers)
        self.pricing = pricing or GpuPricing()

    def kind(self, provider: str) -> str:
        return "ray"

    async def aclose(self) -> None:
        await self.client.close()

    def estimate(
        self, provider: str, method: str, base_model: str, tokens: int, epochs: int
    ) -> CostEstimate | None:
        """GPU-hours from the training tokens and the configured throughput, and their price."""
        hours = self.pricing.gpu_hours(method, tokens, epochs)
        return CostEstimate(
            usd=hours * self.pricing.usd_per_gpu_hour,
            note=f"≈{hours:,.2f} GPU-hours on the Ray cluster",
            gpu_hours=hours,
        )

    async def upload(self, provider: str, filename: str, content: bytes) -> str:
        name = VALID_FILE if filename.endswith("valid.jsonl") else TRAIN_FILE
        uri, zipped = package({f"{DATA_DIRS[name]}/{name}": content})
        await self.client.upload_package(uri, zipped)
        return uri

    def _spec(
        self, job: str, model: str, method: dict[str, Any], has_valid: bool, seed: int | None
    ) -> tuple[TrainingSpec, int]:
        kind = str(method.get("type", "supervised"))
        body = method.get(kind) or {}
        hyper = dict(body.get("hyperparameters") or {})
        gpus = int(hyper.pop("gpus", 0) or 0)
        fields: dict[str, Any] = {}
        for ours, theirs in (
            ("epochs", "n_epochs"),
            ("batch_size", "batch_size"),
            ("learning_rate", "learning_rate"),
            ("lora_r", "lora_r"),
            ("full", "full"),
            ("beta", "beta"),
            ("max_steps", "max_steps"),
            ("seed", "seed"),
        ):
            if hyper.get(theirs) is not None:
                fields[ours] = hyper[theirs]
        if seed is not None:
            fields["seed"] = seed
        spec = TrainingSpec(
            job=job,
            method=METHODS.get(kind, "sft"),  # type: ignore[arg-type]
            base_model=model,
            output_dir=f"{self.store}/{job}",
            hyper=Hyperparameters(**fields),
            grader=body.get("grader"),
            grader_providers={
                name: GraderProvider(
                    p.base_url, p.key_env or ("OPENAI_API_KEY" if name == "default" else None)
                )
                for name, p in self.providers.items()
            },
            has_valid=has_valid,
        )
        return spec, gpus

    async def create_job(
        self,
        provider: str,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: dict[str, Any],
        suffix: str | None,
        seed: int | None,
        metadata: dict[str, str],
    ) -> JobInfo:
        job_id = submission_id(metadata)
        data = [u for u in (training_file, validation_file) if u]
        if await self.client.get(job_id) is None:
            # Ray drops packages no job uses after a few minutes: data uploaded by a process
            # that died before submitting may be gone. Asking also pins it until submission.
            for uri in data:
                if not await self.client.has_package(uri):
                    raise ProviderError(
                        "bad_request",
                        "the training data is no longer on the Ray cluster (it was uploaded "
                        "too long ago); run the same /finetune command again",
                    )
        spec, gpus = self._spec(job_id, model, method, validation_file is not None, seed)
        spec_uri, spec_zip = package({SPEC_FILE: spec.to_json().encode()})
        await self.client.upload_package(spec_uri, spec_zip)
        runtime_env = {"working_dir": spec_uri, "py_modules": data}
        ray_metadata = {
            **metadata,
            "evalbot_base": model,
            "evalbot_method": spec.method,
            "evalbot_full": "1" if spec.hyper.full else "0",
            "evalbot_output": spec.output_dir,
        }
        entrypoint = f"{shlex.quote(self.python)} -m bot.training --spec {SPEC_FILE}"
        try:
            await self.client.submit(
                job_id,
                entrypoint,
                runtime_env=runtime_env,
                metadata=ray_metadata,
                num_gpus=gpus,
            )
        except AlreadySubmitted:
            log.info("%s was already submitted; following it", job_id)
        return await self.get_job(provider, job_id)

    async def find_jobs(self, provider: str, metadata: dict[str, str]) -> list[JobInfo]:
        found = await self.client.get(submission_id(metadata))
        return [] if found is None else [await self._info(provider, found)]

    async def get_job(self, provider: str, job_id: str) -> JobInfo:
        found = await self.client.get(job_id)
        if found is None:
            raise ProviderError("not_found", f"the Ray cluster has no job {job_id}")
        return await self._info(provider, found)

    async def _info(self, provider: str, job: RayJob) -> JobInfo:
        status = STATUS.get(job.status, "running")
        base = job.metadata.get("evalbot_base", "")
        error: str | None = None
        fine_tuned: str | None = None
        if status == "failed":
            error = await self._failure(job)
        elif status == "succeeded":
            trained = TrainedModel(
                job=job.metadata.get("evalbot_job", job.submission_id),
                suite=job.metadata.get("evalbot_suite", "suite"),
                output_dir=job.metadata.get("evalbot_output", f"{self.store}/{job.submission_id}"),
                full=job.metadata.get("evalbot_full") == "1",
            )
            try:
                fine_tuned = await self.serving.make_servable(provider, trained)
            except ProviderError as exc:
                if exc.retryable:
                    # Trained, not yet servable: the next poll tries again.
                    log.warning("%s: %s", job.submission_id, exc.message)
                    status = "running"
                else:
                    status, error = "failed", f"trained, but not servable: {exc.message}"
        return JobInfo(
            id=job.submission_id,
            status=status,
            model=base,
            fine_tuned_model=fine_tuned,
            error=error,
            metadata=job.metadata,
        )

    async def _failure(self, job: RayJob) -> str:
        try:
            events = parse_events(await self.client.logs(job.submission_id))
        except ProviderError:
            events = []
        errors = [e.message for e in events if e.level == "error"]
        return errors[-1] if errors else (job.message or "the job failed on the Ray cluster")

    async def cancel_job(self, provider: str, job_id: str) -> JobInfo:
        await self.client.stop(job_id)
        # Ray stops the job asynchronously: wait briefly for it to say so.
        for _ in range(20):
            info = await self.get_job(provider, job_id)
            if info.status in ("cancelled", "failed", "succeeded"):
                return info
            await asyncio.sleep(0.5)
        return info

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        logs = await self.client.logs(job_id)
        out: list[JobEvent] = []
        for p in parse_progress(logs):
            data: dict[str, Any] = {"step": p.step, "total_steps": p.total_steps}
            if p.loss is not None:
                data["train_loss"] = p.loss
            if p.valid_loss is not None:
                data["valid_loss"] = p.valid_loss
            if p.reward is not None:
                data["reward"] = p.reward
            out.append(
                JobEvent(f"step-{p.step}", int(p.time), "info", f"step {p.step}", "metrics", data)
            )
        for e in parse_events(logs):
            digest = hashlib.sha256(f"{e.time}:{e.message}".encode()).hexdigest()[:12]
            out.append(JobEvent(f"ev-{digest}", int(e.time), e.level, e.message))
        out.sort(key=lambda e: e.created_at)
        return list(reversed(out))[:limit] if limit else list(reversed(out))

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        """The suite's grader was compiled when the suite loaded; the cluster runs the same
        code, so there is nothing more to ask."""
        json.dumps(grader)  # it travels in the spec: it must be plain JSON

"""The `ray` fine-tuning backend: open-weight training on the team's Ray cluster.

It implements the same port as the OpenAI backend (docs/finetune-backends.md), so a Ray
job has the OpenAI job's lifecycle (one message, events in the thread, loss chart, cancel,
eval against the base):
- upload: each data file becomes a content-addressed package on the cluster;
- create: a Ray job whose submission id is derived from evalbot's request key, so a retry
  or a restarted bot meets the job it already started instead of a second one;
- get / events / cancel: Ray's status, the progress lines in its log, stop;
- make_servable: the trained model made callable on the base model's provider (bot.serving).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

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
from commands.ports import CostEstimate, JobEvent, JobInfo, ProviderError, TrainingRequest

log = logging.getLogger(__name__)

STATUS = {
    PENDING: "queued",
    RUNNING: "running",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    STOPPED: "cancelled",
}
# The command's hyperparameters (evalbot's terms) -> the training spec's.
HYPER_KEYS = {
    "n_epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "lora_r": "lora_r",
    "full": "full",
    "beta": "beta",
    "max_steps": "max_steps",
}


@dataclass(frozen=True)
class GpuPricing:
    """How GPU-hours are estimated before a job is approved."""

    tokens_per_gpu_hour: float = 10_000_000  # LoRA on a ~8B model on one modern GPU
    usd_per_gpu_hour: float = 2.0
    rft_factor: float = 8.0  # GRPO samples and grades a group of answers per prompt

    def gpu_hours(self, method: str, tokens: int, epochs: int) -> float:
        work = max(0, tokens) * max(1, epochs) * (self.rft_factor if method == "rft" else 1.0)
        return work / self.tokens_per_gpu_hour


def submission_id(request_key: str) -> str:
    """evalbot-<request key>: the same request always gets the same Ray job."""
    return f"evalbot-{request_key[:32]}"


class RayFineTuning:
    """Implements commands.ports.FineTuneBackend over Ray's job REST API."""

    name = "ray"

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

    async def upload(self, provider: str, filename: str, data: BinaryIO) -> str:
        name = VALID_FILE if filename.endswith("valid.jsonl") else TRAIN_FILE
        # Ray takes a package as one request body: the file is read whole here (at most
        # EVALBOT_FINETUNE_MAX_MB), zipped off the event loop.
        content = await asyncio.to_thread(data.read)
        uri, zipped = await asyncio.to_thread(package, {f"{DATA_DIRS[name]}/{name}": content})
        await self.client.upload_package(uri, zipped)
        return uri

    def _spec(self, job: str, request: TrainingRequest) -> tuple[TrainingSpec, int]:
        hyper = dict(request.hyperparameters)
        gpus = int(hyper.pop("gpus", 0) or 0)
        fields: dict[str, Any] = {
            ours: hyper[theirs]
            for theirs, ours in HYPER_KEYS.items()
            if hyper.get(theirs) is not None
        }
        if request.seed is not None:
            fields["seed"] = request.seed
        spec = TrainingSpec(
            job=job,
            method=request.method,
            base_model=request.base_model,
            output_dir=f"{self.store}/{job}",
            hyper=Hyperparameters(**fields),
            grader=request.grader,
            grader_providers={
                name: GraderProvider(
                    p.base_url, p.key_env or ("OPENAI_API_KEY" if name == "default" else None)
                )
                for name, p in self.providers.items()
            },
            has_valid=request.validation_file is not None,
        )
        return spec, gpus

    async def create(self, request: TrainingRequest) -> JobInfo:
        job_id = submission_id(request.request_key)
        data = [u for u in (request.training_file, request.validation_file) if u]
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
        spec, gpus = self._spec(job_id, request)
        spec_uri, spec_zip = package({SPEC_FILE: spec.to_json().encode()})
        await self.client.upload_package(spec_uri, spec_zip)
        metadata = {
            "evalbot_request": request.request_key,
            "evalbot_job": request.label,
            "evalbot_suite": request.suite,
            "evalbot_base": request.base_model,
            "evalbot_method": spec.method,
            "evalbot_full": "1" if spec.hyper.full else "0",
            "evalbot_output": spec.output_dir,
        }
        entrypoint = f"{shlex.quote(self.python)} -m bot.training --spec {SPEC_FILE}"
        try:
            await self.client.submit(
                job_id,
                entrypoint,
                runtime_env={"working_dir": spec_uri, "py_modules": data},
                metadata=metadata,
                num_gpus=gpus,
            )
        except AlreadySubmitted:
            log.info("%s was already submitted; following it", job_id)
        return await self.get(request.provider, job_id)

    async def find(self, provider: str, request_key: str) -> JobInfo | None:
        found = await self.client.get(submission_id(request_key))
        return None if found is None else await self._info(found)

    async def get(self, provider: str, job_id: str) -> JobInfo:
        found = await self.client.get(job_id)
        if found is None:
            raise ProviderError("not_found", f"the Ray cluster has no job {job_id}")
        return await self._info(found)

    async def _info(self, job: RayJob) -> JobInfo:
        status = STATUS.get(job.status, "running")
        error = await self._failure(job) if status == "failed" else None
        # Where the model is, until make_servable gives the name it is called by.
        output = job.metadata.get("evalbot_output", f"{self.store}/{job.submission_id}")
        return JobInfo(
            id=job.submission_id,
            status=status,
            model=job.metadata.get("evalbot_base", ""),
            fine_tuned_model=output if status == "succeeded" else None,
            error=error,
            metadata=job.metadata,
        )

    async def make_servable(self, provider: str, job: JobInfo) -> str:
        trained = TrainedModel(
            job=job.metadata.get("evalbot_job", job.id),
            suite=job.metadata.get("evalbot_suite") or "suite",
            output_dir=job.fine_tuned_model or f"{self.store}/{job.id}",
            full=job.metadata.get("evalbot_full") == "1",
        )
        return await self.serving.make_servable(provider, trained)

    async def _failure(self, job: RayJob) -> str:
        try:
            events = parse_events(await self.client.logs(job.submission_id))
        except ProviderError:
            events = []
        errors = [e.message for e in events if e.level == "error"]
        return errors[-1] if errors else (job.message or "the job failed on the Ray cluster")

    async def cancel(self, provider: str, job_id: str) -> JobInfo:
        await self.client.stop(job_id)
        # Ray stops the job asynchronously: wait briefly for it to say so.
        for _ in range(20):
            info = await self.get(provider, job_id)
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
        # Oldest first (a stable sort keeps the log's order within a second), then newest
        # first as the port lists them.
        out.sort(key=lambda e: e.created_at)
        out.reverse()
        return out[:limit] if limit else out

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        """The suite's grader was compiled when the suite loaded, and the cluster runs the
        same code: it only has to travel as plain JSON."""
        try:
            json.dumps(grader)
        except (TypeError, ValueError) as exc:
            raise ProviderError("bad_request", f"the grader is not plain JSON: {exc}") from exc

"""The `openai` fine-tuning backend: any OpenAI-compatible fine-tuning API, over the SDK."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from bot.gateway import OpenAIGateway, sdk_errors
from commands.ports import JobEvent, JobInfo, ProviderError, TrainingRequest

if TYPE_CHECKING:  # the SDK is imported by the first call (bot.gateway), not at start-up
    import openai

log = logging.getLogger(__name__)


def _job(obj: Any) -> JobInfo:
    error = getattr(obj, "error", None)
    message = None
    if error is not None:
        message = getattr(error, "message", None) or (str(error) if error else None)
    return JobInfo(
        id=str(obj.id),
        status=str(obj.status),
        model=str(obj.model),
        fine_tuned_model=getattr(obj, "fine_tuned_model", None),
        trained_tokens=getattr(obj, "trained_tokens", None),
        error=message or None,
        estimated_finish=getattr(obj, "estimated_finish", None),
        metadata=dict(getattr(obj, "metadata", None) or {}),
    )


# evalbot's method names -> the fine-tuning API's `method.type`.
METHOD_TYPES = {"sft": "supervised", "dpo": "dpo", "rft": "reinforcement"}


def method_body(request: TrainingRequest) -> dict[str, Any]:
    """`method` as the fine-tuning API takes it: type, hyperparameters and, for RFT, the
    grader (commands.finetune.rft_grader built it)."""
    kind = METHOD_TYPES[request.method]
    body: dict[str, Any] = {"hyperparameters": dict(request.hyperparameters)}
    if request.method == "rft" and request.grader is not None:
        body["grader"] = request.grader
    return {"type": kind, kind: body}


class OpenAIFineTuning:
    """commands.ports.FineTuneBackend for any OpenAI-compatible fine-tuning API (OpenAI,
    Azure OpenAI, gateways), over the provider's SDK client."""

    name = "openai"

    def __init__(self, gateway: OpenAIGateway) -> None:
        self.gateway = gateway

    def _client(self, provider: str) -> openai.AsyncOpenAI:
        return self.gateway.client(provider)

    async def upload(self, provider: str, filename: str, data: BinaryIO) -> str:
        # The SDK streams a file object into the multipart body (and rewinds it to retry).
        with sdk_errors():
            created = await self._client(provider).files.create(
                file=(filename, data, "application/jsonl"), purpose="fine-tune"
            )
        return str(created.id)

    async def create(self, request: TrainingRequest) -> JobInfo:
        kwargs: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file,
            "method": method_body(request),
            # Jobs can be listed by metadata: that is how `find` sees a job created by an
            # attempt whose answer was lost.
            "metadata": {"evalbot_request": request.request_key, "evalbot_job": request.label},
        }
        if request.validation_file:
            kwargs["validation_file"] = request.validation_file
        if request.suffix:
            kwargs["suffix"] = request.suffix
        if request.seed is not None:
            kwargs["seed"] = request.seed
        # One attempt: the SDK's retries send no idempotency key and could make two jobs.
        client = self._client(request.provider).with_options(max_retries=0)
        with sdk_errors():
            job = await client.fine_tuning.jobs.create(**kwargs)
        return _job(job)

    async def find(self, provider: str, request_key: str) -> JobInfo | None:
        with sdk_errors():
            page = await self._client(provider).fine_tuning.jobs.list(
                metadata={"evalbot_request": request_key}, limit=20
            )
        # A provider that ignores the metadata filter lists every job: check each.
        found = [_job(j) for j in page.data]
        return next((j for j in found if j.metadata.get("evalbot_request") == request_key), None)

    async def get(self, provider: str, job_id: str) -> JobInfo:
        with sdk_errors():
            return _job(await self._client(provider).fine_tuning.jobs.retrieve(job_id))

    async def cancel(self, provider: str, job_id: str) -> JobInfo:
        with sdk_errors():
            return _job(await self._client(provider).fine_tuning.jobs.cancel(job_id))

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        with sdk_errors():
            page = await self._client(provider).fine_tuning.jobs.list_events(job_id, limit=limit)
        out = []
        for e in page.data:
            data = getattr(e, "data", None)
            out.append(
                JobEvent(
                    id=str(e.id),
                    created_at=int(e.created_at),
                    level=str(e.level),
                    message=str(e.message),
                    type=str(getattr(e, "type", None) or "message"),
                    data=cast(dict[str, Any], data) if isinstance(data, dict) else {},
                )
            )
        return out

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        with sdk_errors():
            await self._client(provider).fine_tuning.alpha.graders.validate(
                grader=cast(Any, grader)
            )

    async def make_servable(self, provider: str, job: JobInfo) -> str:
        # The provider serves a fine-tuned model under its `fine_tuned_model` name as soon
        # as the job succeeds: nothing to load.
        if not job.fine_tuned_model:
            raise ProviderError("not_found", f"job {job.id} has no fine-tuned model")
        return job.fine_tuned_model

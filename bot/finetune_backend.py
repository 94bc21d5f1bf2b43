"""The FineTuneBackend port for any OpenAI-compatible fine-tuning API, over the openai SDK."""

from __future__ import annotations

import logging
from typing import Any, cast

import openai

from bot.gateway import OpenAIGateway, classify
from commands.ports import CostEstimate, JobEvent, JobInfo

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


class OpenAIFineTuning:
    """Implements commands.ports.FineTuneBackend with the provider's SDK client."""

    def __init__(self, gateway: OpenAIGateway) -> None:
        self.gateway = gateway

    def kind(self, provider: str) -> str:
        return "openai"

    def estimate(
        self, provider: str, method: str, base_model: str, tokens: int, epochs: int
    ) -> CostEstimate | None:
        return None  # priced by commands.finetune.data's table of provider prices

    def _client(self, provider: str) -> openai.AsyncOpenAI:
        return self.gateway.client(provider)

    async def upload(self, provider: str, filename: str, content: bytes) -> str:
        try:
            created = await self._client(provider).files.create(
                file=(filename, content, "application/jsonl"), purpose="fine-tune"
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        return str(created.id)

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
        kwargs: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "method": method,
            "metadata": metadata,
        }
        if validation_file:
            kwargs["validation_file"] = validation_file
        if suffix:
            kwargs["suffix"] = suffix
        if seed is not None:
            kwargs["seed"] = seed
        client = self._client(provider).with_options(max_retries=0)
        try:
            job = await client.fine_tuning.jobs.create(**kwargs)
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        return _job(job)

    async def find_jobs(self, provider: str, metadata: dict[str, str]) -> list[JobInfo]:
        try:
            page = await self._client(provider).fine_tuning.jobs.list(metadata=metadata, limit=20)
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        return [_job(j) for j in page.data]

    async def get_job(self, provider: str, job_id: str) -> JobInfo:
        try:
            return _job(await self._client(provider).fine_tuning.jobs.retrieve(job_id))
        except openai.OpenAIError as exc:
            raise classify(exc) from exc

    async def cancel_job(self, provider: str, job_id: str) -> JobInfo:
        try:
            return _job(await self._client(provider).fine_tuning.jobs.cancel(job_id))
        except openai.OpenAIError as exc:
            raise classify(exc) from exc

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        try:
            page = await self._client(provider).fine_tuning.jobs.list_events(job_id, limit=limit)
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
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
        try:
            await self._client(provider).fine_tuning.alpha.graders.validate(
                grader=cast(Any, grader)
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from exc

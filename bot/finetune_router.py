"""One fine-tuning port over several backends: each provider's jobs go to the backend
EVALBOT_FINETUNE_BACKENDS names for it (`openai` unless it says `ray`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commands.ports import CostEstimate, FineTuneBackend, JobEvent, JobInfo, ProviderError


class FineTuneRouter:
    """Implements commands.ports.FineTuneBackend by delegating per provider."""

    def __init__(self, backends: Mapping[str, FineTuneBackend], kinds: Mapping[str, str]) -> None:
        self.backends = dict(backends)  # backend name -> implementation
        self.kinds = dict(kinds)  # provider -> backend name

    def kind(self, provider: str) -> str:
        return self.kinds.get(provider, "openai")

    async def aclose(self) -> None:
        """Close the backends' own connections (the Ray client's session)."""
        for backend in self.backends.values():
            close = getattr(backend, "aclose", None)
            if close is not None:
                await close()

    def _for(self, provider: str) -> FineTuneBackend:
        name = self.kind(provider)
        backend = self.backends.get(name)
        if backend is None:
            raise ProviderError(
                "bad_request",
                f"provider {provider!r} fine-tunes on {name}, which is not configured here"
                + (" (set EVALBOT_RAY_ADDRESS)" if name == "ray" else ""),
            )
        return backend

    def estimate(
        self, provider: str, method: str, base_model: str, tokens: int, epochs: int
    ) -> CostEstimate | None:
        return self._for(provider).estimate(provider, method, base_model, tokens, epochs)

    async def upload(self, provider: str, filename: str, content: bytes) -> str:
        return await self._for(provider).upload(provider, filename, content)

    async def create_job(self, provider: str, **kw: Any) -> JobInfo:
        return await self._for(provider).create_job(provider, **kw)

    async def find_jobs(self, provider: str, metadata: dict[str, str]) -> list[JobInfo]:
        return await self._for(provider).find_jobs(provider, metadata)

    async def get_job(self, provider: str, job_id: str) -> JobInfo:
        return await self._for(provider).get_job(provider, job_id)

    async def cancel_job(self, provider: str, job_id: str) -> JobInfo:
        return await self._for(provider).cancel_job(provider, job_id)

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        return await self._for(provider).events(provider, job_id, limit)

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        await self._for(provider).validate_grader(provider, grader)

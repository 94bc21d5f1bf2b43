"""The suite's own grader as GRPO's reward: the code that grades evals scores each answer.

TRL calls reward functions synchronously from its training loop; the graders are async
(model graders call a provider, python graders run in a sandboxed worker). One event loop
on a helper thread serves every call, so workers and HTTP connections are reused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.gateway import OpenAIGateway
from bot.settings import ProviderConfig
from bot.training.rows import ITEM_COLUMN
from bot.training.spec import GraderProvider
from commands.ports import Models, ProviderError
from commands.suites.graders import GradeError, Grader, Sample, close_grader, compile_grader

log = logging.getLogger(__name__)
T = TypeVar("T")


def completion_text(completion: Any) -> str:
    """TRL hands conversational completions as message lists, plain ones as strings."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, Mapping))
    return str(completion)


def gateway(providers: Mapping[str, GraderProvider]) -> OpenAIGateway:
    """The providers model graders call, with keys from the cluster's own environment."""
    configs = {
        name: ProviderConfig(name, p.base_url, os.environ.get(p.key_env) if p.key_env else None)
        for name, p in providers.items()
    }
    configs.setdefault("default", ProviderConfig("default", None, os.environ.get("OPENAI_API_KEY")))
    return OpenAIGateway(configs, concurrency=8)


class GraderReward:
    """`reward(completions, evalbot_item=[...])` -> one score in [0, 1] per completion.

    A sample the grader cannot grade (a GradeError, a provider that keeps failing) scores
    0: a reward must be a number, and one bad answer must not stop the training.
    """

    __name__ = "grader"  # TRL logs each reward function under its __name__

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        folder: Path,
        providers: Mapping[str, GraderProvider] | None = None,
        models: Models | None = None,
    ) -> None:
        self.grader: Grader = compile_grader(spec, folder=folder)
        self.models = models or gateway(providers or {})
        self.calls = 0  # answers scored, for the job's log and the tests
        self.failures = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _score(self, item: dict[str, Any], text: str) -> float:
        try:
            grade = await self.grader.grade(item, Sample(text), self.models)
        except (GradeError, ProviderError) as exc:
            self.failures += 1
            log.warning("reward: an answer could not be graded (%s)", exc)
            return 0.0
        return max(0.0, min(1.0, float(grade.score)))

    async def _score_all(
        self, items: Sequence[dict[str, Any]], texts: Sequence[str]
    ) -> list[float]:
        return list(
            await asyncio.gather(*(self._score(i, t) for i, t in zip(items, texts, strict=True)))
        )

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float]:
        raw_items = columns.get(ITEM_COLUMN) or [None] * len(completions)
        items = [json.loads(r) if isinstance(r, str) else dict(r or {}) for r in raw_items]
        texts = [completion_text(c) for c in completions]
        scores = self._run(self._score_all(items, texts))
        self.calls += len(scores)
        return scores

    def close(self) -> None:
        """Stop the grader's workers and the helper loop."""
        self._run(close_grader(self.grader))
        close = getattr(self.models, "close", None)
        if close is not None:
            self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

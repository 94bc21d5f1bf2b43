"""Making a model trained on the Ray cluster callable on the base model's provider.

EVALBOT_SERVING picks, per provider, how:
- `path`: the server loads a model by its path (`transformers serve`, or vLLM started with
  the store mounted): the model's name is the merged model's path in the store.
- `vllm-lora`: vLLM's runtime LoRA loading (VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): the
  adapter is loaded under a name like `ft-<suite>-f<id>`, then called by that name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from bot.settings import ProviderConfig, ServingKind
from commands.ports import ErrorKind, ProviderError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedModel:
    """Where a finished job put its model, as the cluster and the servers see the store."""

    job: str  # evalbot's job id, f12
    suite: str
    output_dir: str
    full: bool  # full fine-tuning: no adapter, only the merged model

    @property
    def adapter(self) -> str:
        return self.output_dir.rstrip("/") + "/adapter"

    @property
    def merged(self) -> str:
        return self.output_dir.rstrip("/") + "/merged"


def lora_name(suite: str, job: str) -> str:
    """`ft-<suite>-f<id>`, in the characters model names keep everywhere."""
    slug = re.sub(r"[^a-z0-9-]+", "-", suite.lower()).strip("-")[:40] or "suite"
    return f"ft-{slug}-{job}"


class Serving:
    """Implements both ways, per provider."""

    def __init__(
        self,
        kinds: Mapping[str, ServingKind],
        providers: Mapping[str, ProviderConfig],
        *,
        timeout_s: float = 120.0,
    ) -> None:
        self.kinds = dict(kinds)
        self.providers = dict(providers)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def kind(self, provider: str) -> ServingKind:
        return self.kinds.get(provider, "path")

    async def make_servable(self, provider: str, model: TrainedModel) -> str:
        """The name under which `provider` now answers with the trained model.

        Raises ProviderError: retryable when the server could not be reached, bad_request
        when it refused the model.
        """
        if self.kind(provider) == "path":
            return model.merged
        if model.full:
            raise ProviderError(
                "bad_request",
                f"{model.job} was fully fine-tuned, so it has no LoRA adapter to load into "
                f"vLLM; serve {model.merged} by path (EVALBOT_SERVING={provider}=path)",
            )
        name = lora_name(model.suite, model.job)
        await self._load_lora(provider, name, model.adapter)
        return name

    async def _load_lora(self, provider: str, name: str, path: str) -> None:
        config = self.providers.get(provider)
        if config is None or not config.base_url:
            raise ProviderError(
                "bad_request", f"provider {provider!r} has no base URL to load a LoRA adapter into"
            )
        url = config.base_url.rstrip("/") + "/load_lora_adapter"
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        body = {"lora_name": name, "lora_path": path}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.post(url, json=body, headers=headers) as resp,
            ):
                text = await resp.text()
                status = resp.status
        except TimeoutError as exc:
            raise ProviderError("timeout", f"{provider}: loading {name} timed out") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError("connection", f"{provider}: cannot reach {url} ({exc})") from exc
        if status == 200:
            log.info("loaded LoRA adapter %s into %s", name, provider)
            return
        if status == 400 and "already been loaded" in text:
            return  # a repeated poll after a restart: the adapter is there
        kind: ErrorKind = "server" if status >= 500 else "bad_request"
        raise ProviderError(
            kind, f"{provider} refused to load the adapter {name}: HTTP {status}: {text[:200]}"
        )

"""Making a Ray-trained model servable: vLLM's runtime LoRA loading against a local server
that answers as vLLM does (200 once, 400 "already been loaded" after), and `path`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.serving import Serving, TrainedModel
from bot.settings import ProviderConfig
from commands.ports import ProviderError


class FakeVLLM:
    """POST /v1/load_lora_adapter as vLLM serves it with VLLM_ALLOW_RUNTIME_LORA_UPDATING."""

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []

    async def load(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.auth.append(request.headers.get("Authorization"))
        name, path = body.get("lora_name"), body.get("lora_path")
        if name in self.loaded:
            message = f"The lora adapter '{name}' has already been loaded."
            return web.json_response({"error": {"message": message}}, status=400)
        if not str(path).endswith("/adapter"):
            return web.json_response({"error": {"message": "no adapter_config.json"}}, status=400)
        self.loaded[name] = path
        return web.Response(text=f"Success: LoRA adapter '{name}' added successfully.")


@pytest.fixture
async def vllm() -> AsyncIterator[tuple[FakeVLLM, str]]:
    fake = FakeVLLM()
    app = web.Application()
    app.router.add_post("/v1/load_lora_adapter", fake.load)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def model(full: bool = False) -> TrainedModel:
    return TrainedModel(
        job="f7", suite="ticket-routing", output_dir="/models/evalbot-f7-ab/", full=full
    )


async def test_vllm_lora_loads_the_adapter_once_under_a_stable_name(
    vllm: tuple[FakeVLLM, str],
) -> None:
    fake, url = vllm
    serving = Serving(
        {"vllm": "vllm-lora"}, {"vllm": ProviderConfig("vllm", url, "k-123", "VLLM_KEY")}
    )
    assert await serving.make_servable("vllm", model()) == "ft-ticket-routing-f7"
    assert fake.loaded == {"ft-ticket-routing-f7": "/models/evalbot-f7-ab/adapter"}
    assert fake.auth == ["Bearer k-123"]
    # A poll repeated after a restart: vLLM says it has it, which is success.
    assert await serving.make_servable("vllm", model()) == "ft-ticket-routing-f7"
    assert len(fake.requests) == 2


async def test_a_full_model_cannot_be_loaded_as_a_lora_and_says_what_to_do(
    vllm: tuple[FakeVLLM, str],
) -> None:
    _, url = vllm
    serving = Serving({"vllm": "vllm-lora"}, {"vllm": ProviderConfig("vllm", url, None)})
    with pytest.raises(ProviderError) as raised:
        await serving.make_servable("vllm", model(full=True))
    assert not raised.value.retryable and "EVALBOT_SERVING=vllm=path" in raised.value.message


async def test_an_unreachable_server_is_retryable_and_path_needs_no_server() -> None:
    serving = Serving(
        {"vllm": "vllm-lora", "local": "path"},
        {"vllm": ProviderConfig("vllm", "http://127.0.0.1:9/v1", None)},
    )
    with pytest.raises(ProviderError) as raised:
        await serving.make_servable("vllm", model())
    assert raised.value.retryable
    assert await serving.make_servable("local", model()) == "/models/evalbot-f7-ab/merged"

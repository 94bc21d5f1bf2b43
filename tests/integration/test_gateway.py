"""bot.gateway.OpenAIGateway over real HTTP against the fake OpenAI server."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from bot.gateway import OpenAIGateway
from bot.settings import ProviderConfig
from commands.ports import ProviderError
from tests.fakes.openai_server import FakeOpenAI, embed

MESSAGES = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "My card was charged twice"},
]


def gateway_for(fake: FakeOpenAI, **kwargs: object) -> OpenAIGateway:
    providers = {
        "default": ProviderConfig("default", fake.base_url, fake.api_key),
        "local": ProviderConfig("local", fake.base_url, fake.api_key),
    }
    return OpenAIGateway(providers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def gateway(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAIGateway]:
    gw = gateway_for(fake_openai)
    try:
        yield gw
    finally:
        await gw.close()


async def failure(
    gw: OpenAIGateway, model: str = "gpt-4.1-mini", **params: object
) -> ProviderError:
    with pytest.raises(ProviderError) as err:
        await gw.complete(model, MESSAGES, dict(params))
    return err.value


# -- complete --------------------------------------------------------------------------------


async def test_complete_uses_chat_completions_for_a_compatible_server(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.answer("gpt-4.1-mini", "My card was charged twice", "billing")
    assert gateway.style("default") == "chat"
    done = await gateway.complete("gpt-4.1-mini", MESSAGES, {"max_completion_tokens": 5})
    assert done.text == "billing"
    assert done.input_tokens == 9  # the fake counts words: 4 + 5
    assert done.output_tokens == 1
    assert done.latency_s > 0
    sent = fake_openai.requests_to("/chat/completions")
    assert len(sent) == 1 and not fake_openai.requests_to("/responses")
    assert sent[0].json["model"] == "gpt-4.1-mini"
    assert sent[0].json["max_completion_tokens"] == 5


async def test_complete_via_the_responses_api(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer("gpt-4.1-mini", "My card was charged twice", "billing issue")
    fake_openai.cached_tokens = 3
    gw = gateway_for(fake_openai, styles={"default": "responses"})
    try:
        done = await gw.complete(
            "gpt-4.1-mini", MESSAGES, {"max_completion_tokens": 5, "seed": 1, "temperature": 0}
        )
    finally:
        await gw.close()
    assert done.text == "billing issue"
    assert (done.input_tokens, done.cached_input_tokens, done.output_tokens) == (9, 3, 2)
    sent = fake_openai.requests_to("/responses")
    assert len(sent) == 1 and not fake_openai.requests_to("/chat/completions")
    body = sent[0].json
    assert body["max_output_tokens"] == 5, "renamed for the Responses API"
    assert "max_completion_tokens" not in body and "seed" not in body


async def test_a_provider_prefix_selects_the_provider_and_is_stripped(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    done = await gateway.complete("local:gpt-4.1-nano", MESSAGES, {})
    assert done.text == "My card was charged twice"  # the fake echoes
    assert fake_openai.requests_to("/chat/completions")[0].json["model"] == "gpt-4.1-nano"


async def test_rate_limit_headers_are_recorded(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.rpm_limit = 100
    assert gateway.rate_limit("default").limit_requests is None
    await gateway.complete("gpt-4.1-mini", MESSAGES, {})
    state = gateway.rate_limit("default")
    assert state.limit_requests == 100
    assert state.remaining_requests is not None and 95 <= state.remaining_requests < 100
    assert state.limit_tokens is not None and state.limit_tokens > 0
    assert state.remaining_tokens is not None and state.remaining_tokens <= state.limit_tokens


# -- classify --------------------------------------------------------------------------------


async def test_429_is_rate_limit_with_retry_after_from_retry_after_ms(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.fail_next("/chat", 429, retry_after=7, retry_after_ms=1500)
    err = await failure(gateway)
    assert err.kind == "rate_limit" and err.status == 429
    assert err.retryable
    assert err.retry_after_s == pytest.approx(1.5), "retry-after-ms wins over retry-after"
    assert gateway.rate_limit("default").remaining_requests == 0
    assert fake_openai.count("/chat") == 1, "the gateway itself never retries a completion"


async def test_429_with_only_retry_after_in_seconds(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.fail_next("/chat", 429, retry_after=3)
    err = await failure(gateway)
    assert (err.kind, err.retry_after_s) == ("rate_limit", 3.0)


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_a_server_error(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway, status: int
) -> None:
    fake_openai.fail_next("/chat", status)
    err = await failure(gateway)
    assert (err.kind, err.status) == ("server", status)
    assert err.retryable
    assert fake_openai.count("/chat") == 1


async def test_temperature_on_a_reasoning_model_is_a_bad_request_naming_the_param(
    gateway: OpenAIGateway,
) -> None:
    err = await failure(gateway, "o4-mini", temperature=0)
    assert (err.kind, err.status, err.param) == ("bad_request", 400, "temperature")
    assert "temperature" in err.message
    assert not err.retryable


async def test_an_unknown_model_is_not_found(gateway: OpenAIGateway) -> None:
    err = await failure(gateway, "gpt-nope")
    assert (err.kind, err.status) == ("not_found", 404)
    assert "gpt-nope" in err.message


async def test_a_bad_key_is_auth(fake_openai: FakeOpenAI) -> None:
    gw = OpenAIGateway({"default": ProviderConfig("default", fake_openai.base_url, "sk-wrong")})
    try:
        err = await failure(gw)
    finally:
        await gw.close()
    assert (err.kind, err.status) == ("auth", 401)
    assert not err.retryable


async def test_a_hung_request_is_a_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next("/chat", seconds=10)
    gw = gateway_for(fake_openai, timeout_s=0.5)
    try:
        err = await failure(gw)
    finally:
        await gw.close()
    assert err.kind == "timeout"
    assert err.retryable


async def test_a_dropped_connection_is_connection(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.drop_next("/chat")
    err = await failure(gateway)
    assert err.kind == "connection"
    assert err.retryable


async def test_an_unknown_provider_is_not_found(gateway: OpenAIGateway) -> None:
    # "nope:" is not a configured provider, so the whole id goes to the default provider.
    err = await failure(gateway, "nope:gpt-4.1-mini")
    assert err.kind == "not_found"
    with pytest.raises(ProviderError) as direct:
        gateway.client("nope")
    assert direct.value.kind == "not_found" and "nope" in direct.value.message


# -- list_models and embed -------------------------------------------------------------------


async def test_list_models_returns_ids_and_shutdown_dates(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.add_model("gpt-9", owned_by="openai")
    fake_openai.set_shutdown_date("gpt-4o-mini", "2030-01-31")
    models = {m.id: m for m in await gateway.list_models("local")}
    assert set(models) == set(fake_openai.model_ids())
    assert models["gpt-4o-mini"].shutdown_date == "2030-01-31"
    assert models["gpt-4.1"].shutdown_date is None
    assert models["gpt-9"].owned_by == "openai"
    assert models["gpt-9"].provider == "local"
    assert models["gpt-4.1"].created > 0


async def test_list_models_with_a_bad_key_is_auth(fake_openai: FakeOpenAI) -> None:
    gw = OpenAIGateway({"default": ProviderConfig("default", fake_openai.base_url, "sk-wrong")})
    try:
        with pytest.raises(ProviderError) as err:
            await gw.list_models()
    finally:
        await gw.close()
    assert err.value.kind == "auth"


async def test_list_models_is_retried_like_the_sdk_and_sent_with_its_headers(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    """Listed over the plain session, not the SDK: two more tries on 429 and 5xx (after
    Retry-After), the SDK's headers, and an error that a retry cannot cure at once."""
    fake_openai.fail_next("/models", 429, retry_after=0.05)
    fake_openai.fail_next("/models", 503)
    models = await gateway.list_models("local")
    assert {m.id for m in models} == set(fake_openai.model_ids())
    sent = fake_openai.requests_to("/models")
    assert len(sent) == 3 and sent[-1].method == "GET"
    assert sent[-1].headers.get("Authorization", "").startswith("Bearer ")
    fake_openai.fail_next("/models", 500, count=3)
    with pytest.raises(ProviderError) as err:
        await gateway.list_models("local")
    assert err.value.kind == "server" and len(fake_openai.requests_to("/models")) == 6
    fake_openai.fail_next("/models", 404)
    with pytest.raises(ProviderError) as err:
        await gateway.list_models("local")
    assert err.value.kind == "not_found" and len(fake_openai.requests_to("/models")) == 7


async def test_embed_returns_one_vector_per_text_in_input_order(gateway: OpenAIGateway) -> None:
    texts = ["refund my card", "the app crashes", "hello there", "refund my card"]
    vectors = await gateway.embed("text-embedding-3-small", texts)
    assert len(vectors) == len(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(embed(text), abs=1e-6)
        assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-5)
    assert vectors[0] != vectors[1]


async def test_embed_errors_are_classified(gateway: OpenAIGateway) -> None:
    with pytest.raises(ProviderError) as err:
        await gateway.embed("no-such-embedder", ["x"])
    assert err.value.kind == "not_found"


# -- split -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("local:llama-3.1-8b", ("local", "llama-3.1-8b")),
        ("gpt-4.1-mini", ("default", "gpt-4.1-mini")),
        ("ft:gpt-4.1-mini:org::abc", ("default", "ft:gpt-4.1-mini:org::abc")),
        ("local:ft:gpt-4.1-mini:org::abc", ("local", "ft:gpt-4.1-mini:org::abc")),
        ("unknown:model", ("default", "unknown:model")),
    ],
)
def test_split(fake_openai: FakeOpenAI, model: str, expected: tuple[str, str]) -> None:
    assert gateway_for(fake_openai).split(model) == expected


async def test_a_fine_tuned_id_reaches_the_provider_whole(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.add_model("ft:gpt-4.1-mini:org::abc")
    done = await gateway.complete("ft:gpt-4.1-mini:org::abc", MESSAGES, {})
    assert done.text == "My card was charged twice"
    assert fake_openai.requests_to("/chat")[0].json["model"] == "ft:gpt-4.1-mini:org::abc"


async def test_a_dropped_connection_while_embedding_is_connection(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    # Embeddings keep the SDK's own retries (two): drop every attempt.
    fake_openai.drop_next("/embeddings", count=3)
    with pytest.raises(ProviderError) as err:
        await gateway.embed("text-embedding-3-small", ["x"])
    assert err.value.kind == "connection"
    assert fake_openai.count("/embeddings") == 3


async def test_a_key_quoted_in_a_provider_error_is_masked(fake_openai: FakeOpenAI) -> None:
    from tests.fakes.openai_inference import Request
    from tests.fakes.openai_wire import ApiError

    def responder(req: Request) -> str:
        raise ApiError(
            401,
            "Incorrect API key provided: sk-live-abcdef123456. You can find "
            "your API key at https://platform.openai.com/account/api-keys.",
            type="invalid_request_error",
            code="invalid_api_key",
        )

    fake_openai.responder = responder
    gateway = OpenAIGateway(
        {"default": ProviderConfig("default", fake_openai.base_url, fake_openai.api_key)}
    )
    try:
        with pytest.raises(ProviderError) as info:
            await gateway.complete("gpt-4.1-mini", [{"role": "user", "content": "hi"}], {})
    finally:
        await gateway.close()
    assert info.value.kind == "auth"
    assert "sk-live" not in info.value.message and "[redacted]" in info.value.message


# -- answers too long ------------------------------------------------------------------------


async def test_an_answer_cut_at_the_token_cap_is_marked_truncated(
    fake_openai: FakeOpenAI, gateway: OpenAIGateway
) -> None:
    fake_openai.answer("gpt-4.1-mini", "My card was charged twice", "word " * 50)
    cut = await gateway.complete("gpt-4.1-mini", MESSAGES, {"max_completion_tokens": 10})
    assert cut.truncated and len(cut.text.split()) == 10
    whole = await gateway.complete("gpt-4.1-mini", MESSAGES, {"max_completion_tokens": 100})
    assert not whole.truncated and len(whole.text.split()) == 50


async def test_a_response_body_over_the_byte_limit_is_refused_unread(
    fake_openai: FakeOpenAI,
) -> None:
    gw = gateway_for(fake_openai, max_body_bytes=64 * 1024)
    try:
        fake_openai.answer("gpt-4.1-mini", "My card was charged twice", "x" * 100_000)
        err = await failure(gw)
        assert err.kind == "too_large" and not err.retryable
        assert "max_completion_tokens" in err.message
        fake_openai.answer("gpt-4.1-mini", "My card was charged twice", "x" * 1000)
        assert (await gw.complete("gpt-4.1-mini", MESSAGES, {})).text == "x" * 1000
    finally:
        await gw.close()

"""bot/openai_headers.py computes what the installed openai SDK's AsyncOpenAI client would
send: the same headers, in the same order, and the same base URL, for every setting that
changes them. Completions carry these headers on the plain aiohttp path; the SDK is not
imported for them. When an SDK release changes its headers, this fails."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI
from yarl import URL

from bot import openai_headers
from bot.gateway import OpenAIGateway
from bot.settings import ProviderConfig
from tests.fakes.openai_server import FakeOpenAI

BASE_URLS = [
    None,  # OPENAI_BASE_URL, else api.openai.com
    "https://api.openai.com/v1",
    "https://api.openai.com/v1/",
    "http://127.0.0.1:8000/v1",
    "http://localhost:11434/v1//",
    "https://my-resource.openai.azure.com/openai/v1",
    "https://gateway.example.com/team-a/openai",
    "http://127.0.0.1:8000/v1?tenant=a",
]

# httpx respells these (case, default port, IDNA, escapes); the request is the same.
RESPELLED = [
    "HTTPS://API.Example.com:443/V1",
    "http://localhost:80/v1",
    "https://bücher.example/v1",
    "http://127.0.0.1:8000/a b/v1",
]

ENVIRONMENTS: dict[str, dict[str, str]] = {
    "plain": {},
    "organization and project": {"OPENAI_ORG_ID": "org-abc", "OPENAI_PROJECT_ID": "proj_xyz"},
    "empty organization": {"OPENAI_ORG_ID": ""},
    "base url from the environment": {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    "custom headers": {
        "OPENAI_CUSTOM_HEADERS": "X-Team: evals\nOpenAI-Project: proj_custom\nno colon\n"
        "Accept: text/plain\nX-Empty:\n",
        "OPENAI_PROJECT_ID": "proj_env",
    },
    "custom authorization": {"OPENAI_CUSTOM_HEADERS": "Authorization: Bearer other"},
    "custom async header": {"OPENAI_CUSTOM_HEADERS": "x-stainless-async: mine"},
}


def sdk_view(provider: ProviderConfig) -> tuple[list[tuple[str, str]], str]:
    """What the gateway used to copy from the SDK client it built for `provider`."""
    client = AsyncOpenAI(
        api_key=provider.api_key or openai_headers.NO_KEY, base_url=provider.base_url
    )
    merged = {**client.default_headers, **client.auth_headers}
    headers = [(key, value) for key, value in merged.items() if isinstance(value, str)]
    return headers, str(client.base_url).rstrip("/")


def ours(provider: ProviderConfig) -> tuple[list[tuple[str, str]], str]:
    return list(openai_headers.request_headers(provider).items()), openai_headers.base_url(provider)


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
@pytest.mark.parametrize("base_url", BASE_URLS)
@pytest.mark.parametrize("api_key", ["sk-test-123", None])
async def test_headers_and_base_url_are_the_sdk_clients(
    monkeypatch: pytest.MonkeyPatch, env: str, base_url: str | None, api_key: str | None
) -> None:
    for name, value in ENVIRONMENTS[env].items():
        monkeypatch.setenv(name, value)
    provider = ProviderConfig("default", base_url, api_key)
    assert ours(provider) == sdk_view(provider)


@pytest.mark.parametrize("url", RESPELLED)
def test_a_respelled_base_url_makes_the_same_request(url: str) -> None:
    provider = ProviderConfig("default", url, "sk-x")

    def request(base: str) -> tuple[object, ...]:
        target = URL(base + "/chat/completions")  # as aiohttp parses what the gateway posts
        return (target.scheme, target.raw_host, target.port, target.raw_path_qs)

    assert request(openai_headers.base_url(provider)) == request(sdk_view(provider)[1])


def test_outside_a_task_the_async_header_is_the_sdks_too() -> None:
    provider = ProviderConfig("default", "http://127.0.0.1:9/v1", "sk-x")
    assert ours(provider) == sdk_view(provider)
    assert openai_headers.request_headers(provider)["X-Stainless-Async"] == "async:false"


def test_the_version_is_the_installed_sdks() -> None:
    import openai

    assert openai_headers.sdk_version() == openai.__version__
    assert openai_headers.platform_headers()["X-Stainless-Package-Version"] == openai.__version__


async def test_a_completion_reaches_the_provider_with_those_headers(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-abc")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Team: evals")
    provider = ProviderConfig("default", fake_openai.base_url, fake_openai.api_key)
    gateway = OpenAIGateway({"default": provider})
    try:
        await gateway.complete("gpt-4.1-mini", [{"role": "user", "content": "hi"}], {})
    finally:
        await gateway.close()
    (seen,) = fake_openai.requests_to("/chat/completions")
    expected, _ = sdk_view(provider)
    for key, value in expected:
        assert seen.headers.get(key) == value, key
    assert seen.headers["Authorization"] == f"Bearer {fake_openai.api_key}"
    assert seen.headers["User-Agent"].startswith("AsyncOpenAI/Python ")
    assert seen.headers["X-Stainless-Async"] == "async:asyncio"
    assert seen.headers["OpenAI-Organization"] == "org-abc" and seen.headers["X-Team"] == "evals"

"""One redactor for logs and provider messages: configured secret values and credential shapes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import logs
from bot.settings import load_settings
from commands import redact
from commands.ports import JobEvent, JobInfo, ProviderError
from commands.redact import Redactor


@pytest.fixture(autouse=True)
def _restore_redactor() -> Iterator[None]:
    before = redact._active
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    redact.install(before)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    "secret",
    [
        "gsk_abcdefGHIJKL0123456789mnopqr",  # Groq
        "0123456789abcdef0123456789ABCDEF",  # Azure OpenAI: 32 hex
        "AIzaSyA1234567890abcdefghijklmnopqrstu",  # Google
        "sk-proj-abcdef123456",  # OpenAI
        "sk-ant-api03-abcdef",  # Anthropic
        "xoxb-1234-5678-abcdef",  # Slack bot token
        "xoxp-1234-5678-abcdef",
        "xapp-1-A123-456-abcdef",
    ],
)
def test_credential_shapes_are_masked(secret: str) -> None:
    text = Redactor().scrub(f"Incorrect API key provided: {secret}. See your dashboard.")
    assert secret not in text
    assert text == "Incorrect API key provided: [redacted]. See your dashboard."


def test_bearer_headers_and_url_passwords_are_masked() -> None:
    text = Redactor().scrub(
        "sent Authorization: Bearer abc.DEF-123_xyz to postgresql://evalbot:hunter2pw@db:5432/x"
    )
    assert "abc.DEF" not in text and "hunter2pw" not in text
    assert "postgresql://evalbot:[redacted]@db:5432/x" in text


@pytest.mark.parametrize(
    "harmless",
    [
        "request req_0123456789abcdef0123456789abcdef failed",  # an id, not a key
        "data_version sha256:" + "ab" * 32,  # a digest
        "the model gpt-4.1-mini answered 7/10 passed",
        "ask-me-anything and desk-lamp",  # sk- inside words is still a shape, but short
    ],
)
def test_ordinary_text_survives(harmless: str) -> None:
    assert Redactor().scrub(harmless) == harmless


def test_settings_seed_every_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-bot-token-1",
        "SLACK_APP_TOKEN": "xapp-app-token-1",
        "SLACK_SIGNING_SECRET": "plainsigningsecret",
        "OPENAI_API_KEY": "plain-openai-key",
        "OPENAI_WEBHOOK_SECRET": "whsec_plainwebhook",
        "EVALBOT_API_TOKEN": "plain-api-token-0123",
        "DATABASE_URL": "postgresql://evalbot:plaindbpassword@db:5432/evalbot",
        "EVALBOT_PROVIDERS": "local=http://localhost:8000/v1|LOCAL_KEY",
        "LOCAL_KEY": "plainlocalkey",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    secrets = load_settings(env_file=None).secrets()
    expected = {v for k, v in values.items() if k not in ("DATABASE_URL", "EVALBOT_PROVIDERS")}
    assert expected | {"plaindbpassword"} == set(secrets)


def test_logs_and_provider_messages_share_one_redactor() -> None:
    logs.configure(secrets=["plain-looking-secret-value"])
    err = ProviderError("auth", "the key plain-looking-secret-value is wrong")
    assert err.message == "the key [redacted] is wrong" == str(err)
    assert redact.redact("x plain-looking-secret-value") == "x [redacted]"
    handler = logging.getLogger().handlers[0]
    assert any(isinstance(f, Redactor) and f is redact._active for f in handler.filters)


def test_fine_tune_errors_and_events_are_masked() -> None:
    redact.install(Redactor(["azure-deployment-secret"]))
    job = JobInfo(id="ftjob-1", status="failed", model="m", error="bad key azure-deployment-secret")
    assert job.error == "bad key [redacted]"
    event = JobEvent(id="e1", created_at=0, level="error", message="key gsk_abcdefGHIJKL012345")
    assert event.message == "key [redacted]"


def test_a_retried_provider_error_stays_masked() -> None:
    first = ProviderError("server", "upstream said AIzaSyA1234567890abcdefghijklmnop")
    again = ProviderError("server", f"{first.message} (gave up after 6 attempts)")
    assert "AIza" not in again.message and again.message.endswith("(gave up after 6 attempts)")


PASTED = "sk-pasted-by-mistake-0123456789"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EVALBOT_APPROVERS", f"U012ABCDEF,{PASTED}"),
        ("EVALBOT_APPROVERS", "U012ABCDEF,Plain-pasted-by-mistake-secret"),  # no shape
        ("EVALBOT_FINETUNE_USERS", PASTED),
        ("EVALBOT_PROVIDERS", PASTED),
        ("EVALBOT_PROVIDERS", f"{PASTED}=not-a-url"),
        ("EVALBOT_PROVIDERS", "Local=http://localhost:8000/v1|SK_LIVE_abcdef-0123"),
        ("EVALBOT_API_STYLE", f"{PASTED}=chat"),
        ("PORT", PASTED),
        ("EVALBOT_CONCURRENCY", PASTED),
        ("EVALBOT_MODE", PASTED),
        ("EVALBOT_API_TOKEN", "short-token"),
    ],
)
def test_settings_errors_never_echo_a_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from bot.settings import SettingsError

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file=None)
    assert str(caught.value).startswith(variable)
    assert value not in str(caught.value) and "pasted-by-mistake" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({"SLACK_SIGNING_SECRET": "s3cret"}, "0.0.0.0"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "127.0.0.1"),
        ({"SLACK_APP_TOKEN": "xapp-1", "EVALBOT_HOST": "0.0.0.0"}, "0.0.0.0"),
        ({"SLACK_SIGNING_SECRET": "s3cret", "EVALBOT_HOST": "10.0.0.5"}, "10.0.0.5"),
    ],
)
def test_bind_address_follows_the_mode(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], host: str
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings(env_file=None).host == host

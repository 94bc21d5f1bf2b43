"""Structured logging: secrets never printed, ids from context (bot/logs.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import LogfmtFormatter, Redactor
from commands.logctx import log_context

BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"
APP_TOKEN = "xapp-1-A0123456789-1234567890123-abcdef0123456789"
OPENAI_KEY = "sk-proj-Zx9_Yw8-Vu7Ts6Rq5Po4"
# No recognisable shape (a real Slack signing secret is 32 hex, which the Azure key
# shape masks even unconfigured): only the configured value can catch it.
SIGNING_SECRET = "signing-Secret-without-shape-7f3a9c"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing logfmt through the Redactor into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(Redactor([SIGNING_SECRET, None, ""]))
    logger = logging.getLogger("tests.unit.test_logs")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.handlers.clear()


@pytest.mark.parametrize(
    "secret",
    [BOT_TOKEN, APP_TOKEN, OPENAI_KEY, "xoxp-11-22-33-abcdef", "sk-abcdefghijklmnop"],
)
def test_credential_shapes_are_masked(secret: str) -> None:
    text = Redactor().scrub(f"calling with token={secret} now")
    assert secret not in text
    assert "[redacted]" in text
    assert text.startswith("calling with token=") and text.endswith(" now")


def test_bearer_headers_are_masked() -> None:
    text = Redactor().scrub("headers={'Authorization': 'Bearer abc.DEF-123_xyz~'}")
    assert "abc.DEF-123_xyz~" not in text
    assert "[redacted]" in text
    lower = Redactor().scrub("authorization: bearer 0123456789abcdef")
    assert "0123456789abcdef" not in lower


def test_configured_secret_values_are_masked_whatever_their_shape() -> None:
    redactor = Redactor([SIGNING_SECRET])
    assert SIGNING_SECRET not in redactor.scrub(f"secret is {SIGNING_SECRET}!")
    assert SIGNING_SECRET in Redactor().scrub(f"secret is {SIGNING_SECRET}!"), (
        "without configuration this value has no credential shape"
    )


def test_ordinary_text_is_left_alone() -> None:
    text = "run r12 of ticket-routing on gpt-4.1-mini: 7/10 passed, task-sk-1 skipped"
    assert Redactor([SIGNING_SECRET]).scrub(text) == text


def test_secrets_in_messages_and_their_arguments_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    logger.info("slack %s openai %s signing %s", BOT_TOKEN, OPENAI_KEY, SIGNING_SECRET)
    logger.warning(f"app token {APP_TOKEN}")
    out = buffer.getvalue()
    for secret in (BOT_TOKEN, APP_TOKEN, OPENAI_KEY, SIGNING_SECRET):
        assert secret not in out
    assert out.count("[redacted]") == 4
    assert "slack [redacted] openai [redacted]" in out


def test_secrets_in_exception_tracebacks_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    def call_provider(key: str) -> None:
        raise RuntimeError(f"401 for key {key} with Authorization: Bearer {SIGNING_SECRET}")

    try:
        call_provider(OPENAI_KEY)
    except RuntimeError:
        logger.exception("provider call failed for %s", BOT_TOKEN)
    out = buffer.getvalue()
    assert "Traceback" in out and "RuntimeError" in out and "call_provider" in out
    for secret in (BOT_TOKEN, OPENAI_KEY, SIGNING_SECRET):
        assert secret not in out
    assert "401 for key [redacted]" in out


def test_formatter_carries_context_ids_and_quotes_values_with_spaces(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    with log_context(run="r12", request="req-1"):
        with log_context(job="f3"):
            logger.info("sample graded", extra={"fields": {"model": "gpt-4.1-mini", "note": "a b"}})
        logger.info("plain")
    logger.info('said "hi"')
    first, second, third = buffer.getvalue().splitlines()
    assert " run=r12 " in first and " request=req-1 " in first and " job=f3 " in first
    assert ' msg="sample graded" ' in first
    assert "model=gpt-4.1-mini" in first and 'note="a b"' in first
    assert "level=info" in first and "logger=tests.unit.test_logs" in first
    assert " run=r12 " in second and "job=" not in second, "an inner context ends with it"
    assert "msg=plain" in second
    assert "run=" not in third
    assert third.endswith('msg="said \\"hi\\""')


def test_formatter_quotes_empty_values_and_escapes_newlines() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "two\nlines", None, None)
    record.fields = {"empty": "", "eq": "a=b"}
    line = LogfmtFormatter().format(record)
    assert "\n" not in line
    assert 'msg="two\\nlines"' in line
    assert 'empty=""' in line and 'eq="a=b"' in line

"""Structured logging: one logfmt line per event, ids from context, secrets never printed.

Each line carries the request, run or job id in scope (set with `log_context`), so a
run can be followed with grep. A filter masks anything shaped like a credential, plus
the exact values of the configured secrets; `configure` installs that same redactor
for provider messages bound for Slack (commands.redact).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from commands import redact
from commands.logctx import current as _context
from commands.logctx import log_context

__all__ = ["LogfmtFormatter", "Redactor", "configure", "log_context", "scrub"]


def scrub(text: str) -> str:
    """Mask secrets with the installed redactor (configured values and credential shapes)."""
    return redact.redact(text)


class Redactor(redact.Redactor, logging.Filter):
    """The log filter: masks credential-shaped strings and the configured secret values."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        logging.Filter.__init__(self)
        redact.Redactor.__init__(self, secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """`ts=... level=info logger=bot.app run=r12 msg="..."`."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields.update(_context.get())
        fields["msg"] = record.getMessage()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            fields.update(extra)
        line = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_text:
            line += " exc=" + _quote(record.exc_text)
        return line


def configure(level: str = "INFO", secrets: Iterable[str | None] = ()) -> None:
    """Install the logfmt handler with redaction on the root logger; the same redactor
    then masks provider messages bound for Slack."""
    redactor = Redactor(secrets)
    redact.install(redactor)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO would drown the bot's own lines.
    for noisy in (
        "slack_bolt",
        "slack_sdk",
        "httpx",
        "httpx2",
        "openai",
        "aiohttp.access",
        "apscheduler",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Masking secrets in text that leaves the process: log lines and provider messages.

Providers sometimes quote what they were sent ("Incorrect API key provided: gsk_...")
and those messages reach Slack, so the same redactor that guards the logs guards
them. It masks the exact values of every configured secret plus anything shaped like
a credential. The composition root installs the process's redactor once (bot/logs.py
`configure`, seeded from the settings); code in commands/ calls `redact()` and needs
no import of bot/.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "Redactor", "install", "redact"]

MASK = "[redacted]"

# Shapes of credentials a provider or SDK may echo back. Each is specific enough
# not to eat ordinary words; the 32-hex shape (Azure OpenAI keys) stands alone
# between non-word characters, so ids such as `req_<hex>` or sha256 digests pass.
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"  # a prefix starts a token, not the middle of a word
    r"xox[abposre]-[A-Za-z0-9-]+"  # Slack bot/user/... tokens
    r"|xapp-[A-Za-z0-9-]+"  # Slack app-level tokens
    r"|sk-[A-Za-z0-9_-]{6,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)...
    r"|gsk_[A-Za-z0-9]{10,}"  # Groq
    r"|AIza[0-9A-Za-z_-]{20,}"  # Google
    r")"
    r"|\b[0-9a-fA-F]{32}\b"  # Azure OpenAI (and Slack signing secrets)
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header
)
# user:password@ in a URL (DATABASE_URL, a provider base URL): keep the user.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@")


class Redactor:
    """Masks credential-shaped strings and the configured secret values."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is masked whole; very short
        # values would mask ordinary words and are left to the shapes.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with every secret value and credential shape replaced by [redacted]."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
        return _TOKEN_SHAPES.sub(MASK, text)


_active = Redactor()


def install(redactor: Redactor) -> None:
    """Make `redactor` the one `redact()` uses (the composition root calls this once)."""
    global _active
    _active = redactor


def redact(text: str) -> str:
    """Mask secrets in text bound for Slack or a log, with the installed redactor."""
    return _active.scrub(text)

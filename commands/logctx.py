"""Ids that every log line of a task carries (run, job, request), via a contextvar.

Lives in commands/ so use cases can bind ids; bot.logs formats them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType

# An immutable default: log_context always sets a new dict, never mutates this one.
current: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "evalbot_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(**ids: str) -> Iterator[None]:
    """Attach ids (run="r12", request="...") to every log line in this block."""
    token = current.set({**current.get(), **ids})
    try:
        yield
    finally:
        current.reset(token)

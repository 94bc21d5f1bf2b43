"""Fault injection and OpenAI-style rate limiting for the fake OpenAI server.

A mixin of ``FakeOpenAI``: tests queue faults from their thread (``fail_next``,
``hang_next``, ``drop_next``, ``fail_rate``) and the server's loop takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_wire import error_body, format_reset, json_response

_NOMINAL_RPM = 1_000_000
_NOMINAL_TPM = 100_000_000
_FAULT_MESSAGES = {
    429: ("Rate limit reached for requests. Please try again later.", "requests"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    ),
    502: ("Bad gateway.", "server_error"),
    503: ("The engine is currently overloaded, please try again later.", "server_error"),
}


@dataclass
class _Fault:
    prefix: str
    kind: str  # fail | hang | drop
    status: int = 500
    remaining: int | None = 1  # None: a rate-based fault that never runs out
    fraction: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    retry_after: float | None = None
    retry_after_ms: float | None = None
    body: dict[str, Any] | None = None
    seconds: float = 0.0


class _Bucket:
    """A token bucket refilled continuously to ``limit`` per minute, like OpenAI's limits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tokens = float(limit)
        self.stamp = time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.limit, self.tokens + (now - self.stamp) * self.limit / 60)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now)."""
        return max(0.0, (amount - self.tokens) * 60 / self.limit)

    def reset_seconds(self) -> float:
        return (self.limit - self.tokens) * 60 / self.limit


class FaultsAndLimits:
    """Fault rules and the request/token buckets; mixed into ``FakeOpenAI``."""

    _lock: threading.RLock
    _stopping: asyncio.Event | None
    rpm_limit: int | None
    tpm_limit: int | None

    def _init_faults(self) -> None:
        self._faults: list[_Fault] = []
        self._rpm = _Bucket(_NOMINAL_RPM)
        self._tpm = _Bucket(_NOMINAL_TPM)

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        count: int = 1,
        *,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` requests under ``path_prefix`` (``/chat`` or
        ``/v1/chat``) with ``status``, an OpenAI error body (or ``body``) and the given
        ``retry-after`` / ``retry-after-ms`` headers."""
        self._add_fault(
            _Fault(
                prefix_of(path_prefix),
                "fail",
                status,
                count,
                retry_after=retry_after,
                retry_after_ms=retry_after_ms,
                body=body,
            )
        )

    def fail_rate(
        self, path_prefix: str, status: int = 500, fraction: float = 0.1, seed: int = 0
    ) -> None:
        """Fail a seeded-random ``fraction`` of requests under ``path_prefix`` from now on
        (``fraction=0`` removes the rule)."""
        prefix = prefix_of(path_prefix)
        with self._lock:
            self._faults = [
                f for f in self._faults if not (f.prefix == prefix and f.remaining is None)
            ]
        if fraction > 0:
            self._add_fault(_Fault(prefix, "fail", status, None, fraction, random.Random(seed)))

    def hang_next(self, path_prefix: str, count: int = 1, seconds: float = 30.0) -> None:
        """Hold the next ``count`` requests ``seconds`` before answering (client timeouts)."""
        self._add_fault(_Fault(prefix_of(path_prefix), "hang", remaining=count, seconds=seconds))

    def drop_next(self, path_prefix: str, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        self._add_fault(_Fault(prefix_of(path_prefix), "drop", remaining=count))

    def lose_response_next(self, path_prefix: str, count: int = 1) -> None:
        """Do the next ``count`` requests' work, then close the connection unanswered: the
        provider created the job, but the client never heard so (the idempotency case)."""
        self._add_fault(_Fault(prefix_of(path_prefix), "lose_response", remaining=count))

    def clear_faults(self) -> None:
        """Forget every pending fault rule."""
        with self._lock:
            self._faults = []

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if not path.startswith(fault.prefix):
                    continue
                if fault.remaining is None:
                    if fault.rng.random() < fault.fraction:
                        return fault
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _rate_headers(self) -> dict[str, str]:
        rpm, tpm = self._rpm, self._tpm
        return {
            "x-ratelimit-limit-requests": str(rpm.limit),
            "x-ratelimit-remaining-requests": str(max(0, int(rpm.tokens))),
            "x-ratelimit-reset-requests": format_reset(rpm.reset_seconds()),
            "x-ratelimit-limit-tokens": str(tpm.limit),
            "x-ratelimit-remaining-tokens": str(max(0, int(tpm.tokens))),
            "x-ratelimit-reset-tokens": format_reset(tpm.reset_seconds()),
        }

    def _rate_limited(self, model: str) -> web.Response | None:
        """Take one request from the buckets, or the 429 OpenAI would answer."""
        for bucket_name, limit, nominal in (
            ("_rpm", self.rpm_limit, _NOMINAL_RPM),
            ("_tpm", self.tpm_limit, _NOMINAL_TPM),
        ):
            if getattr(self, bucket_name).limit != (limit or nominal):
                setattr(self, bucket_name, _Bucket(limit or nominal))
        self._rpm.refill()
        self._tpm.refill()
        wait, unit, bucket = self._rpm.wait_for(1), "requests per min (RPM)", self._rpm
        if not wait and self._tpm.tokens <= 0:
            wait, unit, bucket = self._tpm.wait_for(1), "tokens per min (TPM)", self._tpm
        if not wait:
            self._rpm.tokens -= 1
            return None
        used = bucket.limit - max(0, int(bucket.tokens))
        message = (
            f"Rate limit reached for {model or 'requests'} in organization org-fake on {unit}: "
            f"Limit {bucket.limit}, Used {used}, Requested 1. Please try again in "
            f"{format_reset(wait)}. Visit https://platform.openai.com/account/rate-limits to "
            "learn more."
        )
        headers = {
            **self._rate_headers(),
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        }
        body = error_body(message, type="requests", code="rate_limit_exceeded")
        return json_response(body, status=429, headers=headers)

    async def _apply_fault(
        self, request: web.Request, fault: _Fault, limited: bool
    ) -> web.StreamResponse | None:
        if fault.kind == "hang":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            return None
        if fault.kind == "lose_response":
            return None  # the server applies it after the handler ran
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more to say on a closed connection
        message, kind = _FAULT_MESSAGES.get(
            fault.status, ("Fault injected by the fake server.", "server_error")
        )
        code = "rate_limit_exceeded" if fault.status == 429 else None
        headers = self._rate_headers() if limited else {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
        payload = (
            fault.body if fault.body is not None else error_body(message, type=kind, code=code)
        )
        return json_response(payload, status=fault.status, headers=headers)


def prefix_of(path_prefix: str) -> str:
    """``/chat`` or ``/v1/chat`` -> ``/v1/chat``: tests may leave out the ``/v1``."""
    if not path_prefix.startswith("/"):
        path_prefix = "/" + path_prefix
    return (
        path_prefix
        if path_prefix.startswith(("/v1/", "/_fake")) or path_prefix == "/v1"
        else "/v1" + path_prefix
    )

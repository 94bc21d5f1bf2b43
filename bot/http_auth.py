"""Bearer-token guard for the HTTP side's readers: /api/* and /metrics.

With EVALBOT_API_TOKEN set, those paths need `Authorization: Bearer <token>`;
/healthz stays open for load balancers and /slack/events and /webhooks/* carry
their own signatures. The comparison is constant-time so the token cannot be
guessed byte by byte from response times.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["PROTECTED_PREFIXES", "require_token"]

# Prefixes, so a route added under them later is guarded without a change here.
PROTECTED_PREFIXES = ("/api/", "/metrics")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _protected(path: str) -> bool:
    return path == "/api" or path.startswith(PROTECTED_PREFIXES)


def require_token(token: str) -> Middleware:
    """An aiohttp middleware refusing /api/* and /metrics without the bearer token."""
    expected = token.encode()

    @web.middleware
    async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _protected(request.path):
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected
            ):
                return web.json_response(
                    {"error": "unauthorized: send Authorization: Bearer <EVALBOT_API_TOKEN>"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="evalbot"'},
                )
        return await handler(request)

    return bearer_auth

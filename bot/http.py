"""The HTTP side: Slack's request URL (HTTP mode), /healthz and the JSON API (both modes)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot.bolt_request import to_bolt_request
from bot.http_auth import require_token
from bot.metrics import Metrics
from bot.webhooks import Webhooks
from commands import api
from commands.services import Services

log = logging.getLogger(__name__)

# Slack's own payloads are small; a megabyte refuses abuse without refusing Slack.
MAX_BODY = 1024 * 1024


def build_web_app(
    services: Services,
    bolt: AsyncApp | None,
    webhooks: Webhooks | None = None,
    metrics: Metrics | None = None,
    *,
    idle: Callable[[], bool] = lambda: True,
    api_token: str | None = None,
) -> web.Application:
    """Routes for both modes; /slack/events only when `bolt` handles HTTP mode;
    /webhooks/openai when OPENAI_WEBHOOK_SECRET is set; /api/* and /metrics behind
    `api_token` (EVALBOT_API_TOKEN) when it is set. `idle` says whether the process has
    no work in flight (bot.activity)."""
    middlewares = [require_token(api_token)] if api_token else []
    app = web.Application(client_max_size=MAX_BODY, middlewares=middlewares)
    meter = metrics or Metrics()

    async def healthz(_: web.Request) -> web.Response:
        if await services.db.aping():
            return web.json_response({"ok": True, "idle": idle()})
        return web.json_response({"ok": False, "error": "database unreachable"}, status=503)

    async def aliases(_: web.Request) -> web.Response:
        return web.json_response(await api.aliases(services))

    async def suite_aliases(request: web.Request) -> web.Response:
        return _json_or_404(await api.suite_aliases(services, request.match_info["suite"]))

    async def run(request: web.Request) -> web.Response:
        return _json_or_404(await api.run(services, request.match_info["run_id"]))

    async def run_comparison(request: web.Request) -> web.Response:
        return _json_or_404(await api.run_comparison(services, request.match_info["run_id"]))

    async def compare(request: web.Request) -> web.Response:
        return _json_or_404(
            await api.compare(services, request.match_info["a"], request.match_info["b"])
        )

    async def prometheus(_: web.Request) -> web.Response:
        queued = sum(live.remaining for live in services.engine.live.values())
        body = await meter.render(
            services.db,
            queued_samples=queued,
            in_flight=services.models.in_flight(),
            tasks=services.tasks.running,
        )
        return web.Response(body=body, headers={"Content-Type": meter.content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/aliases", aliases)
    app.router.add_get("/api/aliases/{suite}", suite_aliases)
    app.router.add_get("/api/runs/{run_id}", run)
    app.router.add_get("/api/runs/{run_id}/comparison", run_comparison)
    app.router.add_get("/api/compare/{a}/{b}", compare)

    if webhooks is not None:

        async def openai_webhook(request: web.Request) -> web.Response:
            body = await request.read()
            event = webhooks.verify(body, dict(request.headers))
            if event is None:
                return web.json_response({"error": "invalid signature"}, status=401)
            if not await webhooks.first_delivery(request.headers.get("webhook-id", "")):
                # A replay of a delivery already acted on: 200 so a genuine retry stops.
                return web.json_response({"ok": True, "duplicate": True})
            await webhooks.handle(event)
            return web.json_response({"ok": True})

        app.router.add_post("/webhooks/openai", openai_webhook)

    if bolt is not None:

        async def slack_events(request: web.Request) -> web.StreamResponse:
            answered = meter.ack_timer("http")
            bolt_request = await to_bolt_request(request)
            bolt_response = await bolt.async_dispatch(bolt_request)
            response = await to_aiohttp_response(bolt_response)
            answered()
            return response

        app.router.add_post("/slack/events", slack_events)
    return app


def _json_or_404(result: api.Result) -> web.Response:
    status, body = result
    return web.json_response(body, status=status)


async def start_site(app: web.Application, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Serve `app` on host:port; returns the runner to clean up at shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("listening on %s:%d", host, port)
    return runner

"""The composition root: settings in, a running bot out.

`build_services` (bot.wiring) wires storage, the provider gateway and the chat;
`Bot.start` connects
(HTTP site, Socket Mode), resumes unfinished work and starts the scheduler. Nothing
here runs at import time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot import http, listeners
from bot.activity import Activity
from bot.chart_port import ProcessCharts
from bot.gateway import OpenAIGateway
from bot.metrics import Metrics
from bot.scheduler import JobScheduler
from bot.settings import Settings
from bot.slack_chat import SlackChat, make_web_client
from bot.webhooks import Webhooks
from bot.wiring import build_services
from commands.lifecycle import on_start
from commands.services import Services
from commands.table import build_table
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Bot:
    """A running evalbot process."""

    settings: Settings
    db: Database
    services: Services
    gateway: OpenAIGateway
    bolt: AsyncApp
    metrics: Metrics
    scheduler: JobScheduler
    socket: AsyncSocketModeHandler | None = None
    site: web.AppRunner | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    activity: Activity = field(default_factory=Activity)

    @classmethod
    def build(cls, settings: Settings, db: Database) -> Bot:
        metrics = Metrics()
        scheduler = JobScheduler(db)
        services, gateway = build_services(settings, db, scheduler=scheduler, metrics=metrics)
        chat = services.chat
        assert isinstance(chat, SlackChat)
        http_mode = settings.mode == "http"
        bolt = AsyncApp(
            client=chat.client,
            signing_secret=settings.slack_signing_secret if http_mode else None,
            request_verification_enabled=http_mode,
            process_before_response=False,
            raise_error_for_unhandled_request=False,
        )
        activity = Activity()
        activity.watch(lambda: services.tasks.running)
        listeners.register(bolt, build_table(), services, activity)
        if not http_mode:  # HTTP mode times the whole request in bot/http.py

            async def time_ack(next: Callable[[], Awaitable[Any]]) -> None:
                # bolt's dispatch returns once the listener has acked (or timed out).
                answered = metrics.ack_timer("socket")
                await next()
                answered()

            bolt.middleware(time_ack)
        return cls(settings, db, services, gateway, bolt, metrics, scheduler, activity=activity)

    async def start(self) -> None:
        """Serve HTTP, connect Socket Mode when configured, resume unfinished work."""
        settings = self.settings
        hooks = (
            Webhooks(self.services, settings.openai_webhook_secret)
            if settings.openai_webhook_secret
            else None
        )
        web_app = http.build_web_app(
            self.services,
            self.bolt if settings.mode == "http" else None,
            hooks,
            self.metrics,
            idle=lambda: self.activity.idle,
            api_token=settings.evalbot_api_token,
        )
        self.site = await http.start_site(web_app, settings.port, settings.host)
        if settings.mode == "socket":
            socket_client = make_web_client(settings.slack_bot_token or "", settings.slack_api_url)
            self.socket = AsyncSocketModeHandler(
                self.bolt, settings.slack_app_token, web_client=socket_client
            )
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected to Slack in Socket Mode")
        else:
            log.info("serving Slack requests at POST /slack/events (HTTP mode)")
        await self.gateway.warm()

        async def lead() -> None:
            with self.activity.handling():
                await on_start(self.services)

        scheduler = self.scheduler
        self.activity.watch(lambda: scheduler.running_jobs)
        await scheduler.start(self.services, on_leader=lead)

    async def stop(self) -> None:
        """Close connections; background work is cancelled and resumes on next start."""
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.scheduler.stop()
        await self.services.tasks.cancel_all()
        if self.site is not None:
            await self.site.cleanup()
        await self.gateway.close()
        if self.services.finetune is not None:
            await self.services.finetune.aclose()
        if isinstance(self.services.charts, ProcessCharts):
            self.services.charts.close()
        await asyncio.to_thread(self.db.close)
        self.stopped.set()


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM."""
    db = await asyncio.to_thread(Database.connect, settings.sqlalchemy_url)
    bot = Bot.build(settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bot.start()
    log.info("evalbot is up (mode=%s, port=%d)", settings.mode, settings.port)
    await stop.wait()
    log.info("shutting down")
    await bot.stop()

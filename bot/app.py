"""The composition root: settings in, a running bot out.

`build_services` wires storage, the provider gateway and Slack; `Bot.start` connects
(HTTP site, Socket Mode), resumes unfinished work and starts the scheduler. Nothing
here runs at import time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, cast

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot import http, listeners
from bot.chart_port import ProcessCharts
from bot.finetune_backend import OpenAIFineTuning
from bot.gateway import OpenAIGateway
from bot.presenters.mrkdwn import SLACK
from bot.presenters.slack import StyledPresenter
from bot.scheduler import JobScheduler
from bot.settings import Settings, parse_api_styles
from bot.slack_chat import SlackChat, make_web_client
from bot.webhooks import Webhooks
from commands.eval.catalog import SuiteCatalog
from commands.eval.prices import PriceTable
from commands.eval.runner import RunEngine
from commands.lifecycle import on_start
from commands.outcomes import RunOutcomes
from commands.ports import Chat, Presenter, Scheduler
from commands.services import Policy, Ports, Services, Tasks, new_instance_id
from commands.table import build_table
from commands.throttle import ResilientModels, RetryPolicy
from storage.db import Database

log = logging.getLogger(__name__)


def build_services(
    settings: Settings,
    db: Database,
    *,
    scheduler: Scheduler,
    chat: Chat | None = None,
    presenter: Presenter | None = None,
    instance: str | None = None,
) -> tuple[Services, OpenAIGateway]:
    """Everything the use cases need, built from settings, complete when returned.

    The ports come first, then the engine from the ports (its one callback is
    commands.outcomes), then the frozen Services of both: nothing is filled in later.
    """
    gateway = OpenAIGateway(
        settings.providers(),
        concurrency=settings.evalbot_concurrency,
        timeout_s=settings.evalbot_request_timeout,
        styles=cast(Any, parse_api_styles(settings.evalbot_api_style, settings.providers())),
    )
    retry = RetryPolicy(
        max_attempts=settings.evalbot_max_attempts,
        base_delay_s=settings.evalbot_retry_base_seconds,
    )
    if chat is None:
        chat = SlackChat(make_web_client(settings.slack_bot_token or "", settings.slack_api_url))
    policy = Policy(
        approvers=frozenset(settings.evalbot_approvers),
        finetune_users=frozenset(settings.evalbot_finetune_users),
        concurrency=settings.evalbot_concurrency,
        poll_seconds=settings.evalbot_poll_seconds,
        proposal_days=settings.evalbot_proposal_days,
        finetune_approval_usd=settings.evalbot_finetune_approval_usd,
        finetune_max_bytes=settings.evalbot_finetune_max_mb * 1024 * 1024,
        run_lease_s=settings.evalbot_run_lease_seconds,
        max_run_usd=settings.evalbot_max_run_usd,
    )
    outcomes = RunOutcomes()
    ports = Ports(
        chat=chat,
        presenter=presenter or StyledPresenter(SLACK),
        models=ResilientModels(gateway, concurrency=settings.evalbot_concurrency, policy=retry),
        db=db,
        suites=SuiteCatalog.load(settings.suites_dir),
        prices=PriceTable.load(settings.evalbot_prices_file),
        charts=ProcessCharts(),
        policy=policy,
        tasks=Tasks(),
        scheduler=scheduler,
        finetune=OpenAIFineTuning(gateway),
        outcomes=outcomes,
        instance=instance or new_instance_id(),  # tests name two "hosts"
        held=set(),
    )
    engine = RunEngine(
        ports,
        ports.suites,
        ports.prices,
        ports.models,
        on_finished=partial(outcomes.run_finished, ports),
    )
    services = Services(**{f.name: getattr(ports, f.name) for f in fields(Ports)}, engine=engine)
    return services, gateway


@dataclass
class Bot:
    """A running evalbot process."""

    settings: Settings
    db: Database
    services: Services
    gateway: OpenAIGateway
    bolt: AsyncApp
    scheduler: JobScheduler
    socket: AsyncSocketModeHandler | None = None
    site: web.AppRunner | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(cls, settings: Settings, db: Database) -> Bot:
        scheduler = JobScheduler(db)
        services, gateway = build_services(settings, db, scheduler=scheduler)
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
        listeners.register(bolt, build_table(), services)
        return cls(settings, db, services, gateway, bolt, scheduler)

    async def start(self) -> None:
        """Serve HTTP, connect Socket Mode when configured, resume unfinished work."""
        settings = self.settings
        hooks = (
            Webhooks(self.services, settings.openai_webhook_secret)
            if settings.openai_webhook_secret
            else None
        )
        web_app = http.build_web_app(
            self.services, self.bolt if settings.mode == "http" else None, hooks
        )
        self.site = await http.start_site(web_app, settings.port)
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
        await self.scheduler.start(self.services, on_leader=partial(on_start, self.services))

    async def stop(self) -> None:
        """Close connections; background work is cancelled and resumes on next start."""
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.scheduler.stop()
        await self.services.tasks.cancel_all()
        if self.site is not None:
            await self.site.cleanup()
        await self.gateway.close()
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

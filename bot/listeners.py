"""Bolt listeners: every slash command of the table, and the events evalbot reacts to.

Each slash command is acknowledged first (the handler only parses), then its work runs
as a background task. Events are claimed by event_id in the database before they are
acted on, so Slack's redeliveries do nothing.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.activity import Activity
from bot.logs import log_context
from bot.slack_chat import clip
from commands import events as event_handlers
from commands.registry import CommandTable, Family, Invocation, Started, UserFacingError
from commands.services import Services
from storage.events import claim_event

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, that failed on our side ({ref}). Try again, and tell the bot's admins if it persists."
)


def register(
    app: AsyncApp, table: CommandTable, services: Services, activity: Activity | None = None
) -> None:
    """Attach every command family and event handler to the bolt app; each listener
    counts as `activity` while it runs."""
    busy = activity or Activity()
    for family in table:
        app.command(family.command)(_counted(busy, _command_listener(family, services)))
    for name, handler in (
        ("reaction_added", event_handlers.reaction_added),
        ("reaction_removed", event_handlers.reaction_removed),
        ("app_home_opened", event_handlers.app_home_opened),
    ):
        app.event(name)(_counted(busy, _event_listener(services, handler)))
    # Messages and other events the app may be subscribed to are acknowledged and ignored.
    app.event("message")(_ignore)


def _counted(
    activity: Activity, listener: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    # Bolt passes arguments by the names the listener declares: keep its signature.
    @functools.wraps(listener)
    async def counted(**kwargs: Any) -> None:
        with activity.handling():
            await listener(**kwargs)

    return counted


async def _ignore(ack: Callable[[], Awaitable[None]]) -> None:
    await ack()


def _command_listener(family: Family, services: Services) -> Callable[..., Awaitable[None]]:
    async def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        request = uuid.uuid4().hex[:8]
        with log_context(request=request, command=family.command, user=command.get("user_id", "")):

            async def reply(text: str) -> None:
                await respond(text=clip(text), response_type="ephemeral", replace_original=False)

            inv = Invocation(
                user_id=str(command.get("user_id", "")),
                channel_id=str(command.get("channel_id", "")),
                command=family.command,
                text=str(command.get("text") or ""),
                respond=reply,
            )
            try:
                outcome = family.dispatch(services, inv)
            except Exception:
                log.exception("command handler failed")
                outcome = SORRY.format(ref=request)
            if not isinstance(outcome, Started):
                await ack(text=clip(outcome), response_type="ephemeral")
                return
            await ack(text=clip(outcome.ack), response_type="ephemeral")
            log.info("accepted %s", outcome.name)

            def said(exc: UserFacingError) -> str:
                return services.presenter.line(exc.words) if exc.words is not None else str(exc)

            async def on_error(exc: BaseException) -> None:
                if isinstance(exc, UserFacingError):
                    await reply(said(exc))
                else:
                    await reply(SORRY.format(ref=request))

            async def work() -> None:
                with log_context(request=request):
                    try:
                        await outcome.work()
                    except UserFacingError as exc:
                        await reply(said(exc))

            services.tasks.spawn(work(), name=f"{outcome.name}-{request}", on_error=on_error)

    return on_command


EventHandler = Callable[[Services, dict[str, Any]], Awaitable[None]]


def _event_listener(services: Services, handler: EventHandler) -> Callable[..., Awaitable[None]]:
    async def on_event(ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        event_id = str(body.get("event_id") or "")
        with log_context(event=event_id, type=str(event.get("type", ""))):
            if event_id and not await services.db.run(claim_event, event_id=event_id):
                log.info("redelivered event ignored")
                return
            try:
                await handler(services, event)
            except Exception:
                log.exception("event handler failed")

    return on_event

"""What evalbot does with the Slack events it subscribes to.

Each handler receives the inner event after it was claimed (redeliveries never get
here). Reactions are how approvers decide on promotion proposals; the promotion
rules live in commands.promote.
"""

from __future__ import annotations

import logging
from typing import Any

from commands.services import Services

log = logging.getLogger(__name__)


async def reaction_added(services: Services, event: dict[str, Any]) -> None:
    """A reaction on a message: may approve or reject a proposal."""
    from commands.promote import on_reaction

    await on_reaction(services, event, added=True)


async def reaction_removed(services: Services, event: dict[str, Any]) -> None:
    """A removed reaction: withdraws an approval while the proposal is open."""
    from commands.promote import on_reaction

    await on_reaction(services, event, added=False)


async def app_home_opened(services: Services, event: dict[str, Any]) -> None:
    """Refresh the App Home of the user who opened it."""
    from commands.home import publish_home

    await publish_home(services, str(event.get("user", "")))

"""The App Home tab: each suite's production model and last pass rate."""

from __future__ import annotations

from typing import Any

from commands.services import Services
from storage import aliases as alias_store


async def publish_home(services: Services, user_id: str) -> None:
    """Render and publish the App Home for `user_id`."""
    aliases = await services.db.run(alias_store.all_aliases)
    lines = ["*evalbot* — suites and their production models"]
    for name in services.suites.names():
        prod = aliases.get(name, {}).get("production", "none")
        lines.append(f"• `{name}` — production `{prod}`")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
    ]
    await services.chat.publish_home(user_id, blocks)

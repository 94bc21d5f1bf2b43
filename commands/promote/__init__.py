"""`/promote` and reactions on proposals (not built yet: issue 5)."""

from __future__ import annotations

import logging
from typing import Any

from commands.grammar import Parsed
from commands.registry import Family, Invocation, UsageError
from commands.services import Services

log = logging.getLogger(__name__)

PROMOTE = Family("/promote", "propose a model for a suite's production alias; approvers react")


@PROMOTE.main("<suite> <model>")
def promote(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Propose `model` as the suite's production model; approvers react to decide."""
    if len(parsed.words) != 2:
        raise UsageError("Give the suite and the model.")
    if services.suites.get(parsed.words[0]) is None:
        raise UsageError(services.suites.unknown(parsed.words[0]))
    return "Promotions are not available in this version of evalbot yet."


async def on_reaction(services: Services, event: dict[str, Any], *, added: bool) -> None:
    """Reactions only count on proposals, which this version does not make yet."""
    log.info(
        "reaction %s %s ignored: no proposals yet",
        event.get("reaction"),
        "added" if added else "removed",
    )

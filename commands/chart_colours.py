"""One colour per model across every chart of a suite.

A model's colour is its place in the order in which the suite's models first ran: the
first model run on a suite is the palette's first colour (blue), the second the
second, and so on. The comparison, the history, the tag breakdown and a release alert
all read that one order, so they agree; a model that appears later takes the next
colour and never moves an older model's. The palette's first colours are the most
distinct, so a suite's first models get them. A chart drawn without its suite's order
colours its models in their order on the chart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

# bot/chart_theme.py draws slot s with PALETTE[s % PALETTE_SIZE] and, past the palette,
# a different line style / hatch for each round (s // PALETTE_SIZE).
PALETTE_SIZE = 8
_HISTORY_RUNS = 500  # how far back the suite's models are read


def preferred_slot(model: str, size: int = PALETTE_SIZE) -> int:
    """The slot of a model that no suite placed (a chart drawn without its suite).

    sha256, not hash(): Python salts str hashes per process, and the chart worker is
    another process.
    """
    return hashlib.sha256(model.encode("utf-8")).digest()[0] % size


def colour_slots(models: Iterable[str], start: int = 0) -> dict[str, int]:
    """Slots for `models`, given in the order they first ran on the suite.

    Slot s is drawn with the palette's colour s % PALETTE_SIZE; past the palette, a new
    round of slots is drawn with another line style, so no two models of a suite look
    the same.
    """
    slots: dict[str, int] = {}
    for model in models:
        slots.setdefault(model, start + len(slots))
    return slots


def suite_models(session: Any, *, suite: str) -> list[str]:
    """The models run on `suite`, in the order they first ran (oldest first)."""
    # Imported here: the chart worker process imports this module for the palette rule
    # and should not pay for loading the database layer.
    from storage import runs as run_store

    seen: dict[str, None] = {}
    for run in reversed(run_store.recent_runs(session=session, suite=suite, limit=_HISTORY_RUNS)):
        for model in run.models:
            seen.setdefault(model, None)
    return list(seen)


def suite_colours(session: Any, *, suite: str, also: Iterable[str] = ()) -> dict[str, int]:
    """Colour slots for every model of `suite` (plus `also`, models not yet stored)."""
    return colour_slots([*suite_models(session=session, suite=suite), *also])

"""A stored run's header, and the eval family's number formats (commands.formats).

The messages themselves are worded at the edge (bot/presenters) from the reports in
commands.reports."""

from __future__ import annotations

from commands.formats import (
    BAR_WIDTH,
    clip,
    duration,
    money,
    pct,
    progress_bar,
    tokens,
)
from commands.origins import Drift, Release, origin_of
from commands.reports import RunHeader
from storage.tables import EvalRun


def run_header(run: EvalRun) -> RunHeader:
    """The header of a stored run, saying so when a watch started it."""
    origin = origin_of(run)
    watch = origin.watch if isinstance(origin, Release | Drift) else None
    return RunHeader(
        f"r{run.id}",
        run.suite,
        run.data_version,
        run.total,
        run.user_id,
        release_of=origin.new if isinstance(origin, Release) else None,
        drift=isinstance(origin, Drift),
        watch=f"w{watch}" if watch is not None else None,
    )


__all__ = [
    "BAR_WIDTH",
    "clip",
    "duration",
    "money",
    "pct",
    "progress_bar",
    "run_header",
    "tokens",
]

"""The `Charts` port: bot.charts rendered in a worker process, never on the event loop.

Rendering is a few hundred milliseconds of mostly-Python matplotlib work; on a thread it
holds the GIL that the event loop needs to acknowledge Slack within 3 seconds. A spawned
single-worker process keeps it apart. If the worker dies, the pool is rebuilt once and the
chart is drawn again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from commands.ports import ChartBar, ChartDiff, ColourSlots, HistoryPoint, TagRate

log = logging.getLogger(__name__)


def _exit_with_parent(parent: int) -> None:
    """In the worker: exit when the bot is gone (even after kill -9), never linger."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _render(name: str, *args: Any) -> bytes:
    """In the worker: draw with bot.charts (imported there, so the bot itself never loads
    matplotlib)."""
    from bot import charts

    result: bytes = getattr(charts, name)(*args)
    return result


def _plain(colours: ColourSlots | None) -> dict[str, int] | None:
    """A picklable copy for the worker (a Mapping may be any object)."""
    return None if colours is None else dict(colours)


def _warm() -> bool:
    """Import matplotlib and build the font cache in the worker."""
    _render("comparison_chart", "warm-up", [ChartBar("a", 0.5, 0.4, 0.6, 10)])
    return True


class ProcessCharts:
    """Implements commands.ports.Charts with a spawned one-worker process pool."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the bot has threads and a running loop.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def warm(self) -> None:
        """Start the worker and draw once, so the first real chart is not slow."""
        await self._run(_warm)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            try:
                return await loop.run_in_executor(self._executor(), fn, *args)
            except BrokenProcessPool:
                log.warning("chart worker died; starting a new one (attempt %d)", attempt)
                self.close()
        return await asyncio.to_thread(fn, *args)  # last resort: draw on a thread

    async def comparison(
        self,
        title: str,
        bars: Sequence[ChartBar],
        diffs: Sequence[ChartDiff] = (),
        colours: ColourSlots | None = None,
    ) -> bytes:
        result: bytes = await self._run(
            _render, "comparison_chart", title, list(bars), list(diffs), _plain(colours)
        )
        return result

    async def history(
        self,
        title: str,
        series: Mapping[str, Sequence[HistoryPoint]],
        promotions: Sequence[tuple[datetime, str]],
        colours: ColourSlots | None = None,
    ) -> bytes:
        plain = {name: list(points) for name, points in series.items()}
        result: bytes = await self._run(
            _render, "history_chart", title, plain, list(promotions), _plain(colours)
        )
        return result

    async def tag_breakdown(
        self, title: str, rows: Sequence[TagRate], colours: ColourSlots | None = None
    ) -> bytes:
        result: bytes = await self._run(
            _render, "tag_breakdown_chart", title, list(rows), _plain(colours)
        )
        return result

    async def loss_curve(
        self,
        title: str,
        train: Sequence[tuple[int, float]],
        valid: Sequence[tuple[int, float]],
        reward: Sequence[tuple[int, float]] = (),
    ) -> bytes:
        result: bytes = await self._run(
            _render, "loss_curve_chart", title, list(train), list(valid), list(reward)
        )
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

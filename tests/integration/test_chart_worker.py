"""Charts drawn in the worker process: real PNGs, and a dead worker is replaced."""

from __future__ import annotations

import io
import os
import signal
from datetime import UTC, datetime

from PIL import Image

from bot.chart_port import ProcessCharts
from commands.ports import ChartBar, ChartDiff, HistoryPoint, TagRate


async def test_worker_draws_and_survives_a_killed_worker() -> None:
    charts = ProcessCharts()
    try:
        bars = [ChartBar("a", 0.7, 0.6, 0.8, 100), ChartBar("b", 0.8, 0.7, 0.9, 100)]
        first = await charts.comparison("t", bars)
        assert first.startswith(b"\x89PNG")
        pool = charts._executor()
        (pid,) = list(pool._processes)  # the one worker
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        second = await charts.comparison("t", bars)  # rebuilt, drawn again
        assert second.startswith(b"\x89PNG")
        assert list(charts._executor()._processes) != [pid]
        # Every kind crosses the process boundary with its annotations and colours.
        slots = {"a": 3, "b": 0}
        diff = ChartDiff("b", 10.0, 1.0, 19.0, 0.03, "better", 100)
        when = datetime(2026, 11, 1, tzinfo=UTC)
        for png in (
            await charts.comparison("t", bars, [diff], slots),
            await charts.history("h", {"a": [HistoryPoint(when, 0.7, 0.6, 0.8, True)]}, [], slots),
            await charts.tag_breakdown("g", [TagRate("x", "a", 0.5, 20)], slots),
            await charts.loss_curve("l", [(1, 2.0), (2, 1.0)], []),
        ):
            image = Image.open(io.BytesIO(png))
            assert image.format == "PNG" and image.mode == "RGBA" and image.width == 1280
    finally:
        charts.close()

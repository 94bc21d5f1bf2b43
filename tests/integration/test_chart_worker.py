"""Charts drawn in the worker process: real PNGs, and a dead worker is replaced."""

from __future__ import annotations

import os
import signal

from bot.chart_port import ProcessCharts
from commands.ports import ChartBar


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
    finally:
        charts.close()

"""Benchmark 5: render time of the charts the bot posts (bot/charts.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import Result, Row

RENDERS = 10
TARGET_MS = 300.0


def _comparison() -> bytes:
    from bot.charts import Bar, ChartDiff, comparison_chart

    bars = [
        Bar(
            f"provider-{i % 3}:model-{i}-2026-11-{10 + i:02d}",
            0.5 + i * 0.04,
            0.45 + i * 0.04,
            0.55 + i * 0.04,
            500,
        )
        for i in range(10)
    ]
    diffs = [
        ChartDiff(bar.label, 4.0 * i, 4.0 * i - 3, 4.0 * i + 3, 0.2 / i, "better", 500)
        for i, bar in enumerate(bars[1:], start=1)
    ]
    return comparison_chart("ticket-routing: 10 models on 500 samples", bars, diffs)


def _history() -> bytes:
    from bot.charts import HistoryPoint, history_chart

    start = datetime(2026, 1, 1, tzinfo=UTC)
    series = {
        f"model-{m}": [
            HistoryPoint(
                start + timedelta(hours=7 * i + m),
                rate := 0.6 + 0.3 * ((i * (m + 3)) % 17) / 17,
                rate - 0.04,
                rate + 0.04,
                partial=i % 9 == 0,
            )
            for i in range(200)
        ]
        for m in range(5)
    }
    promotions = [(start + timedelta(days=30 * k), f"model-{k % 5}") for k in range(1, 5)]
    return history_chart("ticket-routing: pass rate over time", series, promotions)


def _time(render: Callable[[], bytes]) -> tuple[list[float], int]:
    png = render()  # warm-up: fonts, caches
    times = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        png = render()
        times.append((time.perf_counter() - started) * 1000)
    return times, len(png)


def chart_render(quick: bool = False) -> Result:
    """A 10-model comparison chart and a 1,000-point history chart (5 models x 200 runs,
    4 promotions): median and max of 10 renders after a warm-up, in this process."""
    rows: list[Row] = []
    details: dict[str, object] = {}
    for label, render in (
        ("comparison, 10 models", _comparison),
        ("history, 1,000 points", _history),
    ):
        times, size = _time(render)
        median, worst = statistics.median(times), max(times)
        rows.append(
            Row(f"{label}: median", f"< {TARGET_MS:.0f} ms", f"{median:.0f} ms", median < TARGET_MS)
        )
        rows.append(
            Row(f"{label}: max", f"< {TARGET_MS:.0f} ms", f"{worst:.0f} ms", worst < TARGET_MS)
        )
        details[label] = {"ms": times, "png_bytes": size}
    return Result(
        name="charts",
        title="Charts: render time (1280 px wide transparent PNG, 2x)",
        rows=rows,
        limit=(
            "Text and pixels: laying out and rasterising the labels, creating matplotlib's "
            "tick objects, filling the interval bands, then PNG encoding, which grows with "
            "the picture (1280 px wide at 2x for Slack's preview; the 10-model comparison is "
            "as tall as its rows). Margins are measured from the labels in one pass, date "
            "ticks computed once, and a dense series' band is filled through at most 60 "
            "runs (filling every one of 200 was a third of the history's time). The bot "
            "renders in a separate process, so a slow render delays only the chart, never "
            "an ack."
        ),
        details=details,
    )

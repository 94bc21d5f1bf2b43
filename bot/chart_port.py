"""The `Charts` port: bot.charts rendered on a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from bot import charts
from commands.ports import ChartBar, TagRate


class ThreadedCharts:
    """Implements commands.ports.Charts; matplotlib's Figure API is thread-safe per figure."""

    async def comparison(self, title: str, bars: Sequence[ChartBar]) -> bytes:
        return await asyncio.to_thread(charts.comparison_chart, title, bars)

    async def history(
        self,
        title: str,
        series: dict[str, list[tuple[datetime, float]]],
        promotions: Sequence[tuple[datetime, str]],
    ) -> bytes:
        return await asyncio.to_thread(charts.history_chart, title, series, promotions)

    async def tag_breakdown(self, title: str, rows: Sequence[TagRate]) -> bytes:
        return await asyncio.to_thread(charts.tag_breakdown_chart, title, rows)

    async def loss_curve(
        self, title: str, train: Sequence[tuple[int, float]], valid: Sequence[tuple[int, float]]
    ) -> bytes:
        return await asyncio.to_thread(charts.loss_curve_chart, title, train, valid)

"""`/eval history`: a suite's pass rate over time per model, promotions marked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commands import chart_colours
from commands.eval.stats import wilson_interval
from commands.ports import HistoryPoint, Upload
from commands.registry import UserFacingError
from commands.reports import Code
from commands.services import Ports
from storage import aliases as alias_store
from storage import runs as store


async def post_history(services: Ports, suite: str, channel: str) -> None:
    """Post the history chart of `suite` with a line of text per model."""

    suite_size = len(loaded.items) if (loaded := services.suites.get(suite)) else None

    def read(
        session: Any,
    ) -> tuple[dict[str, list[HistoryPoint]], list[tuple[datetime, str]], dict[str, int]]:
        series: dict[str, list[HistoryPoint]] = {}
        for run in reversed(store.recent_runs(session=session, suite=suite, limit=500)):
            if run.status != "finished":
                continue
            counts = store.tallies(session=session, run_id=run.id or 0, with_latencies=False)
            when = run.finished_at or run.created_at
            # A limit=N run saw fewer samples than the suite has: marked apart on the chart.
            partial = run.sample_limit is not None and (
                suite_size is None or run.sample_limit < suite_size
            )
            for model, tally in counts.items():
                if tally.pass_rate is not None:
                    low, high = wilson_interval(tally.passed, tally.graded)
                    point = HistoryPoint(when, tally.pass_rate, low, high, partial)
                    series.setdefault(model, []).append(point)
        promotions = [  # the production alias goes without saying on the chart
            (c.created_at, c.model if c.alias == "production" else f"{c.alias}: {c.model}")
            for c in alias_store.history(session=session, suite=suite)
        ]
        return series, promotions, chart_colours.suite_colours(session=session, suite=suite)

    series, promotions, colours = await services.db.run(read)
    if not series:
        raise UserFacingError(
            services.presenter.line(
                (
                    Code(suite),
                    " has no finished runs yet: ",
                    Code(f"/eval run {suite} <model>"),
                    ".",
                )
            )
        )
    # A fine-tuned model is named by its provider: every name is shown as code.
    lines = [services.presenter.line(("*History of ", Code(suite), "*"))]
    for model, points in sorted(series.items()):
        last = points[-1].pass_rate
        lines.append(
            services.presenter.line(
                ("• ", Code(model), f": {len(points)} runs, last {last * 100:.1f}%")
            )
        )
    posted = await services.chat.post(channel, "\n".join(lines))
    png = await services.charts.history(
        f"{suite}: pass rate over time", series, promotions, colours
    )
    await services.chat.upload(
        channel,
        Upload(
            "history.png", png, title=f"{suite} history", alt_text="Pass rate over time per model"
        ),
        thread_ts=posted.ts,
    )

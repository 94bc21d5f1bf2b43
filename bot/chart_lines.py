"""Line charts: a suite's pass rate over time, and a fine-tune's loss curve.

Same look as every chart (bot/chart_theme.py): transparent, mid-tone, legible in
Slack's 360 px preview.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from matplotlib.dates import AutoDateLocator, DateFormatter, num2date
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory, offset_copy

from bot.chart_theme import (
    PAD_PX,
    PALETTE,
    SMALL_PT,
    TEXT,
    Colours,
    legend,
    new_figure,
    no_data,
    pct,
    png,
    short,
)
from commands.ports import HistoryPoint

MARKER_LIMIT = 60  # more runs per line than this: no markers on full runs, they would smear
BAND_VERTICES = 60  # per edge of an interval band, at most
MIN_SPAN_PP = 10.0  # the history's y axis never spans less than this
PROMOTIONS_SHOWN = 4
_LEGEND_GAP_PX = 64  # from the plot's bottom edge to the legend: clears the date ticks


def history_chart(
    title: str,
    series: Mapping[str, Sequence[HistoryPoint]],
    promotions: Sequence[tuple[datetime, str]] = (),
    colours: Mapping[str, int] | None = None,
) -> bytes:
    """Pass rate over time, one line per model, as a PNG.

    The y axis spans the data (a 75-92% spread fills the plot, not a sixth of it), each
    line has its 95% interval as a band, and `limit=N` runs are hollow markers off the
    line: they ran fewer samples and are not comparable point for point. Promotions are
    numbered dashed lines, explained in the legend under the plot.
    """
    drawn = [(name, sorted(points, key=lambda p: p.when)) for name, points in series.items()]
    drawn = [(name, points) for name, points in drawn if points]
    partial_seen = any(p.partial for _, points in drawn for p in points)
    entries = len(drawn) + (2 if partial_seen else 0) + min(len(promotions), PROMOTIONS_SHOWN + 1)
    figure, axes = new_figure(title, 3.4 + 0.24 * math.ceil(entries / 2))
    if not drawn and not promotions:
        no_data(axes)
        return png(figure)
    palette = Colours(colours, [name for name, _ in drawn])
    handles: list[Any] = []
    labels: list[str] = []
    for name, points in drawn:
        handles.append(_draw_series(axes, points, palette.colour(name), palette, name))
        labels.append(short(name, 22))
    if partial_seen:
        handles += [
            Line2D([], [], linestyle="none", marker="o", color=TEXT, markersize=7),
            Line2D([], [], linestyle="none", marker="o", color=TEXT, markersize=7, mfc="none"),
        ]
        labels += ["full run", "limit=N run"]
    times = [p.when for _, points in drawn for p in points] + [when for when, _ in promotions]
    span_s = (max(times) - min(times)).total_seconds() if times else 0.0
    for handle, label in _mark_promotions(axes, sorted(promotions), span_s):
        handles.append(handle)
        labels.append(label)
    _zoom(axes, [p for _, points in drawn for p in points])
    _date_ticks(axes)
    axes.grid(color=TEXT, alpha=0.25, zorder=0)
    gap = _LEGEND_GAP_PX * (1.7 if axes.get_xlabel() else 1.0)
    # Under the plot, from the picture's left edge (x) and the plot's bottom (y), so long
    # names have the whole width.
    edge_and_plot = blended_transform_factory(figure.transFigure, axes.transAxes)
    below = offset_copy(edge_and_plot, fig=figure, x=PAD_PX, y=-gap, units="dots")
    legend(
        axes,
        handles,
        labels,
        ncol=2,
        loc="upper left",
        bbox_to_anchor=(0.0, 0.0),
        bbox_transform=below,
    )
    return png(figure)


def _draw_series(
    axes: Any, points: Sequence[HistoryPoint], colour: str, palette: Colours, name: str
) -> Any:
    full = [p for p in points if not p.partial]
    partial = [p for p in points if p.partial] if full else []
    full = full or list(points)  # only limit=N runs: draw them as the line
    # The band of a dense series is drawn through every k-th run: filling a 1,000-vertex
    # polygon was a third of the render time, and at this size it looks the same.
    step = max(1, len(full) // BAND_VERTICES)
    sparse = full[::step] if full[-1] is full[::step][-1] else [*full[::step], full[-1]]
    axes.fill_between(
        [p.when for p in sparse],
        [pct(p.ci_low) for p in sparse],
        [pct(p.ci_high) for p in sparse],
        color=colour,
        alpha=0.16,
        linewidth=0,
        antialiased=False,  # a faint fill: smoothing its edge costs time and shows nothing
        zorder=1,
    )
    (line,) = axes.plot(
        [p.when for p in full],
        [pct(p.pass_rate) for p in full],
        color=colour,
        linestyle=palette.line_style(name),
        marker=palette.marker(name) if len(full) <= MARKER_LIMIT else None,
        markersize=6,
        linewidth=2.2,
        zorder=3,
    )
    if partial:
        axes.plot(
            [p.when for p in partial],
            [pct(p.pass_rate) for p in partial],
            linestyle="none",
            marker=palette.marker(name),
            markersize=7,
            markerfacecolor="none",
            markeredgecolor=colour,
            markeredgewidth=1.6,
            zorder=4,
        )
    return line


def _zoom(axes: Any, points: Sequence[HistoryPoint]) -> None:
    """Fit the y axis to the pass rates (bands may run past it), at least 10 points."""
    rates = [pct(p.pass_rate) for p in points]
    low, high = (min(rates), max(rates)) if rates else (0.0, 100.0)
    span = max(high - low, MIN_SPAN_PP)
    centre = (low + high) / 2
    bottom = max(0.0, centre - span * 0.65)
    top = min(100.0, bottom + span * 1.3)
    bottom = max(0.0, min(bottom, top - span * 1.3))
    axes.set_ylim(bottom - 0.5, top + 0.5)  # points at 0% and 100% are not cut in half
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))


def _date_ticks(axes: Any) -> None:
    """At most six date ticks in one format chosen by the span, computed once.

    Mixed formats ("30, 45, 18:34") came from ConciseDateFormatter's minute ticks; an
    AutoDateLocator left live also recomputed its ticks on every measure.
    """
    axes.autoscale_view(scaley=False)
    low, high = axes.get_xlim()
    if high - low < 1 / 24:  # one run, or runs within the hour: centre them in a day
        low, high = low - 0.5, high + 0.5
    locator = AutoDateLocator(minticks=3, maxticks=6, tz=UTC)  # type: ignore[no-untyped-call]
    found = locator.tick_values(num2date(low), num2date(high))  # type: ignore[no-untyped-call]
    axes.set_xticks([t for t in found if low <= t <= high])
    axes.set_xlim(low, high)
    days = high - low
    fmt = "%H:%M" if days <= 2 else "%b %d" if days <= 300 else "%b %Y"
    axes.xaxis.set_major_formatter(DateFormatter(fmt, tz=UTC))  # type: ignore[no-untyped-call]
    if days <= 2:  # hours on the ticks: the day goes under them
        first = num2date(low).astimezone(UTC)  # type: ignore[no-untyped-call]
        axes.set_xlabel(f"{first:%b %d}, UTC", fontsize=SMALL_PT, color=TEXT)


def _mark_promotions(
    axes: Any, promotions: Sequence[tuple[datetime, str]], span_s: float
) -> list[Any]:
    """Dashed lines with numbered tags above the plot; the legend says what each was.

    Tags of promotions close together (within 4% of the time shown) alternate between
    two rows, so their numbers do not overlap.
    """
    out: list[Any] = []
    previous: datetime | None = None
    row = 0
    for number, (when, model) in enumerate(promotions, start=1):
        close = previous is not None and (when - previous).total_seconds() <= 0.04 * span_s
        row = (row + 1) % 2 if close else 0
        previous = when
        axes.axvline(when, color=TEXT, linestyle=(0, (4, 3)), linewidth=1.4, zorder=2)
        axes.annotate(
            str(number),
            xy=(when, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 6 + 20 * row),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=SMALL_PT,
            fontweight="bold",
            color="white",
            bbox={"boxstyle": "circle,pad=0.2", "facecolor": TEXT, "edgecolor": "none"},
            annotation_clip=False,
        )
        handle = Line2D([], [], color=TEXT, linestyle=(0, (4, 3)), linewidth=1.4)
        out.append((handle, f"{number}: {when:%b %d} {short(model, 18)}"))
    if len(out) > PROMOTIONS_SHOWN:  # keep the legend short: the latest promotions
        hidden = len(out) - PROMOTIONS_SHOWN
        out = out[-PROMOTIONS_SHOWN:]
        out.insert(0, (Line2D([], [], linestyle="none"), f"({hidden} earlier promotions)"))
    return out


def loss_curve_chart(
    title: str,
    train: Sequence[tuple[int, float]],
    valid: Sequence[tuple[int, float]] = (),
    reward: Sequence[tuple[int, float]] = (),
) -> bytes:
    """Training and validation loss against step, as a PNG; an RFT job's mean reward
    (in [0, 1]) on a second axis at the right."""
    figure, axes = new_figure(title, 3.6)
    train_points = sorted(p for p in train if math.isfinite(p[1]))
    valid_points = sorted(p for p in valid if math.isfinite(p[1]))
    reward_points = sorted(p for p in reward if math.isfinite(p[1]))
    if not train_points and not valid_points and not reward_points:
        no_data(axes)
        return png(figure)
    handles: list[Any] = []
    labels: list[str] = []
    if reward_points:
        right = axes.twinx()
        (reward_line,) = right.plot(
            [step for step, _ in reward_points],
            [value for _, value in reward_points],
            color=PALETTE[2],
            linewidth=2.2,
            marker="^" if len(reward_points) <= MARKER_LIMIT else None,
            markersize=6,
        )
        right.set_ylabel("mean reward")
        right.set_ylim(0, 1.05)
        right.yaxis.set_major_locator(MaxNLocator(nbins=5))
        right.tick_params(axis="y", colors=TEXT)
        right.yaxis.label.set_color(TEXT)
    for points, label, colour, style, marker in (
        (train_points, "training", PALETTE[0], "-", "o"),
        (valid_points, "validation", PALETTE[1], "--", "s"),
    ):
        if not points:
            continue
        (line,) = axes.plot(
            [step for step, _ in points],
            [loss for _, loss in points],
            color=colour,
            linestyle=style,
            linewidth=2.2,
            marker=marker if len(points) <= MARKER_LIMIT else None,
            markersize=6,
            zorder=2,
        )
        handles.append(line)
        labels.append(label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_ylim(bottom=0)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes.grid(color=TEXT, alpha=0.25, zorder=0)
    if reward_points:
        handles.append(reward_line)
        labels.append("reward")
    legend(axes, handles, labels, ncol=3, loc="lower right", bbox_to_anchor=(1.0, 1.02))
    return png(figure)

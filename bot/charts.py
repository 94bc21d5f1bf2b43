"""Charts for Slack, rendered with matplotlib to PNG bytes.

Every chart is a fresh ``matplotlib.figure.Figure`` drawn on its own Agg canvas, with no
pyplot and no change to global rcParams, so charts may be rendered from worker threads
(callers run them off the event loop with ``asyncio.to_thread``).

Look: 1200x700 px, an opaque white background with dark text, which reads the same on
Slack's light and dark themes (a transparent PNG would put dark text on a dark theme).
Colours are the Okabe-Ito palette, safe for the common forms of colour blindness, in an
order that keeps the low-contrast yellow for last; lines also differ in marker so that
nothing depends on colour alone.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import matplotlib

from commands.ports import ChartBar, TagRate

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, num2date  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

__all__ = [
    "PALETTE",
    "Bar",
    "TagRate",
    "comparison_chart",
    "history_chart",
    "loss_curve_chart",
    "tag_breakdown_chart",
]

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 7.0, 100  # 1200 x 700 px

# Okabe & Ito (2008), reordered: strongest contrasts on white first.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
BASELINE_COLOUR = "#7F7F7F"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_TEXT = "#1D1C1D"  # Slack's own dark text colour
_GRID = "#DDDDDD"
_MARKER_LIMIT = 60  # more points per line than this: no markers, they would smear
_LABEL_CHARS = 40
_PROMOTIONS_IN_LEGEND = 12
_MIN_BAR_SLOTS = 5
_PAD_PX = 10  # between the labels and the figure's edges
# Tried in order for each character, among those installed: DejaVu Sans (matplotlib's
# own) covers Latin, Greek and Cyrillic; the Noto families, if the image has them
# (fonts-noto-cjk), cover model names and tags in Chinese, Japanese and Korean.
_FONT_PREFERENCE = (
    "DejaVu Sans",
    "Noto Sans",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK KR",
    "Noto Sans Symbols 2",
)


# The data the charts draw are the Charts port's own types.
Bar = ChartBar


def comparison_chart(title: str, bars: Sequence[Bar], *, baseline_index: int | None = 0) -> bytes:
    """Pass rate per model with 95% intervals, as a PNG.

    Horizontal bars so that long model names stay readable; the first model is at the
    top. The baseline (``bars[baseline_index]``, the first by default; None for no
    baseline) is grey, labelled "(baseline)" and drawn as a dashed reference line.
    """
    figure, axes = _new_figure(title)
    if not bars:
        _no_data(axes)
        return _png(figure)
    positions = list(range(len(bars)))
    colours = [BASELINE_COLOUR if index == baseline_index else PALETTE[0] for index in positions]
    rates = [_pct(bar.pass_rate) for bar in bars]
    below = [max(0.0, rate - _pct(bar.ci_low)) for rate, bar in zip(rates, bars, strict=True)]
    above = [max(0.0, _pct(bar.ci_high) - rate) for rate, bar in zip(rates, bars, strict=True)]
    axes.barh(
        positions,
        rates,
        height=0.6,
        color=colours,
        xerr=[below, above],
        error_kw={"ecolor": _TEXT, "elinewidth": 1.5, "capsize": 5, "capthick": 1.5},
        zorder=2,
    )
    axes.set_yticks(
        positions,
        [
            _short(bar.label) + ("\n(baseline)" if index == baseline_index else "")
            for index, bar in enumerate(bars)
        ],
    )
    # First model on top; with few models, keep bars slim rather than filling the height.
    spare = max(0, _MIN_BAR_SLOTS - len(bars)) / 2
    axes.set_ylim(len(bars) - 0.5 + spare, -0.5 - spare)
    if baseline_index is not None and 0 <= baseline_index < len(bars):
        axes.axvline(
            rates[baseline_index], color=BASELINE_COLOUR, linestyle="--", linewidth=1.2, zorder=1
        )
    # Values go in a column to the right of the plot, clear of bars and error bars.
    for position, bar in zip(positions, bars, strict=True):
        axes.annotate(
            f"{_pct(bar.pass_rate):.1f}%  [{_pct(bar.ci_low):.1f}–{_pct(bar.ci_high):.1f}]"
            f"  n={bar.n}",
            xy=(1.01, position),
            xycoords=("axes fraction", "data"),
            va="center",
            ha="left",
            fontsize=11,
            color=_TEXT,
        )
    axes.set_xlim(0, 100)
    axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.set_xlabel("pass rate (%) with 95% interval")
    axes.grid(axis="x", color=_GRID, zorder=0)
    axes.tick_params(axis="y", length=0)
    return _png(figure)


def history_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    promotions: Sequence[tuple[datetime, str]] = (),
) -> bytes:
    """Pass rate (fractions) over time, one line per model, as a PNG.

    Promotions are dashed vertical lines labelled with the promoted model. The legend
    sits outside the plot, to its right, so it never hides data.
    """
    # Room above the plot for the promotions' numbered tags (two rows when staggered).
    figure, axes = _new_figure(title, room_above=bool(promotions))
    drawn = [(name, sorted(points)) for name, points in series.items() if points]
    if not drawn and not promotions:
        _no_data(axes)
        return _png(figure)
    for index, (name, points) in enumerate(drawn):
        axes.plot(
            [when for when, _ in points],
            [_pct(rate) for _, rate in points],
            label=_short(name),
            color=PALETTE[index % len(PALETTE)],
            linestyle=("-", "--", ":", "-.")[index // len(PALETTE) % 4],
            marker=_MARKERS[index % len(_MARKERS)] if len(points) <= _MARKER_LIMIT else None,
            markersize=5,
            linewidth=1.8,
            zorder=3,
        )
    promotion_handles = _mark_promotions(axes, sorted(promotions))
    _date_ticks(axes)
    axes.set_ylim(-2, 102)  # a little air so points at 0% and 100% are not cut in half
    axes.set_yticks(range(0, 101, 20))
    axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.set_ylabel("pass rate (%)")
    axes.set_xlabel("run date (UTC)")
    axes.grid(color=_GRID, zorder=0)
    handles, labels = axes.get_legend_handles_labels()
    for handle, label in promotion_handles:
        handles.append(handle)
        labels.append(label)
    if handles:
        _legend_outside(axes, handles, labels)
    return _png(figure)


def tag_breakdown_chart(title: str, rows: Sequence[TagRate]) -> bytes:
    """Pass rate per tag (rows) and model (grouped bars), as a PNG.

    Tags and models keep the order in which they first appear in ``rows``; a model with
    no samples for a tag simply has no bar there.
    """
    figure, axes = _new_figure(title)
    if not rows:
        _no_data(axes)
        return _png(figure)
    tags = list(dict.fromkeys(row.tag for row in rows))
    models = list(dict.fromkeys(row.model for row in rows))
    rates = {(row.tag, row.model): row.pass_rate for row in rows}
    group = 0.8
    height = group / len(models)
    for m_index, model in enumerate(models):
        positions: list[float] = []
        values: list[float] = []
        for t_index, tag in enumerate(tags):
            if (tag, model) in rates:
                positions.append(t_index - group / 2 + height * (m_index + 0.5))
                values.append(_pct(rates[(tag, model)]))
        container = axes.barh(
            positions,
            values,
            height=height * 0.92,
            color=PALETTE[m_index % len(PALETTE)],
            label=_short(model),
            zorder=2,
        )
        if len(tags) * len(models) <= 40:  # value labels only while they fit
            axes.bar_label(container, fmt="%.0f%%", padding=3, fontsize=9, color=_TEXT)
    axes.set_yticks(range(len(tags)), [_short(tag, 30) for tag in tags])
    axes.invert_yaxis()
    axes.set_xlim(0, 108)  # room for a "100%" label at the end of a full bar
    axes.set_xticks(range(0, 101, 20))
    axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.set_xlabel("pass rate (%)")
    axes.set_ylabel("tag")
    axes.grid(axis="x", color=_GRID, zorder=0)
    axes.tick_params(axis="y", length=0)
    _legend_outside(axes)
    return _png(figure)


def loss_curve_chart(
    title: str,
    train: Sequence[tuple[int, float]],
    valid: Sequence[tuple[int, float]] = (),
    reward: Sequence[tuple[int, float]] = (),
) -> bytes:
    """Training and validation loss against step, as a PNG; an RFT job's mean reward (in
    [0, 1]) on a second axis at the right."""
    figure, axes = _new_figure(title)
    train_points = sorted(p for p in train if math.isfinite(p[1]))
    valid_points = sorted(p for p in valid if math.isfinite(p[1]))
    reward_points = sorted(p for p in reward if math.isfinite(p[1]))
    if reward_points:
        right = axes.twinx()
        right.plot(
            [step for step, _ in reward_points],
            [value for _, value in reward_points],
            label="mean reward",
            color=PALETTE[1],
            linewidth=1.6,
            marker="^" if len(reward_points) <= _MARKER_LIMIT else None,
            markersize=4,
        )
        right.set_ylabel("mean reward")
        right.yaxis.set_label_position("right")
        right.tick_params(axis="y", right=True, labelright=True, left=False, labelleft=False)
        right.set_ylim(0, 1.05)
        right.legend(loc="upper left", frameon=True, framealpha=0.9, facecolor="white")
    if not train_points and not valid_points and not reward_points:
        _no_data(axes)
        return _png(figure)
    if train_points:
        axes.plot(
            [step for step, _ in train_points],
            [loss for _, loss in train_points],
            label="training loss",
            color=PALETTE[0],
            linewidth=1.4,
            marker="o" if len(train_points) <= _MARKER_LIMIT else None,
            markersize=4,
            zorder=2,
        )
    if valid_points:
        axes.plot(
            [step for step, _ in valid_points],
            [loss for _, loss in valid_points],
            label="validation loss",
            color=PALETTE[3],
            linewidth=2,
            linestyle="--",
            marker="s" if len(valid_points) <= _MARKER_LIMIT else None,
            markersize=5,
            zorder=3,
        )
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_ylim(bottom=0)
    axes.grid(color=_GRID, zorder=0)
    if train_points or valid_points:
        axes.legend(loc="upper right", frameon=True, framealpha=0.9, facecolor="white")
    return _png(figure)


# --- shared look ----------------------------------------------------------------------


def _new_figure(title: str, *, room_above: bool = False) -> tuple[Figure, Any]:
    """A white figure with one axes; the title starts at the figure's left edge.

    ``room_above`` reserves a band between title and plot (for promotion tags).
    """
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
    # A first guess at the margins; _fit sets them from the labels before drawing.
    figure.subplots_adjust(left=0.1, right=0.8, bottom=0.1, top=0.88)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor("white")
    # A figure title, not an axes one: long y labels would push an axes title right.
    figure.suptitle(_short(title, 100), x=0.01, ha="left", fontsize=16, color=_TEXT)
    if room_above:
        axes.set_title(" ", pad=26)
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    for spine in ("left", "bottom"):
        axes.spines[spine].set_color("#888888")
    axes.tick_params(colors=_TEXT, labelsize=11, labelfontfamily=_font_families())
    axes.xaxis.label.set_color(_TEXT)
    axes.yaxis.label.set_color(_TEXT)
    axes.xaxis.label.set_fontsize(12)
    axes.yaxis.label.set_fontsize(12)
    return figure, axes


def _date_ticks(axes: Any) -> None:
    """Date ticks chosen once, for the final limits, then fixed.

    An AutoDateLocator recomputes its ticks (with dateutil's rrule) each time the axis
    is measured or drawn, a fifth of the history chart's render time.
    """
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    locator.set_axis(axes.xaxis)
    axes.autoscale_view()
    low, high = axes.get_xlim()
    if high <= low:
        axes.xaxis.set_major_locator(locator)
    else:
        first, last = num2date(low), num2date(high)  # type: ignore[no-untyped-call]
        found = locator.tick_values(first, last)  # type: ignore[no-untyped-call]
        ticks = [t for t in found if low <= t <= high]
        axes.set_xticks(ticks)
        axes.set_xlim(low, high)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _legend_outside(axes: Any, handles: Any = None, labels: Any = None) -> None:
    extra = {} if handles is None else {"handles": handles, "labels": labels}
    axes.legend(
        **extra,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=11,
        labelcolor=_TEXT,
    )


def _mark_promotions(
    axes: Any, promotions: Sequence[tuple[datetime, str]]
) -> list[tuple[Any, str]]:
    """Dashed lines with numbered tags above the plot; the legend says what each was.

    Full labels on the lines would overlap when promotions are close together and hide
    data; numbers stay small, and close ones are staggered onto a second row.
    """
    if not promotions:
        return []
    handles: list[tuple[Any, str]] = []
    span = (promotions[-1][0] - promotions[0][0]).total_seconds()
    previous: datetime | None = None
    row = 0
    for number, (when, model) in enumerate(promotions, start=1):
        axes.axvline(when, color=_TEXT, linestyle=(0, (4, 3)), linewidth=1, alpha=0.6, zorder=2)
        # A crude but sufficient nearness test: within 3% of the promotions' span.
        close = previous is not None and (when - previous).total_seconds() <= 0.03 * span
        row = (row + 1) % 2 if close else 0
        previous = when
        axes.annotate(
            str(number),
            xy=(when, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4 + 16 * row),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            color="white",
            bbox={"boxstyle": "circle,pad=0.25", "facecolor": _TEXT, "edgecolor": "none"},
            annotation_clip=False,
        )
        handle = Line2D([], [], color=_TEXT, linestyle=(0, (4, 3)), linewidth=1, alpha=0.6)
        handles.append((handle, f"{number}: {when:%Y-%m-%d} → {_short(model, 32)}"))
    if len(handles) > _PROMOTIONS_IN_LEGEND:  # keep the legend within the figure
        hidden = len(handles) - _PROMOTIONS_IN_LEGEND
        handles = handles[-_PROMOTIONS_IN_LEGEND:]
        handles.insert(0, (Line2D([], [], linestyle="none"), f"({hidden} earlier promotions)"))
    return handles


def _no_data(axes: Any) -> None:
    axes.text(
        0.5,
        0.5,
        "no data yet",
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=16,
        color="#616061",
    )
    axes.set_xticks([])
    axes.set_yticks([])


@functools.cache
def _font_families() -> list[str]:
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return [name for name in _FONT_PREFERENCE if name in installed] or ["sans-serif"]


def _fit(figure: Figure) -> None:
    """Set the margins so that every label, the legend and the title fit the figure.

    One measuring pass over the axes' labels, then the one real draw: matplotlib's
    constrained layout measured everything twice and drew a third time, a third of the
    render time (docs/benchmarks.md).
    """
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = figure.bbox.width, figure.bbox.height
    box = axes.get_window_extent(renderer)
    # A twin axes (an RFT job's reward) has its labels on the right: measure every axes.
    boxes = [a.get_tightbbox(renderer, for_layout_only=True) for a in figure.axes]
    found = [b for b in boxes if b is not None]
    if not found:
        return
    tight = Bbox.union(found)
    title = 0.0
    for text in figure.texts:  # the suptitle, drawn from the top edge down
        if text.get_visible() and text.get_text().strip():
            extent = text.get_window_extent(renderer)
            title = max(title, height - extent.y0)
    left = max(0.0, box.x0 - tight.x0) + _PAD_PX
    right = max(0.0, tight.x1 - box.x1) + _PAD_PX
    bottom = max(0.0, box.y0 - tight.y0) + _PAD_PX
    top = max(0.0, tight.y1 - box.y1) + title + _PAD_PX
    figure.subplots_adjust(
        left=min(left / width, 0.45),
        right=max(1 - right / width, 0.55),
        bottom=min(bottom / height, 0.45),
        top=max(1 - top / height, 0.55),
    )


def _png(figure: Figure) -> bytes:
    families = _font_families()
    for text in figure.findobj(Text):  # titles, labels, legends, annotations
        text.set_fontfamily(families)
    _fit(figure)
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        dpi=DPI,
        facecolor="white",
        transparent=False,
        pil_kwargs={"compress_level": 1},
    )
    return buffer.getvalue()


def _pct(fraction: float) -> float:
    return 100.0 * fraction


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    """Keep labels to one readable line; "$" would otherwise start mathtext."""
    text = " ".join(text.split()) or "(unnamed)"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")

"""Charts for Slack, rendered with matplotlib to PNG bytes: the comparison and the tags.

The shared look (size, type, transparent background, palette) is bot/chart_theme.py;
the history and the loss curve are bot/chart_lines.py. All four are exported here,
the names bot/chart_port.py's worker calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, PercentFormatter

from bot.chart_lines import history_chart, loss_curve_chart
from bot.chart_theme import (
    LABEL_PT,
    PALETTE,
    SMALL_PT,
    TEXT,
    Colours,
    header_legend,
    new_figure,
    no_data,
    pct,
    png,
    short,
)
from commands.ports import ChartBar, ChartDiff, HistoryPoint, TagRate

__all__ = [
    "PALETTE",
    "Bar",
    "ChartDiff",
    "HistoryPoint",
    "TagRate",
    "comparison_chart",
    "history_chart",
    "loss_curve_chart",
    "pool_tags",
    "tag_breakdown_chart",
]

Bar = ChartBar  # the data the charts draw are the Charts port's own types

_ROW_IN = 0.46  # a model's row: the bar and, under it, its difference from the baseline
_HEADER_IN = 1.15  # title, legend, and the x axis below
MIN_TAG_N = 10  # tags with fewer samples than this go into "other"
MAX_TAGS = 12  # rows of tags before the rest are pooled too
_VERDICT = {"better": "better", "worse": "worse"}


def comparison_chart(
    title: str,
    bars: Sequence[Bar],
    diffs: Sequence[ChartDiff] = (),
    colours: Mapping[str, int] | None = None,
) -> bytes:
    """Pass rate per model with its 95% interval; the first model is the baseline.

    Under each challenger's bar: its paired difference from the baseline, that
    difference's interval, the exact test's p and the verdict. Values sit in a column
    right of the plot, so they line up and never move with the bar (a bar at 100% used to
    push its label). The height follows the number of models: two models make a short
    chart, not a tall one with two bars.
    """
    figure, axes = new_figure(title, _HEADER_IN + _ROW_IN * max(2, len(bars)))
    if not bars:
        no_data(axes)
        return png(figure)
    palette = Colours(colours, [bar.model or bar.label for bar in bars])
    rows = list(range(len(bars)))
    rates = [pct(bar.pass_rate) for bar in bars]
    below = [max(0.0, r - pct(b.ci_low)) for r, b in zip(rates, bars, strict=True)]
    above = [max(0.0, pct(b.ci_high) - r) for r, b in zip(rates, bars, strict=True)]
    axes.barh(
        rows,
        rates,
        height=0.42,
        color=[palette.colour(bar.model or bar.label) for bar in bars],
        xerr=[below, above],
        error_kw={"ecolor": TEXT, "elinewidth": 2.0, "capsize": 6, "capthick": 2.0},
        zorder=2,
    )
    axes.set_yticks(rows, [short(bar.label, 20) for bar in bars])
    # The text line under the last bar needs its row too.
    axes.set_ylim(len(bars) - 0.3, -0.45)
    # The baseline's rate as a dashed mark through each bar, not one line down the plot:
    # a line would cross the text under the bars.
    axes.vlines(
        [rates[0]] * len(bars),
        [row - 0.28 for row in rows],
        [row + 0.21 for row in rows],  # the bar's lower edge: the text starts below it
        color=TEXT,
        linestyle=(0, (4, 3)),
        linewidth=1.5,
        zorder=3,
    )
    by_label = {diff.label: diff for diff in diffs}
    for row, bar in enumerate(bars):
        axes.annotate(
            f"{pct(bar.pass_rate):.1f}%",
            xy=(1.0, row),
            xycoords=("axes fraction", "data"),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=LABEL_PT,
            fontweight="bold",
            color=TEXT,
        )
        note = f"baseline · n={bar.n}" if row == 0 else _diff_note(by_label.get(bar.label))
        if note:
            axes.annotate(
                note,
                xy=(0.0, row + 0.25),
                xycoords=("axes fraction", "data"),
                xytext=(2, 0),
                textcoords="offset points",
                va="top",
                ha="left",
                fontsize=SMALL_PT,
                color=TEXT,
                annotation_clip=False,
            )
    axes.set_xlim(0, 100)
    axes.xaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))
    axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.grid(axis="x", color=TEXT, alpha=0.25, zorder=0)
    axes.tick_params(axis="y", length=0, pad=8)
    handles = [
        Patch(facecolor=TEXT, alpha=0.6),
        Line2D([], [], color=TEXT, linewidth=2.0, marker="|", markersize=10),
        Line2D([], [], color=TEXT, linestyle=(0, (4, 3)), linewidth=1.5),
    ]
    labels = ["pass rate", "95% interval", "baseline"]
    header_legend(figure, handles, labels, ncol=3)
    return png(figure)


def _diff_note(diff: ChartDiff | None) -> str:
    if diff is None:
        return ""
    verdict = _VERDICT.get(diff.verdict, "not significant")
    p = "p<0.001" if diff.p_value < 0.001 else f"p={diff.p_value:.2g}"
    return (
        f"{diff.diff_pp:+.1f} pp [{diff.ci_low_pp:+.1f}, {diff.ci_high_pp:+.1f}] · {p} · {verdict}"
    )


def pool_tags(rows: Sequence[TagRate]) -> tuple[list[str], dict[tuple[str, str], TagRate]]:
    """Tags in the order to draw them, and each (tag, model)'s rate.

    Tags with fewer than MIN_TAG_N samples, and those past the first MAX_TAGS, become
    one "other (k tags)" row, last, whose rate pools their samples. The rest are sorted
    by the gap between the best and worst model on them, largest first (with one model,
    its worst tags first): where models differ is what the chart is for.
    """
    models = list(dict.fromkeys(row.model for row in rows))
    by_tag: dict[str, dict[str, TagRate]] = {}
    for row in rows:
        by_tag.setdefault(row.tag, {})[row.model] = row

    def n_of(tag: str) -> int:
        return max(row.n for row in by_tag[tag].values())

    def gap(tag: str) -> float:
        values = [row.pass_rate for row in by_tag[tag].values()]
        return max(values) - min(values) if len(models) > 1 else 1.0 - values[0]

    big = sorted((t for t in by_tag if n_of(t) >= MIN_TAG_N), key=lambda t: (-gap(t), t))
    small = [t for t in by_tag if n_of(t) < MIN_TAG_N] + big[MAX_TAGS:]
    shown = big[:MAX_TAGS]
    cells = {(t, m): by_tag[t][m] for t in shown for m in by_tag[t]}
    if len(small) == 1 and n_of(small[0]) >= MIN_TAG_N:  # a pool of one is just that tag
        shown.append(small[0])
        cells.update({(small[0], m): row for m, row in by_tag[small[0]].items()})
    elif small:
        other = f"other ({len(small)} tag{'' if len(small) == 1 else 's'})"
        for model in models:
            members = [by_tag[t][model] for t in small if model in by_tag[t]]
            n = sum(row.n for row in members)
            if n:
                passed = sum(round(row.pass_rate * row.n) for row in members)
                cells[(other, model)] = TagRate(other, model, passed / n, n)
        if any(key[0] == other for key in cells):
            shown.append(other)
    return shown, cells


def tag_breakdown_chart(
    title: str, rows: Sequence[TagRate], colours: Mapping[str, int] | None = None
) -> bytes:
    """Pass rate per tag (rows, sorted by the gap between models, n shown) and model."""
    tags, cells = pool_tags(rows)
    models = list(dict.fromkeys(row.model for row in rows))
    slot_in = 0.17 * max(1, len(models)) + 0.14
    figure, axes = new_figure(title, 1.35 + slot_in * max(2, len(tags)))
    if not tags:
        no_data(axes)
        return png(figure)
    palette = Colours(colours, models)
    group = 0.8
    height = group / len(models)
    labelled = len(models) <= 3 and len(tags) <= 8  # value labels only while they fit
    for index, model in enumerate(models):
        placed = [(row, cells[(t, model)]) for row, t in enumerate(tags) if (t, model) in cells]
        container = axes.barh(
            [row - group / 2 + height * (index + 0.5) for row, _ in placed],
            [pct(cell.pass_rate) for _, cell in placed],
            height=height * 0.9,
            color=palette.colour(model),
            hatch=None if palette.line_style(model) == "-" else "//",
            label=short(model, 20),
            zorder=2,
        )
        if labelled:
            axes.bar_label(
                container, fmt="%.0f%%", padding=4, fontsize=SMALL_PT, color=TEXT, clip_on=False
            )
    n_of = {t: max(c.n for (tag, _), c in cells.items() if tag == t) for t in tags}
    axes.set_yticks(range(len(tags)), [f"{short(t, 18)}  n={n_of[t]}" for t in tags])
    axes.set_ylim(len(tags) - 0.5, -0.5)
    axes.set_xlim(0, 118 if labelled else 100)  # room for a "100%" label past a full bar
    axes.xaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))
    axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.grid(axis="x", color=TEXT, alpha=0.25, zorder=0)
    axes.tick_params(axis="y", length=0, pad=8)
    handles, labels = axes.get_legend_handles_labels()
    wide = max(len(label) for label in labels) > 12
    header_legend(figure, handles, labels, ncol=min(2 if wide else 3, len(models)))
    return png(figure)

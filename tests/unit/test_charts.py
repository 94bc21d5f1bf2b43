"""Charts come back as real transparent PNGs, 1280 px wide, whose labels fit, whatever
the data; each chart kind shows what a person needs from it.

Render time is measured by `make bench` (docs/benchmarks.md), not here. Legibility on
Slack's themes and at thumbnail size: tests/unit/test_chart_theme.py.
"""

from __future__ import annotations

import io
import re
import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from bot import chart_theme
from bot.charts import (
    Bar,
    ChartDiff,
    HistoryPoint,
    TagRate,
    comparison_chart,
    history_chart,
    loss_curve_chart,
    pool_tags,
    tag_breakdown_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 1, 1, tzinfo=UTC)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_chart(data: bytes) -> tuple[int, int]:
    width, height = png_size(data)
    assert width == 1280  # 640 logical px at 2x
    assert 360 <= height <= 2200
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


def bars(count: int) -> list[Bar]:
    return [
        Bar(f"model-{i}", 0.5 + i * 0.04, 0.45 + i * 0.04, 0.55 + i * 0.04, 300)
        for i in range(count)
    ]


def diffs(count: int) -> list[ChartDiff]:
    return [
        ChartDiff(f"model-{i}", 4.0 * i, 4.0 * i - 3, 4.0 * i + 3, 0.2 / i, "better", 300)
        for i in range(1, count)
    ]


def points(rates: list[float], partial: set[int] | None = None) -> list[HistoryPoint]:
    return [
        HistoryPoint(
            START + timedelta(days=i), r, r - 0.05, min(1.0, r + 0.05), i in (partial or ())
        )
        for i, r in enumerate(rates)
    ]


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Figure, bytes]]:
    """Every figure the charts render, with its PNG."""
    kept: list[tuple[Figure, bytes]] = []
    real = chart_theme.png

    def keep(figure: Figure, **kwargs: Any) -> bytes:
        data = real(figure, **kwargs)
        kept.append((figure, data))
        return data

    for module in ("bot.charts", "bot.chart_lines"):
        monkeypatch.setattr(f"{module}.png", keep)
    return kept


def texts(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def test_comparison_chart() -> None:
    two = assert_chart(comparison_chart("ticket-routing: r12", bars(2), diffs(2)))
    ten = assert_chart(comparison_chart("ten models", bars(10), diffs(10)))
    # The height follows the models: two bars do not float in a tall empty picture.
    assert two[1] < 0.5 * ten[1]


def test_comparison_chart_edge_cases() -> None:
    assert_chart(comparison_chart("nothing", []))
    assert_chart(comparison_chart("one", bars(1)))
    assert_chart(comparison_chart("no diffs passed", bars(3)))
    extremes = [Bar("all", 1.0, 0.96, 1.0, 100), Bar("none", 0.0, 0.0, 0.04, 100)]
    assert_chart(comparison_chart("extremes", extremes))


def test_comparison_is_annotated_with_the_difference(figures: list[tuple[Figure, bytes]]) -> None:
    diff = ChartDiff("gpt-5-mini", 6.0, 1.2, 10.8, 0.021, "better", 100)
    comparison_chart(
        "t",
        [Bar("gpt-4.1-mini", 0.85, 0.77, 0.9, 100), Bar("gpt-5-mini", 0.91, 0.84, 0.95, 100)],
        [diff],
    )
    ((figure, _),) = figures
    shown = texts(figure)
    assert "+6.0 pp [+1.2, +10.8] · p=0.021 · better" in shown
    assert "baseline · n=100" in shown
    assert {"pass rate", "95% interval", "baseline"} <= set(shown)  # the legend
    assert figure.legends


def test_comparison_value_labels_line_up_at_100_percent(
    figures: list[tuple[Figure, bytes]],
) -> None:
    """Values sit in a column right of the plot: a full bar does not push its label."""
    comparison_chart("t", [Bar("full", 1.0, 0.96, 1.0, 90), Bar("half", 0.5, 0.4, 0.6, 90)])
    ((figure, _),) = figures
    values = [t for t in figure.axes[0].texts if t.get_text() in ("100.0%", "50.0%")]
    assert len(values) == 2
    lefts = {round(t.get_window_extent().x0) for t in values}
    assert len(lefts) == 1
    assert min(lefts) >= figure.axes[0].get_window_extent().x1  # right of the plot


def test_history_chart() -> None:
    series = {
        name: [
            HistoryPoint(START + timedelta(hours=i), (i % 100) / 100, 0.0, 1.0, i % 7 == 0)
            for i in range(1000)
        ]
        for name in ("gpt-4.1-mini", "gpt-5-mini")
    }
    promotions = [(START + timedelta(days=3), "gpt-5-mini"), (START + timedelta(days=4), "x")]
    assert_chart(history_chart("history", series, promotions))


def test_history_chart_edge_cases() -> None:
    assert_chart(history_chart("empty", {}, []))
    assert_chart(history_chart("empty series", {"a": []}, []))
    assert_chart(history_chart("one point", {"a": points([0.5])}, []))
    assert_chart(history_chart("only partial", {"a": points([0.5, 0.6], {0, 1})}, []))
    assert_chart(history_chart("only a promotion", {}, [(START, "gpt-5")]))
    many = [(START + timedelta(days=i), f"m{i}") for i in range(30)]
    assert_chart(history_chart("many promotions", {"a": points([0.5])}, many))


def test_history_zooms_to_the_data_and_marks_partial_runs(
    figures: list[tuple[Figure, bytes]],
) -> None:
    rates = [0.75, 0.81, 0.92, 0.88, 0.79, 0.85]
    history_chart("h", {"gpt-5-mini": points(rates, partial={2})}, [])
    ((figure, _),) = figures
    axes = figure.axes[0]
    low, high = axes.get_ylim()
    assert 60 <= low <= 75 and 92 <= high <= 100  # not 0-100%
    lines = [line for line in axes.get_lines() if len(line.get_xdata()) > 0]
    hollow = [line for line in lines if line.get_markerfacecolor() == "none"]
    assert len(hollow) == 1 and list(hollow[0].get_ydata()) == [92.0]  # the limit=N run
    solid = [line for line in lines if line not in hollow]
    assert 92.0 not in list(solid[0].get_ydata())  # not joined to the full runs
    assert axes.collections, "interval band"
    assert "limit=N run" in texts(figure)


@pytest.mark.parametrize(
    ("span", "pattern"),
    [
        (timedelta(hours=7), r"^\d\d:\d\d$"),
        (timedelta(days=20), r"^[A-Z][a-z]{2} \d\d$"),
        (timedelta(days=700), r"^[A-Z][a-z]{2} \d{4}$"),
    ],
)
def test_history_date_ticks_share_one_format(
    figures: list[tuple[Figure, bytes]], span: timedelta, pattern: str
) -> None:
    """No "30, 45, 18:34": every tick in one format, chosen by the span."""
    series = {
        "m": [HistoryPoint(START + span * i / 40, 0.8, 0.7, 0.9) for i in range(41)],
    }
    history_chart("h", series, [])
    ((figure, _),) = figures
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert 2 <= len(labels) <= 7
    assert all(re.match(pattern, label) for label in labels), labels


def test_tags_sorted_by_gap_with_small_ones_pooled() -> None:
    rows = [
        TagRate("billing", "a", 0.90, 40),
        TagRate("billing", "b", 0.85, 40),
        TagRate("bug", "a", 0.40, 30),
        TagRate("bug", "b", 0.80, 30),
        TagRate("rare-1", "a", 1.0, 2),
        TagRate("rare-1", "b", 0.5, 2),
        TagRate("rare-2", "a", 0.0, 3),
        TagRate("rare-2", "b", 1.0, 3),
    ]
    tags, cells = pool_tags(rows)
    assert tags == ["bug", "billing", "other (2 tags)"]
    assert cells[("other (2 tags)", "a")].n == 5
    assert cells[("other (2 tags)", "a")].pass_rate == pytest.approx(2 / 5)
    assert cells[("other (2 tags)", "b")].pass_rate == pytest.approx(4 / 5)


def test_tags_past_the_limit_are_pooled_too() -> None:
    rows = [TagRate(f"t{i:02d}", "a", i / 30, 20) for i in range(20)]
    tags, _ = pool_tags(rows)
    assert len(tags) == 13 and tags[-1] == "other (8 tags)"
    assert tags[0] == "t00"  # one model: its worst tag first


def test_tag_breakdown_chart(figures: list[tuple[Figure, bytes]]) -> None:
    rows = [
        TagRate(tag, model, rate, 20)
        for tag, rate in (("billing", 0.9), ("bug", 0.4), ("other", 1.0))
        for model in ("gpt-4.1-mini", "gpt-5-mini")
    ]
    assert_chart(tag_breakdown_chart("by tag", rows))
    assert "billing  n=20" in texts(figures[0][0])
    assert_chart(tag_breakdown_chart("empty", []))
    assert_chart(tag_breakdown_chart("one", [TagRate("billing", "m", 0.5)]))
    # a model missing for a tag just has no bar there
    assert_chart(tag_breakdown_chart("ragged", [*rows, TagRate("new", "gpt-5", 0.2, 20)]))


def test_loss_curve_chart() -> None:
    train = [(step, 2.0 / (1 + step / 100)) for step in range(1000)]
    valid = [(step, 2.1 / (1 + step / 100)) for step in range(0, 1000, 100)]
    assert_chart(loss_curve_chart("f3", train, valid))
    assert_chart(loss_curve_chart("empty", [], []))
    assert_chart(loss_curve_chart("one", [(1, 0.5)], []))
    assert_chart(loss_curve_chart("nan", [(1, float("nan")), (2, float("inf"))], [(1, 1.0)]))
    # An RFT job on Ray: loss, and the grader's mean reward on a second axis.
    assert_chart(loss_curve_chart("rft", train, [], [(s, s / 1000) for s in range(0, 1000, 50)]))
    assert_chart(loss_curve_chart("reward only", [], [], [(1, 0.2)]))


# Without a CJK font installed (the Docker image adds one) those glyphs render as boxes.
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_unicode_and_awkward_labels() -> None:
    names = ["modèle ✓ ünïcödé", "模型", "ft:gpt-4.1-mini:acme:" + "x" * 80, "price $5 $x$", ""]
    assert_chart(
        comparison_chart(
            "Évaluation — “smart” $title$ " + "long " * 40,
            [Bar(name, 0.5, 0.4, 0.6, 10) for name in names],
        )
    )
    assert_chart(history_chart("ü", {name: points([0.3]) for name in names}, [(START, "ü")]))
    assert_chart(tag_breakdown_chart("ü", [TagRate(name, name, 0.5) for name in names]))


def test_charts_render_in_parallel_threads() -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def render() -> None:
        try:
            results.append(comparison_chart("threads", bars(4), diffs(4)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=render) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4
    for data in results:
        assert_chart(data)


def _edge_is_blank(png: bytes, ring: int = 3) -> bool:
    """True if the outer `ring` pixels are all transparent: nothing was cut off."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    alpha = image.getchannel("A")
    width, height = image.size
    pixels = alpha.load()
    assert pixels is not None
    edge = [(x, y) for x in range(width) for y in (*range(ring), *range(height - ring, height))]
    edge += [(x, y) for y in range(height) for x in (*range(ring), *range(width - ring, width))]
    return all(pixels[x, y] == 0 for x, y in edge)  # type: ignore[comparison-overlap]


def _shown(axis: Any) -> list[Any]:
    """The tick labels drawn: with text, at ticks inside the view."""
    low, high = sorted(axis.get_view_interval())
    return [
        label
        for tick, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=False)
        if label.get_text() and low <= tick <= high
    ]


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_every_label_fits_inside_the_picture(figures: list[tuple[Figure, bytes]]) -> None:
    """The margins are computed from the labels (bot.chart_theme.fit): nothing is cut off
    at an edge, and no label runs into the plot or the legend, for short and long names."""
    long = "ft:gpt-4.1-mini-2025-04-14:acme-corp:ticket-router-v7:" + "x" * 30
    names = ["gpt-4.1-mini", "ü-模型", long]
    comparison_chart(
        "names",
        [Bar(n, 0.5, 0.4, 0.6, 300) for n in names],
        [ChartDiff(n, -12.3, -20.1, -4.4, 0.0001, "worse", 300) for n in names[1:]],
    )
    comparison_chart("ten", bars(10), diffs(10))
    history_chart(
        "history " + "long title " * 6,
        {n: points([0.5 + d / 100 for d in range(30)], {3, 4}) for n in names},
        [(START + timedelta(days=5), long), (START + timedelta(days=6), "gpt-5")],
    )
    tag_breakdown_chart("tags", [TagRate(t, n, 0.5, 10) for t in ("billing", long) for n in names])
    train = [(step, 2.0 / (1 + step / 100)) for step in range(1000)]
    loss_curve_chart("f3: sft " + long, train, train[::100])
    assert len(figures) == 5
    for figure, png in figures:
        assert _edge_is_blank(png), figure.texts[0].get_text()
        axes = figure.axes[0]
        plot = axes.get_window_extent()
        for legend in [*figure.legends, *filter(None, [axes.get_legend()])]:
            box = legend.get_window_extent()  # inside the picture, clear of the plot
            assert box.x0 >= 0 and box.x1 <= figure.bbox.width
            assert box.y0 >= 0 and box.y1 <= figure.bbox.height
            assert box.y0 >= plot.y1 or box.y1 <= plot.y0 or box.x0 >= plot.x1
        ticks = {*axes.xaxis.get_majorticklabels(), *axes.yaxis.get_majorticklabels()}
        drawn_ticks = {*_shown(axes.xaxis), *_shown(axes.yaxis)}
        for text in figure.findobj(Text):  # every text, annotations and legend included
            if text in ticks and text not in drawn_ticks:
                continue  # a tick outside the view: matplotlib does not draw it
            if text.get_visible() and text.get_text().strip():
                extent = text.get_window_extent()
                assert extent.x0 >= 0 and extent.x1 <= figure.bbox.width, text.get_text()
                assert extent.y0 >= 0 and extent.y1 <= figure.bbox.height, text.get_text()
        for label in _shown(axes.yaxis):
            assert label.get_window_extent().x1 <= plot.x0 + 1, label.get_text()
        for label in _shown(axes.xaxis):
            assert label.get_window_extent().y1 <= plot.y0 + 1, label.get_text()

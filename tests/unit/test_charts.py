"""Charts come back as real 1200x700 PNGs whose labels fit, whatever the data.

Render time is measured by `make bench` (docs/benchmarks.md), not here."""

from __future__ import annotations

import io
import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from matplotlib.figure import Figure
from PIL import Image

from bot import charts
from bot.charts import (
    Bar,
    TagRate,
    comparison_chart,
    history_chart,
    loss_curve_chart,
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


def assert_chart(data: bytes) -> None:
    assert png_size(data) == (1200, 700)
    assert data.endswith(b"IEND\xaeB`\x82")


def bars(count: int) -> list[Bar]:
    return [
        Bar(f"model-{i}", 0.5 + i * 0.04, 0.45 + i * 0.04, 0.55 + i * 0.04, 300)
        for i in range(count)
    ]


def test_comparison_chart() -> None:
    assert_chart(comparison_chart("ticket-routing: r12", bars(2)))
    assert_chart(comparison_chart("ten models", bars(10)))


def test_comparison_chart_edge_cases() -> None:
    assert_chart(comparison_chart("nothing", []))
    assert_chart(comparison_chart("one", bars(1)))
    assert_chart(comparison_chart("no baseline", bars(3), baseline_index=None))
    extremes = [Bar("all", 1.0, 0.96, 1.0, 100), Bar("none", 0.0, 0.0, 0.04, 100)]
    assert_chart(comparison_chart("extremes", extremes))


def test_history_chart() -> None:
    series = {
        name: [(START + timedelta(hours=i), (i % 100) / 100) for i in range(1000)]
        for name in ("gpt-4.1-mini", "gpt-5-mini")
    }
    promotions = [(START + timedelta(days=3), "gpt-5-mini"), (START + timedelta(days=4), "x")]
    assert_chart(history_chart("history", series, promotions))


def test_history_chart_edge_cases() -> None:
    assert_chart(history_chart("empty", {}, []))
    assert_chart(history_chart("empty series", {"a": []}, []))
    assert_chart(history_chart("one point", {"a": [(START, 0.5)]}, []))
    assert_chart(history_chart("only a promotion", {}, [(START, "gpt-5")]))
    many = [(START + timedelta(days=i), f"m{i}") for i in range(30)]
    assert_chart(history_chart("many promotions", {"a": [(START, 0.5)]}, many))


def test_tag_breakdown_chart() -> None:
    rows = [
        TagRate(tag, model, rate, 20)
        for tag, rate in (("billing", 0.9), ("bug", 0.4), ("other", 1.0))
        for model in ("gpt-4.1-mini", "gpt-5-mini")
    ]
    assert_chart(tag_breakdown_chart("by tag", rows))
    assert_chart(tag_breakdown_chart("empty", []))
    assert_chart(tag_breakdown_chart("one", [TagRate("billing", "m", 0.5)]))
    # a model missing for a tag just has no bar there
    assert_chart(tag_breakdown_chart("ragged", [*rows, TagRate("new", "gpt-5", 0.2)]))


def test_loss_curve_chart() -> None:
    train = [(step, 2.0 / (1 + step / 100)) for step in range(1000)]
    valid = [(step, 2.1 / (1 + step / 100)) for step in range(0, 1000, 100)]
    assert_chart(loss_curve_chart("f3", train, valid))
    assert_chart(loss_curve_chart("empty", [], []))
    assert_chart(loss_curve_chart("one", [(1, 0.5)], []))
    assert_chart(loss_curve_chart("nan", [(1, float("nan")), (2, float("inf"))], [(1, 1.0)]))
    # An RFT job on Ray: loss and the grader's mean reward on a second axis.
    assert_chart(loss_curve_chart("rft", [(1, 0.1), (2, 0.05)], [], [(1, 0.2), (2, 0.6)]))
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
    assert_chart(history_chart("ü", {name: [(START, 0.3)] for name in names}, [(START, "ü")]))
    assert_chart(tag_breakdown_chart("ü", [TagRate(name, name, 0.5) for name in names]))


def test_charts_render_in_parallel_threads() -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def render() -> None:
        try:
            results.append(comparison_chart("threads", bars(4)))
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


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Figure, bytes]]:
    """Every figure the charts render, with its PNG."""
    kept: list[tuple[Figure, bytes]] = []
    real = charts._png

    def keep(figure: Figure) -> bytes:
        png = real(figure)
        kept.append((figure, png))
        return png

    monkeypatch.setattr(charts, "_png", keep)
    return kept


def _edge_is_blank(png: bytes, ring: int = 3) -> bool:
    """True if the outer `ring` pixels are all white: nothing was cut off at an edge."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    edge = [(x, y) for x in range(width) for y in (*range(ring), *range(height - ring, height))]
    edge += [(x, y) for y in range(height) for x in (*range(ring), *range(width - ring, width))]
    return all(pixels[x, y] >= 245 for x, y in edge)  # type: ignore[operator]


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
    """The margins are computed from the labels (bot.charts._fit): nothing is cut off at
    an edge, and no label runs into the plot or the legend, for short and long names."""
    long = "ft:gpt-4.1-mini-2025-04-14:acme-corp:ticket-router-v7:" + "x" * 30
    names = ["gpt-4.1-mini", "ü-模型", long]
    comparison_chart("names", [Bar(n, 0.5, 0.4, 0.6, 300) for n in names])
    comparison_chart("ten", bars(10))
    history_chart(
        "history " + "long title " * 6,
        {n: [(START + timedelta(days=d), 0.5 + d / 100) for d in range(30)] for n in names},
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
        legend = axes.get_legend()
        if legend is not None:  # inside the picture; outside the plot unless it is framed
            box = legend.get_window_extent()
            assert box.x1 <= figure.bbox.width and box.y0 >= 0
            assert plot.x1 <= box.x0 or legend.get_frame_on()
        for label in _shown(axes.yaxis):
            assert label.get_window_extent().x1 <= plot.x0 + 1, label.get_text()
            assert label.get_window_extent().x0 >= 0, label.get_text()
        for label in _shown(axes.xaxis):
            assert label.get_window_extent().y1 <= plot.y0 + 1, label.get_text()
            assert label.get_window_extent().y0 >= 0, label.get_text()

"""Charts come back as real 1200x700 PNGs, whatever the data, and in reasonable time."""

from __future__ import annotations

import struct
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

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


@pytest.mark.parametrize(
    "render",
    [
        pytest.param(lambda: comparison_chart("ten", bars(10)), id="comparison-10-models"),
        pytest.param(
            lambda: history_chart(
                "history",
                {"m": [(START + timedelta(hours=i), 0.5) for i in range(1000)]},
                [(START + timedelta(days=5), "m")],
            ),
            id="history-1000-points",
        ),
    ],
)
def test_render_time(render: object) -> None:
    assert callable(render)
    render()  # warm up fonts and caches
    started = time.perf_counter()
    for _ in range(3):
        render()
    # Generous against slow CI machines; on a laptop these take about 0.15 s.
    assert (time.perf_counter() - started) / 3 < 1.5

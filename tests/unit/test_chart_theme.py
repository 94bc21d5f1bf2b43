"""Charts read on Slack's light and dark themes, at thumbnail width, with one colour per
model across a suite's charts.

Contrast is measured the way a person sees it: the transparent PNG composited onto
Slack's white (#FFFFFF) and dark (#1A1D21) backgrounds, then the WCAG contrast ratio
of the text's pixels against that background.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from bot import chart_theme
from bot.chart_theme import PALETTE, TEXT, THUMB_PX
from bot.charts import (
    Bar,
    ChartDiff,
    HistoryPoint,
    TagRate,
    comparison_chart,
    history_chart,
    loss_curve_chart,
    tag_breakdown_chart,
)
from commands.chart_colours import colour_slots

LIGHT = (255, 255, 255)
DARK = (0x1A, 0x1D, 0x21)
START = datetime(2026, 11, 1, tzinfo=UTC)


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-1 floats."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    low, high = sorted((luminance(a), luminance(b)))
    return (high + 0.05) / (low + 0.05)


def unit(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return (rgb[0] / 255, rgb[1] / 255, rgb[2] / 255)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Figure, bytes]]:
    kept: list[tuple[Figure, bytes]] = []
    real = chart_theme.png

    def keep(figure: Figure, **kwargs: Any) -> bytes:
        data = real(figure, **kwargs)
        kept.append((figure, data))
        return data

    for module in ("bot.charts", "bot.chart_lines"):
        monkeypatch.setattr(f"{module}.png", keep)
    return kept


def every_chart() -> None:
    names = ["gpt-4.1-mini", "gpt-5-mini", "ft:gpt-4.1-mini:acme:router-v7"]
    comparison_chart(
        "ticket-routing: pass rate",
        [Bar(n, 0.8 + i / 20, 0.7 + i / 20, 0.9 + i / 20, 120) for i, n in enumerate(names)],
        [ChartDiff(n, 5.0 * i, 1.0, 9.0, 0.02, "better", 120) for i, n in enumerate(names)][1:],
    )
    history_chart(
        "ticket-routing: pass rate over time",
        {
            n: [
                HistoryPoint(START + timedelta(days=d), 0.8, 0.75, 0.85, d % 5 == 0)
                for d in range(12)
            ]
            for n in names
        },
        [(START + timedelta(days=4), "production: gpt-5-mini")],
    )
    tag_breakdown_chart(
        "ticket-routing: per tag", [TagRate(t, n, 0.6, 30) for t in ("a", "b") for n in names]
    )
    loss_curve_chart("f3: sft", [(s, 1 / (1 + s)) for s in range(50)], [(10, 0.2)])


def test_palette_and_text_have_contrast_on_both_themes() -> None:
    for colour in (TEXT, *PALETTE):
        for background in (LIGHT, DARK):
            ratio = contrast(to_rgb(colour), unit(background))
            assert ratio >= 3.0, (colour, background, ratio)


def _composite(png: bytes, background: tuple[int, int, int]) -> Image.Image:
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    base = Image.new("RGBA", image.size, (*background, 255))
    return Image.alpha_composite(base, image).convert("RGB")


def _glyph_core(png: bytes, figure: Figure, text: Text) -> list[tuple[int, int]]:
    """Pixels inside `text`'s box that the glyphs cover (almost) fully."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    box = text.get_window_extent()
    height = image.height
    x0, x1 = int(box.x0), int(box.x1)
    y0, y1 = int(height - box.y1), int(height - box.y0)  # PNG rows run top-down
    alpha = image.getchannel("A")
    return [
        (x, y)
        for x in range(max(0, x0), min(image.width, x1))
        for y in range(max(0, y0), min(height, y1))
        if alpha.getpixel((x, y)) >= 240  # type: ignore[operator]
    ]


def test_text_pixels_have_contrast_on_light_and_dark(figures: list[tuple[Figure, bytes]]) -> None:
    """The main text (titles, model names, the comparison's numbers), composited onto
    each Slack background, keeps a WCAG contrast ratio of at least 3 (measured ~4.1)."""
    every_chart()
    assert len(figures) == 4
    for figure, png in figures:
        axes = figure.axes[0]
        main = [figure.texts[0], *axes.get_yticklabels()[:1], *axes.texts[:1]]
        for text in main:
            if not text.get_text().strip():
                continue
            core = _glyph_core(png, figure, text)
            assert len(core) >= 20, text.get_text()  # the text was really drawn there
            for background in (LIGHT, DARK):
                picture = _composite(png, background)
                ratios = sorted(
                    contrast(unit(picture.getpixel(xy)), unit(background))  # type: ignore[arg-type]
                    for xy in core
                )
                median = ratios[len(ratios) // 2]
                assert median >= 3.0, (text.get_text(), background, median)


def test_background_is_transparent(figures: list[tuple[Figure, bytes]]) -> None:
    """No opaque box: most of the picture lets Slack's own background through."""
    every_chart()
    for _, png in figures:
        alpha = Image.open(io.BytesIO(png)).convert("RGBA").getchannel("A")
        histogram = alpha.histogram()
        assert histogram[0] / sum(histogram) > 0.5


def test_type_is_legible_at_thumbnail_width(figures: list[tuple[Figure, bytes]]) -> None:
    """Every text is at least ~9.5 px tall when Slack scales the chart to 360 px wide,
    titles at least 12 px (the charts used to show 5 px text there)."""
    every_chart()
    for figure, _ in figures:
        scale = THUMB_PX / figure.bbox.width
        title = figure.texts[0]
        assert title.get_fontsize() * figure.dpi / 72 * scale >= 12
        for text in figure.findobj(Text):
            if text.get_visible() and text.get_text().strip():
                px = text.get_fontsize() * figure.dpi / 72 * scale
                assert px >= 9.5, (text.get_text(), px)


def test_colour_slots_follow_first_appearance_and_never_move() -> None:
    before = colour_slots(["gpt-4.1-mini", "gpt-5-mini"])
    after = colour_slots(["gpt-4.1-mini", "gpt-5-mini", "gpt-4.1-mini", "o4-mini"])
    assert before == {"gpt-4.1-mini": 0, "gpt-5-mini": 1}
    assert after == {**before, "o4-mini": 2}
    many = colour_slots(f"m{i}" for i in range(20))
    assert len(set(many.values())) == 20  # past the palette: new rounds, not reuse


def test_a_model_has_one_colour_in_every_chart(figures: list[tuple[Figure, bytes]]) -> None:
    """The comparison, the history and the tags of a suite agree on each model's colour,
    even when a chart shows only some of the suite's models, in another order."""
    suite = colour_slots(["gpt-4.1-mini", "o4-mini", "gpt-5-mini"])
    comparison_chart(
        "c",
        [Bar("gpt-5-mini", 0.8, 0.7, 0.9, 50), Bar("gpt-4.1-mini", 0.7, 0.6, 0.8, 50)],
        [],
        suite,
    )
    history_chart(
        "h",
        {m: [HistoryPoint(START, 0.8, 0.7, 0.9)] for m in ("gpt-4.1-mini", "gpt-5-mini")},
        [],
        suite,
    )
    tag_breakdown_chart(
        "t", [TagRate("a", m, 0.5, 20) for m in ("gpt-5-mini", "gpt-4.1-mini")], suite
    )
    comparison, history, tags = (figure.axes[0] for figure, _ in figures)
    bars = [to_hex(patch.get_facecolor()) for patch in comparison.patches]
    assert bars[:2] == [PALETTE[2].lower(), PALETTE[0].lower()]
    lines = {to_hex(line.get_color()) for line in history.get_lines() if line.get_xdata().size}
    assert lines == {PALETTE[0].lower(), PALETTE[2].lower()}
    handles, labels = tags.get_legend_handles_labels()
    colours = {
        label: to_hex(handle.patches[0].get_facecolor())
        for handle, label in zip(handles, labels, strict=True)
    }
    assert colours == {"gpt-5-mini": PALETTE[2].lower(), "gpt-4.1-mini": PALETTE[0].lower()}

"""The look every chart shares: made for Slack's image preview, on light and dark themes.

Size: Slack shows an uploaded image scaled to the message column, about 360 px wide in
many clients, and builds thumbnails up to 1024 px (thumb_360 ... thumb_1024 in the file
object). Charts are laid out for 640 logical px of width and rendered at 2x (6.4 in at
200 dpi = 1280 px), with type sized so that at 360 px wide tick labels are still about
10 px tall and titles about 12 px: a chart is legible in the channel without a click.

Themes: the PNG is transparent and every mark is a mid-tone, so it sits on Slack's white
(#FFFFFF) and dark (#1A1D21) backgrounds alike: the text grey has a contrast ratio of
about 4.1 on both, each palette colour at least 3.3 (WCAG asks 3 for graphics and large
text). An opaque white box glared on the dark theme; dark text would vanish on it.

Every chart is a fresh ``Figure`` on its own Agg canvas with no pyplot and no global
rcParams, so charts can be drawn from threads or the worker process alike.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from commands.chart_colours import PALETTE_SIZE, colour_slots, preferred_slot  # noqa: E402

WIDTH_IN = 6.4
DPI = 200  # 2x: 1280 px wide
THUMB_PX = 360  # the preview width the type is sized for

# Mid-tone colours, each with contrast >= 3.3 on #FFFFFF and on #1A1D21 (see the test
# tests/unit/test_chart_theme.py). Hue order keeps neighbours apart; markers and
# labels carry identity too, so nothing depends on colour alone.
PALETTE = (
    "#3C7DD9",  # blue
    "#D2691E",  # orange
    "#2E9B5F",  # green
    "#9B6BD3",  # purple
    "#D9534F",  # red
    "#1B9AAA",  # teal
    "#C75B9B",  # pink
    "#A37F2C",  # ochre
)
assert len(PALETTE) == PALETTE_SIZE
TEXT = "#7D7D7D"  # contrast 4.1 on both Slack backgrounds
GRID = (0.49, 0.49, 0.49, 0.28)
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

# Type sizes in points; at 200 dpi and 1280 px, 1 pt is 0.78 px at THUMB_PX wide.
TITLE_PT = 16.0
LABEL_PT = 13.0
SMALL_PT = 12.5  # the smallest type drawn anywhere: 9.8 px in a 360 px preview
PAD_PX = 16  # between the outermost labels and the picture's edge

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


class Colours:
    """Colour (and, past the palette, line style) of each model in one chart."""

    def __init__(self, slots: Mapping[str, int] | None, models: list[str]) -> None:
        # Models the caller did not place (no suite known) follow the placed ones.
        placed = dict(slots or {})
        start = max(placed.values(), default=-1) + 1
        own = colour_slots([m for m in models if m not in placed], start=start)
        self._slots = {**own, **placed}

    def slot(self, model: str) -> int:
        found = self._slots.get(model)
        return preferred_slot(model) if found is None else found

    def colour(self, model: str) -> str:
        return PALETTE[self.slot(model) % PALETTE_SIZE]

    def line_style(self, model: str) -> str:
        return LINE_STYLES[self.slot(model) // PALETTE_SIZE % len(LINE_STYLES)]

    def marker(self, model: str) -> str:
        return MARKERS[self.slot(model) % len(MARKERS)]


def new_figure(title: str, height_in: float) -> tuple[Figure, Any]:
    """A transparent figure with one axes and a left-aligned title."""
    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, facecolor="none")
    # A first guess at the margins; fit() sets them from the labels before drawing.
    figure.subplots_adjust(left=0.2, right=0.85, bottom=0.15, top=0.8)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    figure.suptitle(
        short(title, 40),
        x=PAD_PX / (WIDTH_IN * DPI),
        y=1 - PAD_PX / (height_in * DPI),
        ha="left",
        va="top",
        fontsize=TITLE_PT,
        fontweight="bold",
        color=TEXT,
    )
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    for spine in ("left", "bottom"):
        axes.spines[spine].set_color(TEXT)
    axes.tick_params(colors=TEXT, labelsize=LABEL_PT, labelfontfamily=font_families())
    for label in (axes.xaxis.label, axes.yaxis.label):
        label.set_color(TEXT)
        label.set_fontsize(LABEL_PT)
    return figure, axes


def header_legend(figure: Figure, handles: list[Any], labels: list[str], *, ncol: int) -> Any:
    """A legend hung under the title from the picture's left edge, as wide as it needs:
    anchored to the plot instead, a long legend ran off the right edge."""
    top_px = PAD_PX + TITLE_PT * DPI / 72 * 1.45
    return legend(
        figure,
        handles,
        labels,
        ncol=ncol,
        loc="upper left",
        bbox_to_anchor=(PAD_PX / figure.bbox.width, 1 - top_px / figure.bbox.height),
    )


def legend(target: Any, handles: list[Any], labels: list[str], *, ncol: int, **where: Any) -> Any:
    """A frameless legend in the chart's type."""
    return target.legend(
        handles,
        labels,
        ncol=ncol,
        frameon=False,
        fontsize=SMALL_PT,
        labelcolor=TEXT,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.0,
        **where,
    )


def no_data(axes: Any) -> None:
    axes.text(
        0.5,
        0.5,
        "no data yet",
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=TITLE_PT,
        color=TEXT,
    )
    axes.set_xticks([])
    axes.set_yticks([])


@functools.cache
def font_families() -> list[str]:
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return [name for name in _FONT_PREFERENCE if name in installed] or ["sans-serif"]


def fit(figure: Figure, *, below: float = 0.0) -> None:
    """Set the margins so that every label, the legend and the title fit the figure.

    One measuring pass, then the one real draw: matplotlib's constrained layout
    measured everything twice and drew a third time (docs/benchmarks.md). `below`
    reserves pixels under the axes' own labels (for a legend placed there).
    """
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = figure.bbox.width, figure.bbox.height
    box = axes.get_window_extent(renderer)
    # A twin axes (an RFT job's reward) keeps its labels at the right: measure them all.
    boxes = [a.get_tightbbox(renderer, for_layout_only=True) for a in figure.axes]
    found = [b for b in boxes if b is not None]
    if not found:
        return
    tight = Bbox.union(found)
    title = 0.0
    for text in figure.texts:  # the suptitle, hung from the top edge
        if text.get_visible() and text.get_text().strip():
            title = max(title, height - text.get_window_extent(renderer).y0)
    for header in figure.legends:  # a legend under the title
        title = max(title, height - header.get_window_extent(renderer).y0)
    left = max(0.0, box.x0 - tight.x0) + PAD_PX
    right = max(0.0, tight.x1 - box.x1) + PAD_PX
    bottom = max(0.0, box.y0 - tight.y0) + PAD_PX + below
    top = max(0.0, tight.y1 - box.y1) + title + PAD_PX / 2
    figure.subplots_adjust(
        left=min(left / width, 0.5),
        right=max(1 - right / width, 0.55),
        bottom=min(bottom / height, 0.6),
        top=max(1 - top / height, 0.45),
    )


def png(figure: Figure, *, below: float = 0.0) -> bytes:
    """The figure as a transparent PNG, fonts set and margins fitted."""
    families = font_families()
    for text in figure.findobj(Text):  # titles, labels, legends, annotations
        text.set_fontfamily(families)
    fit(figure, below=below)
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", dpi=DPI, transparent=True, pil_kwargs={"compress_level": 1}
    )
    return buffer.getvalue()


def pct(fraction: float) -> float:
    return 100.0 * fraction


def short(text: str, limit: int = 24) -> str:
    """One line of at most `limit` characters; "$" would otherwise start mathtext.

    Long names lose their middle, not their end: fine-tuned models differ in the suffix
    (ft:gpt-4.1-mini:acme:router-v7 vs ...-v8).
    """
    text = " ".join(text.split()) or "(unnamed)"
    if len(text) > limit:
        head = (limit - 1) * 3 // 5
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return text.replace("$", r"\$")

"""Numbers as people read them (percentages, money, durations, bars), and a stored
run's header. The messages themselves are worded at the edge (bot/presenters) from
the reports in commands.reports."""

from __future__ import annotations

from commands.origins import Drift, Release, origin_of
from commands.reports import RunHeader
from storage.tables import EvalRun

BAR_WIDTH = 20


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`▓▓▓▓░░░░` with `done/total` filled."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def money(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def tokens(n: int) -> str:
    return f"{n:,}"


def run_header(run: EvalRun) -> RunHeader:
    """The header of a stored run, with a banner for runs a watch started."""
    banner = None
    origin = origin_of(run)
    if isinstance(origin, Release):
        banner = f":rocket: *Release alert* — new model `{origin.new}` (watch w{origin.watch})"
    elif isinstance(origin, Drift):
        banner = f":mag: Drift check (watch w{origin.watch})"
    return RunHeader(f"r{run.id}", run.suite, run.data_version, run.total, run.user_id, banner)


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters on one line, marking the cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

"""A watch's messages: added, listed, checked, and a watched model's retirement.

Globs, suites and providers are names people typed; model ids and shutdown dates come
from the provider's list, error texts from the provider: all shown through the Style.
"""

from __future__ import annotations

from bot.presenters.mrkdwn import Style, word
from commands.grammar import format_duration
from commands.reports import (
    ProviderFailure,
    RetirementNotice,
    StartedRun,
    WatchAdded,
    WatchCheck,
    WatchLine,
    WatchList,
)


def describe(s: Style, w: WatchLine) -> str:
    """One watch: `w3` `gpt-5*` on `default` every 1h → `qa` · last checked ..."""
    what = "production models (drift)" if w.drift else s.code(w.glob)
    state = f" · {s.bold('paused')}" if w.paused else ""
    checked = (
        f" · last checked {w.last_checked_at:%Y-%m-%d %H:%M} UTC"
        if w.last_checked_at
        else " · not checked yet"
    )
    suites = ", ".join(s.code(name) for name in w.suites)
    return (
        f"`w{w.id}` {what} on {s.code(w.provider)} every "
        f"{format_duration(w.every_s)} → {suites}{state}{checked}"
    )


def _failure(s: Style, f: ProviderFailure, limit: int) -> str:
    return f"{s.esc(f.kind)}: {s.code(f.message, limit)}"


def added(s: Style, r: WatchAdded) -> str:
    """Who added which watch, and what its first check found."""
    note = ""
    if r.failure is not None:
        note = (
            f" The first check failed ({_failure(s, r.failure, 120)}); it will "
            "be retried at the next tick."
        )
    elif r.matching is not None:
        note = (
            f" {r.matching} matching models are listed now; only models that appear "
            "later count as releases."
        )
    return f"{s.mention(r.user)} added a watch: {describe(s, r.watch)}.{note}"


def listed(s: Style, r: WatchList) -> str:
    """The watches of a channel (the caller says so when there are none)."""
    return f"{s.bold('Watches')}\n" + "\n".join(f"• {describe(s, w)}" for w in r.watches)


def _started(s: Style, run: StartedRun) -> str:
    if run.drift:
        return (
            f"drift rerun of production {s.code(run.model)} on {s.code(run.suite)} "
            f"as `r{run.run_id}`"
        )
    return f"new model {s.code(run.model)}: running {s.code(run.suite)} as `r{run.run_id}`"


def checked(s: Style, r: WatchCheck) -> str:
    """`/watch check`: per watch, every run it started (or why nothing was asked)."""
    lines = []
    for w in r.watches:
        if w.failure is not None:
            lines.append(
                f"• `w{w.watch_id}`: the provider failed ({_failure(s, w.failure, 100)}); "
                "the next tick retries."
            )
            continue
        none = "no production model to rerun" if w.drift else "no new model"
        runs = "; ".join(_started(s, run) for run in w.runs)
        lines.append(f"• `w{w.watch_id}` {s.code(w.glob)}: {runs or none}")
    return f"{s.bold('Checked')}\n" + "\n".join(lines)


def retirement(s: Style, r: RetirementNotice) -> str:
    """A watched model's shutdown date, the suites it serves and their best candidates."""
    head = ":alarm_clock: Reminder" if r.reminder else ":warning: Retirement"
    left = r.days_left
    when = f"{left} days left" if left >= 0 else f"{-left} days ago"
    lines = [
        f"{head}: {s.code(r.model)} shuts down on {word(s, r.shutdown)} ({when}) — seen by "
        f"watch w{r.watch_id}."
    ]
    if r.production_of:
        lines.append(
            "It is the production model of "
            + ", ".join(s.code(name) for name in r.production_of)
            + ". How the candidates compare:"
        )
        for suite, ranked in r.candidates:
            shown = "; ".join(
                f"{s.code(m.model)} {m.pass_rate * 100:.1f}% ({m.passed}/{m.graded}, r{m.run_id})"
                for m in ranked
            )
            lines.append(f"• {s.code(suite)}: {shown or 'no recent runs — `/eval run` candidates'}")
    return "\n".join(lines)

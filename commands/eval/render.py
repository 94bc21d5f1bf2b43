"""How a run reads in Slack: the progress message, the summary, the failing samples.

Pure functions from numbers to mrkdwn text, so the wording is unit-tested and the same
summary serves Slack and the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from commands.eval.stats import percentile, wilson_interval
from storage.runs import CriterionTally, ModelTally
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


@dataclass(frozen=True)
class RunHeader:
    run: str  # "r12"
    suite: str
    data_version: str
    total: int  # samples per model
    user: str | None = None
    banner: str | None = None  # why the run exists, when no person started it


def run_header(run: EvalRun) -> RunHeader:
    """The header of a stored run, with a banner for runs a watch started."""
    banner = None
    if run.origin in ("watch", "drift"):
        try:
            ref = json.loads(run.origin_ref or "{}")
        except ValueError:
            ref = {}
        watch = f"watch w{ref.get('watch')}" if isinstance(ref, dict) else "a watch"
        if run.origin == "watch" and isinstance(ref, dict):
            banner = f":rocket: *Release alert* — new model `{ref.get('new')}` ({watch})"
        else:
            banner = f":mag: Drift check ({watch})"
    return RunHeader(f"r{run.id}", run.suite, run.data_version, run.total, run.user_id, banner)


def header_line(h: RunHeader, state: str) -> str:
    who = f" · started by <@{h.user}>" if h.user else ""
    line = f"*Eval {h.run}* · `{h.suite}` · {h.total} samples · {state}{who}"
    return f"{h.banner}\n{line}" if h.banner else line


def progress_text(
    h: RunHeader, models: Sequence[str], counts: Mapping[str, ModelTally], elapsed_s: float
) -> str:
    """The message kept up to date while a run goes."""
    lines = [header_line(h, "running")]
    for model in models:
        t = counts.get(model, ModelTally())
        rate = f"{t.passed}/{t.graded} passed ({pct(t.pass_rate)})" if t.graded else "—"
        errored = f" · {t.errored} errored" if t.errored else ""
        lines.append(
            f"`{model}` {progress_bar(t.done, h.total)} {t.done}/{h.total} · {rate}{errored}"
        )
    lines.append(f"elapsed {duration(elapsed_s)}")
    return "\n".join(lines)


def model_summary(model: str, t: ModelTally, cost: float | None) -> str:
    """One model's line: the contract's `<passed>/<graded> passed`, interval, cost, latency."""
    if t.graded:
        lo, hi = wilson_interval(t.passed, t.graded)
        rate = f"{pct(t.pass_rate)} (95% CI {lo * 100:.1f}–{hi * 100:.1f}%)"
    else:
        rate = "no sample graded"
    errored = f" · {t.errored} errored (not counted)" if t.errored else " · 0 errored"
    lat = t.latencies_ms
    latency = (
        f"p50 {percentile(lat, 50) / 1000:.2f} s, p95 {percentile(lat, 95) / 1000:.2f} s"
        if lat
        else "n/a"
    )
    return (
        f"*{model}*: {t.passed}/{t.graded} passed — {rate}{errored}\n"
        f"      tokens {tokens(t.input_tokens)} in / {tokens(t.output_tokens)} out · "
        f"cost {money(cost)} · latency {latency}"
    )


def name_text(text: str) -> str:
    """A suite-given name as inert text inside backticks: no mrkdwn, no mentions."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return safe.replace("`", "'")


def criteria_line(criteria: Mapping[str, CriterionTally]) -> str | None:
    """Each criterion's own pass rate, when a suite has more than one."""
    if len(criteria) < 2:
        return None
    parts = [
        f"`{name_text(name)}` {t.passed}/{t.graded} ({pct(t.pass_rate)})"
        for name, t in criteria.items()
    ]
    return "      criteria: " + " · ".join(parts)


def summary_text(
    h: RunHeader,
    state: str,
    models: Sequence[str],
    counts: Mapping[str, ModelTally],
    costs: Mapping[str, float | None],
    elapsed_s: float | None,
    note: str | None = None,
    criteria: Mapping[str, Mapping[str, CriterionTally]] | None = None,
) -> str:
    """The final message of a run."""
    took = f" in {duration(elapsed_s)}" if elapsed_s is not None else ""
    lines = [header_line(h, f"{state}{took}"), f"data `{h.data_version[:19]}`"]
    if note:
        lines.append(note)
    for model in models:
        lines.append(model_summary(model, counts.get(model, ModelTally()), costs.get(model)))
        extra = criteria_line((criteria or {}).get(model, {}))
        if extra:
            lines.append(extra)
    if len(models) > 1:
        lines.append(ranking(models, counts, costs))
    return "\n".join(lines)


def ranking(
    models: Sequence[str], counts: Mapping[str, ModelTally], costs: Mapping[str, float | None]
) -> str:
    """A small table of the models by pass rate, for a multi-model run."""
    rows = sorted(models, key=lambda m: -(counts.get(m, ModelTally()).pass_rate or -1))
    width = max(len(m) for m in rows)
    out = ["```", f"{'model'.ljust(width)}  pass rate   passed  errored  cost"]
    for m in rows:
        t = counts.get(m, ModelTally())
        out.append(
            f"{m.ljust(width)}  {pct(t.pass_rate).rjust(9)}  {f'{t.passed}/{t.graded}'.rjust(7)}"
            f"  {str(t.errored).rjust(7)}  {money(costs.get(m))}"
        )
    out.append("```")
    return "\n".join(out)


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters on one line, marking the cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Failure:
    index: int
    model: str
    input: str
    expected: str | None
    got: str
    score: float | None
    error: str | None = None


def failures_text(run: str, failures: Sequence[Failure], total_failed: int) -> str:
    """Up to ten failing samples for the run's thread."""
    lines = [f"*Failing samples of {run}* ({len(failures)} of {total_failed} shown)"]
    for f in failures:
        score = f" · score {f.score:.2f}" if f.score is not None else ""
        lines.append(f"• `{f.model}` item #{f.index}{score}")
        lines.append(f"    input: {clip(f.input, 300)}")
        if f.expected is not None:
            lines.append(f"    expected: {clip(f.expected, 200)}")
        lines.append(f"    got: {clip(f.got, 300) or '(empty answer)'}")
    return "\n".join(lines)

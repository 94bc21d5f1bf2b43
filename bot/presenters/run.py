"""A run's messages: the progress kept up to date, the summary, the failing samples.

Functions from reports to text in one `Style` (Slack mrkdwn or plain terminal text), so
the wording is unit-tested once and both media say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.presenters import verdict
from bot.presenters.mrkdwn import Style
from commands.formats import duration, money, pct, progress_bar, tokens
from commands.reports import FailureList, RunHeader, RunProgress, RunSummary
from commands.stats import percentile, wilson_interval
from storage.admission import QueuePlace
from storage.runs import CriterionTally, ModelTally


def header_line(s: Style, h: RunHeader, state: str) -> str:
    who = f" · started by {s.mention(h.user)}" if h.user else ""
    line = f"{s.bold(f'Eval {h.run}')} · {s.code(h.suite)} · {h.total} samples · {state}{who}"
    watch = f"watch {h.watch}" if h.watch else "a watch"
    if h.release_of is not None:
        new = s.code(h.release_of)
        banner = f"{s.icon('rocket')}{s.bold('Release alert')} — new model {new} ({watch})"
        return f"{banner}\n{line}"
    if h.drift:
        return f"{s.icon('mag')}Drift check ({watch})\n{line}"
    return line


def progress(s: Style, p: RunProgress) -> str:
    """The message kept up to date while a run goes."""
    h = p.header
    if p.queued_behind is not None and p.queued is None:
        behind = ", ".join(p.queued_behind)
        state = f"queued behind {behind}" if behind else "queued"
        return f"{header_line(s, h, state)}\nwaiting for a free slot; nothing has been asked yet"
    lines = [header_line(s, h, "queued" if p.queued else "running")]
    for model in p.models:
        t = p.counts.get(model, ModelTally())
        rate = f"{t.passed}/{t.graded} passed ({pct(t.pass_rate)})" if t.graded else "—"
        errored = f" · {t.errored} errored" if t.errored else ""
        lines.append(
            f"{s.code(model)} {progress_bar(t.done, h.total)} {t.done}/{h.total} · {rate}{errored}"
        )
    lines.append(queued_line(s, p.queued) if p.queued else f"elapsed {duration(p.elapsed_s)}")
    return "\n".join(lines)


def _run_ids(runs: tuple[int, ...], shown: int = 6) -> str:
    ids = ", ".join(f"r{i}" for i in runs[:shown])
    return ids + (f" and {len(runs) - shown} more" if len(runs) > shown else "")


def queued_line(s: Style, q: QueuePlace) -> str:
    """What a queued run waits for: the runs ahead of it and those executing."""
    waits = []
    if q.ahead:
        n = len(q.ahead)
        waits.append(f"{n} queued run{'s' if n != 1 else ''} ({_run_ids(q.ahead)})")
    if q.running:
        waits.append(f"{len(q.running)} running ({_run_ids(q.running)})")
    behind = f" behind {' and '.join(waits)}" if waits else ""
    return (
        f"{s.icon('hourglass_flowing_sand')}{s.bold('Queued')}{behind}: at most {q.limit} runs at "
        "once (EVALBOT_MAX_ACTIVE_RUNS); it starts when one ends."
    )


def model_summary(s: Style, model: str, t: ModelTally, cost: float | None) -> str:
    """One model's line: the contract's `<passed>/<graded> passed`, interval, cost, latency.

    Zero counts and numbers that are not known are left out rather than shown as 0."""
    if t.graded:
        lo, hi = wilson_interval(t.passed, t.graded)
        rate = f"{pct(t.pass_rate)} (95% CI {lo * 100:.1f}–{hi * 100:.1f}%)"
    else:
        rate = "no sample graded"
    errored = f" · {t.errored} errored (not counted)" if t.errored else ""
    lat = t.latencies_ms
    latency = (
        f" · latency p50 {percentile(lat, 50) / 1000:.2f} s, p95 {percentile(lat, 95) / 1000:.2f} s"
        if lat
        else ""
    )
    return (
        f"{s.strong_name(model)}: {t.passed}/{t.graded} passed — {rate}{errored}\n"
        f"      tokens {tokens(t.input_tokens)} in / {tokens(t.output_tokens)} out · "
        f"cost {money(cost)}{latency}"
    )


def summary(s: Style, r: RunSummary) -> str:
    """The final message of a run."""
    took = f" in {duration(r.elapsed_s)}" if r.elapsed_s is not None else ""
    lines = []
    header = r.header
    if r.verdict is not None:
        # The verdict first; a release alert's banner becomes the verdict's prefix.
        lines.append(verdict.line(s, r.verdict))
        header = replace(header, release_of=None, drift=False) if r.verdict.prefix else header
    lines += [
        header_line(s, header, f"{r.state}{took}"),
        f"data {s.code(r.header.data_version[:19])}",
    ]
    if r.state == "failed":
        # The reason names the model in code (our words) around the provider's message:
        # shown escaped with emphasis made inert rather than all as code.
        lines.append(f"{s.icon('x')}{s.inert(r.error or 'no reason given')}")
    elif r.state == "cancelled":
        lines.append(
            s.icon("no_entry_sign") + "cancelled — the counts below are the samples done before."
        )
    for model, params in sorted(r.adjustments.items()):
        shown = ", ".join(s.code(p) for p in params)
        lines.append(
            f"{s.icon('information_source')}{s.code(model)} does not accept {shown}: it ran "
            "with the provider's default."
        )
    lines += cut_answers(s, r)
    for model in r.models:
        lines.append(model_summary(s, model, r.counts.get(model, ModelTally()), r.costs.get(model)))
        extra = criteria_line(s, r.criteria.get(model, {}))
        if extra:
            lines.append(extra)
    return "\n".join(lines)


def cut_answers(s: Style, r: RunSummary) -> list[str]:
    """A line per model whose answers hit the output-token cap: their grades judged
    part of an answer, which the reader should know before trusting the rate."""
    lines = []
    for model in r.models:
        cut = r.counts.get(model, ModelTally()).truncated
        if cut:
            answers = "answer was" if cut == 1 else "answers were"
            lines.append(
                f"{s.icon('scissors')}{s.code(model)}: {cut} {answers} cut at the output-token "
                "limit and graded as cut; raise `max_completion_tokens` under `sampling` in the "
                "suite if answers need more."
            )
    return lines


def criteria_line(s: Style, criteria: Mapping[str, CriterionTally]) -> str | None:
    """Each criterion's own pass rate, when a suite has more than one (`graders:`)."""
    if len(criteria) < 2:
        return None
    parts = [
        f"{s.code(name)} {t.passed}/{t.graded} ({pct(t.pass_rate)})" for name, t in criteria.items()
    ]
    return "      criteria: " + " · ".join(parts)


def failures(s: Style, r: FailureList) -> str:
    """Up to ten failing samples for the run's thread: what was asked, expected, answered.

    Items are numbered from 1, with their line in the data file; a score is shown only
    for graders that score, beside the threshold it missed."""
    shown = len(r.failures)
    more = ""
    if r.total_failed > shown:
        more = (
            f" ({shown} of {r.total_failed} shown; all of them in the attached file)"
            if r.file_attached
            else f" ({shown} of {r.total_failed} shown)"
        )
    lines = [f"{s.bold(f'Failing samples of {r.run}')}{more}"]
    for f in r.failures:
        score = ""
        if r.threshold is not None and f.score is not None:
            score = f" · score {f.score:.2f} (passes at {r.threshold:.2f})"
        where = f" (line {f.line})" if f.line is not None else ""
        lines.append(f"• {s.code(f.model)} item {f.index + 1}{where}{score}")
        lines.append(f"    input: {s.code(f.input, 300)}")
        if f.expected is not None:
            lines.append(f"    expected: {s.code(f.expected, 200)}")
        lines.append(f"    got: {s.code(f.got, 300, empty='(empty answer)')}")
    return "\n".join(lines)

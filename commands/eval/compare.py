"""The comparison report: each challenger against a baseline, paired by sample.

Serves a multi-model run's ending, `/eval compare`, the JSON API, and (later) release
alerts and fine-tune results. Only samples graded for both models are paired; errored
samples are left out of the pairing and counted apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from commands import chart_colours
from commands.eval.render import clip, money, pct
from commands.eval.stats import PairedDiff, paired_diff, percentile, wilson_interval
from commands.ports import ChartBar, ChartDiff, Posted, TagRate, Upload
from commands.services import Services
from storage import aliases as alias_store
from storage import runs as store
from storage.ids import parse_id
from storage.tables import EvalRun, SampleResult

Result = tuple[int, dict[str, Any]]
MAX_FLIPS = 10


@dataclass(frozen=True)
class Side:
    """One model's results in one run, keyed by item index."""

    label: str  # the key in the report: the model, or model@rN when names clash
    model: str
    run_id: int
    results: dict[int, SampleResult]

    def graded(self) -> dict[int, bool]:
        return {i: r.status == "passed" for i, r in self.results.items() if r.status != "errored"}

    @property
    def cost(self) -> float:
        return sum(r.cost_usd for r in self.results.values())

    def latency_ms(self, q: float) -> float | None:
        values = [r.latency_ms for r in self.results.values() if r.status != "errored"]
        return percentile(values, q) if values else None


@dataclass(frozen=True)
class Comparison:
    suite: str
    baseline: Side
    challengers: list[tuple[Side, PairedDiff]]

    def as_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "baseline": self.baseline.label,
            "challengers": {
                side.label: {
                    "diff_pp": round(d.diff_pp, 2),
                    "ci95_pp": [round(d.ci95_pp[0], 2), round(d.ci95_pp[1], 2)],
                    "p_value": round(d.p_value, 6),
                    "improved": d.improved,
                    "regressed": d.regressed,
                    "paired": d.paired,
                    "verdict": d.verdict,
                    "cost_diff_usd": round(side.cost - self.baseline.cost, 6),
                }
                for side, d in self.challengers
            },
        }


def compare_sides(suite: str, baseline: Side, challengers: Sequence[Side]) -> Comparison:
    """Pair every challenger with the baseline over the samples graded for both."""
    base = baseline.graded()
    out = []
    for side in challengers:
        other = side.graded()
        pairs = [(base[i], other[i]) for i in sorted(base.keys() & other.keys())]
        out.append((side, paired_diff(pairs)))
    return Comparison(suite, baseline, out)


async def _sides(services: Services, run: EvalRun, taken: set[str]) -> list[Side]:
    rows = await services.db.run(store.results, run_id=run.id or 0)
    by_model: dict[str, dict[int, SampleResult]] = {m: {} for m in run.models}
    for r in rows:
        by_model.setdefault(r.model, {})[r.item_index] = r
    sides = []
    for model in run.models:
        label = model if model not in taken else f"{model}@r{run.id}"
        taken.add(label)
        sides.append(Side(label, model, run.id or 0, by_model[model]))
    return sides


async def for_run(services: Services, run: EvalRun) -> Comparison:
    """The first model of a multi-model run against each of the others."""
    sides = await _sides(services, run, set())
    return compare_sides(run.suite, sides[0], sides[1:])


class CompareRefused(Exception):
    """Two runs that cannot be paired; the message says why."""


async def for_two_runs(
    services: Services, a: EvalRun, b: EvalRun, *, baseline: str | None = None
) -> Comparison:
    """Run a's first model (or `baseline`) against every model of run b, same data."""
    if a.suite != b.suite:
        raise CompareRefused(
            f"r{a.id} ran `{a.suite}` and r{b.id} ran `{b.suite}`: only runs of one suite "
            "can be compared."
        )
    if a.data_version != b.data_version:
        raise CompareRefused(
            f"r{a.id} and r{b.id} ran `{a.suite}` on different data versions "
            f"({a.data_version[:15]}… vs {b.data_version[:15]}…), so their samples do not "
            "pair. Rerun both models in one `/eval run` to compare them."
        )
    taken: set[str] = set()
    sides_a = await _sides(services, a, taken)
    side_a = next((s for s in sides_a if s.model == baseline), sides_a[0])
    sides_b = await _sides(services, b, taken)
    return compare_sides(a.suite, side_a, sides_b)


async def _load(services: Services, text: str) -> EvalRun | None:
    run_id = parse_id("run", text)
    if run_id is None:
        return None
    return await services.db.run(store.get_run, run_id=run_id)


async def run_comparison_json(services: Services, run_text: str) -> Result:
    run = await _load(services, run_text)
    if run is None:
        return 404, {"error": f"run {run_text[:40]!r} not found"}
    if len(run.models) < 2:
        return 404, {"error": f"r{run.id} ran one model; a comparison needs two or more"}
    return 200, (await for_run(services, run)).as_json()


async def two_runs_json(services: Services, a_text: str, b_text: str) -> Result:
    a, b = await _load(services, a_text), await _load(services, b_text)
    if a is None or b is None:
        missing = a_text if a is None else b_text
        return 404, {"error": f"run {missing[:40]!r} not found"}
    try:
        return 200, (await for_two_runs(services, a, b)).as_json()
    except CompareRefused as exc:
        return 409, {"error": str(exc)}


def _signed(value: float, unit: str = " pp", digits: int = 1) -> str:
    return f"{value:+.{digits}f}{unit}"


def report_text(c: Comparison, title: str) -> str:
    """The report in words: diff, interval, p-value, flips, cost and latency."""
    base = c.baseline
    graded = base.graded()
    base_rate = sum(graded.values()) / len(graded) if graded else None
    lines = [f"*{title}* · `{c.suite}` · baseline `{base.label}` ({pct(base_rate)})"]
    for side, d in c.challengers:
        verdict = {"better": "*better*", "worse": "*worse*"}.get(
            d.verdict, "no significant difference at this sample size"
        )
        excludes_zero = d.ci95_pp[0] > 0 or d.ci95_pp[1] < 0
        if excludes_zero and d.verdict == "no significant difference":
            # The score interval is an approximation; the exact test decides. Say so
            # rather than leave an interval that excludes 0 next to "no difference".
            verdict += " (borderline: the approximate interval excludes 0, the exact test "
            verdict += "does not; more samples would settle it)"
        latency = ""
        for q in (50, 95):
            lat_b, lat_c = base.latency_ms(q), side.latency_ms(q)
            if lat_b is not None and lat_c is not None:
                latency += f" · p{q} latency {_signed((lat_c - lat_b) / 1000, ' s', 2)}"
        lines.append(
            f"• `{side.label}`: {_signed(d.diff_pp)} (95% CI {_signed(d.ci95_pp[0])} to "
            f"{_signed(d.ci95_pp[1])}) · p = {d.p_value:.3g} (exact McNemar, {d.paired} "
            f"paired) · {d.improved} improved, {d.regressed} regressed → {verdict}"
            f" · cost {money(side.cost)} vs {money(base.cost)}{latency}"
        )
    return "\n".join(lines)


def flips_text(c: Comparison) -> str | None:
    """The samples that changed outcome between baseline and each challenger."""
    base = c.baseline.graded()
    lines = []
    for side, _ in c.challengers:
        other = side.graded()
        flips = [(i, other[i]) for i in sorted(base.keys() & other.keys()) if base[i] != other[i]]
        if not flips:
            continue
        lines.append(
            f"*Flipped samples, `{c.baseline.label}` → `{side.label}`* "
            f"({min(len(flips), MAX_FLIPS)} of {len(flips)} shown)"
        )
        for index, now_passes in flips[:MAX_FLIPS]:
            arrow = "fail → pass" if now_passes else "pass → fail"
            got = side.results[index].output or ""
            lines.append(f"• item #{index}: {arrow} · got: {clip(got, 160) or '(empty)'}")
    return "\n".join(lines) if lines else None


def chart_bars(c: Comparison) -> list[ChartBar]:
    bars = []
    for side in [c.baseline, *(s for s, _ in c.challengers)]:
        graded = side.graded()
        n, k = len(graded), sum(graded.values())
        lo, hi = wilson_interval(k, n)
        bars.append(ChartBar(side.label, k / n if n else 0.0, lo, hi, n, model=side.model))
    return bars


def chart_diffs(c: Comparison) -> list[ChartDiff]:
    """Each challenger's paired difference, for the chart's annotation."""
    return [
        ChartDiff(side.label, d.diff_pp, d.ci95_pp[0], d.ci95_pp[1], d.p_value, d.verdict, d.paired)
        for side, d in c.challengers
    ]


def tag_rates(services: Services, c: Comparison) -> list[TagRate]:
    """Pass rate per tag and model, when the suite's items carry `tags`."""
    suite = services.suites.get(c.suite)
    if suite is None or not suite.tags:
        return []
    rows = []
    for side in [c.baseline, *(s for s, _ in c.challengers)]:
        counts: dict[str, list[int]] = {}
        for index, passed in side.graded().items():
            if index >= len(suite.items):
                continue
            for tag in suite.items[index].get("tags") or []:
                bucket = counts.setdefault(str(tag), [0, 0])
                bucket[0] += int(passed)
                bucket[1] += 1
        for tag in suite.tags:
            if tag in counts and counts[tag][1]:
                k, n = counts[tag]
                rows.append(TagRate(tag, side.label, k / n, n))
    return rows


async def post_report(services: Services, c: Comparison, where: Posted, title: str) -> None:
    """Report, chart and flipped samples into the thread of `where`."""
    await services.chat.post(where.channel, report_text(c, title), thread_ts=where.ts)
    models = [c.baseline.model, *(side.model for side, _ in c.challengers)]
    colours = await services.db.run(chart_colours.suite_colours, suite=c.suite, also=models)
    png = await services.charts.comparison(
        f"{c.suite}: pass rate", chart_bars(c), chart_diffs(c), colours
    )
    await services.chat.upload(
        where.channel,
        Upload(
            "comparison.png",
            png,
            title=f"{title} — {c.suite}",
            alt_text="Pass rate per model with 95% confidence intervals",
        ),
        thread_ts=where.ts,
    )
    tags = tag_rates(services, c)
    if tags:
        png = await services.charts.tag_breakdown(f"{c.suite}: pass rate per tag", tags, colours)
        await services.chat.upload(
            where.channel,
            Upload(
                "tags.png", png, title=f"{title} — per tag", alt_text="Pass rate per tag and model"
            ),
            thread_ts=where.ts,
        )
    flips = flips_text(c)
    if flips:
        await services.chat.post(where.channel, flips, thread_ts=where.ts)


async def post_run_comparison(services: Services, run: EvalRun, where: Posted) -> None:
    """The comparison a multi-model run ends with; when the baseline is the suite's
    production model and a challenger is significantly better, a promotion proposal."""
    comparison = await for_run(services, run)
    await post_report(services, comparison, where, f"Comparison r{run.id}")
    await propose_if_better(services, comparison, where)


async def propose_if_better(
    services: Services, c: Comparison, where: Posted, *, over_production: bool = True
) -> None:
    """Propose the best significantly better challenger: over the production model, or
    (`over_production=False`, a fine-tune against its base) over the baseline."""
    from commands.promote import NoEvidence, approvers_for, propose

    production = await services.db.run(alias_store.get_alias, suite=c.suite)
    if over_production and (production is None or c.baseline.model != production):
        return
    better = [(d.diff_pp, side) for side, d in c.challengers if d.verdict == "better"]
    if not better or not approvers_for(services, c.suite):
        return
    _, best = max(better, key=lambda pair: pair[0])
    # A sampled run (limit=) or one on older data is no evidence: nothing is proposed.
    with contextlib.suppress(NoEvidence):
        await propose(
            services,
            suite=c.suite,
            model=best.model,
            proposer=None,
            channel=where.channel,
            thread_ts=where.ts,
        )

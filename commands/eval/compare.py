"""The comparison report: each challenger against a baseline, paired by sample.

Serves a multi-model run's ending, `/eval compare`, the JSON API, and (later) release
alerts and fine-tune results. Only samples graded for both models are paired; errored
samples are left out of the pairing and counted apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from commands import chart_colours
from commands.headline import Contender, pick_reference
from commands.ports import ChartBar, ChartDiff, Posted, TagRate, Upload
from commands.reports import Comparison, ComparisonReport, Side, Title, title_text
from commands.services import Ports
from commands.stats import paired_diff, wilson_interval
from commands.steps import Steps
from storage import runs as store
from storage.ids import parse_id
from storage.tables import EvalRun, SampleResult

__all__ = ["Comparison", "CompareRefused", "Side", "compare_sides", "for_run", "for_two_runs"]

Result = tuple[int, dict[str, Any]]


def compare_sides(suite: str, baseline: Side, challengers: Sequence[Side]) -> Comparison:
    """Pair every challenger with the baseline over the samples graded for both."""
    base = baseline.graded()
    out = []
    for side in challengers:
        other = side.graded()
        pairs = [(base[i], other[i]) for i in sorted(base.keys() & other.keys())]
        out.append((side, paired_diff(pairs)))
    return Comparison(suite, baseline, out)


async def _sides(services: Ports, run: EvalRun, taken: set[str]) -> list[Side]:
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


async def for_run(services: Ports, run: EvalRun) -> Comparison:
    """The first model of a multi-model run against each of the others (the contract's
    baseline, as GET /api/runs/<id>/comparison gives it)."""
    sides = await _sides(services, run, set())
    return compare_sides(run.suite, sides[0], sides[1:])


async def for_run_in_slack(
    services: Ports, run: EvalRun, production: str | None
) -> tuple[Comparison, bool]:
    """A multi-model run as Slack shows it: each model against production when it ran,
    else against the best model of the run (so the two best are compared, whoever was
    named first). Returns the comparison and whether its baseline is that best model."""
    sides = await _sides(services, run, set())
    contenders = [Contender(s.model, _rate(s)) for s in sides]
    picked = pick_reference(contenders, production)
    if picked is None or picked[2] == "production":
        base = next((s for s in sides if s.model == production), sides[0])
        best_is_baseline = False
    else:
        base = next(s for s in sides if s.model == picked[0].model)
        best_is_baseline = True
    others = [s for s in sides if s is not base]
    return compare_sides(run.suite, base, others), best_is_baseline


def _rate(side: Side) -> float | None:
    graded = side.graded()
    return sum(graded.values()) / len(graded) if graded else None


class CompareRefused(Exception):
    """Two runs that cannot be paired; the message says why."""


async def for_two_runs(
    services: Ports, a: EvalRun, b: EvalRun, *, baseline: str | None = None
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


async def _load(services: Ports, text: str) -> EvalRun | None:
    run_id = parse_id("run", text)
    if run_id is None:
        return None
    return await services.db.run(store.get_run, run_id=run_id)


async def run_comparison_json(services: Ports, run_text: str) -> Result:
    run = await _load(services, run_text)
    if run is None:
        return 404, {"error": f"run {run_text[:40]!r} not found"}
    if len(run.models) < 2:
        return 404, {"error": f"r{run.id} ran one model; a comparison needs two or more"}
    return 200, (await for_run(services, run)).as_json()


async def two_runs_json(services: Ports, a_text: str, b_text: str) -> Result:
    a, b = await _load(services, a_text), await _load(services, b_text)
    if a is None or b is None:
        missing = a_text if a is None else b_text
        return 404, {"error": f"run {missing[:40]!r} not found"}
    try:
        return 200, (await for_two_runs(services, a, b)).as_json()
    except CompareRefused as exc:
        return 409, {"error": str(exc)}


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


def tag_rates(services: Ports, c: Comparison) -> list[TagRate]:
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


async def post_report(
    services: Ports,
    c: Comparison,
    where: Posted,
    title: Title,
    steps: Steps | None = None,
    *,
    samples: bool = True,
) -> None:
    """Report, chart and flipped samples into the thread of `where`; `samples=False`
    leaves the flips out (asked from another channel than the runs', commands.scope).

    Each part is a step of its own (commands.steps): a chart Slack refuses does not keep
    the flips from being posted, and a part refused for now is retried with the run.
    """
    steps = steps or Steps(services, None, where)
    costs = {
        side.label: (side.cost if services.prices.price(side.model) is not None else None)
        for side in [c.baseline, *(s for s, _ in c.challengers)]
    }
    report = ComparisonReport(title, c, costs)

    async def comparison() -> None:
        await services.chat.post(
            where.channel, services.presenter.comparison(report), thread_ts=where.ts
        )

    await steps.run("comparison", comparison)
    plain_title = title_text(title)
    models = [c.baseline.model, *(side.model for side, _ in c.challengers)]
    colours = await services.db.run(chart_colours.suite_colours, suite=c.suite, also=models)

    async def chart() -> None:
        png = await services.charts.comparison(
            f"{c.suite}: pass rate", chart_bars(c), chart_diffs(c), colours
        )
        await services.chat.upload(
            where.channel,
            Upload(
                "comparison.png",
                png,
                title=f"{plain_title} — {c.suite}",
                alt_text="Pass rate per model with 95% confidence intervals",
            ),
            thread_ts=where.ts,
        )

    await steps.run("chart", chart)
    tags = tag_rates(services, c)

    async def tag_chart() -> None:
        png = await services.charts.tag_breakdown(f"{c.suite}: pass rate per tag", tags, colours)
        await services.chat.upload(
            where.channel,
            Upload(
                "tags.png",
                png,
                title=f"{plain_title} — per tag",
                alt_text="Pass rate per tag and model",
            ),
            thread_ts=where.ts,
        )

    if tags:
        await steps.run("tags", tag_chart)
    # The flipped samples are eval data: only in the runs' own channel (commands.scope).
    flips = services.presenter.flips(report) if samples else None

    if flips:
        text = flips
        await steps.run(
            "flips", lambda: services.chat.post(where.channel, text, thread_ts=where.ts)
        )

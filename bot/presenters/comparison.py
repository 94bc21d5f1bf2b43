"""A comparison's messages: the paired diff per challenger, and the samples that flipped."""

from __future__ import annotations

from bot.presenters.mrkdwn import Style
from commands.formats import money, pct
from commands.reports import ComparisonReport, criteria_diff

MAX_FLIPS = 10


def _signed(value: float, unit: str = " pp", digits: int = 1) -> str:
    return f"{value:+.{digits}f}{unit}"


def report(s: Style, r: ComparisonReport) -> str:
    """The report in words: diff, interval, p-value, flips, cost and latency."""
    c = r.comparison
    base = c.baseline
    graded = base.graded()
    base_rate = sum(graded.values()) / len(graded) if graded else None
    lines = [
        f"{s.bold(s.title(r.title))} · {s.code(c.suite)} · baseline {s.code(base.label)} "
        f"({pct(base_rate)})"
    ]
    for side, d in c.challengers:
        verdict = {"better": s.bold("better"), "worse": s.bold("worse")}.get(
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
            f"• {s.code(side.label)}: {_signed(d.diff_pp)} (95% CI {_signed(d.ci95_pp[0])} to "
            f"{_signed(d.ci95_pp[1])}) · p = {d.p_value:.3g} (exact McNemar, {d.paired} "
            f"paired) · {d.improved} improved, {d.regressed} regressed → {verdict}"
            f" · cost {money(side.cost)} vs {money(base.cost)}{latency}"
        )
        per_criterion = criteria_diff(side, base)
        if len(per_criterion) > 1:
            lines.append(
                "    criteria: "
                + " · ".join(
                    f"{s.code(name)} {pct(v['pass_rate'])} vs {pct(v['baseline_pass_rate'])}"
                    for name, v in per_criterion.items()
                )
            )
    return "\n".join(lines)


def flips(s: Style, r: ComparisonReport) -> str | None:
    """The samples that changed outcome between baseline and each challenger."""
    c = r.comparison
    base = c.baseline.graded()
    lines = []
    for side, _ in c.challengers:
        other = side.graded()
        flipped = [(i, other[i]) for i in sorted(base.keys() & other.keys()) if base[i] != other[i]]
        if not flipped:
            continue
        head = f"Flipped samples, {s.code(c.baseline.label)} → {s.code(side.label)}"
        lines.append(f"{s.bold(head)} ({min(len(flipped), MAX_FLIPS)} of {len(flipped)} shown)")
        for index, now_passes in flipped[:MAX_FLIPS]:
            arrow = "fail → pass" if now_passes else "pass → fail"
            got = side.results[index].output or ""
            lines.append(f"• item #{index}: {arrow} · got: {s.code(got, 160)}")
    return "\n".join(lines) if lines else None

"""The one line a report opens with: who won, against what, how sure, and what follows.

"gpt-5.1-mini 100% vs production gpt-5-mini 91.7%: +8.3 pp, p=0.25, not significant at
this size -> no proposal (about 120 samples would show a 5-point gap)". A rule without
I/O: it takes the numbers of a paired comparison and returns a `Verdict` report that the
presenters word; the details (intervals, flips, costs) stay in the thread.

Which pair leads a run of several models: the best model against the suite's production
model when production ran, else against the best of the others (the runner-up). The JSON
API keeps the contract's baseline (the first model named); only Slack's lead line picks
the pair a person acts on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from commands.reports import Comparison, Side, Title, Verdict

# The gap a team usually cares about, and the power and level of the sample-size hint.
GAP = 0.05
_Z_ALPHA = 1.959964  # two-sided 5%
_Z_BETA = 0.841621  # 80% power

Reference = Literal["production", "next best", "base", "baseline"]


@dataclass(frozen=True)
class Contender:
    """One model's pass rate in a comparison (None: nothing graded)."""

    model: str
    rate: float | None


@dataclass(frozen=True)
class PairedNumbers:
    """A challenger against a reference over the samples graded for both."""

    diff_pp: float
    p_value: float
    verdict: str  # better, worse, no significant difference
    paired: int
    discordant: int  # samples that flipped, either way


def samples_for_gap(paired: int, discordant: int, gap: float = GAP) -> int | None:
    """Paired samples that would show a `gap` (a fraction) at 5% with 80% power.

    Connor's (1987) sample size for McNemar's test, using the discordance this comparison
    observed: n = (z_a*sqrt(d) + z_b*sqrt(d - gap^2))^2 / gap^2, d the share of samples
    that flipped. A 5-point gap needs at least 5% of the samples to flip, so d is never
    taken below `gap` (fewer flips seen so far say little about how many there are).
    """
    if paired <= 0 or gap <= 0:
        return None
    d = max(discordant / paired, gap)
    n = (_Z_ALPHA * math.sqrt(d) + _Z_BETA * math.sqrt(max(0.0, d - gap * gap))) ** 2 / gap**2
    return math.ceil(n)


def pick_reference(
    contenders: Sequence[Contender], production: str | None
) -> tuple[Contender, Contender, Reference] | None:
    """(challenger, reference, kind) for a run of two or more models.

    Production ran: the best other model against it. Else the best model against the best
    of the others (the runner-up), so the two best are always the pair compared.
    """
    if len(contenders) < 2:
        return None
    ranked = sorted(contenders, key=lambda c: -1.0 if c.rate is None else c.rate, reverse=True)
    prod = next((c for c in contenders if c.model == production), None)
    if prod is not None:
        best_other = next(c for c in ranked if c.model != prod.model)
        return best_other, prod, "production"
    return ranked[0], ranked[1], "next best"


def next_step(
    numbers: PairedNumbers,
    *,
    proposal: int | None,
    reference_kind: Reference,
    has_approvers: bool,
) -> str:
    """What follows the comparison, said plainly (no markup: the presenter escapes it)."""
    if proposal is not None:
        return f"proposal p{proposal}"
    if numbers.verdict == "better":
        if reference_kind == "next best":
            return "no production model to replace: /promote proposes one"
        if not has_approvers:
            return "no proposal (nobody may approve: set EVALBOT_APPROVERS or suite owners)"
        return "no proposal"
    if numbers.verdict == "worse":
        return "keep " + ("production" if reference_kind == "production" else "the reference")
    return "no proposal"


def compare_step(verdict: str, suite: str, leader: str) -> str:
    """What follows `/eval compare`: nothing is proposed by a comparison on request."""
    if verdict == "better":
        return f"/promote {suite} {leader} would propose it"
    if verdict == "worse":
        return "the earlier run's model stays ahead"
    return "no clear winner"


def lead_of(
    c: Comparison, *, best_is_baseline: bool
) -> tuple[Contender, Contender, PairedNumbers] | None:
    """(leader, reference, numbers) of a comparison.

    The baseline is the reference (production, a base model, an earlier run): the best
    challenger leads against it. When the baseline was chosen as the best model of the run
    (`best_is_baseline`), it leads against the runner-up, and the numbers are turned round
    so they read from the leader's side.
    """
    if not c.challengers:
        return None
    base = Contender(c.baseline.label, _rate(c.baseline))
    if best_is_baseline:
        side, d = min(c.challengers, key=lambda pair: abs(pair[1].diff_pp))
        numbers = PairedNumbers(
            -d.diff_pp,
            d.p_value,
            {"better": "worse", "worse": "better"}.get(d.verdict, d.verdict),
            d.paired,
            d.improved + d.regressed,
        )
        return base, Contender(side.label, _rate(side)), numbers
    side, d = max(c.challengers, key=lambda pair: pair[1].diff_pp)
    numbers = PairedNumbers(d.diff_pp, d.p_value, d.verdict, d.paired, d.improved + d.regressed)
    return Contender(side.label, _rate(side)), base, numbers


def _rate(side: Side) -> float | None:
    graded = side.graded()
    return sum(graded.values()) / len(graded) if graded else None


def verdict_line(
    leader: Contender,
    reference: Contender,
    numbers: PairedNumbers,
    *,
    reference_is: str,
    follow: str,
    prefix: Title = (),
) -> Verdict:
    """The lead line's report; a sample-size hint only when nothing was shown."""
    hint = (
        samples_for_gap(numbers.paired, numbers.discordant)
        if numbers.verdict == "no significant difference"
        else None
    )
    return Verdict(
        challenger=leader.model,
        challenger_rate=leader.rate,
        reference=reference.model,
        reference_rate=reference.rate,
        reference_is=reference_is,
        diff_pp=numbers.diff_pp,
        p_value=numbers.p_value,
        verdict=numbers.verdict,
        follow=follow,
        samples_for_gap=hint,
        prefix=prefix,
    )


def p_text(p: float) -> str:
    """p as a person reads it: two significant digits, tiny values bounded."""
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"

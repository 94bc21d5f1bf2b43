"""Statistics for eval results: pass-rate intervals and paired comparisons.

Pure Python (``math`` only) so that the bot needs no numeric stack at run time.

* A pass rate's 95% interval is the Wilson score interval.
* Two models graded on the same samples are compared pairwise: the difference in pass
  rate gets Newcombe's hybrid score interval for paired data (Newcombe 1998, method 10:
  Wilson intervals for each rate, combined by "square and add" with a correction for
  the correlation between the two rates), and the significance test is the exact
  McNemar test on the discordant pairs. The verdict follows the test only; the interval
  describes the size of the difference. The two usually agree; near the threshold they
  may not, since one is exact and the other is a score approximation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALPHA",
    "Z95",
    "PairedDiff",
    "Verdict",
    "mcnemar_exact_p",
    "paired_diff",
    "percentile",
    "wilson_interval",
]

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
ALPHA = 0.05

Verdict = Literal["better", "worse", "no significant difference"]

# Above this many discordant pairs the exact sum is done in log space (same result to
# ~1e-12); below it, in exact integers.
_EXACT_LIMIT = 20_000


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``successes / n``, as fractions.

    ``n == 0`` gives ``(0.0, 1.0)``: nothing is known. The default ``z`` gives a 95%
    interval.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 and n the bound is exact in theory; keep rounding from nudging it past.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` improved and ``c`` regressed pairs.

    The exact binomial test of the discordant pairs against 1/2:
    ``min(1, 2 * P[X <= min(b, c)])`` with ``X ~ Binomial(b + c, 1/2)``; 1.0 when there
    are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k_max = min(b, c)
    if n <= _EXACT_LIMIT:
        total = 0
        term = 1  # C(n, 0)
        for k in range(k_max + 1):
            total += term
            term = term * (n - k) // (k + 1)
        tail = total / (1 << n)  # int / int is correctly rounded, even for huge ints
    else:
        log_terms = [_log_comb(n, k) for k in range(k_max + 1)]
        tail = math.exp(_log_sum_exp(log_terms) - n * math.log(2))
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedDiff:
    """A challenger against a baseline on the samples graded for both."""

    diff_pp: float  # challenger pass rate minus baseline's, in percentage points
    ci95_pp: tuple[float, float]  # Newcombe hybrid score interval, percentage points
    p_value: float  # exact McNemar
    improved: int  # failed for the baseline, passed for the challenger
    regressed: int  # passed for the baseline, failed for the challenger
    paired: int  # samples graded for both
    verdict: Verdict
    baseline_pass_rate: float  # fractions over the paired samples
    challenger_pass_rate: float


def paired_diff(pairs: Iterable[tuple[bool, bool]], *, alpha: float = ALPHA) -> PairedDiff:
    """Compare two models on the same samples.

    ``pairs`` holds ``(baseline_passed, challenger_passed)`` for each sample graded for
    both. The verdict is "better" or "worse" when the exact McNemar p-value is below
    ``alpha``, else "no significant difference". With no pairs the difference is 0 and
    its interval is the whole range, -100 to 100 points.
    """
    both = improved = regressed = neither = 0
    for baseline_passed, challenger_passed in pairs:
        if baseline_passed and challenger_passed:
            both += 1
        elif challenger_passed:
            improved += 1
        elif baseline_passed:
            regressed += 1
        else:
            neither += 1
    n = both + improved + regressed + neither
    p_value = mcnemar_exact_p(improved, regressed)
    verdict: Verdict = "no significant difference"
    if p_value < alpha:
        verdict = "better" if improved > regressed else "worse"
    if n == 0:
        return PairedDiff(0.0, (-100.0, 100.0), p_value, 0, 0, 0, verdict, 0.0, 0.0)
    low, high = _newcombe_paired_interval(both, improved, regressed, neither)
    return PairedDiff(
        diff_pp=100.0 * (improved - regressed) / n,
        ci95_pp=(100.0 * low, 100.0 * high),
        p_value=p_value,
        improved=improved,
        regressed=regressed,
        paired=n,
        verdict=verdict,
        baseline_pass_rate=(both + regressed) / n,
        challenger_pass_rate=(both + improved) / n,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default.

    Raises ValueError for no values or ``q`` outside [0, 100].
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    fraction = rank - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def _newcombe_paired_interval(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Newcombe (1998) method 10 for p1 - p2, with p1 = (a+b)/n and p2 = (a+c)/n.

    ``a``: both passed, ``b``: only the first passed, ``c``: only the second, ``d``:
    neither. The correlation estimate phi is Newcombe's: zero when a margin is empty,
    reduced by n/2 towards zero when positive (and zero if that crosses zero), and
    used as is when negative. Checked against Fagerland, Lydersen & Laake (2017),
    Chapter 8: (59, 6, 16, 80) gives -0.0621 (-0.1186 to -0.0046).
    """
    n = a + b + c + d
    p1 = (a + b) / n
    p2 = (a + c) / n
    l1, u1 = wilson_interval(a + b, n)
    l2, u2 = wilson_interval(a + c, n)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins > 0:
        cross = a * d - b * c
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    estimate = p1 - p2
    lower_sq = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    upper_sq = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    low = estimate - math.sqrt(max(0.0, lower_sq))
    high = estimate + math.sqrt(max(0.0, upper_sq))
    return (max(-1.0, low), min(1.0, high))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_sum_exp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values))

"""Statistics: hand-worked values, published values and scipy as the references."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest, norm

from commands.eval.stats import (
    PairedDiff,
    mcnemar_exact_p,
    paired_diff,
    percentile,
    wilson_interval,
)


def pairs_from(both: int, improved: int, regressed: int, neither: int) -> list[tuple[bool, bool]]:
    """(baseline_passed, challenger_passed) pairs for a 2x2 table of counts."""
    return (
        [(True, True)] * both
        + [(False, True)] * improved
        + [(True, False)] * regressed
        + [(False, False)] * neither
    )


# --- Wilson -------------------------------------------------------------------------


def test_wilson_known_value() -> None:
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3968, abs=5e-5)
    assert high == pytest.approx(0.8922, abs=5e-5)


def test_wilson_by_hand() -> None:
    # 0 of 10: lower bound 0, upper z^2 / (n + z^2)
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    # 50 of 100 is symmetric around one half
    low, high = wilson_interval(50, 100)
    assert low + high == pytest.approx(1.0)
    assert low == pytest.approx(0.4038, abs=5e-5)


def test_wilson_empty_and_invalid() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for successes, n in [(-1, 5), (6, 5), (0, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


def test_wilson_other_confidence_level() -> None:
    narrow = wilson_interval(30, 100, z=float(norm.ppf(0.95)))
    wide = wilson_interval(30, 100)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


@given(st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_within_unit_range(case: tuple[int, int]) -> None:
    successes, n = case
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low <= successes / n <= high


# --- exact McNemar ---------------------------------------------------------------------


def test_mcnemar_by_hand() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(5, 5) == 1.0
    assert mcnemar_exact_p(0, 5) == 2 / 32  # 2 * C(5,0) / 2^5
    assert mcnemar_exact_p(9, 3) == pytest.approx(2 * (1 + 12 + 66 + 220) / 4096)
    assert mcnemar_exact_p(3, 9) == mcnemar_exact_p(9, 3)


@pytest.mark.parametrize(
    ("b", "c"),
    [(1, 0), (6, 16), (9, 3), (10, 0), (25, 40), (100, 130), (1200, 1300), (2500, 2300)],
)
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_mcnemar_large_counts_use_log_space_accurately() -> None:
    expected = binomtest(15_000, 30_500, 0.5).pvalue
    assert mcnemar_exact_p(15_000, 15_500) == pytest.approx(expected, rel=1e-8)
    assert mcnemar_exact_p(0, 5000) == 0.0  # underflows cleanly, no error
    assert mcnemar_exact_p(30_000, 30_000) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact_p(-1, 3)


# --- paired difference -------------------------------------------------------------------


def test_newcombe_matches_published_example() -> None:
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables,
    # ch. 8, Cavo et al. (2012): table (59, 6, 16, 80) gives -0.0621 (-0.1186 to -0.0046)
    # for the first rate minus the second. Here the first is the challenger.
    result = paired_diff(pairs_from(both=59, improved=6, regressed=16, neither=80))
    assert result.diff_pp == pytest.approx(-6.21, abs=0.005)
    assert result.ci95_pp[0] == pytest.approx(-11.86, abs=0.005)
    assert result.ci95_pp[1] == pytest.approx(-0.46, abs=0.005)
    # The exact test is not significant although the score interval excludes 0: the
    # verdict follows the test.
    assert result.p_value == pytest.approx(binomtest(6, 22).pvalue)
    assert result.verdict == "no significant difference"


def test_newcombe_is_antisymmetric() -> None:
    forward = paired_diff(pairs_from(40, 12, 3, 45))
    backward = paired_diff(pairs_from(40, 3, 12, 45))
    assert backward.diff_pp == pytest.approx(-forward.diff_pp)
    assert backward.ci95_pp[0] == pytest.approx(-forward.ci95_pp[1])
    assert backward.ci95_pp[1] == pytest.approx(-forward.ci95_pp[0])


def test_paired_diff_fields() -> None:
    result = paired_diff(pairs_from(both=50, improved=9, regressed=3, neither=38))
    assert isinstance(result, PairedDiff)
    assert (result.improved, result.regressed, result.paired) == (9, 3, 100)
    assert result.diff_pp == pytest.approx(6.0)
    assert result.baseline_pass_rate == pytest.approx(0.53)
    assert result.challenger_pass_rate == pytest.approx(0.59)
    assert result.p_value == pytest.approx(mcnemar_exact_p(9, 3))
    assert result.ci95_pp[0] < 6.0 < result.ci95_pp[1]


def test_verdicts() -> None:
    assert paired_diff(pairs_from(50, 20, 3, 27)).verdict == "better"
    assert paired_diff(pairs_from(50, 3, 20, 27)).verdict == "worse"
    assert paired_diff(pairs_from(50, 5, 3, 42)).verdict == "no significant difference"
    # alpha is a strict threshold: p = 2/64 = 0.03125 is "better" at 0.05, not at 0.03
    assert paired_diff(pairs_from(0, 6, 0, 0)).verdict == "better"
    assert paired_diff(pairs_from(0, 6, 0, 0), alpha=0.03).verdict == "no significant difference"


def test_no_pairs() -> None:
    result = paired_diff([])
    assert (result.diff_pp, result.ci95_pp, result.p_value) == (0.0, (-100.0, 100.0), 1.0)
    assert (result.paired, result.verdict) == (0, "no significant difference")


def test_no_discordant_pairs() -> None:
    result = paired_diff(pairs_from(60, 0, 0, 40))
    assert (result.diff_pp, result.p_value, result.verdict) == (
        0.0,
        1.0,
        "no significant difference",
    )
    low, high = result.ci95_pp
    assert low < 0 < high
    assert low == pytest.approx(-high)


def test_all_pass_and_all_fail() -> None:
    for table in [(100, 0, 0, 0), (0, 0, 0, 100)]:
        result = paired_diff(pairs_from(*table))
        low, high = result.ci95_pp
        assert result.diff_pp == 0.0
        assert -5 < low < 0 < high < 5  # about the Wilson half-width at 0/100
        assert result.verdict == "no significant difference"


def test_one_model_always_passes() -> None:
    result = paired_diff(pairs_from(70, 30, 0, 0))
    assert result.diff_pp == pytest.approx(30.0)
    assert result.ci95_pp[1] <= 100.0
    assert result.verdict == "better"


def test_accepts_an_iterator() -> None:
    assert paired_diff(iter(pairs_from(1, 1, 1, 1))).paired == 4


@given(st.tuples(*[st.integers(0, 60)] * 4))
def test_interval_is_ordered_bounded_and_contains_the_estimate(
    table: tuple[int, int, int, int],
) -> None:
    result = paired_diff(pairs_from(*table))
    low, high = result.ci95_pp
    assert -100.0 <= low <= result.diff_pp <= high <= 100.0
    assert 0.0 <= result.p_value <= 1.0


def test_interval_coverage_by_simulation() -> None:
    # Method 10's coverage is close to nominal (Newcombe 1998 reports a mean of about
    # 0.95); check that the true difference lies inside for about 95% of samples.
    rng = random.Random(20260101)
    cells = (0.55, 0.12, 0.05, 0.28)  # both, improved, regressed, neither
    true_diff_pp = 100 * (cells[1] - cells[2])
    trials, covered = 1500, 0
    for _ in range(trials):
        counts = [0, 0, 0, 0]
        for _ in range(80):
            u = rng.random()
            counts[0 if u < 0.55 else 1 if u < 0.67 else 2 if u < 0.72 else 3] += 1
        low, high = paired_diff(pairs_from(*counts)).ci95_pp
        covered += low <= true_diff_pp <= high
    assert 0.93 <= covered / trials <= 0.975


# --- percentile ---------------------------------------------------------------------------


def test_percentile_matches_numpy_linear() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 95) == pytest.approx(8.8)  # numpy.percentile(values, 95)
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.5], 95) == 7.5


def test_percentile_against_numpy_on_random_data() -> None:
    numpy = pytest.importorskip("numpy")
    rng = random.Random(3)
    values = [rng.expovariate(1.0) for _ in range(257)]
    for q in (0, 1, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_errors() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    assert not math.isnan(percentile([0.0, 0.0], 50))

"""The lead line's rules: which pair, what follows, how many samples a 5-point gap needs."""

from __future__ import annotations

import pytest

from commands.headline import (
    Contender,
    PairedNumbers,
    next_step,
    p_text,
    pick_reference,
    samples_for_gap,
    verdict_line,
)


def test_production_is_the_reference_when_it_ran() -> None:
    picked = pick_reference(
        [Contender("a", 0.5), Contender("prod", 0.7), Contender("c", 0.9)], "prod"
    )
    assert picked is not None
    challenger, reference, kind = picked
    assert (challenger.model, reference.model, kind) == ("c", "prod", "production")


def test_without_production_the_two_best_are_compared() -> None:
    # The worst model named first must not be everyone's baseline.
    picked = pick_reference(
        [Contender("worst", 0.1), Contender("best", 0.9), Contender("second", 0.8)], None
    )
    assert picked is not None
    challenger, reference, kind = picked
    assert (challenger.model, reference.model, kind) == ("best", "second", "next best")


def test_sample_size_uses_the_observed_discordance() -> None:
    # Connor (1987): d = 0.2, gap 0.05 -> (1.96*sqrt(.2) + .8416*sqrt(.1975))^2 / .0025
    assert samples_for_gap(100, 20) == 626
    # More flips need more samples; fewer flips than the gap are floored at the gap.
    assert samples_for_gap(100, 40) > samples_for_gap(100, 20)  # type: ignore[operator]
    assert samples_for_gap(100, 0) == samples_for_gap(100, 5) == 155
    assert samples_for_gap(0, 0) is None


@pytest.mark.parametrize(
    ("verdict", "kind", "proposal", "approvers", "expected"),
    [
        ("better", "production", 3, True, "proposal p3"),
        ("better", "production", None, False, "no proposal (nobody may approve"),
        ("better", "next best", None, True, "no production model to replace"),
        ("worse", "production", None, True, "keep production"),
        ("no significant difference", "production", None, True, "no proposal"),
    ],
)
def test_what_follows(
    verdict: str, kind: str, proposal: int | None, approvers: bool, expected: str
) -> None:
    numbers = PairedNumbers(8.3, 0.25, verdict, 12, 1)
    said = next_step(numbers, proposal=proposal, reference_kind=kind, has_approvers=approvers)  # type: ignore[arg-type]
    assert said.startswith(expected)


def test_the_hint_only_when_nothing_was_shown() -> None:
    a, b = Contender("a", 1.0), Contender("b", 0.917)
    unsure = verdict_line(
        a,
        b,
        PairedNumbers(8.3, 0.25, "no significant difference", 12, 1),
        reference_is="production",
        follow="no proposal",
    )
    assert unsure.samples_for_gap == samples_for_gap(12, 1)
    sure = verdict_line(
        a,
        b,
        PairedNumbers(30.0, 0.001, "better", 100, 30),
        reference_is="production",
        follow="proposal p1",
    )
    assert sure.samples_for_gap is None
    assert p_text(0.25) == "p=0.25" and p_text(0.0001) == "p<0.001"

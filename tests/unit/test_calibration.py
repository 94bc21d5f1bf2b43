"""Does the verdict behave? False alarms between equal models, power for a real gap.

Each simulated comparison grades two models on the same 300 samples. Their outcomes are
correlated, as real models' are (easy samples are easy for both): with probability
``shared`` the challenger's result on a sample is the baseline's uniform draw, else a
fresh one, so each model keeps its own marginal pass rate.
"""

from __future__ import annotations

import random

from commands.eval.stats import paired_diff

SAMPLES = 300
SIMULATIONS = 1000


def simulate(
    rng: random.Random, baseline_rate: float, challenger_rate: float, shared: float
) -> list[tuple[bool, bool]]:
    pairs: list[tuple[bool, bool]] = []
    for _ in range(SAMPLES):
        u = rng.random()
        v = u if rng.random() < shared else rng.random()
        pairs.append((u < baseline_rate, v < challenger_rate))
    return pairs


def test_equal_models_are_rarely_called_different() -> None:
    rng = random.Random(7)
    verdicts = [
        paired_diff(simulate(rng, 0.7, 0.7, shared=0.6)).verdict for _ in range(SIMULATIONS)
    ]
    false_alarms = sum(v != "no significant difference" for v in verdicts)
    # The exact test holds its 5% level (it is a little conservative).
    assert false_alarms / SIMULATIONS <= 0.06
    # ...and both directions are about equally likely.
    assert abs(verdicts.count("better") - verdicts.count("worse")) <= 25


def test_a_fifteen_point_gain_is_found() -> None:
    rng = random.Random(11)
    verdicts = [
        paired_diff(simulate(rng, 0.6, 0.75, shared=0.5)).verdict for _ in range(SIMULATIONS)
    ]
    assert verdicts.count("better") / SIMULATIONS >= 0.95
    assert verdicts.count("worse") == 0


def test_a_fifteen_point_loss_is_found() -> None:
    rng = random.Random(13)
    verdicts = [paired_diff(simulate(rng, 0.75, 0.6, shared=0.5)).verdict for _ in range(300)]
    assert verdicts.count("worse") / 300 >= 0.95

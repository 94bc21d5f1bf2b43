"""Cost estimates before a run (commands/eval/estimate.py) on the example suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.eval.estimate import ASSUMED_OUTPUT_TOKENS, Estimate, from_prices, prompt_tokens
from commands.eval.runner import build_messages
from commands.prices import PriceTable
from commands.suites.suite import load_suite

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_prompt_tokens_are_about_a_quarter_of_the_rendered_characters() -> None:
    suite = load_suite(EXAMPLES / "ticket-routing")
    chars = sum(len(m["content"]) for item in suite.items[:10] for m in build_messages(suite, item))
    assert prompt_tokens(suite, 10) == chars // 4 + 40
    assert prompt_tokens(suite, 20) > prompt_tokens(suite, 10)
    assert prompt_tokens(suite, 10_000) == prompt_tokens(suite, len(suite.items))


def test_the_price_table_prices_prompts_and_the_output_the_suite_allows() -> None:
    suite = load_suite(EXAMPLES / "ticket-routing")
    prices = PriceTable()
    price = prices.price("gpt-4.1-mini")
    assert price is not None
    limit = suite.sampling.get("max_completion_tokens", ASSUMED_OUTPUT_TOKENS)
    expected = price.cost(prompt_tokens(suite, 12), 0, limit * 12)
    assert from_prices(prices, suite, "gpt-4.1-mini", 12) == pytest.approx(expected)
    assert from_prices(prices, suite, "local:llama-3.1-8b", 12) is None  # no price: unknown


def test_an_estimate_adds_up_the_models_it_can_price() -> None:
    guess = Estimate({"a": 0.30, "b": 0.10, "local:x": None}, samples=20)
    assert guess.total == pytest.approx(0.40)
    assert guess.per_sample() == pytest.approx(0.02)
    assert Estimate({}, samples=0).per_sample() == 0.0

"""What a run will cost, before it starts: for the EVALBOT_MAX_RUN_USD cap.

Per model, the mean cost of a sample in earlier runs of the suite when there are some,
else the suite's rendered prompts at about four characters a token, and as many output
tokens as the suite's sampling allows (or `ASSUMED_OUTPUT_TOKENS`), at the price table's
rates. A model without a price (a local model) is not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from commands.prices import PriceTable
from commands.services import Ports
from commands.suites.suite import Suite
from commands.suites.templates import TemplateError
from storage import runs as store

ASSUMED_OUTPUT_TOKENS = 256
_OUTPUT_KEYS = ("max_completion_tokens", "max_output_tokens", "max_tokens")


@dataclass(frozen=True)
class Estimate:
    per_model: dict[str, float | None]  # USD for the whole run; None: no price known
    samples: int

    @property
    def total(self) -> float:
        return sum(v for v in self.per_model.values() if v is not None)

    def per_sample(self) -> float:
        return self.total / self.samples if self.samples else 0.0


def prompt_tokens(suite: Suite, samples: int) -> int:
    """Input tokens of the first `samples` items, at about four characters a token."""
    chars, items = 0, suite.items[:samples]
    for item in items:
        try:
            chars += sum(len(str(m["content"])) for m in suite.messages(item))
        except TemplateError:
            continue
    return chars // 4 + 4 * len(items)  # plus a few tokens of message framing each


def from_prices(prices: PriceTable, suite: Suite, model: str, samples: int) -> float | None:
    out = next((suite.sampling[k] for k in _OUTPUT_KEYS if k in suite.sampling), None)
    output = int(out) if isinstance(out, int) and out > 0 else ASSUMED_OUTPUT_TOKENS
    return prices.cost(model, prompt_tokens(suite, samples), 0, output * samples)


async def estimate(services: Ports, suite: Suite, models: Sequence[str], samples: int) -> Estimate:
    per_model: dict[str, float | None] = {}
    for model in models:
        seen = await services.db.run(store.cost_per_sample, suite=suite.name, model=model)
        if seen is not None:
            per_model[model] = seen * samples
        else:  # rendering every prompt is CPU work: off the event loop
            per_model[model] = await asyncio.to_thread(
                from_prices, services.prices, suite, model, samples
            )
    return Estimate(per_model, samples)

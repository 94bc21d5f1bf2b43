"""What a run costs: a price table per model (USD per million tokens).

The built-in table holds public list prices; a deployment overrides or extends it with
EVALBOT_PRICES_FILE (YAML or JSON: `{model: {input: x, cached_input: y, output: z}}`).
Dated snapshots (`gpt-4.1-mini-2025-04-14`) and fine-tuned ids (`ft:gpt-4.1-mini:...`)
are priced as their family; an unknown model has no cost rather than a wrong one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Price:
    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        uncached = max(0, input_tokens - cached_input_tokens)
        return (
            uncached * self.input
            + cached_input_tokens * self.cached_input
            + output_tokens * self.output
        ) / 1_000_000


BUILTIN: dict[str, Price] = {
    "gpt-5": Price(1.25, 0.125, 10.00),
    "gpt-5-mini": Price(0.25, 0.025, 2.00),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "gpt-4.1": Price(2.00, 0.50, 8.00),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-4o": Price(2.50, 1.25, 10.00),
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
    "o3": Price(2.00, 0.50, 8.00),
    "o4-mini": Price(1.10, 0.275, 4.40),
    "text-embedding-3-small": Price(0.02, 0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.13, 0.0),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceTable:
    """Looks up a model's price; `None` when the table does not know it."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(BUILTIN if prices is None else prices)

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """The built-in table, overridden by a YAML/JSON file when given."""
        table = cls()
        if path is not None:
            raw = path.read_text(encoding="utf-8")
            try:
                data: Any = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
            except (ValueError, yaml.YAMLError) as exc:
                raise ValueError(f"{path}: not valid YAML or JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a mapping of model -> prices")
            for model, entry in data.items():
                if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
                    raise ValueError(f"{path}: {model}: needs input and output prices")
                try:
                    inp = float(entry["input"])
                    price = Price(
                        inp, float(entry.get("cached_input", inp)), float(entry["output"])
                    )
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{path}: {model}: prices must be numbers ({exc})") from exc
                table.prices[str(model)] = price
        return table

    def price(self, model: str) -> Price | None:
        name = model.split(":", 1)[1] if ":" in model and not model.startswith("ft:") else model
        if name.startswith("ft:"):
            name = name.split(":")[1]  # ft:<base>:org:suffix:id
        if name in self.prices:
            return self.prices[name]
        base = _SNAPSHOT.sub("", name)
        return self.prices.get(base)

    def cost(self, model: str, input_tokens: int, cached: int, output: int) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(input_tokens, cached, output)

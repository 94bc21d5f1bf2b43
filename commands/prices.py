"""What models cost: one price table for inference and training (USD).

Inference is priced per million tokens (input, cached input, output); training per
million training tokens (SFT, DPO: `training`) or per hour of training (RFT:
`training_hour`). The built-in table holds public list prices; a deployment overrides
or extends it with EVALBOT_PRICES_FILE (YAML or JSON, see docs/prices.md), and the one
file reaches every estimate: `/eval run`'s cap and `/finetune`'s approval gate alike.
Dated snapshots (`gpt-4.1-mini-2025-04-14`), `provider:` prefixes and `org/` gateway
names are priced as their family. A fine-tuned model (`ft:gpt-4.1-mini:...`) is priced
for inference by the table's `ft:<base>` entry, as providers price fine-tuned inference
above the base model's (OpenAI charges about twice); with no such entry its cost is
unknown, never the base model's. Training a fine-tuned model further is priced as its
base. An unknown model has no cost rather than a wrong one.

This module sits at the commands level, not inside a command family, because both
/eval and /finetune price things and families do not import each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Price:
    """A model's prices: inference per 1M tokens; training per 1M tokens or per hour."""

    input: float
    cached_input: float
    output: float
    training: float | None = None  # SFT/DPO, per 1M training tokens (tokens x epochs)
    training_hour: float | None = None  # RFT, per hour of training

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
    "gpt-4.1": Price(2.00, 0.50, 8.00, training=25.00),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60, training=5.00),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40, training=1.50),
    "gpt-4o": Price(2.50, 1.25, 10.00, training=25.00),
    "gpt-4o-mini": Price(0.15, 0.075, 0.60, training=3.00),
    "o3": Price(2.00, 0.50, 8.00),
    "o4-mini": Price(1.10, 0.275, 4.40, training_hour=100.00),
    # Inference on fine-tuned models, at OpenAI's list prices for fine-tuned models
    # (platform.openai.com/docs/pricing, "Fine-tuning"): looked up for `ft:<base>:...` ids.
    "ft:gpt-4.1": Price(3.00, 0.75, 12.00),
    "ft:gpt-4.1-mini": Price(0.80, 0.20, 3.20),
    "ft:gpt-4.1-nano": Price(0.20, 0.05, 0.80),
    "ft:gpt-4o": Price(3.75, 1.875, 15.00),
    "ft:gpt-4o-mini": Price(0.30, 0.15, 1.20),
    "ft:o4-mini": Price(4.00, 1.00, 16.00),
    "text-embedding-3-small": Price(0.02, 0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.13, 0.0),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_FIELDS = tuple(f.name for f in fields(Price))


def _candidates(model: str, *, inference: bool = True) -> Iterator[str]:
    """The names a model may be priced under, most specific first.

    A fine-tuned id is priced for inference only by `ft:<base>` entries (a fine-tuned
    model costs more to call than its base, so the base's price would be wrong);
    for training, by its base.
    """
    name = model.strip()
    if ":" in name and not name.startswith("ft:"):
        name = name.split(":", 1)[1]  # provider:model
    if name.startswith("ft:"):
        base = name.split(":")[1]  # ft:<base>:org:suffix:id
        if inference:
            yield f"ft:{base}"
            yield f"ft:{_SNAPSHOT.sub('', base)}"
            return
        name = base
    yield name
    yield _SNAPSHOT.sub("", name)
    if "/" in name:  # openai/gpt-4o style gateway names
        short = name.rsplit("/", 1)[-1]
        yield short
        yield _SNAPSHOT.sub("", short)


def _entry(path: Path, model: str, entry: Any, known: Price | None) -> Price:
    """One entry of an override file: input and output always (a typo never half-prices a
    model); training prices not given are kept from the model's built-in entry."""
    if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
        raise ValueError(f"{path}: {model}: needs input and output prices")
    unknown = sorted(str(k) for k in entry if k not in _FIELDS)
    if unknown:
        raise ValueError(f"{path}: {model}: unknown price {unknown[0]!r} ({', '.join(_FIELDS)})")
    values: dict[str, float] = {}
    for key, value in entry.items():
        if isinstance(value, bool):
            raise ValueError(f"{path}: {model}: prices must be numbers ({key})")
        try:
            values[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {model}: prices must be numbers ({exc})") from exc
    return Price(
        input=values["input"],
        cached_input=values.get("cached_input", values["input"]),
        output=values["output"],
        training=values.get("training", known.training if known else None),
        training_hour=values.get("training_hour", known.training_hour if known else None),
    )


class PriceTable:
    """Looks up a model's prices; `None` when the table does not know it."""

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
                name = str(model)
                table.prices[name] = _entry(path, name, entry, table.prices.get(name))
        return table

    def price(self, model: str) -> Price | None:
        """The inference prices of `model` (or of its family), None for a model the table
        lacks (a fine-tuned model without an `ft:<base>` entry included)."""
        return self._lookup(_candidates(model))

    def _lookup(self, names: Iterator[str]) -> Price | None:
        for name in names:
            if name in self.prices:
                return self.prices[name]
        return None

    def cost(self, model: str, input_tokens: int, cached: int, output: int) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(input_tokens, cached, output)

    def training_per_million(self, model: str) -> float | None:
        """USD per 1M training tokens of an SFT/DPO job on `model`, None if not priced."""
        price = self._lookup(_candidates(model, inference=False))
        return None if price is None else price.training

    def training_hourly(self, model: str) -> float | None:
        """USD per hour of an RFT job on `model`, None if not priced."""
        price = self._lookup(_candidates(model, inference=False))
        return None if price is None else price.training_hour

"""What a fine-tune is estimated to take: tokens, dollars and, for RFT, hours.

Prices come from the one table (commands.prices) that also prices inference, so
EVALBOT_PRICES_FILE changes both. An unknown price gives no estimate rather than a
wrong one; the job then waits for an approver (see commands.finetune).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from commands.finetune.validation import Method, text_of
from commands.prices import PriceTable


def _messages_of(row: Mapping[str, Any]) -> list[Any]:
    found: list[Any] = []
    for key in ("messages", "preferred_output", "non_preferred_output"):
        value = row.get(key)
        if isinstance(value, list):
            found += value
    given = row.get("input")
    if isinstance(given, dict) and isinstance(given.get("messages"), list):
        found += given["messages"]
    return found


def row_tokens(row: Mapping[str, Any]) -> int:
    """The estimated tokens of one row (see estimate_tokens)."""
    total = 0
    for message in _messages_of(row):
        if not isinstance(message, dict):
            continue
        text = text_of(message.get("content")) or ""
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"], ensure_ascii=False)
        total += 4 + (len(text) + 3) // 4
    return total


def estimate_tokens(rows: Iterable[Mapping[str, Any]]) -> int:
    """An estimate of the tokens in `rows`, not a count: no tokenizer is available offline.

    Each message counts 4 tokens of overhead plus one token per 4 characters of its
    text (content, and tool calls as JSON), rounded up. English prose averages about
    4 characters a token, so expect the real count within a few tens of percent.
    """
    return sum(row_tokens(row) for row in rows)


def training_cost_usd(
    prices: PriceTable, method: Method, base_model: str, tokens: int, epochs: int
) -> float | None:
    """The training cost of an SFT or DPO job in USD; None when it is not priced by tokens.

    Billed tokens are the training tokens times the epochs. RFT is billed per hour of
    training, so it returns None (see rft_cost_note); a model without a training price
    returns None rather than a wrong price.
    """
    if method == "rft":
        return None
    per_million = prices.training_per_million(base_model)
    if per_million is None:
        return None
    return max(0, tokens) * max(1, epochs) * per_million / 1_000_000


# RFT is billed per hour of the provider's training loop (rollouts, grading, updates),
# which nobody knows before the job runs. EVALBOT_DAILY_USD still needs a number for it,
# so an assumption stands in, as Ray's GPU throughput does for open-weight jobs: each
# example takes RFT_SECONDS_PER_EXAMPLE of training time per epoch (a reasoning model
# answering it several times and the grader scoring each answer), and a job at least
# RFT_MIN_HOURS. An order of magnitude, said beside the estimate; the job still waits for
# an approver, who sees it.
RFT_SECONDS_PER_EXAMPLE = 30.0
RFT_MIN_HOURS = 0.5


def rft_hours(examples: int, epochs: int) -> float:
    """The training hours an RFT job on `examples` rows for `epochs` is assumed to take."""
    work = max(0, examples) * max(1, epochs) * RFT_SECONDS_PER_EXAMPLE / 3600
    return max(RFT_MIN_HOURS, work)


def rft_cost_usd(prices: PriceTable, base_model: str, hours: float) -> float | None:
    """What `hours` of RFT training on `base_model` cost, None without an hourly price."""
    hourly = prices.training_hourly(base_model)
    return None if hourly is None else max(0.0, hours) * hourly


def rft_cost_note(prices: PriceTable, base: str, hours: float | None = None) -> str:
    """What an RFT job on `base` costs, in words (it is billed by time, not tokens);
    `hours`: the training time its estimate assumes (see `rft_hours`)."""
    hourly = prices.training_hourly(base)
    if hourly is None:
        return (
            f"RFT is billed per hour of training, not per token; "
            f"no hourly price is known for {base}."
        )
    assumed = f"≈{hours:,.1f} training hours assumed; " if hours is not None else ""
    return (
        f"{assumed}RFT is billed per hour of training, not per token: {base} costs "
        f"${hourly:,.2f} an hour, plus the grader's model calls if it uses a model."
    )

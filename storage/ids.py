"""Short, typeable ids: runs r12, fine-tuning jobs f3, watches w2, proposals p7."""

from __future__ import annotations

import re

PREFIXES = {"run": "r", "job": "f", "watch": "w", "proposal": "p"}
_ID = re.compile(r"^([rfwp])(\d{1,12})$")


def format_id(kind: str, number: int | None) -> str:
    """`format_id("run", 12)` -> "r12"."""
    if number is None:
        raise ValueError(f"{kind} has no id yet")
    return f"{PREFIXES[kind]}{number}"


def parse_id(kind: str, text: str) -> int | None:
    """ "r12" -> 12 for kind "run"; None when the text is not an id of that kind."""
    match = _ID.match(text.strip().lower())
    if not match or match.group(1) != PREFIXES[kind]:
        return None
    return int(match.group(2))

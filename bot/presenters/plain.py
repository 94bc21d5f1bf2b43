"""The terminal's markup: none. Text is printed as written, control characters aside."""

from __future__ import annotations

import re

from commands.formats import clip
from commands.reports import Code, Mention, Prose, Title

# A model's answer could carry escape sequences that move the cursor or recolour the
# terminal (C0 and C1 controls: ESC, CSI, OSC...), or bidirectional overrides that show
# text in another order than it is: shown as their code points instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _code_point(match: re.Match[str]) -> str:
    point = ord(match.group())
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def literal(text: str) -> str:
    """Text for a terminal: everything printable kept as is (`*`, `_`, `<`, backticks)."""
    return _CONTROL.sub(_code_point, text)


class Plain:
    """The Style of bot.presenters.mrkdwn for a terminal."""

    def icon(self, name: str) -> str:
        return ""  # a terminal shows ":x:" as typed: the words say it already

    def esc(self, text: str) -> str:
        return literal(text)

    def inert(self, text: str) -> str:
        return literal(text)

    def bold(self, ours: str) -> str:
        return ours

    def code(self, theirs: str, limit: int | None = None, *, empty: str = "(empty)") -> str:
        flat = clip(theirs, limit) if limit is not None else " ".join(theirs.split())
        return literal(flat) if flat else empty

    def strong_name(self, name: str) -> str:
        return literal(name)

    def mention(self, user: str) -> str:
        return "@" + literal(user)

    def block(self, lines: list[str]) -> str:
        return "\n".join(literal(line) for line in lines)

    def title(self, parts: Title) -> str:
        return "".join(
            self.mention(p.user)
            if isinstance(p, Mention)
            else literal(p.text)
            if isinstance(p, Code | Prose)
            else literal(p)
            for p in parts
        )


PLAIN = Plain()

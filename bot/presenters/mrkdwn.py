"""Putting text someone else wrote into Slack mrkdwn safely."""

from __future__ import annotations

import re
from typing import Protocol

from commands.formats import clip
from commands.reports import Code, Mention, Prose, Title

# Slack's own escaping: with these three, `<!channel>`, `<@U...>` and `<url|label>` in a
# model's answer or a dataset item stay text.
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# A backtick would end the code span early and let `*bold*` or `_italic_` after it
# format: it is shown as the look-alike modifier letter instead.
_TICK = "\u02cb"


# Slack has no escape for emphasis: a zero-width space after `*`, `_` or `~` stops it
# pairing, and the text still reads exactly as written.
_EMPHASIS = str.maketrans({"*": "*\u200b", "_": "_\u200b", "~": "~\u200b"})


def inert(text: str) -> str:
    """Escaped text whose `*`, `_` and `~` cannot format (for prose that is not code)."""
    return esc(text).translate(_EMPHASIS)


def esc(text: str) -> str:
    """Escape &, < and > so the text is shown as written and nothing in it is live."""
    return text.translate(_ENTITIES)


def code(text: str, limit: int | None = None, *, empty: str = "(empty)") -> str:
    """Third-party text as inline code: one line, escaped, backticks neutralised."""
    flat = clip(text, limit) if limit is not None else " ".join(text.split())
    if not flat:
        return empty
    return "`" + esc(flat.replace("`", _TICK)) + "`"


def mention(user: str) -> str:
    """A Slack user id as a mention; anything else shown as code, never live."""
    return f"<@{user}>" if re.fullmatch(r"[UW][A-Z0-9]+", user) else code(user)


def title(parts: Title) -> str:
    """A report's title: our words escaped, names as code, people mentioned, quotes inert."""
    out = []
    for p in parts:
        if isinstance(p, Code):
            out.append(code(p.text))
        elif isinstance(p, Mention):
            out.append(mention(p.user))
        elif isinstance(p, Prose):
            out.append(inert(p.text.replace("`", _TICK)))
        else:
            out.append(esc(p))
    return "".join(out)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._:/@+-]+$")


_WORD = re.compile(r"^[A-Za-z0-9.:-]+$")


def word(s: Style, text: str) -> str:
    """A short word someone else chose that reads as prose (an alias like `production`, a
    date like 2027-01-14): as it is when it is letters, digits and `. : -`, else as code."""
    return s.esc(text) if _WORD.match(text) else s.code(text)


class Style(Protocol):
    """How one medium marks text up; presenters word a report once for every medium."""

    def esc(self, text: str) -> str: ...

    def inert(self, text: str) -> str: ...

    def bold(self, ours: str) -> str: ...

    def code(self, theirs: str, limit: int | None = None, *, empty: str = "(empty)") -> str: ...

    def strong_name(self, name: str) -> str: ...

    def mention(self, user: str) -> str: ...

    def block(self, lines: list[str]) -> str: ...

    def title(self, parts: Title) -> str: ...

    def icon(self, name: str) -> str:
        """A Slack emoji by name, followed by a space; a medium without them gives ''."""
        ...


class Mrkdwn:
    """Slack's mrkdwn: everything not ours escaped; names and samples as code."""

    def icon(self, name: str) -> str:
        return f":{name}: "

    def esc(self, text: str) -> str:
        return esc(text)

    def inert(self, text: str) -> str:
        return inert(text)

    def bold(self, ours: str) -> str:
        return f"*{ours}*"

    def code(self, theirs: str, limit: int | None = None, *, empty: str = "(empty)") -> str:
        return code(theirs, limit, empty=empty)

    def strong_name(self, name: str) -> str:
        # Plain model names keep their bold look; anything else is shown as code.
        return f"*{name}*" if _PLAIN_NAME.match(name) else code(name)

    def mention(self, user: str) -> str:
        return mention(user)

    def block(self, lines: list[str]) -> str:
        return "\n".join(["```", *(esc(line.replace("`", _TICK)) for line in lines), "```"])

    def title(self, parts: Title) -> str:
        return title(parts)


SLACK = Mrkdwn()

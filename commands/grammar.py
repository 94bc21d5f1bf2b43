"""The slash-command grammar: words, ``key=value`` options, quotes and Slack's escapes.

``/eval run ticket-routing gpt-4.1-mini "my model" limit=50`` becomes
``Parsed(words=("run", "ticket-routing", "gpt-4.1-mini", "my model"),
options={"limit": "50"})``.

The rules, chosen for what people type into Slack rather than into a shell:

* Words are separated by whitespace (including no-break and zero-width spaces).
* Quotes group words: ``"..."`` and ``'...'``, and the smart quotes that Slack clients
  insert (“ ” and ‘ ’), which count as the same as their straight forms. A quote only
  opens at the start of a word or right after ``key=``, so apostrophes inside words
  (``don't``, ``Bob’s``) are plain characters. A quote closes at the next quote of
  the same kind that ends a word (followed by whitespace or the end), else at the next
  quote of that kind; so ``'Bob’s model'`` is one word. There are no backslash escapes.
* ``key=value`` is an option when the part before the first ``=`` is a plain, unquoted
  name (letters, digits, ``_`` and ``-``); the value may be quoted
  (``suffix="my model"``). ``"a=b"`` is a word, and so is anything whose part before
  ``=`` is not a name (``1+1=2``). Option names are case-insensitive.
* Slack escapes ``&``, ``<`` and ``>`` as entities and wraps mentions and links in
  ``<...>``. Entities are unescaped; links become their URL (``<http://x|x>`` ->
  ``http://x``); mentions keep Slack's canonical form without the label
  (``<@U123|ann>`` -> ``<@U123>``, ``<#C123|general>`` -> ``<#C123>``). Text that came
  from an entity or a link is never syntax: a ``=`` inside a URL does not make an option.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, overload

__all__ = [
    "GrammarError",
    "Parsed",
    "Token",
    "bool_option",
    "duration_option",
    "float_option",
    "format_duration",
    "int_option",
    "list_option",
    "parse",
    "tokenize",
]

DEFAULT_MAX_LENGTH = 2000
DEFAULT_MAX_WORDS = 50

_DOUBLE_QUOTES = frozenset('"\u201c\u201d')  # " “ ”
_SINGLE_QUOTES = frozenset("'\u2018\u2019")  # ' ‘ ’
_ZERO_WIDTH_SPACES = frozenset("\u200b\u2060\ufeff")
_ENTITIES = (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# What may follow "<" in a Slack-formatted construct: a mention or a URL scheme.
_SLACK_CONSTRUCT_RE = re.compile(r"[@#!]|[A-Za-z][A-Za-z0-9+.-]*:")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DURATION_PART_RE = re.compile(r"([0-9]+)([smhdw])")
_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_SHOWN_VALUE_CHARS = 40


class GrammarError(ValueError):
    """Bad command text. ``str(error)`` is the message to show the user.

    ``position`` is the 0-based index in the raw text where the problem is, when one
    place is to blame.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Token:
    """One argument: a word (``key is None``) or an option ``key=text``."""

    text: str
    key: str | None
    position: int  # 0-based index of the token's first character in the raw text
    quoted: bool = False


@dataclass(frozen=True)
class Parsed:
    """A parsed command: its words in order and its options (keys lower-cased)."""

    words: tuple[str, ...]
    options: dict[str, str]


@dataclass(frozen=True)
class _Unit:
    """One character of input after unescaping; ``literal`` units are never syntax."""

    text: str
    position: int
    literal: bool


def tokenize(text: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> list[Token]:
    """Split command text into words and ``key=value`` options.

    Raises GrammarError for text over ``max_length`` characters, control characters
    and unbalanced quotes. Option names are not checked here; see :func:`parse`.
    """
    if len(text) > max_length:
        raise GrammarError(
            f"the command is too long: {len(text)} characters, the limit is {max_length}"
        )
    _check_characters(text)
    units = _lex(text)
    tokens: list[Token] = []
    i = 0
    while i < len(units):
        if _is_space(units[i]):
            i += 1
            continue
        token, i = _read_token(text, units, i)
        tokens.append(token)
    return tokens


def parse(
    text: str,
    *,
    allowed_keys: Collection[str] = (),
    max_length: int = DEFAULT_MAX_LENGTH,
    max_words: int = DEFAULT_MAX_WORDS,
) -> Parsed:
    """Parse command text into words and options, checking the options' names.

    ``allowed_keys`` are the option names this command takes (case-insensitive).
    Raises GrammarError, whose message says what is wrong and where, for: text over
    ``max_length`` characters, control characters, unbalanced quotes, more than
    ``max_words`` words, an unknown, repeated or empty option name, or an empty value.
    """
    allowed = {key.lower() for key in allowed_keys}
    words: list[str] = []
    options: dict[str, str] = {}
    for token in tokenize(text, max_length=max_length):
        if token.key is None:
            words.append(token.text)
            if len(words) > max_words:
                raise GrammarError(
                    f"too many words: the limit is {max_words}", position=token.position
                )
            continue
        key = token.key.lower()
        if key not in allowed:
            raise GrammarError(_unknown_key_message(key, allowed), position=token.position)
        if key in options:
            raise GrammarError(
                f"option {key}= is given twice; give it once", position=token.position
            )
        if token.text == "":
            raise GrammarError(
                f"option {key}= has no value; write {key}=<value>", position=token.position
            )
        options[key] = token.text
    return Parsed(words=tuple(words), options=options)


# --- typed option helpers ---------------------------------------------------------


@overload
def int_option(
    parsed: Parsed, key: str, *, default: int, min: int | None = ..., max: int | None = ...
) -> int: ...
@overload
def int_option(
    parsed: Parsed,
    key: str,
    *,
    default: None = ...,
    min: int | None = ...,
    max: int | None = ...,
) -> int | None: ...
def int_option(
    parsed: Parsed,
    key: str,
    *,
    default: int | None = None,
    min: int | None = None,
    max: int | None = None,
) -> int | None:
    """The option ``key`` as a whole number within [min, max], or ``default`` if absent."""
    raw = parsed.options.get(key)
    if raw is None:
        return default
    value_text = raw.strip().replace("_", "")
    if not _INT_RE.fullmatch(value_text):
        raise GrammarError(f"{_shown(key, raw)}: expected a whole number")
    value = int(value_text)
    _check_range(key, raw, value, min, max, str)
    return value


@overload
def float_option(
    parsed: Parsed,
    key: str,
    *,
    default: float,
    min: float | None = ...,
    max: float | None = ...,
) -> float: ...
@overload
def float_option(
    parsed: Parsed,
    key: str,
    *,
    default: None = ...,
    min: float | None = ...,
    max: float | None = ...,
) -> float | None: ...
def float_option(
    parsed: Parsed,
    key: str,
    *,
    default: float | None = None,
    min: float | None = None,
    max: float | None = None,
) -> float | None:
    """The option ``key`` as a finite number within [min, max], or ``default`` if absent."""
    raw = parsed.options.get(key)
    if raw is None:
        return default
    value_text = raw.strip()
    if not _FLOAT_RE.fullmatch(value_text) or not math.isfinite(value := float(value_text)):
        raise GrammarError(f"{_shown(key, raw)}: expected a number, like 0.5")
    _check_range(key, raw, value, min, max, lambda bound: f"{bound:g}")
    return value


def duration_option(parsed: Parsed, key: str, default: int, *, min_s: int, max_s: int) -> int:
    """The option ``key`` as a duration in seconds, or ``default`` (seconds) if absent.

    Durations are a number with a unit, s, m, h, d or w, and may combine them:
    ``90s``, ``5m``, ``1h``, ``1h30m``, ``7d``. The result must lie in [min_s, max_s].
    """
    raw = parsed.options.get(key)
    if raw is None:
        return default
    value_text = raw.strip().lower().replace(" ", "")
    parts = _DURATION_PART_RE.findall(value_text)
    if not parts or "".join(number + unit for number, unit in parts) != value_text:
        hint = "add a unit: " if _INT_RE.fullmatch(value_text) else ""
        raise GrammarError(f"{_shown(key, raw)}: {hint}expected a duration like 90s, 5m, 1h or 7d")
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)
    _check_range(key, raw, seconds, min_s, max_s, format_duration)
    return seconds


def list_option(parsed: Parsed, key: str, *, default: Sequence[str] = ()) -> list[str]:
    """The option ``key`` as a comma-separated list (``suites=a,b``), or ``default``."""
    raw = parsed.options.get(key)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",")]
    if any(item == "" for item in items):
        raise GrammarError(
            f"{_shown(key, raw)}: empty item in the list; separate items with commas, like a,b"
        )
    return items


def bool_option(parsed: Parsed, key: str, *, default: bool = False) -> bool:
    """The option ``key`` as yes/no (true/false, on/off, 1/0), or ``default``."""
    raw = parsed.options.get(key)
    if raw is None:
        return default
    value_text = raw.strip().lower()
    if value_text in _TRUE:
        return True
    if value_text in _FALSE:
        return False
    raise GrammarError(f"{_shown(key, raw)}: expected yes or no")


def format_duration(seconds: int) -> str:
    """Render seconds the way :func:`duration_option` reads them: 90 -> ``1m30s``."""
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    remaining = seconds
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _DURATION_UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- internals ---------------------------------------------------------------------


def _check_characters(text: str) -> None:
    for index, char in enumerate(text):
        if char in "\t\n\r":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs"):
            raise GrammarError(
                f"the command contains a control character (U+{ord(char):04X}) at "
                f"character {index + 1}; retype that part instead of pasting it",
                position=index,
            )


def _lex(text: str) -> list[_Unit]:
    """Turn raw Slack text into units, unescaping entities and rendering links."""
    units: list[_Unit] = []
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        if char == "&":
            for entity, replacement in _ENTITIES:
                if text.startswith(entity, i):
                    units.append(_Unit(replacement, i, literal=True))
                    i += len(entity)
                    break
            else:
                units.append(_Unit(char, i, literal=True))
                i += 1
            continue
        if char == "<" and _SLACK_CONSTRUCT_RE.match(text, i + 1):
            end = text.find(">", i + 1)
            if end != -1:
                units.append(_Unit(_render_construct(text[i + 1 : end]), i, literal=True))
                i = end + 1
                continue
        units.append(_Unit(char, i, literal=char in "<>"))
        i += 1
    return units


def _render_construct(inner: str) -> str:
    # The label after "|" is only what Slack displays: a mention keeps its id, a link
    # renders to its URL.
    target = inner.partition("|")[0]
    if target.startswith(("@", "#", "!")):
        return f"<{target}>"
    return _unescape(target)


def _unescape(text: str) -> str:
    for entity, replacement in _ENTITIES[1:]:
        text = text.replace(entity, replacement)
    return text.replace("&amp;", "&")


def _is_space(unit: _Unit) -> bool:
    return not unit.literal and (unit.text.isspace() or unit.text in _ZERO_WIDTH_SPACES)


def _quote_family(unit: _Unit) -> frozenset[str] | None:
    if unit.literal:
        return None
    if unit.text in _DOUBLE_QUOTES:
        return _DOUBLE_QUOTES
    if unit.text in _SINGLE_QUOTES:
        return _SINGLE_QUOTES
    return None


def _read_token(text: str, units: list[_Unit], i: int) -> tuple[Token, int]:
    """Read one token starting at ``units[i]``; return it and the index after it."""
    start = units[i].position
    parts: list[str] = []
    key: str | None = None
    quoted = False
    may_open_quote = True  # at the start of the token, or right after "key="
    plain_so_far = True  # nothing quoted or escaped yet: a "=" may still make an option
    while i < len(units) and not _is_space(units[i]):
        unit = units[i]
        family = _quote_family(unit)
        if family is not None and may_open_quote:
            close = _closing_quote(text, units, i, family)
            parts.append("".join(u.text for u in units[i + 1 : close]))
            quoted = True
            plain_so_far = may_open_quote = False
            i = close + 1
            continue
        may_open_quote = False
        if unit.literal:
            plain_so_far = False
        elif unit.text == "=" and key is None and plain_so_far:
            name = "".join(parts)
            if name == "":
                raise GrammarError(
                    f"option at character {unit.position + 1} has no name before '=' "
                    f"({_excerpt(text, start)}); write key=value",
                    position=unit.position,
                )
            if _KEY_RE.fullmatch(name):
                key, parts = name, []
                may_open_quote = True
                i += 1
                continue
            plain_so_far = False  # not a name: the whole token is a word
        parts.append(unit.text)
        i += 1
    return Token(text="".join(parts), key=key, position=start, quoted=quoted), i


def _closing_quote(text: str, units: list[_Unit], opening: int, family: frozenset[str]) -> int:
    """Index of the quote closing ``units[opening]``, preferring one that ends a word."""
    first: int | None = None
    for j in range(opening + 1, len(units)):
        if _quote_family(units[j]) is not family:
            continue
        if j + 1 == len(units) or _is_space(units[j + 1]):
            return j
        if first is None:
            first = j
    if first is not None:
        return first
    quote = units[opening]
    raise GrammarError(
        f"unbalanced quote: the {quote.text} at character {quote.position + 1} is never "
        f"closed (near {_excerpt(text, quote.position)}); close it or remove it",
        position=quote.position,
    )


def _excerpt(text: str, position: int, width: int = 24) -> str:
    piece = text[position : position + width]
    return piece + ("…" if position + width < len(text) else "")


def _shown(key: str, raw: str) -> str:
    value = raw if len(raw) <= _SHOWN_VALUE_CHARS else raw[:_SHOWN_VALUE_CHARS] + "…"
    return f"{key}={value}"


def _check_range(
    key: str,
    raw: str,
    value: float,
    low: float | None,
    high: float | None,
    render: Callable[[Any], str],
) -> None:
    if low is not None and value < low:
        raise GrammarError(f"{_shown(key, raw)}: must be at least {render(low)}")
    if high is not None and value > high:
        raise GrammarError(f"{_shown(key, raw)}: must be at most {render(high)}")


def _unknown_key_message(key: str, allowed: Collection[str]) -> str:
    if not allowed:
        return f'unknown option "{key}": this command takes no options'
    message = f'unknown option "{key}"'
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    if close:
        message += f' (did you mean "{close[0]}"?)'
    return message + "; the options are: " + ", ".join(f"{k}=" for k in sorted(allowed))

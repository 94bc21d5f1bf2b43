"""Command families and their subcommands: parse, then delegate.

A handler is synchronous on purpose: it only parses and validates (from memory), and
either answers at once or returns `Started` with the work to run after the ack. So an
acknowledgement can never wait on the database, a provider or Slack.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commands.grammar import GrammarError, Parsed, parse
from commands.reports import Code, Prose, Title, title_text
from storage.ids import parse_id

if TYPE_CHECKING:
    from commands.services import Services


class UsageError(Exception):
    """Bad input from a user: the message says what was wrong; usage is appended.

    A message that repeats what the user typed is a Title (the typed text as Code parts),
    worded by the presenter; a str is already worded."""

    def __init__(self, message: str | Title) -> None:
        self.words: Title | None = None if isinstance(message, str) else message
        super().__init__(message if isinstance(message, str) else title_text(message))


_ID_EXAMPLES = {"run": "r12", "job": "f3", "watch": "w3", "proposal": "p7"}


def id_arg(parsed: Parsed, kind: str, position: int = 0, *, only: bool = False) -> int:
    """The id of `kind` (run, job, watch) at `position`; UsageError saying what is expected.

    `only`: the id must be the command's one argument.
    """
    example = _ID_EXAMPLES[kind]
    if only and (parsed.options or len(parsed.words) != 1):
        raise UsageError(f"Give one {kind} id, like `{example}`.")
    if len(parsed.words) <= position:
        raise UsageError(f"Missing the {kind} id (like `{example}`).")
    text = parsed.words[position]
    found = parse_id(kind, text)
    if found is None:
        shown = text if len(text) <= 30 else text[:29] + "…"
        raise UsageError((Code(shown), f" is not a {kind} id; they look like `{example}`."))
    return found


class UserFacingError(Exception):
    """A problem found while working (unknown run id, refused job): a str is shown as it
    is; a Title (names as Code parts) is worded by the presenter."""

    def __init__(self, message: str | Title) -> None:
        self.words: Title | None = None if isinstance(message, str) else message
        super().__init__(message if isinstance(message, str) else title_text(message))


@dataclass(frozen=True)
class Invocation:
    """Who typed which command where, and how to answer them privately."""

    user_id: str
    channel_id: str
    command: str
    text: str
    respond: Callable[[str], Awaitable[None]]  # ephemeral reply to the user


@dataclass(frozen=True)
class Started:
    """Accepted: `ack` is shown at once, `work` runs in the background."""

    ack: str
    work: Callable[[], Awaitable[None]]
    name: str = "command"


Outcome = str | Started
Handler = Callable[["Services", Invocation, Parsed], Outcome]


@dataclass(frozen=True)
class Subcommand:
    name: str
    args: str  # "<suite> <model> [<model> ...] [limit=N]"
    keys: frozenset[str]
    handler: Handler

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.handler) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass
class Family:
    """One slash command (`/eval`) and its subcommands, with help from docstrings."""

    command: str
    summary: str
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    default: Subcommand | None = None  # for commands without subcommands (/promote)

    def sub(
        self, name: str, args: str = "", *, keys: Collection[str] = ()
    ) -> Callable[[Handler], Handler]:
        """Register a subcommand; its docstring's first line is its help."""

        def register(handler: Handler) -> Handler:
            if name in self.subcommands:
                raise ValueError(f"{self.command} {name} is registered twice")
            self.subcommands[name] = Subcommand(name, args, frozenset(keys), handler)
            return handler

        return register

    def main(self, args: str = "", *, keys: Collection[str] = ()) -> Callable[[Handler], Handler]:
        """Register the handler of a command that takes no subcommand."""

        def register(handler: Handler) -> Handler:
            if self.default is not None:
                raise ValueError(f"{self.command} has two main handlers")
            self.default = Subcommand("", args, frozenset(keys), handler)
            return handler

        return register

    def usage(self, sub: Subcommand) -> str:
        words = " ".join(w for w in (self.command, sub.name, sub.args) if w)
        return f"`{words}`"

    def help(self) -> str:
        """The help text: one line per subcommand, generated from the handlers."""
        lines = [f"*{self.command}* — {self.summary}"]
        subs = list(self.subcommands.values())
        if self.default is not None:
            subs.insert(0, self.default)
        for sub in subs:
            lines.append(f"• {self.usage(sub)} — {sub.summary}")
        if self.subcommands:
            lines.append(f"• `{self.command} help` — this list")
        return "\n".join(lines)

    def dispatch(self, services: Services, inv: Invocation) -> Outcome:
        """Parse `inv.text` and run the matching handler's (synchronous) validation."""
        text = inv.text.strip()
        first, _, rest = text.partition(" ")
        first_l = first.lower()
        if first_l in ("help", "-h", "--help", "?"):
            return self.help()
        sub = self.subcommands.get(first_l)
        if sub is None:
            if self.default is not None:
                sub, rest = self.default, text
            elif not first:
                return f"{self.command} needs a subcommand.\n{self.help()}"
            else:
                close = difflib.get_close_matches(first_l, self.subcommands, n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                shown = first if len(first) <= 40 else first[:40] + "…"
                said = services.presenter.line(
                    ("Unknown subcommand ", Code(shown), f" for {self.command}.")
                )
                return f"{said}{hint}\n{self.help()}"
        try:
            parsed = parse(rest, allowed_keys=sub.keys)
            _refuse_bare_options(parsed, sub.keys)
            return sub.handler(services, inv, parsed)
        except UsageError as exc:
            said = services.presenter.line(exc.words) if exc.words is not None else str(exc)
            return f"{said}\nUsage: {self.usage(sub)}"
        except GrammarError as exc:
            # The grammar's message quotes what was typed (an option's name or value): our
            # words and theirs in one string, so all of it is escaped.
            said = services.presenter.line((Prose(str(exc)),))
            return f"{said}\nUsage: {self.usage(sub)}"


def _refuse_bare_options(parsed: Parsed, keys: Collection[str]) -> None:
    """`limit 20` (no `=`) would read as two more words, a model called `limit` and one
    called `20`: an option's name followed by a word is caught and spelled out instead."""
    words = parsed.words
    for i, word in enumerate(words):
        key = word.lower().rstrip(":")
        if key in keys and key not in parsed.options:
            value = words[i + 1] if i + 1 < len(words) else "…"
            shown = value if len(value) <= 30 else value[:29] + "…"
            raise UsageError(
                (
                    "Options take `=`: write ",
                    Code(f"{key}={shown}"),
                    ", not ",
                    Code(f"{word} {shown}"),
                    ".",
                )
            )


class CommandTable:
    """Every slash command the bot serves; a command string registered twice fails."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def add(self, family: Family) -> None:
        if family.command in self.families:
            raise ValueError(f"slash command {family.command} is registered twice")
        self.families[family.command] = family

    def __iter__(self) -> Any:
        return iter(self.families.values())

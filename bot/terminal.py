"""The terminal's Chat and Presenter for `evalbot eval run` (bot/cli.py).

Apart from bot/cli.py so that the command line imports none of the presenters, ports or
storage until it knows it runs an eval: bot/cli.py loads these with the garbage
collector paused (see `_load_terminal_modules` there).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.presenters.plain import PLAIN, literal
from bot.presenters.slack import StyledPresenter
from commands.ports import ChatError, Posted, Upload
from commands.reports import RunProgress, Title

Say = Callable[..., None]
"""bot/cli.py's one printing function: `say(*parts, file=None, end="\n")`."""


class TerminalPresenter(StyledPresenter):
    """Reports in plain text; remembers the progress text it made so the terminal can
    redraw it in place instead of printing every update."""

    def __init__(self) -> None:
        super().__init__(PLAIN)
        self.progress_texts: set[str] = set()

    def run_progress(self, report: RunProgress) -> str:
        text = super().run_progress(report)
        self.progress_texts = {text}  # only the latest matters
        return text


class TerminalChat:
    """The Chat port on a terminal: progress redrawn on stderr, results on stdout.

    The texts it receives were worded for a terminal by TerminalPresenter: it prints
    them as they are (nothing is parsed back or stripped).
    """

    def __init__(self, presenter: TerminalPresenter, say: Say) -> None:
        self._n = 0
        self._tty = sys.stderr.isatty()
        self._presenter = presenter
        self._say = say

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        self._n += 1
        self._say(text, file=sys.stdout if thread_ts else sys.stderr)
        return Posted(channel, str(self._n))

    async def update(
        self,
        where: Posted,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        progress: bool = False,
    ) -> None:
        if text in self._presenter.progress_texts:
            if self._tty:
                self._say("\r" + " | ".join(text.splitlines()[1:])[:150], end="", file=sys.stderr)
            return
        self._say(("\n" if self._tty else "") + text)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        self._say(text, file=sys.stderr)

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        path = Path(upload.filename)
        path.write_bytes(upload.content)
        self._say(f"chart written to {path}", file=sys.stderr)

    async def react(self, where: Posted, emoji: str) -> None:
        return None

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        return None

    async def group_members(self, group: str) -> frozenset[str]:
        return frozenset()  # the terminal's user is the operator: never asked

    async def fetch_file(self, channel: str, name: str, max_bytes: int, *, user: str) -> bytes:
        raise ChatError("file_not_found", "files come from Slack channels")


def below_floor(floor: float, models: list[str]) -> str:
    """Which models ended below --min-pass-rate; their names as typed, printed literally."""
    return f"below --min-pass-rate {floor:.0%}: " + ", ".join(literal(m) for m in models)


def unknown_suite(name: str, names: list[str]) -> str:
    """What the terminal says to a suite name that is not one: the closest, and all."""
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    have = ", ".join(names) or "none (add one to the suites folder)"
    return f"There is no suite {literal(name[:60])}.{hint} Suites: {have}."


def refused(why: str | Title) -> str:
    """A refusal of what was typed: a Title worded for the terminal, a str as it is."""
    return literal(why) if isinstance(why, str) else PLAIN.title(why)


def unknown_models(problems: list[Title]) -> str:
    """Each model name the provider does not serve, with the nearest it does."""
    return "\n".join(PLAIN.title(p) for p in problems) + "\nNothing was started."

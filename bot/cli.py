"""The `evalbot` command: run the bot, check suites, or run an eval from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from pathlib import Path
from typing import Any

from bot import logs
from bot.cli_import import add_import_parser, run_import
from bot.presenters.plain import PLAIN, literal
from bot.presenters.slack import StyledPresenter
from bot.settings import Settings, SettingsError, load_settings
from commands.ports import ChatError, IdleScheduler, Posted, Upload
from commands.reports import RunProgress


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalbot", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("run", help="start the Slack bot (the default)")
    suites = sub.add_parser("suites", help="eval suites")
    suites_sub = suites.add_subparsers(dest="suites_cmd", required=True)
    check = suites_sub.add_parser("check", help="validate suites without calling any model")
    check.add_argument("dir", nargs="?", type=Path, help="suites folder (EVALBOT_SUITES_DIR)")
    add_import_parser(suites_sub)
    ev = sub.add_parser("eval", help="run evals from the terminal (for CI pipelines)")
    ev_sub = ev.add_subparsers(dest="eval_cmd", required=True)
    run = ev_sub.add_parser("run", help="run a suite on one or more models")
    run.add_argument("suite")
    run.add_argument("models", nargs="+")
    run.add_argument("--limit", type=int, help="run the first N samples only")
    run.add_argument(
        "--min-pass-rate",
        type=float,
        help="exit 1 when a model's pass rate is below this (0-1 or a percentage)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `evalbot` console script and of `python -m bot`."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd in (None, "run"):
            settings = load_settings()
            logs.configure(secrets=_secrets(settings))
            from bot.app import serve

            asyncio.run(serve(settings))
            return 0
        settings = load_settings(require_slack=False)
        logs.configure(level="WARNING", secrets=_secrets(settings))
        if args.cmd == "suites" and args.suites_cmd == "import":
            return run_import(args, settings.suites_dir)
        if args.cmd == "suites":
            return check_suites(args.dir or settings.suites_dir)
        return asyncio.run(terminal_eval(settings, args))
    except SettingsError as exc:
        _say(f"evalbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _say(*parts: Any, file: Any = None, end: str = "\n") -> None:
    """The terminal's output: the one place the CLI prints."""
    print(*parts, file=file or sys.stdout, end=end, flush=True)  # noqa: T201


def _secrets(settings: Settings) -> list[str]:
    return settings.secrets()


def check_suites(root: Path) -> int:
    """Validate every suite under `root`; print each error; 1 if any."""
    from commands.suites.suite import load_suites

    if not root.is_dir():
        _say(literal(f"{root}: not a folder of suites"), file=sys.stderr)
        return 1
    suites, errors = load_suites(root)
    for name, suite in sorted(suites.items()):
        _say(
            literal(
                f"ok  {name}: {len(suite.items)} samples, grader {suite.grader.get('type')}, "
                f"data {suite.data_version[:19]}"
            )
        )
    # An error quotes the suite's files (keys, values, grader code): a suite from elsewhere
    # may carry terminal escape sequences in them.
    for err in errors:
        _say(literal(f"error  {err}"), file=sys.stderr)
    return 1 if errors or not suites else 0


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

    def __init__(self, presenter: TerminalPresenter) -> None:
        self._n = 0
        self._tty = sys.stderr.isatty()
        self._presenter = presenter

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        self._n += 1
        _say(text, file=sys.stdout if thread_ts else sys.stderr)
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
                _say("\r" + " | ".join(text.splitlines()[1:])[:150], end="", file=sys.stderr)
            return
        _say(("\n" if self._tty else "") + text)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        _say(text, file=sys.stderr)

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        path = Path(upload.filename)
        path.write_bytes(upload.content)
        _say(f"chart written to {path}", file=sys.stderr)

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


def _unknown_suite(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    have = ", ".join(names) or "none (add one to the suites folder)"
    return f"There is no suite {literal(name[:60])}.{hint} Suites: {have}."


async def terminal_eval(settings: Settings, args: argparse.Namespace) -> int:
    """`evalbot eval run`: the bot's engine with a terminal for a channel."""
    from bot.wiring import build_services
    from storage import runs as store
    from storage.db import Database

    db = await asyncio.to_thread(Database.connect, settings.sqlalchemy_url)
    presenter = TerminalPresenter()
    services, gateway = build_services(
        settings,
        db,
        chat=TerminalChat(presenter),
        presenter=presenter,
        scheduler=IdleScheduler(),
    )
    await gateway.warm()
    try:
        suite = services.suites.get(args.suite)
        if suite is None:
            _say(_unknown_suite(args.suite, services.suites.names()), file=sys.stderr)
            return 2
        if args.limit is not None and args.limit < 1:
            _say("--limit must be at least 1", file=sys.stderr)
            return 2
        total = min(args.limit or len(suite.items), len(suite.items))
        run = await db.run(
            store.create_run,
            suite=suite.name,
            data_version=suite.data_version,
            models=args.models,
            total=total,
            sample_limit=args.limit,
            channel="terminal",
            origin="cli",
        )
        try:
            final = await services.engine.execute_and_announce(run.id or 0)
        except asyncio.CancelledError:  # Ctrl-C: the run ends here, nobody resumes it
            await db.run(store.finish, run_id=run.id or 0, status="cancelled")
            raise
        await services.tasks.wait_idle()
        if final is None or final.status != "finished":
            return 1
        if args.min_pass_rate is not None:
            floor = args.min_pass_rate / 100 if args.min_pass_rate > 1 else args.min_pass_rate
            counts = await db.run(store.tallies, run_id=run.id or 0, with_latencies=False)
            low = [
                m
                for m in args.models
                if (counts.get(m) is None or (counts[m].pass_rate or 0.0) < floor)
            ]
            if low:
                _say(below_floor(floor, low), file=sys.stderr)
                return 1
        return 0
    finally:
        close = getattr(services.charts, "close", None)
        if callable(close):
            close()
        await gateway.close()
        await asyncio.to_thread(db.close)

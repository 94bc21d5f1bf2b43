"""The `evalbot` command: run the bot, check suites, or run an eval from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli_import import add_import_parser, run_import

if TYPE_CHECKING:
    from bot.settings import Settings


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
    if args.cmd == "eval":
        _load_terminal_modules()
    from bot import logs
    from bot.settings import SettingsError, load_settings

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


# What terminal_eval and main import (they import each again by name, from the cache).
_TERMINAL_MODULES = (
    "bot.logs",
    "bot.settings",
    "bot.terminal",
    "bot.wiring",
    "commands.ports",
    "storage.db",
    "storage.runs",
)


def _load_terminal_modules() -> None:
    """Import what `evalbot eval run` needs with the cyclic garbage collector paused, and
    freeze what was loaded.

    Start-up is imports (docs/benchmarks.md, cli_start): about 136,000 tracked objects
    that live as long as the process and are never garbage. The collector ran over them
    again and again while they loaded and kept rescanning them afterwards: about a third
    of the process's CPU. Frozen, they are left out of every later collection; what the
    run itself allocates is collected as usual. The Slack bot's start is left as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        for module in _TERMINAL_MODULES:
            importlib.import_module(module)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _say(*parts: Any, file: Any = None, end: str = "\n") -> None:
    """The terminal's output: the one place the CLI prints."""
    print(*parts, file=file or sys.stdout, end=end, flush=True)  # noqa: T201


def _secrets(settings: Settings) -> list[str]:
    return settings.secrets()


def check_suites(root: Path) -> int:
    """Validate every suite under `root`; print each error; 1 if any."""
    from bot.presenters.plain import literal
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


async def terminal_eval(settings: Settings, args: argparse.Namespace) -> int:
    """`evalbot eval run`: the bot's engine with a terminal for a channel."""
    from bot.terminal import (
        TerminalChat,
        TerminalPresenter,
        below_floor,
        refused,
        unknown_models,
        unknown_suite,
    )
    from bot.wiring import build_services
    from commands.model_names import resolve, split_names
    from commands.model_shapes import check_run_models
    from commands.ports import IdleScheduler
    from commands.registry import UsageError
    from storage import runs as store
    from storage.db import Database, create_or_migrate

    db = Database.connect(settings.sqlalchemy_url, run_migrations=False)
    # The schema is made (or checked) in a thread while the names are checked with the
    # provider: neither waits for the other.
    schema = asyncio.ensure_future(asyncio.to_thread(create_or_migrate, db.engine))
    presenter = TerminalPresenter()
    services, gateway = build_services(
        settings,
        db,
        chat=TerminalChat(presenter, _say),
        presenter=presenter,
        scheduler=IdleScheduler(),
    )
    await gateway.warm()
    try:
        suite = services.suites.get(args.suite)
        if suite is None:
            _say(unknown_suite(args.suite, services.suites.names()), file=sys.stderr)
            return 2
        if args.limit is not None and args.limit < 1:
            _say("--limit must be at least 1", file=sys.stderr)
            return 2
        # Checked as `/eval run` checks them, before anything starts: a typo is refused
        # with the nearest names the provider lists (exit 2), not run and failed.
        models = split_names(args.models)
        try:
            check_run_models(services.models, models)
        except UsageError as exc:
            _say(refused(exc.words or str(exc)), file=sys.stderr)
            return 2
        resolution = await resolve(services.models.directory, services.models, models, slack=False)
        if resolution.problems:
            _say(unknown_models(resolution.problems), file=sys.stderr)
            return 2
        models = resolution.models
        await schema
        total = min(args.limit or len(suite.items), len(suite.items))
        run = await db.run(
            store.create_run,
            suite=suite.name,
            data_version=suite.data_version,
            models=models,
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
                m for m in models if (counts.get(m) is None or (counts[m].pass_rate or 0.0) < floor)
            ]
            if low:
                _say(below_floor(floor, low), file=sys.stderr)
                return 1
        return 0
    finally:
        await asyncio.gather(schema, return_exceptions=True)  # not left writing
        close = getattr(services.charts, "close", None)
        if callable(close):
            close()
        await gateway.close()
        await asyncio.to_thread(db.close)

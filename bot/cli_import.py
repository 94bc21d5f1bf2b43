"""`evalbot suites import <file> [--run R] [--data D] [--name N] [--to DIR]` (the CLI side)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_import_parser", "run_import"]


def add_import_parser(suites_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the `import` subcommand under `evalbot suites`."""
    imp = suites_sub.add_parser(
        "import",
        help="turn an OpenAI eval, a promptfoo config or an openai/evals registry YAML "
        "into a suite",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--run", type=Path, help="an OpenAI eval run (JSON): input and items")
    imp.add_argument("--data", type=Path, help="the items as JSONL")
    imp.add_argument("--name", help="the suite's name (default: the eval's, as a slug)")
    imp.add_argument("--to", type=Path, help="the suites folder (EVALBOT_SUITES_DIR)")


def run_import(args: argparse.Namespace, suites_dir: Path) -> int:
    """Import, print what became what, exit 0 when the suite loads and 1 otherwise."""
    from commands.importers import import_suite

    report = import_suite(
        args.file, to=args.to or suites_dir, run=args.run, data=args.data, name=args.name
    )
    # The lines quote the imported files (an eval's name, an assert's type): a file from
    # elsewhere may carry terminal escape sequences, printed as code points instead.
    from bot.presenters.plain import literal  # here: `evalbot` starts without it

    for line in report.lines:
        sys.stdout.write(literal(line) + "\n")
    return 0 if report.ok else 1

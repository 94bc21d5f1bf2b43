"""`python -m bench [name ...] [--quick] [--no-write]`: run benchmarks, print a summary,
rewrite docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from bench.common import Result, Row


def _registry() -> dict[str, Callable[[bool], Result]]:
    from bench.ack import ack_latency
    from bench.charts_bench import chart_render
    from bench.cli_start import cli_start
    from bench.crash_waste import crash_waste
    from bench.memory import memory
    from bench.ratelimit import rate_limited
    from bench.reference import reference
    from bench.throughput import throughput

    return {
        "throughput": throughput,
        "ratelimit": rate_limited,
        "memory": memory,
        "ack": ack_latency,
        "charts": chart_render,
        "reference": reference,
        "cli_start": cli_start,
        "crash_waste": crash_waste,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default); exit 1 if any misses its target."""
    registry = _registry()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"one or more of: {', '.join(registry)}"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs for development (the rate-limit run: 300 samples)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    names = args.names or list(registry)
    unknown = [name for name in names if name not in registry]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(registry)}")
    command = "python -m bench" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    if before := os.environ.get("EVALBOT_BENCH_BEFORE"):  # cli_start's before, named
        command = f"EVALBOT_BENCH_BEFORE={shlex.quote(before)} {command}"
    results: dict[str, Result] = {}
    for name in names:
        print(f"== {name} ...", flush=True)
        started = time.monotonic()
        try:
            result = registry[name](args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            result = Result(
                name,
                name,
                [Row("ran", "yes", f"crashed: {exc!r}"[:200], False)],
                limit="the benchmark crashed; see its traceback",
            )
        result.date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        result.command = command
        results[name] = result
        for row in result.rows:
            mark = {True: "ok  ", False: "FAIL", None: "    "}[row.passed]
            target = f" (target {row.target})" if row.target else ""
            print(f"   {mark} {row.metric}: {row.measured}{target}")
        print(
            f"   -> {'pass' if result.passed else 'FAIL'} in {time.monotonic() - started:.0f} s",
            flush=True,
        )
    if not args.no_write:
        from bench.report import write

        print(f"wrote {write(results)}")
    print(
        "summary: " + ", ".join(f"{n} {'pass' if r.passed else 'FAIL'}" for n, r in results.items())
    )
    return 0 if all(r.passed for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 3: peak memory of the engine process for a 20,000-sample run."""

from __future__ import annotations

from bench.common import Result, Row, fmt_s
from bench.engine import run_engine

N = 20_000
SMALL = 200
TARGET_MB = 300.0


def memory(quick: bool = False) -> Result:
    """Peak RSS (`ru_maxrss` of the child that runs the engine, so the harness does not
    count) of a 20,000-sample run with no provider latency, next to a 200-sample run's
    to show what grows with the run."""
    big = run_engine(N, latency=0.0, concurrency=64)[0]
    small = run_engine(SMALL, latency=0.0, concurrency=64)[0]
    peak = float(big.out["max_rss_mb"])
    base = float(small.out["max_rss_mb"])
    per_k = (peak - base) / ((N - SMALL) / 1000)
    rows = [
        Row(
            f"peak RSS, {N:,} samples", f"< {TARGET_MB:.0f} MB", f"{peak:.0f} MB", peak < TARGET_MB
        ),
        Row(f"peak RSS, {SMALL} samples", "", f"{base:.0f} MB"),
        Row("growth per 1,000 samples", "", f"{per_k:.1f} MB"),
        Row("wall time (no latency)", "", fmt_s(big.wall_s)),
        Row(
            "samples stored / errored",
            f"{N} / 0",
            f"{big.out['stored']} / {big.out['errored']}",
            big.out["stored"] == N and big.out["errored"] == 0,
        ),
    ]
    return Result(
        name="memory",
        title=f"Memory: peak RSS of a {N:,}-sample run",
        rows=rows,
        limit=(
            "Mostly the interpreter and its libraries (SQLAlchemy, openai, matplotlib are "
            "imported at start-up); what grows with the run is the suite's items, the "
            "per-sample latencies kept for the summary and the pending-work queue."
        ),
        details={"big": big.out, "small": small.out},
    )

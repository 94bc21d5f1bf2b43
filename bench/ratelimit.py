"""Benchmark 2: a provider that allows 600 requests a minute and answers 429 beyond."""

from __future__ import annotations

from bench.common import Result, Row, fmt_s
from bench.engine import run_engine

RPM = 600
CONCURRENCY = 64
TARGET_RATIO = 1.15


def rate_limited(quick: bool = False) -> Result:
    """2,000 samples (300 with --quick) at concurrency 64 against the fake's token bucket
    of 600 requests a minute, emptied just before the run: wall time against the bound
    N / rate (200 s; 30 s quick), and no sample may end up errored."""
    n = 300 if quick else 2_000
    run = run_engine(n, latency=0.1, concurrency=CONCURRENCY, rpm=RPM, drain=True)[0]
    out = run.out
    bound = n / (RPM / 60)
    ratio = run.wall_s / bound
    refused = run.requests - n
    rows = [
        Row(
            f"wall time / bound ({fmt_s(bound)})",
            f"<= {TARGET_RATIO}",
            f"{ratio:.3f}",
            ratio <= TARGET_RATIO,
        ),
        Row("wall time", "", fmt_s(run.wall_s)),
        Row("errored samples", "0", str(out["errored"]), out["errored"] == 0),
        Row("samples stored", str(n), str(out["stored"]), out["stored"] == n),
        Row("429 answers (requests - samples)", "", f"{refused} ({refused / n:.2f} per sample)"),
        Row("engine CPU", "", f"{out['cpu_s']:.1f} s"),
    ]
    return Result(
        name="ratelimit",
        title=f"Rate-limited: {n:,} samples at {RPM} requests/min, concurrency {CONCURRENCY}",
        rows=rows,
        limit=(
            "The provider's refill rate: once the window has shrunk to what 10 requests a "
            "second need, the run is paced by the bucket; the time above the bound is "
            "requests refused while the window shrinks and regrows, and retry-after waits."
        ),
        details={"run": out, "bound_s": bound, "ratio": ratio, "quick": quick},
    )

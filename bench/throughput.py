"""Benchmark 1: throughput of the engine at concurrency 64 against a 100 ms provider."""

from __future__ import annotations

from bench.common import Result, Row
from bench.engine import median_run, run_engine, spread

N = 2_000
LATENCY_S = 0.1
CONCURRENCY = 64
TARGET_RATIO = 1.2


def throughput(quick: bool = False) -> Result:
    """2,000 samples through `build_services` + `RunEngine` (the `evalbot eval run` path),
    SQLite, fake OpenAI in its own process with 100 ms latency; wall time against the
    bound N x latency / concurrency (3.125 s). Median of 3 runs (1 with --quick)."""
    runs = run_engine(N, latency=LATENCY_S, concurrency=CONCURRENCY, repeats=1 if quick else 3)
    run = median_run(runs)
    bound = N * LATENCY_S / CONCURRENCY
    ratio = run.wall_s / bound
    out = run.out
    rows = [
        Row("wall time / bound (3.125 s)", f"<= {TARGET_RATIO}", f"{ratio:.2f}", ratio <= 1.2),
        Row("wall time", "", spread(runs)),
        Row(
            "samples stored / errored",
            f"{N} / 0",
            f"{out['stored']} / {out['errored']}",
            out["stored"] == N and out["errored"] == 0,
        ),
        Row("requests sent (fake's count)", f"{N}", str(run.requests), run.requests == N),
        Row(
            "max requests in flight (fake)",
            f"<= {CONCURRENCY}",
            str(run.max_in_flight),
            run.max_in_flight <= CONCURRENCY,
        ),
        Row("engine CPU per sample", "", f"{out['cpu_s'] / N * 1000:.2f} ms"),
        Row("Slack-side calls (post/update)", "", _calls(out["chat_calls"])),
    ]
    return Result(
        name="throughput",
        title=f"Throughput: {N:,} samples at concurrency {CONCURRENCY}, 100 ms latency",
        rows=rows,
        limit=(
            "What is left above the bound is the fake server and the client sharing two "
            "cores (a bare aiohttp loop with no engine at all reaches about 1.1-1.15x "
            "here), the preflight round trip and the one-off creation of the provider "
            "client in a fresh process; the engine itself spends well under 1 ms of CPU "
            "per sample."
        ),
        details={"runs": [r.out for r in runs], "bound_s": bound, "ratio": ratio},
    )


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"

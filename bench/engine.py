"""Run the real engine in a child process against a fake OpenAI in another."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import MODEL, SUITE_NAME, child_env, fake_openai, fake_stats, write_suite


@dataclass
class EngineRun:
    """One engine run: the child's JSON plus the fake server's request counts."""

    out: dict[str, Any]
    requests: int
    max_in_flight: int

    @property
    def wall_s(self) -> float:
        """Seconds from `execute` to the run's final row (one-off client set-up included)."""
        return float(self.out["wall_s"])


def run_engine(
    n: int,
    *,
    latency: float,
    concurrency: int = 64,
    rpm: int | None = None,
    repeats: int = 1,
    drain: bool = False,
    timeout: float = 900.0,
) -> list[EngineRun]:
    """Run an `n`-sample suite `repeats` times, each in a fresh child and database.

    `drain`: the child exhausts the fake's rate limit just before the run starts.
    """
    from bench.common import run_json_child

    runs: list[EngineRun] = []
    with (
        tempfile.TemporaryDirectory(prefix="evalbot-bench-") as tmp,
        fake_openai(latency=latency, rpm=rpm) as fake,
    ):
        root = Path(tmp)
        write_suite(root / "suites", n)
        for i in range(repeats):
            start = fake_stats(fake.base_url)
            env = child_env(
                {
                    "OPENAI_BASE_URL": fake.base_url,
                    "OPENAI_API_KEY": fake.api_key,
                    "DATABASE_URL": f"sqlite:///{root / f'run{i}.db'}",
                    "EVALBOT_SUITES_DIR": str(root / "suites"),
                    "EVALBOT_CONCURRENCY": str(concurrency),
                }
            )
            args = ["--suite", SUITE_NAME, "--model", MODEL] + (["--drain"] if drain else [])
            out = run_json_child("bench.engine_child", args, env, timeout)
            end = fake_stats(fake.base_url)
            runs.append(
                EngineRun(
                    out,
                    requests=end["by_path"].get("/v1/chat/completions", 0)
                    - start["by_path"].get("/v1/chat/completions", 0)
                    - int(out.get("drained", 0)),
                    max_in_flight=int(end["max_in_flight"]),
                )
            )
    return runs


def median_run(runs: list[EngineRun]) -> EngineRun:
    """The run with the median wall time (the lower middle for an even count)."""
    ordered = sorted(runs, key=lambda r: r.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def spread(runs: list[EngineRun]) -> str:
    """The wall times of all runs, for the report."""
    walls = [r.wall_s for r in runs]
    if len(walls) == 1:
        return f"{walls[0]:.2f} s"
    return (
        f"median {statistics.median(walls):.2f} s, "
        f"range {min(walls):.2f}-{max(walls):.2f} s over {len(walls)} runs"
    )

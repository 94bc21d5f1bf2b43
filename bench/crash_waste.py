"""Benchmark: requests asked twice after `kill -9` (issue 12, item 4).

A 120-sample run at concurrency 4 against a fake provider of fixed latency; the bot's
engine is killed with SIGKILL a third of the way in (40 completion requests seen by the
fake), then started again on the same database and left to finish. Every completion
request the fake saw beyond 120 was asked twice: the results lost with the process.
What a crash may cost is what was in flight (4); before the fix results were written
every 0.5 s, so a half second of throughput was lost too (144 requests at 0.1 s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MODEL, REPO, SUITE_NAME, Result, Row, child_env, fake_openai, fake_stats
from bench.common import write_suite as write_echo_suite

SAMPLES = 120
CONCURRENCY = 4
KILL_AT = SAMPLES // 3
LATENCIES = (0.1, 1.0)


def _completions(base_url: str) -> int:
    by_path: dict[str, int] = fake_stats(base_url)["by_path"]
    return sum(n for path, n in by_path.items() if "chat/completions" in path)


def crash_and_resume(latency: float) -> dict[str, float]:
    """Completion requests in all, and before the kill, for one kill -9 and resume."""
    with (
        tempfile.TemporaryDirectory(prefix="evalbot-crash-") as tmp,
        fake_openai(latency=latency) as fake,
    ):
        root = Path(tmp)
        write_echo_suite(root / "suites", SAMPLES)
        env = child_env(
            {
                "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_API_KEY": fake.api_key,
                "DATABASE_URL": f"sqlite:///{root / 'crash.db'}",
                "EVALBOT_SUITES_DIR": str(root / "suites"),
                "EVALBOT_CONCURRENCY": str(CONCURRENCY),
                "MPLCONFIGDIR": str(root / "mpl"),
            }
        )
        args = [sys.executable, "-m", "bench.crash_child", "--suite", SUITE_NAME]
        args += ["--model", MODEL, "--limit", str(SAMPLES)]
        first = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while (seen := _completions(fake.base_url)) < KILL_AT:
            if first.poll() is not None or time.monotonic() > deadline:
                first.kill()
                raise RuntimeError(f"the run ended or stalled before the kill ({seen} requests)")
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = _completions(fake.base_url)
        second = subprocess.run(
            args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if second.returncode != 0:
            raise RuntimeError(f"the resumed run failed:\n{second.stderr[-2000:]}")
        outcome = json.loads(second.stdout.strip().splitlines()[-1])
        if outcome["status"] != "finished" or outcome["stored"] != SAMPLES:
            raise RuntimeError(f"the resumed run did not finish: {outcome}")
        total = _completions(fake.base_url)
        return {"latency_s": latency, "at_kill": at_kill, "total": total}


def crash_waste(quick: bool = False) -> Result:
    """Requests asked twice after a kill -9, at 0.1 s and 1 s provider latency."""
    rows: list[Row] = []
    details: dict[str, object] = {}
    for latency in LATENCIES[:1] if quick else LATENCIES:
        got = crash_and_resume(latency)
        details[f"{latency:g}s"] = got
        waste = int(got["total"]) - SAMPLES
        rows.append(
            Row(
                f"{latency:g} s latency: completion requests for {SAMPLES} samples "
                f"(kill -9 at {KILL_AT}, saw {int(got['at_kill'])})",
                f"<= {SAMPLES + CONCURRENCY}",
                f"{int(got['total'])} ({waste} asked twice)",
                waste <= CONCURRENCY,
            )
        )
    return Result(
        "crash_waste",
        "Crash waste: requests asked twice after kill -9",
        rows,
        limit=(
            "a sample keeps its place in the concurrency until its result is stored "
            "(commands/eval/runner.py, RunEngine._sample): answers asked for and not stored "
            "never outnumber the concurrency, so a kill re-asks at most what was in flight. "
            "A run stops holding, for good, when grading and that wait take over 1/25 of "
            "the provider's answer time (a fast provider at high concurrency, a heavy "
            "grader): its results are then written in batches of concurrency/4 to keep "
            "throughput, and a kill may re-ask up to a batch more. Before (written every "
            "0.5 s): 144 requests at 0.1 s latency; written at concurrency/4 without "
            "holding: 125 at 1 s"
        ),
        details=details,
    )

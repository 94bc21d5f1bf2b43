"""Benchmark 6 (reference): inspect-ai on the same 2,000 samples, fake and concurrency.

inspect-ai is installed into a throwaway venv under /tmp (never into the project) on
first use; if it cannot be installed or run, the benchmark says so and passes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, SUITE_NAME, Result, Row, fake_openai, fake_stats, fmt_s, write_suite
from bench.engine import run_engine

N = 2_000
LATENCY_S = 0.1
CONCURRENCY = 64
VENV = Path(tempfile.gettempdir()) / "evalbot-bench-inspect-venv"
INSTALL_TIMEOUT_S = 600


def _python() -> Path:
    """The throwaway venv's interpreter, with inspect-ai installed (created on first use)."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import inspect_ai"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "inspect-ai", "openai"],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    return python


def _skipped(why: str) -> Result:
    return Result(
        name="reference",
        title="Reference: inspect-ai on the same samples (skipped)",
        rows=[Row("inspect-ai run", "optional", f"skipped: {why}"[:300])],
        limit="not measured here.",
    )


def reference(quick: bool = False) -> Result:
    """inspect-ai (`openai-api` provider, chat completions, exact-match scorer,
    max_connections=64) against the fake at 100 ms, next to one engine run of the same
    samples; wall time of inspect's `eval()` call vs the engine's `execute`."""
    try:
        python = _python()
    except (OSError, subprocess.SubprocessError) as exc:
        return _skipped(f"inspect-ai did not install ({exc!r})")
    with (
        tempfile.TemporaryDirectory(prefix="evalbot-ref-") as tmp,
        fake_openai(latency=LATENCY_S) as fake,
    ):
        root = Path(tmp)
        write_suite(root / "suites", N)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "FAKE_BASE_URL": fake.base_url,
            "FAKE_API_KEY": fake.api_key,
        }
        before = fake_stats(fake.base_url)["requests"]
        proc = subprocess.run(
            [
                str(python),
                str(REPO / "bench" / "reference_child.py"),
                str(root / "suites" / SUITE_NAME / "eval.jsonl"),
                str(CONCURRENCY),
                str(root / "logs"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        sent = fake_stats(fake.base_url)["requests"] - before - 1
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return _skipped(f"inspect-ai failed: {proc.stderr.strip()[-200:]}")
    ref = json.loads(lines[-1])
    ours = run_engine(N, latency=LATENCY_S, concurrency=CONCURRENCY)[0].out
    bound = N * LATENCY_S / CONCURRENCY
    rows = [
        Row(
            "evalbot engine: wall (ratio to 3.125 s)",
            "",
            f"{fmt_s(ours['wall_s'])} ({ours['wall_s'] / bound:.2f})",
        ),
        Row(
            "inspect-ai eval(): wall (ratio)",
            "",
            f"{fmt_s(ref['wall_s'])} ({ref['wall_s'] / bound:.2f})",
        ),
        Row(
            "CPU per sample: evalbot / inspect-ai",
            "",
            f"{ours['cpu_s'] / N * 1000:.2f} / {ref['cpu_s'] / N * 1000:.2f} ms",
        ),
        Row(
            "pass rate: evalbot / inspect-ai",
            "same",
            f"{ours['passed'] / N:.3f} / {ref['accuracy']:.3f}",
            abs(ours["passed"] / N - float(ref["accuracy"])) < 1e-9,
        ),
        Row("requests: evalbot / inspect-ai", "", f"{ours['samples']} / {sent}"),
        Row(
            "peak RSS: evalbot / inspect-ai",
            "",
            f"{ours['max_rss_mb']:.0f} / {ref['max_rss_mb']:.0f} MB",
        ),
    ]
    return Result(
        name="reference",
        title=f"Reference: inspect-ai on the same {N:,} samples, concurrency {CONCURRENCY}",
        rows=rows,
        limit=(
            "inspect-ai is CPU-bound on this 2-core machine: per sample it runs the openai "
            "SDK's typed request path, builds its transcript and event log and writes an "
            "eval log, so its wall time is its CPU time, not the provider's latency."
        ),
        details={"inspect": ref, "evalbot": ours},
    )

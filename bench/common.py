"""Shared pieces of the benchmarks: results, the machine, suites, child processes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUITE_NAME = "bench-echo"
MODEL = "gpt-4.1-mini"


@dataclass
class Row:
    """One line of a benchmark's table: a metric, its target and what was measured."""

    metric: str
    target: str
    measured: str
    passed: bool | None = None  # None: informational, no target


@dataclass
class Result:
    """What a benchmark returns: table rows, a sentence on its limit, raw numbers."""

    name: str
    title: str
    rows: list[Row]
    limit: str
    details: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    date: str = ""

    @property
    def passed(self) -> bool:
        """True when no row with a target failed."""
        return all(row.passed is not False for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (for the data block of docs/benchmarks.md)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        """The inverse of `to_json`."""
        rows = [Row(**row) for row in data["rows"]]
        return cls(**{**data, "rows": rows})


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM, Python and OS of this machine."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
                break
    return {
        "nproc": str(os.cpu_count() or 0),
        "cpu": cpu,
        "ram": f"{ram_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def write_suite(root: Path, n: int, *, fail_every: int = 10) -> Path:
    """A string_check suite of `n` items under `root`; the fake echoes the user message,
    so every `fail_every`-th item (whose label differs) fails and the rest pass."""
    folder = root / SUITE_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suite.yaml").write_text(
        f"name: {SUITE_NAME}\n"
        "description: Echo the item back (benchmark)\n"
        "data: eval.jsonl\n"
        "input:\n"
        "  - role: system\n    content: Repeat the question word for word.\n"
        '  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: echo\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.label }}"\n'
        "  operation: eq\n"
        "sampling: {temperature: 0, max_completion_tokens: 16}\n",
        encoding="utf-8",
    )
    with (folder / "eval.jsonl").open("w", encoding="utf-8") as data:
        for i in range(n):
            q = f"What is item number {i}?"
            label = q if fail_every <= 0 or i % fail_every else "something else"
            data.write(json.dumps({"q": q, "label": label}) + "\n")
    return root


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child Python process: the repo on the path, no .env surprises."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "OPENAI_", "EVALBOT_", "DATABASE_URL"))
    }
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_json_child(
    module: str, args: list[str], env: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """Run `python -m module args` and parse the JSON object on its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} exited with {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextmanager
def fake_openai(*, latency: float, rpm: int | None = None) -> Iterator[Any]:
    """The fake OpenAI server in its own process (its CPU is not the bot's)."""
    sys.path.insert(0, str(REPO))
    from tests.fakes.openai_server import run_in_subprocess

    with run_in_subprocess(latency=latency, rpm=rpm, models=[MODEL]) as fake:
        yield fake


def fake_stats(base_url: str) -> dict[str, Any]:
    """GET /_fake/stats of a fake server (request counts, max in flight)."""
    import urllib.request

    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_fake/stats", timeout=10) as resp:
        stats: dict[str, Any] = json.loads(resp.read())
    return stats


def fmt_s(seconds: float) -> str:
    """Seconds with a sensible number of digits."""
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"

"""docs/benchmarks.md: written from results, merged with those of earlier runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.common import REPO, Result, machine

DOC = REPO / "docs" / "benchmarks.md"
ORDER = (
    "throughput",
    "ratelimit",
    "memory",
    "ack",
    "charts",
    "reference",
    "cli_start",
    "crash_waste",
)
_DATA = re.compile(r"<!-- bench-data\n(.*?)\n-->", re.S)

CHANGES = """\
## Changes made because of these measurements

Measured with the throughput benchmark (2,000 samples, 100 ms, concurrency 64; bound
3.125 s) on this machine, profiled with py-spy and cProfile.

| change | file | before | after |
| --- | --- | --- | --- |
| Completions are posted with a plain aiohttp session per provider (the SDK client's \
headers and base URL; errors classified exactly as before) instead of the SDK's typed \
`create`, whose params transform, httpx2 request building and pydantic parsing cost \
~2.4 ms of CPU per request (a bare-loop comparison: typed `create` over \
DefaultAioHttpClient 1.79x the bound, over the default httpx2 transport 3.27x, \
`client.post` 1.54x, plain aiohttp 1.13x) | bot/gateway.py | 10.05 s, ratio 3.22, \
4.35 ms CPU/sample | 3.88 s, ratio 1.24, 0.72 ms CPU/sample |
| Sample results are plain rows (`storage.runs.ResultRow`) inserted with one Core \
executemany per batch, instead of a `SampleResult` model object built per sample on the \
event loop (a third of the loop's CPU after the change above); the duplicate check reads \
only the batch's index range, not every stored result of the run on every flush | \
commands/eval/runner.py, storage/runs.py | 0.72 ms CPU/sample | 0.49 ms CPU/sample, \
3.83 s, ratio 1.23 |
| `evalbot eval run` imports no Slack (bolt, sdk), aiohttp web server, APScheduler or \
alembic (build_services moved to bot/wiring.py), and a fresh database is created from \
the models and stamped at the head revision instead of replaying the migrations. \
Measured 2026-12-01 with the machine at load average 9-14 on 2 cores (other sessions' \
test suites), before and after interleaved, so the absolute times are several times \
those of a quiet machine: `git archive a439d44 | tar -x -C /tmp/before && \
EVALBOT_BENCH_BEFORE=/tmp/before python -m bench cli_start` (its first-request part) | \
bot/cli.py, bot/wiring.py, storage/db.py | launch to first request median 14.96 s \
(6 starts); 3.4-4.2 s CPU per start | median 10.19 s (6 starts); 2.9-3.1 s CPU per \
start; the openai SDK's import is now about 60% of what is left |
| The terminal path imports no openai SDK: completions' headers and base URL are computed \
as the SDK's client would (bot/openai_headers.py; a test compares them, value and \
order), and the SDK is imported by the calls that use it (models, embeddings, \
fine-tuning). Then its modules load with the garbage collector paused and are frozen \
(about 136,000 long-lived objects the collector kept rescanning; max RSS unchanged, \
78 MB). Measured 2026-12-02 at load average 6-7 on 2 cores, the three checkouts' starts \
interleaved, 5 each after a warm-up (bench/cli_start.py's method; `git archive` of \
2211d45 and 28761a0) | bot/gateway.py, bot/openai_headers.py, bot/finetune_backend.py, \
bot/cli.py, bot/terminal.py | 2211d45: launch to first request median 5.29 s, process \
CPU median 3.53 s; `-X importtime` self time 4.18 s, openai 33%, sqlalchemy 17% | \
without the SDK (28761a0): 3.69 s, CPU 2.36 s; with the collector paused and frozen \
(HEAD): 2.71 s, CPU 1.53 s; import self time 1.92 s: sqlalchemy 29%, aiohttp 14%, \
commands 11%, storage 10% (of which the 12 table classes 200 ms), pydantic 6% |
| A sample holds its place in the concurrency until its result is stored, from the \
start of every run, and a run stops holding for good once grading and that wait cost \
over 4% of the provider's answer time (16 waits judged). Before, results were written \
as soon as concurrency/4 waited but the next request did not wait for the write. \
Measured with `python -m bench crash_waste` and, for the cost, `python -m bench \
throughput` run in a `git archive 96c8bf9` checkout and this one alternately, three \
times each, on a quiet machine | commands/eval/runner.py | 1 s latency: 125 requests \
(in flight + 1); holding on every sample (tried first): 124 but 8% slower at \
concurrency 64 (1.26 against 1.17 of the bound) | 124 and 124 at 0.1 s and 1 s, in \
two runs; throughput 1.18, 1.18, 1.18 against 1.17, 1.18, 1.19 before |
| `evalbot eval run` checks its model names with the provider before anything starts \
(as `/eval run` does), while the schema is made in a thread; and the benchmark's \
starts after the warm-up read cached byte-code (this sandbox sets \
PYTHONDONTWRITEBYTECODE, so each start compiled the checkout: about 0.15 s, not what \
a user's machine does). Quiet machine, `python -m bench cli_start` | bot/cli.py, \
bench/cli_start.py | first request median 0.79 s | 0.63-0.75 s, against a floor of \
0.60 s (the libraries alone, same runs) |

Looked at and left alone, because the measurements did not point at them: the limiter's
`notify_all` (at most a few waiters at concurrency 64: the pool has concurrency + 4
workers), the progress updates (4-8 `chat.update` calls a run), grading (string_check is
under 1% of the profile), and AIMD/retry-after (30 refused requests for 2,000 samples at
600/min, 1.5%).
"""


def load_previous() -> dict[str, Result]:
    """Results stored in the current docs/benchmarks.md, by benchmark name."""
    if not DOC.exists():
        return {}
    found = _DATA.search(DOC.read_text(encoding="utf-8"))
    if not found:
        return {}
    return {name: Result.from_json(data) for name, data in json.loads(found.group(1)).items()}


def write(results: dict[str, Result]) -> Path:
    """Rewrite docs/benchmarks.md with `results` (merged over the previous ones)."""
    merged = load_previous()
    merged.update(results)
    info = machine()
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (`make bench`); `python -m bench <name>` reruns one "
        "benchmark and keeps the others' last results, `--quick` shortens the rate-limit "
        "run for development. Every engine run goes through `bot.wiring.build_services` and "
        "`RunEngine` with SQLite, exactly as `evalbot eval run` does, in a child process; "
        "the fake OpenAI server (tests/fakes/openai_server.py) runs in a process of its own.",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, "
        f"Python {info['python']}, {info['os']}.",
        "",
        "The machine is shared with other work (test suites of other sessions ran during "
        "these measurements): wall times vary by 5-10% from run to run, chart renders by "
        "up to 40%. Throughput takes the median of three runs.",
        "",
        "| benchmark | result | run on | command |",
        "| --- | --- | --- | --- |",
    ]
    ordered = [merged[name] for name in ORDER if name in merged]
    for result in ordered:
        verdict = "pass" if result.passed else "**FAIL**"
        lines.append(f"| {result.title} | {verdict} | {result.date} | `{result.command}` |")
    for result in ordered:
        lines += ["", f"## {result.title}", "", "| metric | target | measured | pass/fail |"]
        lines.append("| --- | --- | --- | --- |")
        for row in result.rows:
            verdict = {True: "pass", False: "**FAIL**", None: ""}[row.passed]
            lines.append(f"| {row.metric} | {row.target} | {row.measured} | {verdict} |")
        lines += ["", f"What limits it: {result.limit}"]
        lines += ["", f"Run {result.date} with `{result.command}`."]
    lines += ["", CHANGES.rstrip()]
    data = json.dumps({r.name: r.to_json() for r in ordered}, indent=1, sort_keys=True)
    lines += ["", "<!-- bench-data", data.replace("-->", "-- >"), "-->", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")
    return DOC

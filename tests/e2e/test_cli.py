"""The `evalbot` console script as a CI pipeline runs it: a subprocess, a scrubbed env."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

import pytest

from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
EVALBOT = REPO / ".venv" / "bin" / "evalbot"
EXAMPLES = REPO / "examples"
MODEL = "gpt-4.1-mini"
OTHER = "gpt-4o"


def scrubbed_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Nothing of the developer's environment: PATH, HOME and what the test sets."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), **(extra or {})}


def start(*args: str, home: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(EVALBOT), *args],
        env=scrubbed_env(home, extra_env),
        cwd=home,  # no .env file of the repo is read
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"evalbot did not finish within 60 s: {err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def evalbot(
    *args: str, home: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script in a scrubbed environment and wait for it."""
    return finish(start(*args, home=home, extra_env=extra_env))


def routing_items(n: int = 10) -> list[dict[str, str]]:
    lines = (EXAMPLES / "ticket-routing" / "eval.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:n]]


def eval_env(fake: FakeOpenAI, home: Path) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": fake.api_key,
        "DATABASE_URL": f"sqlite:///{home / 'evalbot.db'}",
        "EVALBOT_SUITES_DIR": str(EXAMPLES),
    }


def script_answers(fake: FakeOpenAI, right: int, model: str = MODEL) -> None:
    """The first `right` of ten tickets get their label, the rest a wrong one."""
    for i, item in enumerate(routing_items()):
        wrong = "other" if item["label"] != "other" else "billing"
        fake.answer(model, item["ticket"], item["label"] if i < right else wrong)


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill a process the test started, if it still runs."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@dataclass
class Ran:
    fake: FakeOpenAI
    result: subprocess.CompletedProcess[str]
    home: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ran]]:
    """`evalbot eval run` processes, each with its own fake, folder and database.

    They start together because each pays about 2 s of imports; run one after another
    they would make this file slow.
    """
    cases = {
        "above": (7, ["ticket-routing", MODEL, "--limit", "10", "--min-pass-rate", "0.5"]),
        "below": (3, ["ticket-routing", MODEL, "--limit", "10", "--min-pass-rate", "0.5"]),
        "unknown": (0, ["no-such-suite", MODEL]),
        "two": (7, ["ticket-routing", MODEL, OTHER, "--limit", "10"]),
        "no-model": (7, ["ticket-routing", "gpt-5-nope", "--limit", "10"]),
    }
    with contextlib.ExitStack() as stack:
        started = {}
        for name, (right, args) in cases.items():
            fake = stack.enter_context(FakeOpenAI(models=[MODEL, OTHER]))
            script_answers(fake, right)
            script_answers(fake, 3, OTHER)
            home = tmp_path_factory.mktemp(name)
            proc = start("eval", "run", *args, home=home, extra_env=eval_env(fake, home))
            stack.callback(stop, proc)
            started[name] = (fake, proc, home)
        yield {name: Ran(fake, finish(proc), home) for name, (fake, proc, home) in started.items()}


# -- suites check -----------------------------------------------------------------------------


def test_suites_check_passes_on_the_examples(tmp_path: Path) -> None:
    done = evalbot("suites", "check", str(EXAMPLES), home=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(re.match(r"ok\s+ticket-routing: 36 samples, grader string_check", x) for x in lines)
    assert any(re.match(r"ok\s+support-summaries: \d+ samples", x) for x in lines)
    assert "error" not in done.stderr


def test_suites_check_names_file_line_and_field_of_a_broken_suite(tmp_path: Path) -> None:
    suite = tmp_path / "suites" / "routing"
    suite.mkdir(parents=True)
    (suite / "suite.yaml").write_text(
        dedent(
            """\
            name: routing
            description: Route tickets
            data: eval.jsonl
            input:
              - role: user
                content: "{{ item.ticket }}"
            grader:
              type: string_check
              name: label
              input: "{{ sample.output_text }}"
              reference: "{{ item.label }}"
              operation: nope
            pass_threshold: 1.0
            """
        )
    )
    (suite / "eval.jsonl").write_text('{"ticket": "Charged twice", "label": "billing"}\n')
    done = evalbot("suites", "check", str(tmp_path / "suites"), home=tmp_path)
    assert done.returncode == 1
    match = re.search(r"(\S*suite\.yaml):(\d+): field \"([^\"]+)\": (.+)", done.stderr)
    assert match, done.stderr
    assert match.group(1).endswith("routing/suite.yaml")
    assert (match.group(2), match.group(3)) == ("12", "grader.operation")
    assert "nope" in match.group(4)
    assert "ok " not in done.stdout


# -- eval run -------------------------------------------------------------------------------


def test_eval_run_above_the_floor_exits_0(runs: dict[str, Ran]) -> None:
    done, fake = runs["above"].result, runs["above"].fake
    assert done.returncode == 0, done.stderr
    assert "7/10 passed" in done.stdout
    assert "70.0%" in done.stdout and "95% CI" in done.stdout
    assert "below --min-pass-rate" not in done.stderr
    asked = [r.json["messages"][-1]["content"] for r in fake.requests_to("/chat/completions")]
    assert sorted(asked) == sorted(item["ticket"] for item in routing_items())


def test_eval_run_below_the_floor_exits_1(runs: dict[str, Ran]) -> None:
    done = runs["below"].result
    assert done.returncode == 1, done.stderr
    assert "3/10 passed" in done.stdout
    assert f"below --min-pass-rate 50%: {MODEL}" in done.stderr


def test_failing_samples_are_listed_with_what_was_expected(runs: dict[str, Ran]) -> None:
    out = runs["below"].result.stdout
    # All of them fit: no "(7 of 7 shown)"; items numbered from 1 with their data line.
    assert "Failing samples of r1\n" in out and "shown" not in out
    assert "item 10 (line 10)" in out
    assert routing_items()[9]["ticket"] in out


def test_eval_run_of_an_unknown_suite_exits_2(runs: dict[str, Ran]) -> None:
    done, fake = runs["unknown"].result, runs["unknown"].fake
    assert done.returncode == 2
    assert "There is no suite no-such-suite" in done.stderr
    assert "ticket-routing" in done.stderr, "the suites that exist are named"
    assert fake.count("/chat") == 0, "nothing was asked of the provider"


def test_a_run_of_two_models_prints_their_paired_comparison(runs: dict[str, Ran]) -> None:
    done = runs["two"].result
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The first model named is the baseline; 4 items went from right to wrong.
    assert f"Comparison r1 · ticket-routing · baseline {MODEL} (70.0%)" in out
    # Ten pairs are too few for 4 regressions to be significant: it says so.
    assert re.search(rf"{OTHER}: -40\.0 pp .* 0 improved, 4 regressed → no significant", out)
    assert f"Flipped samples, {MODEL} → {OTHER} (4 of 4 shown)" in out
    assert "chart written to comparison.png" in done.stderr
    chart = runs["two"].home / "comparison.png"  # the working folder's
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_a_model_the_provider_does_not_serve_is_refused_before_anything_starts(
    runs: dict[str, Ran],
) -> None:
    done, fake = runs["no-model"].result, runs["no-model"].fake
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"gpt-5-nope is not a model the default provider serves. Did you mean {OTHER}?",
        "Nothing was started.",
    ]
    assert fake.count("/chat") == 0, "nothing was asked of the provider"
    runs_stored = sqlite3.connect(runs["no-model"].home / "evalbot.db").execute(
        "SELECT count(*) FROM eval_runs"
    )
    assert runs_stored.fetchone() == (0,), "no failed run is left in the team's history"


def test_ctrl_c_cancels_the_run_so_no_bot_resumes_it(tmp_path: Path) -> None:
    with FakeOpenAI(models=[MODEL], latency=0.5) as fake:
        script_answers(fake, 10)
        env = {**eval_env(fake, tmp_path), "EVALBOT_CONCURRENCY": "1"}
        proc = start("eval", "run", "ticket-routing", MODEL, home=tmp_path, extra_env=env)
        try:
            deadline = time.monotonic() + 30
            while not fake.requests_to("/chat") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert fake.requests_to("/chat"), "the run never started"
            proc.send_signal(signal.SIGINT)
            result = finish(proc)
        finally:
            stop(proc)
    assert result.returncode == 130
    with sqlite3.connect(tmp_path / "evalbot.db") as conn:
        rows = list(conn.execute("SELECT status, owner FROM eval_runs"))
    assert rows == [("cancelled", None)]


# What the terminal runner loads: start-up is its imports (docs/benchmarks.md, cli_start).
HEAVY = ("openai", "slack_sdk", "slack_bolt", "matplotlib", "apscheduler", "alembic")


def test_a_whole_terminal_run_loads_no_sdk_slack_charts_or_alembic(tmp_path: Path) -> None:
    """The real run, from start to summary: completions go out on the gateway's own HTTP
    path, so the openai SDK (most of the old start-up) is never imported, nor anything
    of Slack, charts, the scheduler or migrations."""
    modules = tmp_path / "modules.json"
    probe = (
        "import atexit, json, pathlib, sys\n"
        f"out = pathlib.Path({str(modules)!r})\n"
        "atexit.register(lambda: out.write_text(json.dumps(sorted(sys.modules))))\n"
        "from bot.cli import main\n"
        "raise SystemExit(main())\n"
    )
    with FakeOpenAI(models=[MODEL]) as fake:
        script_answers(fake, 10)
        env = {**eval_env(fake, tmp_path), "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "python"), "-c", probe, "eval", "run"]
            + ["ticket-routing", MODEL, "--limit", "3"],
            env=scrubbed_env(tmp_path, env),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            done = finish(proc)
        finally:
            stop(proc)
        asked = len(fake.requests_to("/chat/completions"))
    assert done.returncode == 0, done.stderr
    assert "3/3 passed" in done.stdout and asked == 3
    loaded = set(json.loads(modules.read_text()))
    assert "commands.eval.runner" in loaded  # the probe saw the run's modules
    assert sorted({m for m in loaded if m.split(".")[0] in HEAVY}) == []

"""`evalbot suites import` as a user runs it, then `evalbot eval run` on what it made.

An OpenAI eval with one of its runs, a promptfoo config and an openai/evals registry
file (tests/data/imports/) are imported by the console script; the two first are then
run against the fake OpenAI server with scripted answers, and the pass counts match
what the original tools' grading gives for those answers (worked out in each test).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from commands.suites.graders import Sample, close_grader
from commands.suites.grading import grade_sample
from commands.suites.suite import load_suite
from tests.e2e.test_cli import MODEL, eval_env, evalbot
from tests.fakes.openai_server import FakeOpenAI
from tests.unit.test_graders import FakeModels

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"

CAPITALS = {  # country -> the model's answer
    "France": "Paris",
    "Japan": "Tokyo",
    "Italy": "Rome.",  # exact fails, close (fuzzy 0.8) passes
    "Spain": "Madrid",
    "Canada": "Ottawa",
    "Australia": "Sydney",  # both fail
}
SUPPORT = {  # question -> the model's answer
    "Can I get a refund?": '{"answer": "Yes, a refund within 30 days"}',
    "When are you open?": '{"answer": "We open at 9am"}',
    "I forgot my password": '{"answer": "sorry, reset it on the login page"}',  # not-contains
    "Where is my parcel?": '{"answer": "Use your tracking link"}',
}


def suites_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    folder.mkdir()
    return folder


def test_openai_eval_with_its_run_imports_and_runs_with_openais_pass_counts(
    tmp_path: Path,
) -> None:
    home, to = tmp_path, suites_dir(tmp_path)
    done = evalbot(
        "suites", "import", str(DATA / "capitals_eval.json"), "--run",
        str(DATA / "capitals_run.json"), "--to", str(to), home=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "eval 'Capital cities' -> suite Capital-cities" in lines
    assert "testing_criteria[0] string_check 'exact' -> graders[0] as is" in lines
    assert "run input_messages.template (2 messages) -> input" in lines
    assert "run source file_content (6 items) -> eval.jsonl" in lines
    assert any(line.startswith("run model 'gpt-4.1-mini' -> not part of a suite") for line in lines)
    assert lines[-1] == "ok: suite Capital-cities loads: 6 items, criteria exact, close"

    with FakeOpenAI(models=[MODEL]) as fake:
        for country, answer in CAPITALS.items():
            fake.answer(MODEL, f"What is the capital of {country}?", answer)
        env = {**eval_env(fake, home), "EVALBOT_SUITES_DIR": str(to)}
        ran = evalbot("eval", "run", "Capital-cities", MODEL, home=home, extra_env=env)
        sent = fake.requests_to("/chat/completions")[0].json
    # OpenAI counts an item as passed when every testing criterion passes: 4 of 6.
    assert ran.returncode == 0, ran.stderr
    assert "4/6 passed" in ran.stdout
    assert "criteria: exact 4/6 (66.7%) · close 5/6 (83.3%)" in ran.stdout, ran.stdout
    assert sent["messages"][0] == {
        "role": "developer",
        "content": "Answer with the city name only.",
    }
    assert sent["temperature"] == 0 and sent["max_completion_tokens"] == 20


def test_promptfoo_config_imports_and_runs_with_promptfoos_pass_counts(tmp_path: Path) -> None:
    home, to = tmp_path, suites_dir(tmp_path)
    done = evalbot(
        "suites", "import", str(DATA / "support_promptfoo.yaml"), "--to", str(to), home=home
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "prompts[0] (chat JSON, 2 messages) -> input" in out
    assert "tests[1].assert[2] javascript -> not carried over" in out
    assert "providers openai:gpt-4.1-mini -> not part of a suite (nor their options)" in out
    assert "asserts (12 deterministic) -> item checks, graded by python 'checks'" in out
    assert (to / "Support-replies" / "imported_checks.py").is_file()

    with FakeOpenAI(models=[MODEL]) as fake:
        for question, answer in SUPPORT.items():
            fake.answer(MODEL, f"Customer: {question}", answer)
        env = {**eval_env(fake, home), "EVALBOT_SUITES_DIR": str(to)}
        ran = evalbot("eval", "run", "Support-replies", MODEL, home=home, extra_env=env)
    # promptfoo: refund, hours and shipping pass every assert; password fails not-contains.
    assert ran.returncode == 0, ran.stderr
    assert "3/4 passed" in ran.stdout


async def test_evals_registry_match_grades_as_openai_evals_does(tmp_path: Path) -> None:
    from commands.importers import import_suite

    report = import_suite(DATA / "registry.yaml", to=tmp_path)
    assert report.ok, report.lines
    assert (
        "class evals.elsuite.basic.match:Match -> python grader 'checks' (match against ideal)"
        in (report.lines)
    )
    assert report.folder is not None
    suite = load_suite(report.folder)
    assert suite.messages(suite.items[1]) == [
        {"role": "system", "content": "Answer with the number only."},
        {"role": "user", "content": "3+5"},
    ]
    answers = ["4", "eight", "4"]  # Match: the answer starts with one of the ideals
    try:
        verdicts = [
            await grade_sample(suite.criteria, item, Sample(answer), FakeModels())
            for item, answer in zip(suite.items, answers, strict=True)
        ]
    finally:
        await close_grader(suite.criteria[0].grader)
    assert [v.status for v in verdicts] == ["passed", "passed", "failed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(DATA / "capitals_eval.json")], "no items: give --run"),
        ([str(DATA / "arithmetic_samples.jsonl")], "neither JSON nor YAML"),
        ([str(DATA / "support_promptfoo.yaml"), "--run", str(DATA / "capitals_run.json")],
         "--run belongs to an OpenAI eval"),
    ],
)  # fmt: skip
def test_what_cannot_be_imported_says_why_and_exits_1(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from commands.importers import import_suite

    report = import_suite(
        Path(args[0]),
        to=tmp_path,
        run=Path(args[2]) if len(args) > 2 else None,
    )
    assert not report.ok
    assert message in report.lines[-1]
    assert not any(tmp_path.iterdir())  # nothing written


def test_an_existing_suite_is_never_overwritten(tmp_path: Path) -> None:
    from commands.importers import import_suite

    shutil.copytree(DATA, tmp_path / "data")
    first = import_suite(tmp_path / "data" / "registry.yaml", to=tmp_path / "suites")
    again = import_suite(tmp_path / "data" / "registry.yaml", to=tmp_path / "suites")
    assert first.ok and not again.ok
    assert "already holds a suite" in again.lines[-1]
    items = (tmp_path / "suites" / "arithmetic" / "eval.jsonl").read_text().splitlines()
    assert json.loads(items[0])["ideal"] == "4"

"""A model's answer and a dataset item full of mrkdwn reach the channel as text.

The real bot process, the fake Slack and the fake OpenAI server: the failing samples in
the run's thread show `<!channel>`, a mention, a disguised link, `*`, `_` and backticks
escaped and inside code, so Slack would notify nobody and link nowhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.harness import start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

HOSTILE = "<!channel> <@U0ADMIN> <https://evil.example|docs> *now* _please_ `x`"


def write_suite(root: Path) -> Path:
    folder = root / "hostile"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        "name: hostile\n"
        "data: eval.jsonl\n"
        "input:\n"
        '  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: label\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.label }}"\n'
        "  operation: eq\n"
    )
    rows = [{"q": f"{HOSTILE} #{i}", "label": f"{HOSTILE} expected"} for i in range(2)]
    (folder / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_hostile_answers_and_items_are_shown_literally(tmp_path: Path) -> None:
    with FakeSlack() as slack, FakeOpenAI(models=["m1"]) as openai:
        for i in range(2):
            openai.answer("m1", f"{HOSTILE} #{i}", f"{HOSTILE} answer")
        bot = start_bot(tmp_path, slack, openai, suites_dir=write_suite(tmp_path / "suites"))
        try:
            status, _, _, _ = bot.slash(slack, "run hostile m1")
            assert status == 200
            msg = slack.wait_for(
                lambda: next((m for m in slack.messages("C1") if "finished" in m.text), None)
            )
            assert "0/2 passed" in msg.text
            thread = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)
            failures = next(m for m in thread if "Failing samples" in m.text)
            text = failures.text
            # Nothing Slack would act on: no <...> sequence survives.
            assert re.findall(r"<[^<>]*>", text) == []
            assert "&lt;!channel&gt;" in text and "&lt;@U0ADMIN&gt;" in text
            assert "&lt;https://evil.example|docs&gt;" in text
            # input, expected and got: each one code span, emphasis inert inside it.
            for line in text.splitlines()[1:]:
                if line.strip().startswith(("input:", "expected:", "got:")):
                    value = line.split(":", 1)[1].strip()
                    assert value.startswith("`") and value.endswith("`")
                    assert value.count("`") == 2, "a backtick in the text cannot end the code"
            assert "*now*" not in re.sub(r"`[^`]*`", "", text)
        finally:
            bot.stop()


def test_the_terminal_prints_answers_and_items_as_written(tmp_path: Path) -> None:
    """`evalbot eval run`: no markup is stripped (`What is 964 * 7?` keeps its `*`)."""
    from tests.e2e.test_cli import evalbot

    suites = tmp_path / "suites"
    folder = suites / "arith"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        "name: arith\ndata: eval.jsonl\n"
        'input:\n  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: answer\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.a }}"\n'
        "  operation: eq\n"
    )
    (folder / "eval.jsonl").write_text(json.dumps({"q": "What is 964 * 7?", "a": "6748"}) + "\n")
    with FakeOpenAI(models=["m1"]) as openai:
        openai.answer("m1", "What is 964 * 7?", f"{HOSTILE} <@U1>")
        done = evalbot(
            "eval",
            "run",
            "arith",
            "m1",
            home=tmp_path,
            extra_env={
                "OPENAI_BASE_URL": openai.base_url,
                "OPENAI_API_KEY": openai.api_key,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'evalbot.db'}",
                "EVALBOT_SUITES_DIR": str(suites),
            },
        )
    assert done.returncode == 0, done.stderr
    assert "0/1 passed" in done.stdout
    assert "input: What is 964 * 7?" in done.stdout
    assert f"got: {HOSTILE} <@U1>" in done.stdout
    assert "&lt;" not in done.stdout, "the terminal is not Slack: nothing is escaped"

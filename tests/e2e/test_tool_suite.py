"""The workflow-tools example run end to end: tools go out, calls come back as
sample.output_tools, and each criterion's pass rate is reported, on either API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import EXAMPLES, MODEL, eval_env, evalbot
from tests.fakes.openai_server import FakeOpenAI

ITEMS = [
    json.loads(line)
    for line in (EXAMPLES / "workflow-tools" / "eval.jsonl").read_text().splitlines()
]


@pytest.mark.parametrize("style", ["chat", "responses"])
def test_workflow_tools_example(tmp_path: Path, style: str) -> None:
    assert len(ITEMS) >= 30
    with FakeOpenAI(models=[MODEL]) as fake:
        for i, item in enumerate(ITEMS[:10]):
            if i < 7:  # right tool, right arguments
                fake.answer_tool(MODEL, item["request"], item["tool"], item["args"])
            elif i < 9:  # right tool, wrong arguments
                wrong = {key: "?" for key in item["args"]}
                fake.answer_tool(MODEL, item["request"], item["tool"], wrong)
            else:  # the wrong workflow
                fake.answer_tool(MODEL, item["request"], "escalate_to_human", {"reason": "legal"})
        env = {**eval_env(fake, tmp_path), "EVALBOT_API_STYLE": f"default={style}"}
        ran = evalbot(
            "eval", "run", "workflow-tools", MODEL, "--limit", "10", home=tmp_path, extra_env=env
        )
        path = "/chat/completions" if style == "chat" else "/responses"
        sent = fake.requests_to(path)
    assert ran.returncode == 0, ran.stderr
    assert "7/10 passed" in ran.stdout
    assert "criteria: tool 9/10 (90.0%) · arguments 7/10 (70.0%)" in ran.stdout
    assert len(sent) == 10
    body = sent[0].json
    assert body["tool_choice"] == "required"
    if style == "chat":  # each API gets its own tool shape
        names = [t["function"]["name"] for t in body["tools"]]
    else:
        names = [t["name"] for t in body["tools"]]
    assert names[:2] == ["open_billing_case", "file_bug"] and len(names) == 7

"""Suite graders become what OpenAI's fine-tuning API takes, checked by the fake's
grader validation endpoint (POST /v1/fine_tuning/alpha/graders/validate) through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from commands.suites.graders.openai_schema import (
    RftGraderRefused,
    suite_rft_grader,
    to_rft_grader,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.unit.test_graders_guide import GUIDE_EXAMPLES


def no_files(name: str) -> str:
    raise AssertionError(f"unexpected read of {name}")


async def validate(fake: FakeOpenAI, grader: dict[str, Any]) -> None:
    client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
    try:
        await client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
    finally:
        await client.close()


@pytest.mark.parametrize("name", sorted(set(GUIDE_EXAMPLES) - {"label_model"}))
async def test_every_guide_grader_converts_to_one_the_api_accepts(
    fake_openai: FakeOpenAI, name: str
) -> None:
    spec = GUIDE_EXAMPLES[name]
    grader = to_rft_grader(spec, read_source=no_files)
    assert "pass_threshold" not in grader
    await validate(fake_openai, grader)


async def test_evalbot_keys_are_stripped_names_filled_and_sources_inlined(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / "check.py").write_text("def grade(sample, item):\n    return 1.0\n")
    spec = {
        "type": "multi",
        "graders": {
            "code": {"type": "python", "source_file": "check.py", "timeout": 3, "memory_mb": 256},
            "judge": {
                "type": "score_model",
                "model": "o4-mini",
                "input": [{"role": "user", "content": "{{ sample.output_text }}"}],
                "sampling_params": {"max_completion_tokens": 16},
                "pass_threshold": 0.7,
            },
            "close": {
                "type": "text_similarity",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.ref }}",
                "evaluation_metric": "rouge_l",
            },
        },
        "calculate_output": "min(code, judge, close)",
    }
    with pytest.raises(openai.BadRequestError):  # as written, the API refuses it
        await validate(fake_openai, spec)
    grader = suite_rft_grader(spec, folder=tmp_path, name="routing")
    assert grader["name"] == "routing"
    code = grader["graders"]["code"]
    assert code == {
        "type": "python",
        "name": "code",
        "source": "def grade(sample, item):\n    return 1.0\n",
    }
    assert grader["graders"]["judge"]["sampling_params"] == {"max_completions_tokens": 16}
    assert "pass_threshold" not in grader["graders"]["judge"]
    await validate(fake_openai, grader)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (GUIDE_EXAMPLES["label_model"], "label_model"),
        (
            {
                "type": "text_similarity",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.ref }}",
                "evaluation_metric": "cosine",
                "pass_threshold": 0.8,
            },
            "cosine",
        ),
        (
            {
                "type": "multi",
                "graders": {"inner": GUIDE_EXAMPLES["tool_call"]},
                "calculate_output": "inner",
            },
            "multi grader inside a multi grader",
        ),
    ],
)
def test_graders_rft_cannot_take_are_refused_with_the_reason(
    spec: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RftGraderRefused, match=reason):
        to_rft_grader(spec, read_source=no_files)


async def test_the_fake_refuses_a_nested_multi_as_openai_does(fake_openai: FakeOpenAI) -> None:
    nested = {
        "type": "multi",
        "name": "outer",
        "graders": {"inner": GUIDE_EXAMPLES["tool_call"] | {"name": "inner"}},
        "calculate_output": "inner",
    }
    with pytest.raises(openai.BadRequestError):
        await validate(fake_openai, nested)

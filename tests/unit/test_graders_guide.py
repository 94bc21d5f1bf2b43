"""Every example of OpenAI's graders guide loads and scores as the guide says.

The specs below are the guide's JSON examples (names and texts as it writes them);
each is compiled by evalbot and graded on a sample whose expected score the guide's
rules give. They also go through the RFT conversion (tests/integration/test_rft_grader.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from commands.suites.graders import Sample, close_grader, compile_grader
from commands.suites.graders.arithmetic import parse_formula
from commands.suites.grading import criterion, grade_sample
from tests.unit.test_graders import FakeModels

STRING_CHECK: dict[str, Any] = {
    "type": "string_check",
    "name": "Example string check grader",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference_answer }}",
    "operation": "eq",
}
TEXT_SIMILARITY: dict[str, Any] = {
    "type": "text_similarity",
    "name": "Example text similarity grader",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference_answer }}",
    "pass_threshold": 0.8,
    "evaluation_metric": "fuzzy_match",
}
SCORE_MODEL: dict[str, Any] = {
    "type": "score_model",
    "name": "Example score model grader",
    "input": [
        {
            "role": "user",
            "content": (
                "Score how close the reference answer is to the model answer. Score 1.0 if "
                "they are the same and 0.0 if they are different. Return just a floating "
                "point score\n\nReference answer: {{item.reference_answer}}\n\n"
                "Model answer: {{sample.output_text}}"
            ),
        }
    ],
    "model": "o4-mini-2025-04-16",
    "sampling_params": {
        "temperature": 1,
        "top_p": 1,
        "seed": 42,
        "max_completions_tokens": 32768,
        "reasoning_effort": "medium",
    },
}
SCORE_MODEL_IMAGE: dict[str, Any] = {
    "type": "score_model",
    "name": "Example score model grader",
    "input": [
        {
            "role": "user",
            "type": "message",
            "content": [
                {"type": "input_text", "text": "Score the image against {{ item.reference }}"},
                {"type": "input_image", "image_url": "{{ item.image_url }}", "detail": "auto"},
            ],
        }
    ],
    "model": "o4-mini-2025-04-16",
    "range": [0, 1],
    "pass_threshold": 0.5,
}
LABEL_MODEL: dict[str, Any] = {
    "name": "First label grader",
    "type": "label_model",
    "model": "gpt-4o-2024-08-06",
    "input": [
        {
            "type": "message",
            "role": "system",
            "content": {
                "type": "input_text",
                "text": "Classify the sentiment of the following statement as one of "
                "positive, neutral, or negative",
            },
        },
        {
            "type": "message",
            "role": "user",
            "content": {"type": "input_text", "text": "Statement: {{item.response}}"},
        },
    ],
    "passing_labels": ["positive"],
    "labels": ["positive", "neutral", "negative"],
}
PYTHON: dict[str, Any] = {
    "type": "python",
    "name": "Example python grader",
    "image_tag": "2025-05-08",
    "source": (
        "from rapidfuzz import fuzz, utils\n\n"
        "def grade(sample, item) -> float:\n"
        '    output_text = sample["output_text"]\n'
        '    reference_answer = item["reference_answer"]\n'
        "    return fuzz.WRatio(output_text, reference_answer, "
        "processor=utils.default_process) / 100.0\n"
    ),
}
MULTI: dict[str, Any] = {
    "type": "multi",
    "name": "name and email",
    "graders": {
        "name": {
            "name": "name_grader",
            "type": "text_similarity",
            "input": "{{sample.output_json.name}}",
            "reference": "{{item.name}}",
            "evaluation_metric": "fuzzy_match",
            "pass_threshold": 0.9,
        },
        "email": {
            "name": "email_grader",
            "type": "string_check",
            "input": "{{sample.output_json.email}}",
            "reference": "{{item.email}}",
            "operation": "eq",
        },
    },
    "calculate_output": "(name + email) / 2",
}
TOOL_CALL: dict[str, Any] = {
    "type": "multi",
    "name": "tool call",
    "graders": {
        "function_name": {
            "name": "function_name",
            "type": "string_check",
            "input": "get_acceptors",
            "reference": "{{sample.output_tools[0].function.name}}",
            "operation": "eq",
        },
        "arguments": {
            "name": "arguments",
            "type": "string_check",
            "input": '{"smiles": "{{item.smiles}}"}',
            "reference": "{{sample.output_tools[0].function.arguments}}",
            "operation": "eq",
        },
    },
    "calculate_output": "0.5 * function_name + 0.5 * arguments",
}
GUIDE_EXAMPLES = {
    "string_check": STRING_CHECK,
    "text_similarity": TEXT_SIMILARITY,
    "score_model": SCORE_MODEL,
    "score_model_image": SCORE_MODEL_IMAGE,
    "label_model": LABEL_MODEL,
    "python": PYTHON,
    "multi": MULTI,
    "tool_call": TOOL_CALL,
}


def tool_sample(name: str, arguments: str) -> Sample:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return Sample("", output_tools=[call])


async def score(
    spec: dict[str, Any], sample: Sample, item: dict[str, Any], replies: list[str] | None = None
) -> tuple[float, bool, FakeModels]:
    # The suite folder is the python grader's working directory: any existing one does.
    grader = compile_grader(json.loads(json.dumps(spec)), folder=Path(__file__).parent)
    models = FakeModels(replies or [])
    try:
        verdict = await grade_sample([criterion("c", grader, spec, 1.0)], item, sample, models)
    finally:
        await close_grader(grader)
    assert verdict.status != "errored", verdict.error
    return verdict.criteria["c"]["score"], verdict.status == "passed", models


@pytest.mark.parametrize("name", sorted(GUIDE_EXAMPLES))
def test_every_guide_example_loads(name: str) -> None:
    compile_grader(GUIDE_EXAMPLES[name], folder=Path("suite"))


async def test_string_check_eq() -> None:
    item = {"reference_answer": "Paris"}
    assert (await score(STRING_CHECK, Sample("Paris"), item))[:2] == (1.0, True)
    assert (await score(STRING_CHECK, Sample("paris"), item))[:2] == (0.0, False)


async def test_text_similarity_passes_at_its_own_threshold() -> None:
    item = {"reference_answer": "The Eiffel Tower is in Paris"}
    value, passed, _ = await score(TEXT_SIMILARITY, Sample("The Eiffel tower is in Paris."), item)
    assert value >= 0.8 and passed
    value, passed, _ = await score(TEXT_SIMILARITY, Sample("London"), item)
    assert value < 0.8 and not passed


async def test_score_model_sends_the_guides_sampling_params() -> None:
    item = {"reference_answer": "Paris"}
    value, passed, models = await score(SCORE_MODEL, Sample("Paris"), item, ["1.0"])
    assert (value, passed) == (1.0, True)
    model, messages, params = models.calls[0]
    assert model == "o4-mini-2025-04-16"
    assert params["max_completion_tokens"] == 32768 and params["reasoning_effort"] == "medium"
    assert "Reference answer: Paris\n\nModel answer: Paris" in messages[0]["content"]
    # a judgement outside the range is clipped, a non-numeric one scores 0
    assert (await score(SCORE_MODEL, Sample("x"), item, ["1.7"]))[0] == 1.0
    assert (await score(SCORE_MODEL, Sample("x"), item, ["very close"]))[:2] == (0.0, False)


async def test_score_model_with_an_image_part() -> None:
    item = {"reference": "a cat", "image_url": "https://example.com/cat.png"}
    value, passed, models = await score(SCORE_MODEL_IMAGE, Sample("x"), item, ["0.75"])
    assert (value, passed) == (0.75, True)
    content = models.calls[0][1][0]["content"]
    assert content == [
        {"type": "text", "text": "Score the image against a cat"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]


async def test_label_model_with_content_objects() -> None:
    item = {"response": "I love this product"}
    assert (await score(LABEL_MODEL, Sample(""), item, ["positive"]))[:2] == (1.0, True)
    assert (await score(LABEL_MODEL, Sample(""), item, ["negative"]))[:2] == (0.0, False)


async def test_python_grader_with_rapidfuzz_as_in_the_guide() -> None:
    from rapidfuzz import fuzz, utils

    item = {"reference_answer": "fuzzy wuzzy had no hair"}
    expected = (
        fuzz.WRatio(
            "Fuzzy Wuzzy was a bear", item["reference_answer"], processor=utils.default_process
        )
        / 100
    )
    value, _, _ = await score(PYTHON, Sample("Fuzzy Wuzzy was a bear"), item)
    assert value == pytest.approx(expected)


async def test_multi_name_and_email() -> None:
    item = {"name": "Ada Lovelace", "email": "ada@example.com"}
    both = Sample('{"name": "Ada Lovelace", "email": "ada@example.com"}')
    assert (await score(MULTI, both, item))[0] == 1.0
    wrong_email = Sample('{"name": "Ada Lovelace", "email": "ada@example.org"}')
    assert (await score(MULTI, wrong_email, item))[0] == 0.5


async def test_tool_call_grader_reads_output_tools() -> None:
    item = {"smiles": "CCO"}
    right = tool_sample("get_acceptors", '{"smiles": "CCO"}')
    assert (await score(TOOL_CALL, right, item))[0] == 1.0
    wrong_args = tool_sample("get_acceptors", '{"smiles": "CCC"}')
    assert (await score(TOOL_CALL, wrong_args, item))[0] == 0.5
    wrong_tool = tool_sample("get_donors", '{"smiles": "CCO"}')
    assert (await score(TOOL_CALL, wrong_tool, item))[0] == 0.5


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("a^2 + b^2", 0.5),  # ^ is power: 0.25 + 0.25 (Python's XOR gave 0.03125)
        ("a + b ^ 2", 0.75),  # ^ binds tighter than +
        ("-a ^ 2 + 1", 0.75),  # and tighter than unary minus
        ("2 ^ 3 ^ 2 / 1024", 0.5),  # right-associative: 2^9
        ("(a +\n b)\n / 2", 0.5),  # a formula may span lines
        ("min(a, b) * sqrt(4) / 2 + abs(-0) + floor(0.9) + ceil(0) + log(exp(0))", 0.5),
    ],
)
def test_calculate_output_as_the_guide_writes_it(formula: str, expected: float) -> None:
    assert parse_formula(formula, {"a", "b"}).evaluate({"a": 0.5, "b": 0.5}) == pytest.approx(
        expected
    )


def test_a_multi_inside_a_multi_is_refused() -> None:
    nested = {**MULTI, "graders": {**MULTI["graders"], "inner": TOOL_CALL}}
    with pytest.raises(Exception, match="may not contain another multi"):
        compile_grader(nested, folder=Path("suite"))


@pytest.mark.parametrize("name", ["ﬁle", "cafe\u0301"])
def test_grader_names_that_cannot_be_referenced_are_refused(name: str) -> None:
    spec = {**MULTI, "graders": {name: STRING_CHECK}, "calculate_output": name}
    with pytest.raises(Exception, match="ligatures and accents"):
        compile_grader(spec, folder=Path("suite"))

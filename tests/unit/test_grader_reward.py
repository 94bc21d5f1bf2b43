"""GRPO's reward is the suite's own grader: the same code that grades evals."""

from __future__ import annotations

import json
from pathlib import Path

from bot.training.reward import GraderReward, completion_text
from bot.training.rows import ITEM_COLUMN, convert
from commands.suites.graders.openai_schema import suite_rft_grader

LABEL = {
    "type": "string_check",
    "name": "label",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.label }}",
    "operation": "ilike",
}


def items(*labels: str) -> list[str]:
    return [json.dumps({"label": label}) for label in labels]


def test_string_check_scores_plain_and_conversational_completions(tmp_path: Path) -> None:
    reward = GraderReward(LABEL, folder=tmp_path)
    try:
        completions = ["billing", [{"role": "assistant", "content": "Bug"}], "nope"]
        scores = reward(completions, **{ITEM_COLUMN: items("billing", "bug", "other")})
        assert scores == [1.0, 1.0, 0.0]
        assert reward.calls == 3
    finally:
        reward.close()


def test_python_and_multi_graders_score_through_the_grader_runtime(tmp_path: Path) -> None:
    (tmp_path / "grade.py").write_text(
        "def grade(sample, item):\n"
        "    return 1.0 if sample['output_text'].strip() == item['label'] else 0.25\n"
    )
    spec = {
        "type": "multi",
        "name": "both",
        "graders": {
            "exact": {"type": "python", "name": "exact", "source_file": "grade.py"},
            "label": LABEL,
        },
        "calculate_output": "(exact + label) / 2",
    }
    # The job runs away from the suite folder: the source goes inline, as the bot sends it.
    inline = suite_rft_grader(spec, folder=tmp_path, name="reward-test")
    assert "source_file" not in inline["graders"]["exact"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reward = GraderReward(inline, folder=elsewhere)
    try:
        scores = reward(["billing", "other"], **{ITEM_COLUMN: items("billing", "bug")})
        assert scores == [1.0, 0.125]
    finally:
        reward.close()


def test_an_answer_the_grader_cannot_grade_scores_zero_and_training_goes_on(
    tmp_path: Path,
) -> None:
    spec = {**LABEL, "reference": "{{ item.missing_field }}"}
    reward = GraderReward(spec, folder=tmp_path)
    try:
        assert reward(["billing"], **{ITEM_COLUMN: items("billing")}) == [0.0]
        assert reward.failures == 1
    finally:
        reward.close()


def test_openai_rows_become_trl_rows() -> None:
    sft = convert(
        "sft",
        [
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    {"role": "assistant", "content": "yo", "weight": 1},
                ]
            }
        ],
    )
    assert sft == [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    ]
    dpo = convert(
        "dpo",
        [
            {
                "input": {"messages": [{"role": "user", "content": "q"}]},
                "preferred_output": [{"role": "assistant", "content": "a"}],
                "non_preferred_output": [{"role": "assistant", "content": "b"}],
            }
        ],
    )
    assert dpo[0]["chosen"] == [{"role": "assistant", "content": "a"}]
    assert dpo[0]["prompt"] == [{"role": "user", "content": "q"}]
    (rft,) = convert("rft", [{"messages": [{"role": "user", "content": "q"}], "label": "bug"}])
    assert json.loads(rft[ITEM_COLUMN]) == {"label": "bug"}
    assert completion_text([{"role": "assistant", "content": "x"}, {"content": "y"}]) == "xy"

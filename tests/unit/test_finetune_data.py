"""Fine-tuning data: every rule names the line and the field; rows built from runs are exact."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from commands.finetune.estimates import (
    estimate_tokens,
    rft_cost_note,
    rft_cost_usd,
    training_cost_usd,
)
from commands.finetune.sources import (
    TrainingSet,
    dpo_from_runs,
    from_file,
    from_suite_files,
    rft_from_suite,
    sft_from_run,
)
from commands.finetune.validation import DataError, DataIssue, parse_jsonl, validate
from commands.prices import PriceTable
from commands.suites.suite import Suite, load_suite
from storage.tables import SampleResult

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "Answer with one word, billing, bug or other."


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(REPO / "examples" / "ticket-routing")


def sft_row(answer: str = "billing", question: str = "Refund me") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def dpo_row(good: str = "billing", bad: str = "bug", question: str = "Refund") -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def rft_row(question: str = "Refund", **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], **fields}


def rows_of(row: dict[str, Any], n: int = 10) -> list[dict[str, Any]]:
    """`n` distinct copies of a valid row (the question differs)."""
    out = []
    for i in range(n):
        copy = json.loads(json.dumps(row))
        if "input" in copy:
            copy["input"]["messages"][-1]["content"] += f" #{i}"
        else:
            copy["messages"][1]["content"] += f" #{i}"
        out.append(copy)
    return out


def issues(method: Any, rows: list[dict[str, Any]], **kwargs: Any) -> list[DataIssue]:
    kwargs.setdefault("source", "train.jsonl")
    with pytest.raises(DataError) as info:
        validate(method, rows, **kwargs)
    return info.value.issues


def result(i: int, status: str, output: str | None, model: str = "m", run: int = 1) -> SampleResult:
    return SampleResult(run_id=run, model=model, item_index=i, status=status, output=output)


# -- issues and errors -------------------------------------------------------------


def test_issue_str_names_source_line_and_field() -> None:
    issue = DataIssue("train.jsonl", 12, "messages[2].role", "must be one of x")
    assert str(issue) == 'train.jsonl:12: field "messages[2].role": must be one of x'
    assert str(DataIssue("data.jsonl", None, None, "empty")) == "data.jsonl: empty"
    assert str(DataIssue("data.jsonl", 3, None, "bad")) == "data.jsonl:3: bad"


def test_data_error_lists_up_to_twenty_issues() -> None:
    many = [DataIssue("t.jsonl", n, "messages", "missing") for n in range(1, 26)]
    text = str(DataError(many))
    lines = text.splitlines()
    assert "25 problems" in lines[0]
    assert len(lines) == 1 + 20 + 1
    assert lines[1] == '• t.jsonl:1: field "messages": missing'
    assert lines[-1] == "… and 5 more"
    assert len(DataError(many).issues) == 25
    assert str(DataError(many[:1])) == 't.jsonl:1: field "messages": missing'


# -- JSONL -------------------------------------------------------------------------


def test_parse_jsonl_skips_blank_lines_and_bom() -> None:
    content = b'\xef\xbb\xbf{"a": 1}\n\n  \n{"b": "\xc3\xa9"}\n'
    assert parse_jsonl("d.jsonl", content) == [{"a": 1}, {"b": "é"}]
    assert parse_jsonl("d.jsonl", b"") == []


def test_parse_jsonl_names_every_bad_line() -> None:
    content = b'{"a": 1}\n{"a": \n[1, 2]\n"text"\n\xff\xfe\n{"x": NaN}\n'
    with pytest.raises(DataError) as info:
        parse_jsonl("d.jsonl", content)
    found = [(i.line, i.message.split(":")[0]) for i in info.value.issues]
    assert found == [
        (2, "not valid JSON"),
        (3, "each line must be a JSON object, not an array"),
        (4, "each line must be a JSON object, not a string"),
        (5, "not UTF-8 text"),
        (6, "not valid JSON"),
    ]
    assert all(i.source == "d.jsonl" for i in info.value.issues)


# -- SFT ---------------------------------------------------------------------------


def test_sft_valid_rows_pass() -> None:
    validate("sft", rows_of(sft_row()), source="t.jsonl")


def test_sft_suite_train_file_validates(suite: Suite) -> None:
    assert suite.train_path is not None
    rows = parse_jsonl("train.jsonl", suite.train_path.read_bytes())
    validate("sft", rows, source="train.jsonl")


def test_sft_bad_role_names_line_and_field() -> None:
    rows = rows_of(sft_row())
    rows[4]["messages"][0]["role"] = "human"
    [issue] = issues("sft", rows)
    assert issue.line == 5 and issue.field == "messages[0].role"
    assert str(issue) == (
        'train.jsonl:5: field "messages[0].role": '
        "must be one of system, user, assistant, developer, tool (not 'human')"
    )


def test_sft_line_numbers_follow_the_file_through_blank_lines(suite: Suite) -> None:
    rows = rows_of(sft_row())
    rows[2]["messages"][2]["content"] = ""
    content = b"\n".join(json.dumps(r).encode() for r in rows[:2]) + b"\n\n\n"
    content += b"\n".join(json.dumps(r).encode() for r in rows[2:]) + b"\n"
    with pytest.raises(DataError) as info:
        from_file("sft", "data.jsonl", content, suite)
    [issue] = info.value.issues
    assert (issue.source, issue.line, issue.field) == ("data.jsonl", 5, "messages[2].content")
    assert issue.message == "must not be empty"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r.pop("messages"), "messages", "missing"),
        (lambda r: r.update(messages=[]), "messages", "must be a non-empty list"),
        (lambda r: r.update(messages="hi"), "messages", "must be a non-empty list"),
        (lambda r: r["messages"][1].pop("content"), "messages[1].content", "missing"),
        (lambda r: r["messages"][1].update(content="  "), "messages[1].content", "must not be"),
        (lambda r: r["messages"][1].update(content=42), "messages[1].content", "must be a non"),
        (lambda r: r["messages"].pop(), "messages[1].role", "the last message must be the"),
        (lambda r: r["messages"][1].update(role="system"), "messages", "at least one user"),
        (lambda r: r["messages"][2].update(weight=0.5), "messages[2].weight", "must be 0 or 1"),
        (lambda r: r["messages"][1].update(weight=1), "messages[1].weight", "only assistant"),
        (lambda r: r["messages"][2].update(weight=0), "messages", "every assistant message"),
        (
            lambda r: r["messages"][1].update(content=[{"type": "audio"}]),
            "messages[1].content[0].type",
            "must be text",
        ),
        (
            lambda r: r["messages"][1].update(content=[{"type": "text", "text": ""}]),
            "messages[1].content[0].text",
            "must be a non-empty string",
        ),
        (lambda r: r.update(mesages=[]), "mesages", 'unknown key (did you mean "messages"?)'),
    ],
)
def test_sft_rules(change: Any, field: str, message: str) -> None:
    rows = rows_of(sft_row())
    change(rows[6])
    [issue] = issues("sft", rows)
    assert (issue.line, issue.field) == (7, field)
    assert message in issue.message


def test_sft_accepts_text_parts_weights_and_tool_calls() -> None:
    rows = rows_of(sft_row())
    for row in rows:
        text = row["messages"][1]["content"]
        row["messages"][1]["content"] = [{"type": "text", "text": text}]
        row["messages"][2]["weight"] = 1
        row["messages"].insert(
            2, {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}], "weight": 0}
        )
        row["messages"].insert(3, {"role": "tool", "tool_call_id": "c1", "content": "ok"})
    validate("sft", rows, source="t.jsonl")


def test_every_issue_is_reported_at_once() -> None:
    rows = rows_of(sft_row())
    rows[0]["messages"][0]["role"] = "bot"
    rows[9]["mesages"] = rows[9].pop("messages")
    found = issues("sft", rows)
    assert [(i.line, i.field) for i in found] == [
        (1, "messages[0].role"),
        (10, "mesages"),
        (10, "messages"),
    ]


# -- counts and duplicates ---------------------------------------------------------


def test_too_few_examples() -> None:
    [issue] = issues("sft", rows_of(sft_row(), 7))
    assert (issue.line, issue.field) == (None, None)
    assert issue.message == "needs at least 10 examples, found 7"
    validate("sft", rows_of(sft_row(), 3), source="t.jsonl", min_examples=3)


def test_too_many_examples() -> None:
    [issue] = issues("sft", rows_of(sft_row(), 12), max_examples=11)
    assert issue.message == "has 12 examples; a job takes at most 11"


def test_duplicates_are_a_warning_not_an_error(suite: Suite) -> None:
    rows = rows_of(sft_row())
    rows += [rows[0], rows[3], rows[3]]
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    data = from_file("sft", "dup.jsonl", content, suite)
    assert data.duplicates == 3 and len(data.train) == 13
    assert data.warnings == ["3 rows repeat an earlier row exactly in file dup.jsonl"]


# -- DPO ---------------------------------------------------------------------------


def test_dpo_valid_rows_pass() -> None:
    validate("dpo", rows_of(dpo_row()), source="t.jsonl")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r.pop("input"), "input", "missing"),
        (lambda r: r["input"].pop("messages"), "input.messages", "missing"),
        (
            lambda r: r["input"]["messages"].append({"role": "assistant", "content": "x"}),
            "input.messages[1].role",
            "must not end with an assistant message",
        ),
        (lambda r: r["input"].update(messages=[{"role": "bot"}]), "input.messages[0].role", ""),
        (lambda r: r.pop("preferred_output"), "preferred_output", "missing"),
        (
            lambda r: r["preferred_output"].append({"role": "assistant", "content": "y"}),
            "preferred_output",
            "exactly one",
        ),
        (
            lambda r: r.update(non_preferred_output={"role": "assistant", "content": "y"}),
            "non_preferred_output",
            "exactly one",
        ),
        (
            lambda r: r["preferred_output"][0].update(role="user"),
            "preferred_output[0].role",
            "must be assistant",
        ),
        (
            lambda r: r["non_preferred_output"][0].update(content=""),
            "non_preferred_output[0].content",
            "non-empty",
        ),
        (
            lambda r: r["non_preferred_output"][0].update(
                content=r["preferred_output"][0]["content"]
            ),
            "non_preferred_output",
            "is the same as preferred_output",
        ),
        (
            lambda r: r.update(prefered_output=[]),
            "prefered_output",
            'did you mean "preferred_output"',
        ),
    ],
)
def test_dpo_rules(change: Any, field: str, message: str) -> None:
    rows = rows_of(dpo_row())
    change(rows[2])
    found = issues("dpo", rows)
    assert (found[0].line, found[0].field) == (3, field)
    assert message in found[0].message


def test_sft_given_dpo_rows_says_so() -> None:
    found = issues("sft", rows_of(dpo_row()))
    assert len(found) == 10 and found[0].line == 1
    assert found[0].message.startswith("this is a DPO row")


def test_dpo_missing_user_message() -> None:
    rows = rows_of(dpo_row())
    rows[1]["input"]["messages"][0]["role"] = "system"
    [issue] = issues("dpo", rows)
    assert (issue.line, issue.field) == (2, "input.messages")
    assert issue.message == "needs at least one user message"


# -- RFT ---------------------------------------------------------------------------


def test_rft_rows_need_the_fields_the_grader_reads(suite: Suite) -> None:
    rows = [rft_row(f"q{i}", label="bug", ticket="t") for i in range(10)]
    validate("rft", rows, source="t.jsonl", suite=suite)
    del rows[3]["label"]
    [issue] = issues("rft", rows, suite=suite)
    assert (issue.line, issue.field) == (4, "label")
    assert issue.message == "missing, used by the grader as {{ item.label }}"


def test_rft_nested_fields_of_multi_graders(suite: Suite) -> None:
    grader = {
        "type": "multi",
        "graders": {
            "a": {
                "type": "string_check",
                "name": "a",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.meta.answer }}",
                "operation": "eq",
            },
            "b": {"type": "python", "name": "b", "source": "def grade(s, i): return {{x}}"},
        },
        "calculate_output": "a",
    }
    other = dataclasses.replace(suite, grader=grader)
    rows = [rft_row(f"q{i}", meta={"answer": "x"}) for i in range(10)]
    validate("rft", rows, source="t.jsonl", suite=other)
    rows[9]["meta"] = "flat"
    [issue] = issues("rft", rows, suite=other)
    assert (issue.line, issue.field) == (10, "meta.answer")
    assert issue.message.startswith("meta is not an object")


def test_rft_must_not_end_with_assistant(suite: Suite) -> None:
    rows = [rft_row(f"q{i}", label="bug") for i in range(10)]
    rows[0]["messages"].append({"role": "assistant", "content": "bug"})
    [issue] = issues("rft", rows, suite=suite)
    assert (issue.line, issue.field) == (1, "messages[1].role")
    assert "must not end with an assistant message" in issue.message


def test_rft_rejects_label_model_grader(suite: Suite) -> None:
    other = dataclasses.replace(suite, grader={"type": "label_model", "input": []})
    [issue] = issues("rft", [rft_row(f"q{i}") for i in range(10)], suite=other)
    assert issue.field == "grader.type" and "label_model" in issue.message


def test_rft_from_suite(suite: Suite) -> None:
    data = rft_from_suite(suite)
    assert data.method == "rft" and data.valid is None
    assert data.source == "suite eval.jsonl"
    assert len(data.train) == len(suite.items) == 36
    assert data.train[0] == {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": "I was charged twice for my March subscription. "
                "Can you refund one of the payments?",
            },
        ],
        "ticket": "I was charged twice for my March subscription. "
        "Can you refund one of the payments?",
        "label": "billing",
    }
    assert from_suite_files("rft", suite).train == data.train


def test_rft_from_suite_rejects_reserved_item_fields(suite: Suite) -> None:
    items = [dict(item) for item in suite.items]
    items[1]["messages"] = "oops"
    with pytest.raises(DataError) as info:
        rft_from_suite(dataclasses.replace(suite, items=items))
    [issue] = info.value.issues
    assert (issue.source, issue.line, issue.field) == ("eval.jsonl", 2, "messages")


# -- from the suite's files and shared files ---------------------------------------


def test_from_suite_files(suite: Suite) -> None:
    data = from_suite_files("sft", suite)
    assert data.method == "sft" and data.source == "suite train.jsonl"
    assert len(data.train) == 24 and data.valid is not None and len(data.valid) == 12
    assert data.duplicates == 0
    assert data.tokens == estimate_tokens(data.train) > 0
    assert data.jsonl().decode().splitlines()[0] == json.dumps(data.train[0], ensure_ascii=False)
    assert len(data.jsonl("valid").splitlines()) == 12


def test_from_suite_files_without_train(suite: Suite) -> None:
    other = dataclasses.replace(suite, train_path=None)
    with pytest.raises(DataError) as info:
        from_suite_files("dpo", other)
    assert "add `train: train.jsonl` to suite.yaml" in str(info.value)
    assert "data=" in str(info.value)


def test_from_suite_files_sft_file_is_not_dpo(suite: Suite) -> None:
    with pytest.raises(DataError) as info:
        from_suite_files("dpo", suite)
    first = info.value.issues[0]
    assert (first.source, first.line, first.field) == ("train.jsonl", 1, None)
    assert first.message.startswith("this is an SFT row (messages)")
    assert len(info.value.issues) == 24 + 12
    assert "valid.jsonl" in {i.source for i in info.value.issues}


def test_from_file(suite: Suite) -> None:
    rows = rows_of(dpo_row())
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    data = from_file("dpo", "prefs.jsonl", content, suite)
    assert data.source == "file prefs.jsonl" and data.train == rows and data.valid is None
    with pytest.raises(ValueError):
        data.jsonl("valid")


# -- from runs ---------------------------------------------------------------------


def expected_prompt(suite: Suite, i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": suite.items[i]["ticket"]},
    ]


def test_sft_from_run(suite: Suite) -> None:
    results = [result(i, "passed", suite.items[i]["label"]) for i in range(12)]
    results[3] = result(3, "failed", "wrong")
    results[5] = result(5, "errored", None)
    results.reverse()
    data = sft_from_run(suite, results)
    assert data.method == "sft" and data.source == "run r1 (passing outputs)"
    assert len(data.train) == 10
    assert data.train[0] == {
        "messages": [*expected_prompt(suite, 0), {"role": "assistant", "content": "billing"}]
    }
    kept = [row["messages"][1]["content"] for row in data.train]
    assert kept == [suite.items[i]["ticket"] for i in (0, 1, 2, 4, 6, 7, 8, 9, 10, 11)]
    validate("sft", data.train, source="x")


def test_sft_from_run_with_too_few_passing(suite: Suite) -> None:
    results = [result(i, "passed" if i < 7 else "failed", "bug") for i in range(20)]
    with pytest.raises(DataError) as info:
        sft_from_run(suite, results)
    assert str(info.value) == "run r1 (passing outputs): needs at least 10 examples, found 7"


def test_sft_from_run_wants_one_model(suite: Suite) -> None:
    with pytest.raises(ValueError):
        sft_from_run(suite, [result(0, "passed", "a", "m1"), result(1, "passed", "b", "m2")])


def test_dpo_from_runs(suite: Suite) -> None:
    a: list[SampleResult] = []
    b: list[SampleResult] = []
    for i in range(14):
        if i < 6:  # a right, b wrong
            a.append(result(i, "passed", "billing", run=1))
            b.append(result(i, "failed", "bug", run=2))
        elif i < 10:  # a wrong, b right
            a.append(result(i, "failed", "other", run=1))
            b.append(result(i, "passed", "bug", run=2))
        elif i == 10:  # both pass: no pair
            a.append(result(i, "passed", "bug", run=1))
            b.append(result(i, "passed", "bug", run=2))
        elif i == 11:  # errored: skipped
            a.append(result(i, "errored", None, run=1))
            b.append(result(i, "passed", "bug", run=2))
        elif i == 12:  # both fail
            a.append(result(i, "failed", "x", run=1))
            b.append(result(i, "failed", "y", run=2))
        else:  # only in a
            a.append(result(i, "passed", "bug", run=1))
    data = dpo_from_runs(suite, a, b)
    assert data.method == "dpo"
    assert data.source == "runs r1 and r2 (passing vs failing outputs)"
    assert len(data.train) == 10
    assert data.train[0] == {
        "input": {"messages": expected_prompt(suite, 0)},
        "preferred_output": [{"role": "assistant", "content": "billing"}],
        "non_preferred_output": [{"role": "assistant", "content": "bug"}],
    }
    assert data.train[6] == {
        "input": {"messages": expected_prompt(suite, 6)},
        "preferred_output": [{"role": "assistant", "content": "bug"}],
        "non_preferred_output": [{"role": "assistant", "content": "other"}],
    }
    validate("dpo", data.train, source="x")


def test_dpo_from_runs_of_two_models_in_one_run(suite: Suite) -> None:
    a = [result(i, "passed", "billing", "big") for i in range(10)]
    b = [result(i, "failed", "bug", "small") for i in range(10)]
    data = dpo_from_runs(suite, a, b)
    assert data.source == "run r1 (big vs small)"
    assert len(data.train) == 10


def test_dpo_from_runs_with_too_few_pairs(suite: Suite) -> None:
    a = [result(i, "passed", "billing") for i in range(10)]
    with pytest.raises(DataError, match="found 0"):
        dpo_from_runs(suite, a, a)


# -- tokens and cost ---------------------------------------------------------------


def test_token_estimate_is_monotonic() -> None:
    short = sft_row("bug", "x")
    longer = sft_row("bug", "x" * 400)
    assert estimate_tokens([]) == 0
    one = estimate_tokens([short])
    assert one == 3 * 4 + (len(SYSTEM) + 3) // 4 + 1 + 1
    assert estimate_tokens([longer]) > one
    assert estimate_tokens([short, short]) == 2 * one
    assert estimate_tokens([short, longer]) > estimate_tokens([longer])
    assert estimate_tokens([dpo_row()]) == 3 * 4 + 2 + 2 + 1


@pytest.mark.parametrize(
    ("model", "per_million"),
    [
        ("gpt-4.1", 25.0),
        ("gpt-4.1-2025-04-14", 25.0),
        ("gpt-4.1-mini-2025-04-14", 5.0),
        ("openai:gpt-4.1-nano-2025-04-14", 1.5),
        ("gpt-4o-2024-08-06", 25.0),
        ("gpt-4o-mini-2024-07-18", 3.0),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", 3.0),
    ],
)
def test_training_cost_for_snapshots(model: str, per_million: float) -> None:
    prices = PriceTable()
    assert training_cost_usd(prices, "sft", model, 2_000_000, 3) == pytest.approx(6 * per_million)
    assert training_cost_usd(prices, "dpo", model, 500_000, 1) == pytest.approx(per_million / 2)


def test_training_cost_unknown_and_rft() -> None:
    prices = PriceTable()
    assert training_cost_usd(prices, "sft", "llama-3-8b", 1_000_000, 1) is None
    assert training_cost_usd(prices, "rft", "o4-mini", 1_000_000, 1) is None
    assert rft_cost_usd(prices, "o4-mini", 1.5) == pytest.approx(150.0)
    assert rft_cost_usd(prices, "mystery", 1.5) is None
    assert "$100.00 an hour" in rft_cost_note(prices, "o4-mini-2025-04-16")
    assert "per hour" in rft_cost_note(prices, "mystery")


def test_the_prices_file_reaches_training_estimates(tmp_path: Path) -> None:
    """One table for inference and training: EVALBOT_PRICES_FILE overrides both."""
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-4.1-mini: {input: 1, output: 2, training: 10}\n"
        "o4-mini: {input: 1, output: 2, training_hour: 60}\n"
    )
    prices = PriceTable.load(path)
    assert training_cost_usd(prices, "sft", "gpt-4.1-mini", 1_000_000, 2) == pytest.approx(20.0)
    assert prices.price("gpt-4.1-mini") is not None
    assert "$60.00 an hour" in rft_cost_note(prices, "o4-mini")


def test_training_set_is_frozen() -> None:
    data = TrainingSet("sft", [], None, "x", 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.tokens = 1  # type: ignore[misc]

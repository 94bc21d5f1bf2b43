"""Loading suites: every validation error names the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from commands.suites.graders import SuiteError
from commands.suites.suite import InvalidSuite, Suite, load_suite, load_suites

REPO = Path(__file__).resolve().parents[2]

# Line numbers matter: tests below point at them (the grader block starts at line 9).
HEAD = """\
name: routing
description: Route tickets
data: eval.jsonl
input:
  - role: system
    content: Answer with one word.
  - role: user
    content: "{{ item.ticket }}"
"""
STRING_CHECK = """\
grader:
  type: string_check
  name: label
  input: "{{ sample.output_text }}"
  reference: "{{ item.label }}"
  operation: ilike
"""
TAIL = "pass_threshold: 1.0\n"
ITEMS = [
    {"ticket": "Charged twice", "label": "billing"},
    {"ticket": "App crashes", "label": "bug"},
    {"ticket": "Hello", "label": "other"},
]


def write_suite(
    root: Path,
    folder: str = "routing",
    *,
    yaml_text: str | None = None,
    grader: str = STRING_CHECK,
    items: list[Any] | None = None,
    lines: list[str] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """A suite folder under `root`; `lines` overrides the raw JSONL lines."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "suite.yaml").write_text(yaml_text if yaml_text is not None else HEAD + grader + TAIL)
    if lines is None:
        lines = [json.dumps(item) for item in (ITEMS if items is None else items)]
    (path / "eval.jsonl").write_text("".join(line + "\n" for line in lines))
    for name, content in (files or {}).items():
        (path / name).write_text(content)
    return path


def errors_of(folder: Path) -> list[SuiteError]:
    with pytest.raises(InvalidSuite) as caught:
        load_suite(folder)
    return caught.value.errors


def only_error(folder: Path) -> SuiteError:
    errors = errors_of(folder)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Error messages show paths relative to the working directory.
    monkeypatch.chdir(tmp_path)


# -- a good suite ---------------------------------------------------------------------


def test_loads_a_good_suite(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "evals")
    suite = load_suite(folder)
    assert suite.name == "routing"
    assert suite.description == "Route tickets"
    assert suite.data_path == folder / "eval.jsonl"
    assert suite.train_path is None and suite.valid_path is None
    assert suite.items == ITEMS
    assert suite.input[1] == {"role": "user", "content": "{{ item.ticket }}"}
    assert suite.grader["operation"] == "ilike"
    assert suite.pass_threshold == 1.0
    assert (suite.sampling, suite.owners, suite.approvals, suite.self_approval) == (
        {},
        [],
        1,
        False,
    )
    assert suite.tags == []
    assert suite.data_version.startswith("sha256:") and len(suite.data_version) == 7 + 64
    assert suite.messages(ITEMS[0]) == [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "Charged twice"},
    ]


async def test_the_compiled_grader_grades(tmp_path: Path) -> None:
    from commands.suites.graders import Sample

    suite = load_suite(write_suite(tmp_path))
    grade = await suite.grader_impl.grade(ITEMS[0], Sample("Billing"), None)  # type: ignore[arg-type]
    assert grade.score == 1.0


def test_optional_settings_and_tags(tmp_path: Path) -> None:
    text = (
        HEAD
        + STRING_CHECK
        + dedent(
            """\
        pass_threshold: 0.5
        train: train.jsonl
        valid: valid.jsonl
        sampling: {temperature: 0, max_completion_tokens: 20}
        owners: [U012ABCDEF, W0XYZ]
        approvals: 2
        self_approval: true
        """
        )
    )
    chat = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    items = [{**ITEMS[0], "tags": ["billing", "vip"]}, {**ITEMS[1], "tags": ["outage"]}]
    folder = write_suite(
        tmp_path, yaml_text=text, items=items, files={"train.jsonl": chat, "valid.jsonl": chat}
    )
    suite = load_suite(folder)
    assert suite.pass_threshold == 0.5
    assert suite.train_path == folder / "train.jsonl"
    assert suite.valid_path == folder / "valid.jsonl"
    assert suite.sampling == {"temperature": 0, "max_completion_tokens": 20}
    assert suite.owners == ["U012ABCDEF", "W0XYZ"]
    assert (suite.approvals, suite.self_approval) == (2, True)
    assert suite.tags == ["billing", "outage", "vip"]


def test_data_version_is_stable_and_follows_the_data(tmp_path: Path) -> None:
    first = load_suite(write_suite(tmp_path / "a")).data_version
    assert load_suite(write_suite(tmp_path / "b")).data_version == first  # another folder
    crlf = write_suite(tmp_path / "c")
    (crlf / "eval.jsonl").write_bytes((crlf / "eval.jsonl").read_bytes().replace(b"\n", b"\r\n"))
    assert load_suite(crlf).data_version == first  # a Windows checkout agrees
    changed = write_suite(tmp_path / "d", items=[*ITEMS, {"ticket": "x", "label": "bug"}])
    assert load_suite(changed).data_version != first
    retitled = write_suite(tmp_path / "e", yaml_text=HEAD + STRING_CHECK + "pass_threshold: 0.9\n")
    assert load_suite(retitled).data_version != first


def test_python_grader_file_is_part_of_the_data_version(tmp_path: Path) -> None:
    grader = "grader:\n  type: python\n  source_file: grade.py\n"
    code = "def grade(sample, item):\n    return 1.0\n"
    first = load_suite(write_suite(tmp_path / "a", grader=grader, files={"grade.py": code}))
    second = load_suite(
        write_suite(tmp_path / "b", grader=grader, files={"grade.py": code + "# changed\n"})
    )
    assert first.data_version != second.data_version


def test_both_examples_load_without_error() -> None:
    suites, errors = load_suites(REPO / "examples")
    assert errors == []
    assert {"ticket-routing", "support-summaries"} <= suites.keys()
    routing = suites["ticket-routing"]
    assert len(routing.items) >= 30
    assert {item["label"] for item in routing.items} == {"billing", "bug", "other"}
    assert routing.train_path is not None and routing.valid_path is not None
    train = routing.train_path.read_text().splitlines()
    valid = routing.valid_path.read_text().splitlines()
    assert len(train) >= 20 and len(valid) >= 10
    for line in train + valid:
        roles = [m["role"] for m in json.loads(line)["messages"]]
        assert roles == ["system", "user", "assistant"]
    summaries = suites["support-summaries"]
    assert len(summaries.items) >= 30
    assert summaries.grader["type"] == "text_similarity"
    assert all(item["tags"] for item in summaries.items)
    assert 0 < summaries.criteria[0].pass_threshold < 1 and summaries.criteria[0].own_threshold


# -- every validation error names file, line and field --------------------------------


def test_bad_yaml(tmp_path: Path) -> None:
    folder = write_suite(tmp_path, yaml_text="name: routing\ninput: [\n  {role: user\ndata: x\n")
    error = only_error(folder)
    assert error.file == folder / "suite.yaml"
    assert error.line == 4
    assert str(error).startswith("routing/suite.yaml:4: not valid YAML")


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, yaml_text="- just\n- a list\n"))
    assert "must be a YAML mapping" in error.message


@pytest.mark.parametrize("key", ["name", "data", "input", "grader"])
def test_missing_required_key(tmp_path: Path, key: str) -> None:
    text = HEAD + STRING_CHECK + TAIL
    blocks = {
        "name": "name: routing\n",
        "data": "data: eval.jsonl\n",
        "input": HEAD[HEAD.index("input:") :],
        "grader": STRING_CHECK,
    }
    folder = write_suite(tmp_path, yaml_text=text.replace(blocks[key], ""))
    error = only_error(folder)
    assert error.field == key
    assert error.file == folder / "suite.yaml"
    assert (
        str(error)
        == f'routing/suite.yaml: field "{key}": missing; a suite needs name, data, input and grader'
    )


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = HEAD + STRING_CHECK.replace("grader:", "grder:") + TAIL
    errors = errors_of(write_suite(tmp_path, yaml_text=text))
    typo = next(e for e in errors if e.field == "grder")
    assert typo.line == 9
    assert 'did you mean "grader"' in str(typo)
    assert str(typo).startswith('routing/suite.yaml:9: field "grder": unknown key')
    assert any(e.field == "grader" and "missing" in e.message for e in errors)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, yaml_text=HEAD + STRING_CHECK + TAIL + TAIL))
    assert (error.line, error.field, error.message) == (16, "pass_threshold", "duplicate key")


def test_bad_json_line(tmp_path: Path) -> None:
    lines = [json.dumps(ITEMS[0]), json.dumps(ITEMS[1]), '{"ticket": "x", "label": }']
    folder = write_suite(tmp_path, lines=lines)
    error = only_error(folder)
    assert error.file == folder / "eval.jsonl"
    assert error.line == 3
    assert str(error).startswith("routing/eval.jsonl:3: not valid JSON")


@pytest.mark.parametrize(("line", "kind"), [('["a"]', "array"), ('"text"', "str"), ("3", "int")])
def test_line_that_is_not_an_object(tmp_path: Path, line: str, kind: str) -> None:
    error = only_error(write_suite(tmp_path, lines=[json.dumps(ITEMS[0]), line]))
    assert (error.line, error.field) == (2, None)
    assert error.message == f"each line must be a JSON object, not {kind}"


def test_item_missing_a_field_the_grader_uses(tmp_path: Path) -> None:
    items = [ITEMS[0], {"ticket": "no label here"}, ITEMS[2]]
    folder = write_suite(tmp_path / "examples", "ticket-routing", items=items)
    error = only_error(folder)
    assert (error.file, error.line, error.field) == (folder / "eval.jsonl", 2, "label")
    assert str(error) == (
        'examples/ticket-routing/eval.jsonl:2: field "label": missing, used by grader.reference'
    )


def test_item_missing_a_field_the_input_uses(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, items=[ITEMS[0], {"label": "bug"}]))
    assert (error.line, error.field) == (2, "ticket")
    assert error.message == "missing, used by input[1].content"


def test_nested_item_fields_are_checked(tmp_path: Path) -> None:
    text = HEAD.replace("{{ item.ticket }}", "{{ item.ticket.body }}") + STRING_CHECK
    items = [{"ticket": {"body": "x"}, "label": "bug"}, {"ticket": {"title": "y"}, "label": "bug"}]
    error = only_error(write_suite(tmp_path, yaml_text=text, items=items))
    assert (error.line, error.field) == (2, "ticket.body")


def test_input_cannot_use_the_sample(tmp_path: Path) -> None:
    text = HEAD.replace("{{ item.ticket }}", "{{ sample.output_text }}") + STRING_CHECK
    error = only_error(write_suite(tmp_path, yaml_text=text))
    assert (error.line, error.field) == (8, "input[1].content")
    assert "does not exist yet" in error.message


def test_bad_template_in_a_grader(tmp_path: Path) -> None:
    grader = STRING_CHECK.replace("{{ item.label }}", "{{ item.label | upper }}")
    error = only_error(write_suite(tmp_path, grader=grader))
    assert (error.line, error.field) == (13, "grader.reference")


def test_unknown_grader_type(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, grader="grader:\n  type: regex_check\n"))
    assert (error.line, error.field) == (10, "grader.type")
    assert "unknown grader type 'regex_check'" in error.message
    assert "string_check, text_similarity, score_model, label_model, python, multi" in error.message


def test_unknown_string_check_operation(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, grader=STRING_CHECK.replace("ilike", "contains")))
    assert str(error).startswith(
        "routing/suite.yaml:14: field \"grader.operation\": unknown operation 'contains'"
    )
    assert "eq, ne, like, ilike" in error.message


def test_unknown_text_similarity_metric(tmp_path: Path) -> None:
    grader = dedent(
        """\
        grader:
          type: text_similarity
          input: "{{ sample.output_text }}"
          reference: "{{ item.label }}"
          evaluation_metric: rouge_6
          pass_threshold: 0.5
        """
    )
    error = only_error(write_suite(tmp_path, grader=grader))
    assert (error.line, error.field) == (13, "grader.evaluation_metric")
    assert "unknown evaluation_metric 'rouge_6'" in error.message


SCORE_MODEL = """\
grader:
  type: score_model
  model: gpt-4.1-mini
  input:
    - role: user
      content: "Is {{ sample.output_text }} right for {{ item.ticket }}? 0 to 10"
  range: [0, 10]
"""


def test_score_model_needs_model_and_input(tmp_path: Path) -> None:
    assert load_suite(write_suite(tmp_path / "ok", grader=SCORE_MODEL)).grader["range"] == [0, 10]
    no_model = SCORE_MODEL.replace("  model: gpt-4.1-mini\n", "")
    error = only_error(write_suite(tmp_path / "a", grader=no_model))
    assert (error.line, error.field, error.message) == (9, "grader.model", "missing")
    no_input = SCORE_MODEL[: SCORE_MODEL.index("  input:")] + "  range: [0, 10]\n"
    error = only_error(write_suite(tmp_path / "b", grader=no_input))
    assert (error.field, error.message) == ("grader.input", "missing")


LABEL_MODEL = """\
grader:
  type: label_model
  model: gpt-4.1-mini
  input:
    - role: user
      content: "Label {{ sample.output_text }}"
  labels: [correct, partly, wrong]
  passing_labels: [correct]
"""


def test_label_model_labels(tmp_path: Path) -> None:
    load_suite(write_suite(tmp_path / "ok", grader=LABEL_MODEL))
    no_labels = LABEL_MODEL.replace("  labels: [correct, partly, wrong]\n", "")
    error = only_error(write_suite(tmp_path / "a", grader=no_labels))
    assert (error.field, error.message) == ("grader.labels", "missing")
    no_passing = LABEL_MODEL.replace("  passing_labels: [correct]\n", "")
    error = only_error(write_suite(tmp_path / "b", grader=no_passing))
    assert (error.field, error.message) == ("grader.passing_labels", "missing")
    stray = LABEL_MODEL.replace("[correct]\n", "[correct, right]\n")
    error = only_error(write_suite(tmp_path / "c", grader=stray))
    assert (error.line, error.field) == (16, "grader.passing_labels")
    assert error.message == "'right' not in labels (correct, partly, wrong)"


MULTI = """\
grader:
  type: multi
  graders:
    exact:
      type: string_check
      input: "{{ sample.output_text }}"
      reference: "{{ item.label }}"
      operation: eq
    close:
      type: text_similarity
      input: "{{ sample.output_text }}"
      reference: "{{ item.label }}"
      evaluation_metric: fuzzy_match
  calculate_output: "0.7 * exact + 0.3 * close"
"""


def test_multi_formula_names_must_be_graders(tmp_path: Path) -> None:
    load_suite(write_suite(tmp_path / "ok", grader=MULTI))
    bad = MULTI.replace("0.3 * close", "0.3 * closeness")
    error = only_error(write_suite(tmp_path / "a", grader=bad))
    assert (error.line, error.field) == (22, "grader.calculate_output")
    assert error.message == "'closeness' is not one of the graders (close, exact)"


def test_multi_sub_grader_errors_name_the_nested_field(tmp_path: Path) -> None:
    bad = MULTI.replace("operation: eq", "operation: equal")
    error = only_error(write_suite(tmp_path, grader=bad))
    assert (error.line, error.field) == (16, "grader.graders.exact.operation")


def test_multi_sub_grader_fields_are_checked_in_items(tmp_path: Path) -> None:
    bad = MULTI.replace(
        'reference: "{{ item.label }}"\n      evaluation',
        'reference: "{{ item.gold }}"\n      evaluation',
    )
    error = only_error(write_suite(tmp_path, grader=bad, items=ITEMS[:1]))
    assert (error.line, error.field) == (1, "gold")
    assert error.message == "missing, used by grader.graders.close.reference"


def test_python_grader_file_outside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "evil.py").write_text("def grade(sample, item):\n    return 1\n")
    grader = "grader:\n  type: python\n  source_file: ../evil.py\n"
    error = only_error(write_suite(tmp_path, grader=grader))
    assert (error.line, error.field) == (11, "grader.source_file")
    assert "outside the suite folder" in error.message


def test_empty_dataset(tmp_path: Path) -> None:
    folder = write_suite(tmp_path, lines=["", "   "])
    error = only_error(folder)
    assert (error.file, error.line) == (folder / "eval.jsonl", None)
    assert str(error) == "routing/eval.jsonl: no items: the dataset is empty"


def test_missing_data_file(tmp_path: Path) -> None:
    folder = write_suite(tmp_path)
    (folder / "eval.jsonl").unlink()
    error = only_error(folder)
    assert (error.line, error.field) == (3, "data")
    assert "eval.jsonl: no such file" in error.message


def test_data_file_outside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "other.jsonl").write_text(json.dumps(ITEMS[0]) + "\n")
    text = (HEAD + STRING_CHECK).replace("data: eval.jsonl", "data: ../other.jsonl")
    error = only_error(write_suite(tmp_path, yaml_text=text))
    assert (error.line, error.field) == (3, "data")


def test_training_file_lines_are_checked(tmp_path: Path) -> None:
    text = HEAD + STRING_CHECK + "train: train.jsonl\n"
    folder = write_suite(tmp_path, yaml_text=text, files={"train.jsonl": '{"messages": []}\n[1]\n'})
    error = only_error(folder)
    assert (error.file, error.line) == (folder / "train.jsonl", 2)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "high", "true"])
def test_pass_threshold_outside_zero_one(tmp_path: Path, value: str) -> None:
    error = only_error(
        write_suite(tmp_path, yaml_text=HEAD + STRING_CHECK + f"pass_threshold: {value}\n")
    )
    assert (error.line, error.field) == (15, "pass_threshold")
    assert "between 0 and 1" in error.message


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("owners: [alice]", "owners"),
        ("approvals: 0", "approvals"),
        ("self_approval: sometimes", "self_approval"),
        ("sampling: [temperature]", "sampling"),
        ("name: two words", "name"),
    ],
)
def test_bad_settings(tmp_path: Path, setting: str, field: str) -> None:
    text = (HEAD + STRING_CHECK).replace("name: routing\n", "") + setting + "\n"
    if field != "name":
        text = "name: routing\n" + text
    error = only_error(write_suite(tmp_path, yaml_text=text))
    assert error.field == field and error.line is not None


def test_bad_tags(tmp_path: Path) -> None:
    error = only_error(write_suite(tmp_path, items=[{**ITEMS[0], "tags": "billing"}]))
    assert (error.line, error.field, error.message) == (1, "tags", "must be a list of strings")


def test_all_errors_of_a_suite_are_reported_together(tmp_path: Path) -> None:
    grader = STRING_CHECK.replace("ilike", "contains").replace("name: label", "nme: label")
    text = HEAD + grader + "pass_threshold: 2\n"
    items = [{"ticket": "x"}, {"label": "bug"}]
    errors = errors_of(write_suite(tmp_path, yaml_text=text, items=items))
    fields = {(e.file.name, e.field) for e in errors}
    # the items are checked against every template that could be read, even when
    # another part of the grader is wrong
    assert fields == {
        ("suite.yaml", "grader.operation"),
        ("suite.yaml", "grader.nme"),
        ("suite.yaml", "pass_threshold"),
        ("eval.jsonl", "label"),
        ("eval.jsonl", "ticket"),
    }
    item_errors = [(e.line, e.field) for e in errors if e.file.name == "eval.jsonl"]
    assert item_errors == [(1, "label"), (2, "ticket")]


def test_errors_are_capped(tmp_path: Path) -> None:
    errors = errors_of(write_suite(tmp_path, lines=["not json"] * 30))
    assert len(errors) == 21
    assert errors[-1].message == "... and 10 more errors not shown"


# -- load_suites --------------------------------------------------------------------


def test_a_broken_suite_does_not_stop_the_others(tmp_path: Path) -> None:
    write_suite(tmp_path, "a")
    write_suite(tmp_path, "b", yaml_text="name: [\n")
    good = HEAD.replace("name: routing", "name: other") + STRING_CHECK
    write_suite(tmp_path, "c", yaml_text=good)
    (tmp_path / "not-a-suite").mkdir()
    suites, errors = load_suites(tmp_path)
    assert sorted(suites) == ["other", "routing"]
    assert all(isinstance(s, Suite) for s in suites.values())
    assert [e.file for e in errors] == [tmp_path / "b" / "suite.yaml"]


def test_duplicate_names_across_suites(tmp_path: Path) -> None:
    write_suite(tmp_path, "a")
    write_suite(tmp_path, "b")
    suites, errors = load_suites(tmp_path)
    assert suites["routing"].folder == tmp_path / "a"
    (error,) = errors
    assert (error.file, error.line, error.field) == (tmp_path / "b" / "suite.yaml", 1, "name")
    assert str(error) == (
        "b/suite.yaml:1: field \"name\": 'routing' is already the name of a/suite.yaml"
    )


def test_missing_root(tmp_path: Path) -> None:
    suites, errors = load_suites(tmp_path / "nope")
    assert suites == {} and "no such folder" in errors[0].message


# -- graders: (testing criteria) and tools: -------------------------------------------

GRADERS = """\
graders:
  - type: string_check
    name: label
    input: "{{ sample.output_text }}"
    reference: "{{ item.label }}"
    operation: ilike
  - type: text_similarity
    name: close
    input: "{{ sample.output_text }}"
    reference: "{{ item.label }}"
    evaluation_metric: fuzzy_match
    pass_threshold: 0.6
"""


def test_graders_list_becomes_criteria_with_their_own_pass_marks(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, grader=GRADERS))
    assert [(c.name, c.pass_threshold, c.own_threshold) for c in suite.criteria] == [
        ("label", 1.0, False),
        ("close", 0.6, True),
    ]
    # An RFT job gets one grader: a multi over the criteria, passing when all do.
    assert suite.grader["type"] == "multi"
    assert suite.grader["calculate_output"] == "min(c0, c1)"
    assert suite.grader["graders"]["c1"]["name"] == "close"


@pytest.mark.parametrize(
    ("grader", "field", "message"),
    [
        (GRADERS.replace("name: close", "name: label"), "graders[1].name", "already the name"),
        ("graders: []\n", "graders", "non-empty list"),
        (STRING_CHECK + GRADERS, "grader", "either grader (one) or graders"),
        (
            GRADERS.replace("    pass_threshold: 0.6\n", ""),
            "graders[1].pass_threshold",
            "needs its pass mark",
        ),
    ],
)
def test_graders_errors_name_the_field(
    tmp_path: Path, grader: str, field: str, message: str
) -> None:
    error = only_error(write_suite(tmp_path, grader=grader))
    assert error.field == field and message in error.message


TOOLS = """\
tools:
  - type: function
    name: route_ticket
    parameters: {type: object, properties: {queue: {type: string}}}
  - type: function
    function: {name: escalate, description: Chat Completions' shape is accepted too}
tool_choice: {type: function, name: route_ticket}
"""


def test_tools_are_kept_in_the_responses_shape(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, grader=STRING_CHECK + TOOLS))
    assert [t["name"] for t in suite.tools] == ["route_ticket", "escalate"]
    assert suite.tools[1]["description"].startswith("Chat Completions")
    assert suite.tools[1]["parameters"] == {"type": "object", "properties": {}}
    assert suite.tool_choice == {"type": "function", "name": "route_ticket"}


@pytest.mark.parametrize(
    ("tools", "field", "message"),
    [
        (TOOLS.replace("name: route_ticket\n", "name: route ticket\n"), "tools[0].name", "1-64"),
        (TOOLS.replace("type: function\n    name: route", "type: web_search\n    name: route"),
         "tools[0].type", "only function tools"),
        (TOOLS.replace("name: route_ticket}", "name: nope}"), "tool_choice.name", "not one of"),
        ("tool_choice: required\n", "tool_choice", "needs tools"),
    ],
)  # fmt: skip
def test_tool_errors_name_the_field(tmp_path: Path, tools: str, field: str, message: str) -> None:
    error = only_error(write_suite(tmp_path, grader=STRING_CHECK + tools))
    assert error.field == field and message in error.message

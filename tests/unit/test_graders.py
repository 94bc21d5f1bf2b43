"""Graders: hand-worked cases per operation and metric, model graders against a fake
`Models` port, multi formulas, and python graders in their worker processes."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.ports import Completion, Message, ModelInfo, ProviderError, RateLimitState
from commands.suites.graders import (
    Grade,
    GradeError,
    Grader,
    Sample,
    SuiteError,
    close_grader,
    compile_grader,
)
from commands.suites.graders.arithmetic import FormulaError, parse_formula
from commands.suites.graders.model_graders import parse_score
from commands.suites.graders.python_grader import PythonGrader
from commands.suites.graders.similarity import LOCAL_METRICS


class FakeModels:
    """The `Models` port with canned replies and embeddings; records every call."""

    def __init__(
        self,
        replies: Sequence[str | Exception] = (),
        vectors: dict[str, list[float]] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.vectors = vectors or {}
        self.calls: list[tuple[str, list[Message], dict[str, Any]]] = []
        self.embedded: list[tuple[str, list[str]]] = []

    def providers(self) -> list[str]:
        return ["default"]

    def split(self, model: str) -> tuple[str, str]:
        provider, _, name = model.rpartition(":")
        return (provider or "default", name)

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        self.calls.append((model, list(messages), params))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(text=reply)

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        self.embedded.append((model, list(texts)))
        return [self.vectors[text] for text in texts]

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        return []

    def rate_limit(self, provider: str) -> RateLimitState:
        return RateLimitState()


NO_MODELS = FakeModels()


def compile_spec(spec: dict[str, Any], folder: Path = Path("suite")) -> Grader:
    return compile_grader(spec, folder=folder, where="grader")


async def grade(
    spec: dict[str, Any], output: str, item: dict[str, Any] | None = None, models: Any = None
) -> Grade:
    grader = compile_spec(spec)
    return await grader.grade(item or {}, Sample(output), models or NO_MODELS)


# -- Sample ------------------------------------------------------------------------


def test_sample_parses_json_output() -> None:
    assert Sample('{"label": "bug"}').output_json == {"label": "bug"}
    assert Sample('```json\n{"a": [1, 2]}\n```').output_json == {"a": [1, 2]}
    assert Sample("billing").output_json is None
    assert Sample("42").output_json is None  # a scalar stays text
    assert Sample("{not json").output_json is None
    assert Sample("x", output_json={"given": True}).output_json == {"given": True}


# -- string_check --------------------------------------------------------------------


def string_check(operation: str) -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": "label",
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.label }}",
        "operation": operation,
    }


@pytest.mark.parametrize(
    ("operation", "output", "label", "score"),
    [
        ("eq", "billing", "billing", 1.0),
        ("eq", "Billing", "billing", 0.0),  # eq is exact
        ("eq", "billing ", "billing", 0.0),
        ("ne", "bug", "billing", 1.0),
        ("ne", "billing", "billing", 0.0),
        ("like", "It is billing.", "billing", 1.0),  # substring
        ("like", "It is Billing.", "billing", 0.0),  # case-sensitive
        ("ilike", "It is BILLING.", "billing", 1.0),  # case-insensitive substring
        ("ilike", "bug", "billing", 0.0),
        ("ilike", "", "billing", 0.0),
    ],
)
async def test_string_check(operation: str, output: str, label: str, score: float) -> None:
    result = await grade(string_check(operation), output, {"label": label})
    assert result.score == score
    assert (result.detail is None) == (score == 1.0)


async def test_string_check_on_output_json_field() -> None:
    spec = {**string_check("eq"), "input": "{{ sample.output_json.label }}"}
    assert (await grade(spec, '{"label": "bug"}', {"label": "bug"})).score == 1.0


async def test_string_check_missing_output_json_is_a_grade_error() -> None:
    spec = {**string_check("eq"), "input": "{{ sample.output_json.label }}"}
    with pytest.raises(GradeError, match="sample.output_json.label"):
        await grade(spec, "not json", {"label": "bug"})


# -- text similarity (the metrics themselves: tests/unit/test_metrics_reference.py) ----

REF = "the cat sat on the mat"


def similarity(metric: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "text_similarity",
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.ref }}",
        "evaluation_metric": metric,
        "pass_threshold": 0.5,
        **extra,
    }


@pytest.mark.parametrize("metric", sorted(LOCAL_METRICS))
async def test_text_similarity_grader(metric: str) -> None:
    expected = LOCAL_METRICS[metric]("the cat sat", REF)
    result = await grade(similarity(metric), "the cat sat", {"ref": REF})
    assert result.score == pytest.approx(expected, abs=1e-12)
    assert result.detail is not None and metric in result.detail


async def test_cosine_uses_embeddings_from_the_models_port() -> None:
    # cos([1, 0], [1, 1]) = 1 / sqrt(2)
    models = FakeModels(vectors={"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [-1.0, 0.0]})
    result = await grade(similarity("cosine"), "a", {"ref": "b"}, models)
    assert result.score == pytest.approx(1 / math.sqrt(2))
    assert models.embedded == [("text-embedding-3-large", ["a", "b"])]
    # opposite vectors: cos = -1, clamped to 0
    assert (await grade(similarity("cosine"), "a", {"ref": "c"}, models)).score == 0.0
    custom = similarity("cosine", model="local:nomic-embed")
    await grade(custom, "a", {"ref": "b"}, models)
    assert models.embedded[-1][0] == "local:nomic-embed"


async def test_cosine_on_empty_text_makes_no_call() -> None:
    models = FakeModels()
    assert (await grade(similarity("cosine"), "", {"ref": "b"}, models)).score == 0.0
    assert models.embedded == []


# -- score_model -------------------------------------------------------------------


def score_model(**extra: Any) -> dict[str, Any]:
    return {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4.1-mini",
        "input": [
            {"role": "system", "content": "Rate the answer."},
            {"role": "user", "content": "Q: {{ item.q }}\nA: {{ sample.output_text }}"},
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("reply", "bounds", "expected"),
    [
        ("7", [0, 10], 0.7),
        (" 0.25\n", None, 0.25),
        ('{"result": 3}', [1, 5], 0.5),  # (3 - 1) / (5 - 1)
        ('{"score": "8"}', [0, 10], 0.8),
        ('```json\n{"steps": [], "result": 1}\n```', None, 1.0),
        ('The answer is fine. {"result": 0.5}', None, 0.5),
    ],
)
async def test_score_model_parses_and_normalises(
    reply: str, bounds: list[int] | None, expected: float
) -> None:
    spec = score_model(range=bounds) if bounds else score_model()
    models = FakeModels([reply])
    result = await grade(spec, "Paris", {"q": "Capital of France?"}, models)
    assert result.score == pytest.approx(expected)


async def test_score_model_sends_rendered_input_and_sampling_params() -> None:
    spec = score_model(
        sampling_params={"max_completions_tokens": 50, "temperature": 0, "seed": 7},
        range=[0, 10],
    )
    models = FakeModels(["9"])
    await grade(spec, "Paris", {"q": "Capital of France?"}, models)
    model, messages, params = models.calls[0]
    assert model == "gpt-4.1-mini"
    # OpenAI's spelling max_completions_tokens becomes the API's max_completion_tokens
    assert params == {"max_completion_tokens": 50, "temperature": 0, "seed": 7}
    assert messages[:2] == [
        {"role": "system", "content": "Rate the answer."},
        {"role": "user", "content": "Q: Capital of France?\nA: Paris"},
    ]
    assert messages[2]["role"] == "system" and "0 to 10" in messages[2]["content"]


@pytest.mark.parametrize(
    ("reply", "score", "raw", "detail"),
    [
        ("It's pretty good", 0.0, 0.0, "no score in the judge's reply"),
        ('{"verdict": 3}', 0.0, 0.0, "no score"),
        ("", 0.0, 0.0, "no score"),
        ("11", 1.0, 10.0, "judge scored 11, clipped to 10"),
        ("-3", 0.0, 0.0, "judge scored -3, clipped to 0"),
    ],
)
async def test_score_model_judgement_is_a_score_never_an_error(
    reply: str, score: float, raw: float, detail: str
) -> None:
    # OpenAI's rules: a non-numeric judgement scores 0, one outside `range` is clipped.
    result = await grade(score_model(range=[0, 10]), "x", {"q": "q"}, FakeModels([reply]))
    assert (result.score, result.raw) == (score, raw)
    assert result.detail is not None and detail in result.detail


async def test_provider_errors_propagate_for_the_caller_to_classify() -> None:
    models = FakeModels([ProviderError("rate_limit", "slow down", status=429)])
    with pytest.raises(ProviderError):
        await grade(score_model(), "x", {"q": "q"}, models)


def test_parse_score() -> None:
    assert parse_score("-2.5e1") == -25.0
    assert parse_score("true") is None
    assert parse_score('{"result": true}') is None


# -- label_model -------------------------------------------------------------------


def label_model() -> dict[str, Any]:
    return {
        "type": "label_model",
        "name": "sentiment",
        "model": "gpt-4.1-mini",
        "input": [{"role": "user", "content": "Sentiment of: {{ sample.output_text }}"}],
        "labels": ["positive", "neutral", "negative"],
        "passing_labels": ["positive", "neutral"],
    }


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("positive", 1.0),
        ("Neutral.", 1.0),
        ('"negative"', 0.0),
        ('{"label": "neutral"}', 1.0),
        ('{"result": "negative"}', 0.0),
    ],
)
async def test_label_model(reply: str, score: float) -> None:
    models = FakeModels([reply])
    result = await grade(label_model(), "I love it", {}, models)
    assert result.score == score
    assert models.calls[0][1][0] == {"role": "user", "content": "Sentiment of: I love it"}
    assert "positive, neutral, negative" in models.calls[0][1][-1]["content"]


async def test_label_model_answer_outside_labels_scores_zero() -> None:
    result = await grade(label_model(), "x", {}, FakeModels(["mixed"]))
    assert result.score == 0.0
    assert result.detail is not None and "not one of the labels" in result.detail


# -- multi and its formula -------------------------------------------------------------


def multi(formula: str) -> dict[str, Any]:
    return {
        "type": "multi",
        "name": "combined",
        "graders": {
            "exact": string_check("eq"),
            "close": {**similarity("fuzzy_match"), "reference": "{{ item.label }}"},
        },
        "calculate_output": formula,
    }


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        # output "kitten", label "sitting": exact = 0, close = 8/13
        ("0.5 * exact + 0.5 * close", 4 / 13),
        ("max(exact, close)", 8 / 13),
        ("min(exact, close)", 0.0),
        ("abs(exact - close)", 8 / 13),
        ("(exact + close) / 2", 4 / 13),
        ("close ^ 2", (8 / 13) ** 2),
        ("close ** 2", (8 / 13) ** 2),
        ("-exact + 1", 1.0),
        ("1", 1.0),
    ],
)
async def test_multi_combines_sub_scores(formula: str, expected: float) -> None:
    result = await grade(multi(formula), "kitten", {"label": "sitting"})
    assert result.score == pytest.approx(expected)
    assert result.sub_scores.keys() <= {"exact", "close"}


async def test_multi_sub_scores_are_reported() -> None:
    result = await grade(multi("exact * 0.5 + close * 0.5"), "sitting", {"label": "sitting"})
    assert result.sub_scores == {"exact": 1.0, "close": 1.0}


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("exact / (close - close)", "division by zero"),
        ("exact + close + 1", "outside"),
    ],
)
async def test_multi_bad_result_is_a_grade_error(formula: str, message: str) -> None:
    with pytest.raises(GradeError, match=message):
        await grade(multi(formula), "kitten", {"label": "sitting"})


@pytest.mark.parametrize(
    "formula",
    [
        "exact + typo",  # a name that is not a grader
        "__import__('os').system('true')",
        "exact.__class__",
        "[exact]",
        "exact if close else 1",
        "min(exact, key=close)",
        "round(exact)",
        "exact < close",
        "lambda: 1",
        "'1'",
        "",
    ],
)
def test_formula_refuses_anything_but_arithmetic(formula: str) -> None:
    with pytest.raises(FormulaError):
        parse_formula(formula, {"exact", "close"})
    with pytest.raises(SuiteError) as caught:
        compile_spec(multi(formula))
    assert caught.value.field == "grader.calculate_output"


def test_formula_error_names_the_unknown_grader() -> None:
    with pytest.raises(SuiteError, match="'typo' is not one of the graders"):
        compile_spec(multi("exact + typo"))


def test_formula_functions() -> None:
    formula = parse_formula("floor(a * 10) / 10 + ceil(b) + sqrt(4) - exp(0) - log(1)", {"a", "b"})
    assert formula.evaluate({"a": 0.37, "b": 0.2}) == pytest.approx(0.3 + 1 + 2 - 1 - 0)
    with pytest.raises(FormulaError, match="too large"):
        parse_formula("a ** 1000", {"a"}).evaluate({"a": 2.0})


@given(st.text(max_size=40))
def test_formula_parser_only_raises_formula_error(text: str) -> None:
    try:
        formula = parse_formula(text, {"a", "b"})
    except FormulaError:
        return
    try:
        value = formula.evaluate({"a": 0.5, "b": 0.25})
    except FormulaError:
        return
    assert isinstance(value, float)


async def test_multi_sub_grader_error_names_it() -> None:
    spec = multi("exact")
    spec["graders"]["exact"]["reference"] = "{{ item.missing }}"
    with pytest.raises(GradeError, match="grader 'exact'.*item.missing: missing"):
        await grade(spec, "x", {"label": "x"})


# -- compile-time errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"type": "string_chek"}, "grader.type", 'did you mean "string_check"'),
        ({**string_check("equals")}, "grader.operation", "unknown operation 'equals'"),
        ({**similarity("rouge_9")}, "grader.evaluation_metric", "unknown evaluation_metric"),
        ({**string_check("eq"), "refrence": "x"}, "grader.refrence", 'did you mean "reference"'),
        ({**score_model(), "model": None}, "grader.model", "missing"),
        ({**score_model(), "input": None}, "grader.input", "missing"),
        ({**score_model(), "range": [10, 0]}, "grader.range", "low < high"),
        (
            {**score_model(), "sampling_params": {"temprature": 0}},
            "grader.sampling_params.temprature",
            'did you mean "temperature"',
        ),
        ({**label_model(), "labels": None}, "grader.labels", "missing"),
        ({**label_model(), "passing_labels": ["great"]}, "grader.passing_labels", "not in labels"),
        ({**string_check("eq"), "input": "{{ sample.output }}"}, "grader.input", "output_text"),
    ],
)
def test_compile_errors_name_the_field(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message) as caught:
        compile_spec(spec)
    assert caught.value.field == field


# -- python ------------------------------------------------------------------------


@pytest.fixture
async def python_grader(tmp_path: Path) -> AsyncIterator[Callable[..., Grader]]:
    made: list[Grader] = []

    def make(source: str, **extra: Any) -> Grader:
        grader = compile_spec({"type": "python", "source": source, **extra}, tmp_path)
        made.append(grader)
        return grader

    yield make
    for grader in made:
        await close_grader(grader)


EXACT = """
def grade(sample, item):
    return 1.0 if sample["output_text"] == item["label"] else 0.0
"""


async def test_python_grader_scores_and_reuses_its_worker(
    python_grader: Callable[..., Grader],
) -> None:
    grader = python_grader(EXACT)
    assert isinstance(grader, PythonGrader)
    assert (await grader.grade({"label": "bug"}, Sample("bug"), NO_MODELS)).score == 1.0
    worker = grader._idle[0]
    assert (await grader.grade({"label": "bug"}, Sample("billing"), NO_MODELS)).score == 0.0
    assert grader._idle == [worker]  # one process served both samples


async def test_python_grader_sees_output_json(python_grader: Callable[..., Grader]) -> None:
    grader = python_grader("def grade(sample, item):\n    return sample['output_json']['p']\n")
    assert (await grader.grade({}, Sample('{"p": 0.25}'), NO_MODELS)).score == 0.25


async def test_python_grader_runs_concurrent_samples(python_grader: Callable[..., Grader]) -> None:
    grader = python_grader(EXACT)
    samples = [Sample("a" if i % 2 else "b") for i in range(12)]
    grades = await asyncio.gather(*(grader.grade({"label": "a"}, s, NO_MODELS) for s in samples))
    assert [g.score for g in grades] == [float(i % 2) for i in range(12)]


async def test_python_exception_scores_zero_with_the_last_line(
    python_grader: Callable[..., Grader],
) -> None:
    # OpenAI's rules: a python grader that raises scores 0; the sample is not errored.
    grader = python_grader("def grade(sample, item):\n    print('noise')\n    return item['x']\n")
    result = await grader.grade({}, Sample("a"), NO_MODELS)
    assert result.score == 0.0
    assert result.detail == "grade() raised KeyError: 'x' (at <source> line 3)"
    # the worker survives the user's exception
    assert (await grader.grade({"x": 1}, Sample("a"), NO_MODELS)).score == 1.0


async def test_python_timeout_kills_the_worker_and_the_next_sample_gets_a_new_one(
    python_grader: Callable[..., Grader],
) -> None:
    grader = python_grader(
        "def grade(sample, item):\n"
        "    while sample['output_text'] == 'hang':\n"
        "        pass\n"
        "    return 1\n",
        timeout=0.3,
    )
    with pytest.raises(GradeError, match=r"^timed out after 0.3 s$"):
        await grader.grade({}, Sample("hang"), NO_MODELS)
    assert (await grader.grade({}, Sample("fine"), NO_MODELS)).score == 1.0


def test_python_default_limits() -> None:
    grader = compile_spec({"type": "python", "source": EXACT})
    assert isinstance(grader, PythonGrader)
    assert (grader.timeout_s, grader.memory_mb) == (5.0, 512)


async def test_python_memory_blow_up_is_a_grade_error(python_grader: Callable[..., Grader]) -> None:
    grader = python_grader(
        "def grade(sample, item):\n    hog = bytearray(512 * 1024 * 1024)\n    return 1\n",
        memory_mb=128,
    )
    result = await grader.grade({}, Sample("a"), NO_MODELS)
    assert result.score == 0.0 and "MemoryError" in (result.detail or "")


async def test_python_crash_is_a_grade_error_and_the_worker_restarts(
    python_grader: Callable[..., Grader],
) -> None:
    grader = python_grader(
        "import os\n"
        "def grade(sample, item):\n"
        "    if sample['output_text'] == 'die':\n"
        "        os._exit(3)\n"
        "    return 0.5\n"
    )
    with pytest.raises(GradeError, match="exited with code 3"):
        await grader.grade({}, Sample("die"), NO_MODELS)
    assert (await grader.grade({}, Sample("live"), NO_MODELS)).score == 0.5


async def test_python_grader_gets_no_environment(
    python_grader: Callable[..., Grader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    grader = python_grader(
        "import os\n"
        "def grade(sample, item):\n"
        "    return 0.0 if 'OPENAI_API_KEY' in os.environ else 1.0\n"
    )
    assert (await grader.grade({}, Sample("a"), NO_MODELS)).score == 1.0


@pytest.mark.parametrize(
    ("returns", "score", "raw", "detail"),
    [
        ("'high'", 0.0, 0.0, "not a number"),
        ("None", 0.0, 0.0, "not a number"),
        ("True", 0.0, 0.0, "not a number"),  # a bool is a verdict, not a score
        ("float('nan')", 0.0, 0.0, "not a number"),
        ("1.5", 1.0, 1.5, None),  # clipped for the pass rate, kept for pass_threshold
        ("7", 1.0, 7.0, None),
        ("-2", 0.0, -2.0, None),
    ],
)
async def test_python_results_are_scores(
    python_grader: Callable[..., Grader], returns: str, score: float, raw: float, detail: str | None
) -> None:
    grader = python_grader(f"def grade(sample, item):\n    return {returns}\n")
    result = await grader.grade({}, Sample("a"), NO_MODELS)
    assert (result.score, result.raw) == (score, raw)
    assert detail is None or detail in (result.detail or "")


async def test_python_grader_that_cannot_load_is_a_grade_error(
    python_grader: Callable[..., Grader],
) -> None:
    source = "raise ValueError('bad import')\ndef grade(s, i):\n    return 1\n"
    with pytest.raises(GradeError, match="bad import"):
        await python_grader(source).grade({}, Sample("a"), NO_MODELS)


def test_python_source_file_inside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "grader.py").write_text(EXACT)
    grader = compile_spec({"type": "python", "source_file": "grader.py"}, tmp_path)
    assert isinstance(grader, PythonGrader) and grader.filename == "grader.py"


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "sub/../../evil.py"])
def test_python_source_file_outside_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (tmp_path / "evil.py").write_text(EXACT)
    with pytest.raises(SuiteError, match="outside the suite folder") as caught:
        compile_spec({"type": "python", "source_file": name}, suite)
    assert caught.value.field == "grader.source_file"


def test_python_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (tmp_path / "evil.py").write_text(EXACT)
    (suite / "grader.py").symlink_to(tmp_path / "evil.py")
    with pytest.raises(SuiteError, match="outside the suite folder"):
        compile_spec({"type": "python", "source_file": "grader.py"}, suite)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"source": "def grade(:\n"}, "line 1"),
        ({"source": "def other(sample, item):\n    return 1\n"}, "no top-level `def grade"),
        ({"source": "def grade(sample):\n    return 1\n"}, r"must take \(sample, item\)"),
        ({}, "either source"),
        ({"source": EXACT, "source_file": "g.py"}, "either source"),
        ({"source_file": "missing.py"}, "cannot read missing.py"),
        ({"source": EXACT, "timeout": 0}, "between 0 and 300"),
    ],
)
def test_python_spec_errors(tmp_path: Path, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        compile_spec({"type": "python", **spec}, tmp_path)


async def test_python_grader_sees_output_tools_and_choices(
    python_grader: Callable[..., Grader],
) -> None:
    grader = python_grader(
        "def grade(sample, item):\n"
        "    call = sample['output_tools'][0]['function']\n"
        "    choice = sample['choices'][0]\n"
        "    ok = call['name'] == 'route' and choice['finish_reason'] == 'tool_calls'\n"
        "    return 1.0 if ok and choice['message']['tool_calls'][0]['function'] == call else 0.0\n"
    )
    call = {"id": "c1", "type": "function", "function": {"name": "route", "arguments": "{}"}}
    assert (await grader.grade({}, Sample("", output_tools=[call]), NO_MODELS)).score == 1.0


async def test_a_raising_grader_counts_as_failed_not_errored(
    python_grader: Callable[..., Grader],
) -> None:
    # The case: 8 right answers and 2 on which the grader raises read 80%, not
    # 100% of 8 graded.
    from commands.suites.grading import criterion, grade_sample

    grader = python_grader(
        "def grade(sample, item):\n"
        "    if sample['output_text'] == 'boom':\n"
        "        raise ValueError('cannot parse')\n"
        "    return 1.0\n"
    )
    criteria = [criterion("code", grader, {"type": "python"}, 1.0)]
    outputs = ["ok"] * 8 + ["boom"] * 2
    verdicts = [await grade_sample(criteria, {}, Sample(o), NO_MODELS) for o in outputs]
    assert [v.status for v in verdicts].count("passed") == 8
    assert [v.status for v in verdicts].count("failed") == 2
    assert "errored" not in [v.status for v in verdicts]

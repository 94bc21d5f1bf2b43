"""Grader validation and a small grader runner for the fake OpenAI server.

Follows the OpenAI grader schema (string_check, text_similarity, score_model, python,
multi; label_model exists but RFT does not take it). Errors name the offending field the
way the API does: ``grader.operation``, ``grader.sampling_params.max_completion_tokens``.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.openai_wire import ApiError, invalid_value, json_object, json_response, missing

STRING_CHECK_OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY_METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
ROLES = ("user", "assistant", "system", "developer")
SAMPLING_PARAMS = ("max_completions_tokens", "reasoning_effort", "seed", "temperature", "top_p")
RFT_GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")
ALL_GRADER_TYPES = (*RFT_GRADER_TYPES, "label_model")
# A multi grader may not contain another multi grader.
_SUB_GRADER_TYPES = tuple(t for t in ALL_GRADER_TYPES if t != "multi")

_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required, optional)
    "string_check": (("name", "input", "reference", "operation"), ()),
    "text_similarity": (("name", "input", "reference", "evaluation_metric"), ()),
    "score_model": (("name", "model", "input"), ("range", "sampling_params")),
    "label_model": (("name", "model", "input", "labels", "passing_labels"), ()),
    "python": (("name", "source"), ("image_tag",)),
    "multi": (("name", "graders", "calculate_output"), ()),
}
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference"),
    "text_similarity": ("name", "input", "reference"),
    "score_model": ("name", "model"),
    "label_model": ("name", "model"),
    "python": ("name", "source"),
    "multi": ("name", "calculate_output"),
}
_GRADER_ERROR_FLAGS = (
    "formula_parse_error",
    "invalid_variable_error",
    "model_grader_parse_error",
    "model_grader_refusal_error",
    "model_grader_server_error",
    "other_error",
    "python_grader_runtime_error",
    "python_grader_server_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
)
_MATH_FUNCTIONS = {"min", "max", "abs", "floor", "ceil", "exp", "sqrt", "log", "round"}


def validate_grader(
    grader: Any, *, param: str = "grader", allowed: tuple[str, ...] = RFT_GRADER_TYPES
) -> None:
    """Raise ``ApiError`` (400) naming the field when ``grader`` is not a valid grader."""
    if not isinstance(grader, Mapping):
        raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
    kind = grader.get("type")
    if kind is None:
        raise missing(f"{param}.type")
    if kind not in allowed:
        raise invalid_value(f"{param}.type", kind, allowed)
    required, optional = _FIELDS[kind]
    for name in required:
        if grader.get(name) is None:
            raise missing(f"{param}.{name}")
    for name in grader:
        if name not in required and name not in optional and name != "type":
            raise _unknown(f"{param}.{name}")
    for name in _STRING_FIELDS[kind]:
        _expect_str(grader[name], f"{param}.{name}")
    _CHECKS[kind](grader, param)


def _unknown(param: str) -> ApiError:
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def _expect_str(value: Any, param: str) -> None:
    if not isinstance(value, str):
        raise ApiError(
            400,
            f"Invalid type for '{param}': expected a string, but got "
            f"{type(value).__name__} instead.",
            param=param,
            code="invalid_type",
        )


def _check_string_check(grader: Mapping[str, Any], param: str) -> None:
    if grader["operation"] not in STRING_CHECK_OPERATIONS:
        raise invalid_value(f"{param}.operation", grader["operation"], STRING_CHECK_OPERATIONS)


def _check_text_similarity(grader: Mapping[str, Any], param: str) -> None:
    metric = grader["evaluation_metric"]
    if metric not in SIMILARITY_METRICS:
        raise invalid_value(f"{param}.evaluation_metric", metric, SIMILARITY_METRICS)


def _check_messages(messages: Any, param: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, f"Invalid '{param}': expected a non-empty array.", param=param)
    for i, message in enumerate(messages):
        where = f"{param}[{i}]"
        if not isinstance(message, Mapping):
            raise ApiError(400, f"Invalid type for '{where}': expected an object.", param=where)
        if message.get("role") not in ROLES:
            raise invalid_value(f"{where}.role", message.get("role"), ROLES)
        if message.get("content") is None:
            raise missing(f"{where}.content")


def _check_model_grader(grader: Mapping[str, Any], param: str) -> None:
    _check_messages(grader["input"], f"{param}.input")
    score_range = grader.get("range")
    if score_range is not None and (
        not isinstance(score_range, list)
        or len(score_range) != 2
        or not all(isinstance(x, int | float) for x in score_range)
        or score_range[0] >= score_range[1]
    ):
        raise ApiError(
            400,
            f"Invalid '{param}.range': expected [min, max] with min < max.",
            param=f"{param}.range",
        )
    sampling = grader.get("sampling_params")
    if sampling is not None:
        if not isinstance(sampling, Mapping):
            raise ApiError(400, f"Invalid type for '{param}.sampling_params'.", param=param)
        for name in sampling:
            if name not in SAMPLING_PARAMS:
                raise _unknown(f"{param}.sampling_params.{name}")


def _check_label_model(grader: Mapping[str, Any], param: str) -> None:
    _check_model_grader({k: v for k, v in grader.items() if k in ("model", "input")}, param)
    labels = grader["labels"]
    if not isinstance(labels, list) or not labels:
        raise ApiError(400, f"Invalid '{param}.labels': expected a non-empty array.", param=param)
    for label in grader["passing_labels"]:
        if label not in labels:
            raise ApiError(
                400,
                f"Invalid '{param}.passing_labels': '{label}' is not one of the labels.",
                param=f"{param}.passing_labels",
            )


def _check_python(grader: Mapping[str, Any], param: str) -> None:
    source = grader["source"]
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ApiError(
            400,
            f"Invalid '{param}.source': the code does not compile: {exc.msg} (line {exc.lineno}).",
            param=f"{param}.source",
        ) from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == "grade" for node in tree.body):
        raise ApiError(
            400,
            f"Invalid '{param}.source': expected a function `grade(sample, item)`.",
            param=f"{param}.source",
        )


def _check_multi(grader: Mapping[str, Any], param: str) -> None:
    graders = grader["graders"]
    if isinstance(graders, Mapping) and "type" not in graders:
        names = set(graders)
        for key, sub in graders.items():
            validate_grader(sub, param=f"{param}.graders.{key}", allowed=_SUB_GRADER_TYPES)
    else:
        validate_grader(graders, param=f"{param}.graders", allowed=_SUB_GRADER_TYPES)
        names = {graders["name"]}
    formula = grader["calculate_output"]
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError:
        raise ApiError(
            400,
            f"Invalid '{param}.calculate_output': cannot parse '{formula}'.",
            param=f"{param}.calculate_output",
        ) from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names | _MATH_FUNCTIONS:
            raise ApiError(
                400,
                f"Invalid '{param}.calculate_output': unknown grader '{node.id}'.",
                param=f"{param}.calculate_output",
            )


_CHECKS = {
    "string_check": _check_string_check,
    "text_similarity": _check_text_similarity,
    "score_model": _check_model_grader,
    "label_model": _check_label_model,
    "python": _check_python,
    "multi": _check_multi,
}

_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{{ sample.output_text }}`` / ``{{ item.field }}`` references."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            value = value.get(part, "") if isinstance(value, Mapping) else ""
        return str(value)

    return _TEMPLATE.sub(lookup, template)


def run_grader(grader: Mapping[str, Any], sample: str, item: Mapping[str, Any]) -> float:
    """Score ``sample`` for ``item``; string_check, text_similarity and multi only.

    text_similarity metrics other than cosine are approximated by a fuzzy ratio.
    """
    context = {"sample": {"output_text": sample}, "item": item}
    kind = grader["type"]
    if kind == "string_check":
        got, want = render(grader["input"], context), render(grader["reference"], context)
        op = grader["operation"]
        if op == "eq":
            return float(got == want)
        if op == "ne":
            return float(got != want)
        if op == "like":
            return float(want in got)
        return float(want.lower() in got.lower())
    if kind == "text_similarity":
        got, want = render(grader["input"], context), render(grader["reference"], context)
        if grader["evaluation_metric"] == "cosine":
            a, b = set(got.lower().split()), set(want.lower().split())
            return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0
        return difflib.SequenceMatcher(None, got, want).ratio()
    if kind == "multi":
        graders = grader["graders"]
        subs = graders if "type" not in graders else {graders["name"]: graders}
        scores = {name: run_grader(sub, sample, item) for name, sub in subs.items()}
        env = {**scores, **{f: getattr(math, f, None) for f in _MATH_FUNCTIONS}}
        env.update({"min": min, "max": max, "abs": abs, "round": round})
        code = compile(ast.parse(grader["calculate_output"], mode="eval"), "<formula>", "eval")
        return float(eval(code, {"__builtins__": {}}, env))  # noqa: S307 - names validated
    raise ApiError(400, f"The fake server does not run '{kind}' graders.", param="grader.type")


async def validate_grader_endpoint(request: web.Request) -> web.Response:
    """POST /v1/fine_tuning/alpha/graders/validate: echo a valid grader, else 400."""
    body = json_object(request)
    if body.get("grader") is None:
        raise missing("grader")
    validate_grader(body["grader"])
    return json_response({"grader": body["grader"]})


async def run_grader_endpoint(request: web.Request) -> web.Response:
    """POST /v1/fine_tuning/alpha/graders/run: score ``model_sample`` for ``item``."""
    body = json_object(request)
    for key in ("grader", "model_sample"):
        if body.get(key) is None:
            raise missing(key)
    grader = body["grader"]
    validate_grader(grader)
    started = time.perf_counter()
    reward = run_grader(grader, str(body["model_sample"]), body.get("item") or {})
    errors = dict.fromkeys(_GRADER_ERROR_FLAGS, False)
    return json_response(
        {
            "reward": reward,
            "sub_rewards": {},
            "model_grader_token_usage_per_model": {},
            "metadata": {
                "name": grader["name"],
                "type": grader["type"],
                "errors": errors,
                "execution_time": time.perf_counter() - started,
                "scores": {},
                "token_usage": None,
                "sampled_model_name": None,
            },
        }
    )

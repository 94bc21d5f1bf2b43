"""Deterministic checks of imported suites, as a python grader (copied into the suite).

promptfoo asserts and openai/evals matchers differ per item, so the importer stores
them in each item (`item["checks"]`: a list of {type, value, threshold}) and this one
grader runs them: the sample passes when every check does (score = the share that
pass, so the pass rate is exact and partial credit visible). It runs in the python
grader's sandbox and imports only what OpenAI's grader runtime ships (rapidfuzz, nltk,
rouge-score). A check type it does not know scores 0, never passes silently.
"""

from __future__ import annotations

import json
import re
from typing import Any


def _json_in(text: str) -> Any:
    """The first JSON object or array in `text`, else None (promptfoo's contains-json)."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text[i:])[0]
            except ValueError:
                continue
    return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _levenshtein(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def _rouge_n(output: str, reference: str, n: int) -> float:
    from rouge_score import rouge_scorer

    key = f"rouge{n}"
    return float(rouge_scorer.RougeScorer([key]).score(reference, output)[key].fmeasure)


def _bleu(output: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp, ref = output.split(), reference.split()
    if not hyp or not ref:
        return 0.0
    return float(sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method4))


def _python(code: str, output: str, item: dict[str, Any]) -> bool:
    context = {"vars": item.get("vars", item)}
    scope: dict[str, Any] = {"output": output, "context": context, "json": json, "re": re}
    if "\n" not in code.strip():
        result = eval(code, scope)  # the suite author's expression, in the sandbox
    else:
        body = "\n".join("    " + line for line in code.strip().splitlines())
        exec("def _check(output, context):\n" + body, scope)
        result = scope["_check"](output, context)
    if isinstance(result, dict):  # promptfoo's GradingResult
        return bool(result.get("pass", result.get("pass_", False)))
    if isinstance(result, bool):
        return result
    return float(result) >= 0.5


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check(kind: Any, value: Any, threshold: Any, output: str, item: dict[str, Any]) -> bool:
    """Whether `output` passes one check."""
    if kind == "equals":
        return output == str(value) if not isinstance(value, dict) else _json_in(output) == value
    if kind == "contains":
        return str(value) in output
    if kind == "icontains":
        return str(value).lower() in output.lower()
    if kind in ("contains-any", "icontains-any"):
        fold = kind.startswith("i")
        text = output.lower() if fold else output
        return any((str(v).lower() if fold else str(v)) in text for v in _values(value))
    if kind in ("contains-all", "icontains-all"):
        fold = kind.startswith("i")
        text = output.lower() if fold else output
        return all((str(v).lower() if fold else str(v)) in text for v in _values(value))
    if kind == "starts-with":
        return output.startswith(str(value))
    if kind == "regex":
        return re.search(str(value), output) is not None
    if kind == "is-json":
        return _is_json(output)
    if kind == "contains-json":
        return _json_in(output) is not None
    if kind == "levenshtein":
        return _levenshtein(output, str(value)) <= (5 if threshold is None else threshold)
    if kind == "rouge-n":
        return _rouge_n(output, str(value), 4) >= (0.75 if threshold is None else threshold)
    if kind == "bleu":
        return _bleu(output, str(value)) >= (0.5 if threshold is None else threshold)
    if kind == "python":
        return _python(str(value), output, item)
    # openai/evals matchers: `value` is the list of ideal answers
    if kind == "match":  # evals.elsuite.basic.match: the answer starts with an ideal
        return any(output.strip().startswith(str(v).strip()) for v in _values(value))
    if kind == "includes":  # basic.includes: an ideal occurs in the answer
        return any(str(v).strip() in output for v in _values(value))
    if kind == "fuzzy_match":  # basic.fuzzy_match: either contains the other, normalised
        norm = " ".join(re.sub(r"[^\w\s]", "", output.lower()).split())
        for v in _values(value):
            ideal = " ".join(re.sub(r"[^\w\s]", "", str(v).lower()).split())
            if ideal and (ideal in norm or (norm and norm in ideal)):
                return True
        return False
    return False


def grade(sample: dict[str, Any], item: dict[str, Any]) -> float:
    checks = item.get("checks") or []
    if not checks:
        return 1.0
    output = sample["output_text"]
    passed = 0
    for spec in checks:
        ok = check(spec.get("type"), spec.get("value"), spec.get("threshold"), output, item)
        if spec.get("negate"):
            ok = not ok
        passed += bool(ok)
    return passed / len(checks)

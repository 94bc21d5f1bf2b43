"""A promptfoo config (promptfooconfig.yaml) as a suite.

`prompts` (text, or chat messages as a JSON string) become the input, with promptfoo's
`{{ var }}` as `{{ item.var }}`; each test's `vars` (over `defaultTest.vars`) become an
item. Deterministic asserts (equals, contains, icontains, starts-with, regex, is-json,
contains-json, levenshtein, rouge-n, bleu, python, and their `not-` forms) go into the
item as checks that one python grader runs; `llm-rubric` becomes a score_model and
`similar` a cosine text_similarity when every test has one. JavaScript asserts,
providers' options and file:// references are reported as not carried over.
"""

from __future__ import annotations

import json
import re
from typing import Any

from commands.importers.common import Draft, ImportRefused, checks_grader, slug

__all__ = ["from_promptfoo", "looks_like_promptfoo"]

CHECK_TYPES = (
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "icontains-any",
    "contains-all",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "levenshtein",
    "rouge-n",
    "bleu",
    "python",
)
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
RUBRIC_FIELD = "rubric"
SIMILAR_FIELD = "similar_to"


def looks_like_promptfoo(doc: Any) -> bool:
    return isinstance(doc, dict) and "prompts" in doc and ("tests" in doc or "providers" in doc)


def _template(text: str) -> str:
    return _VAR.sub(lambda m: "{{ item." + m.group(1) + " }}", text)


def _input(prompts: Any, draft: Draft) -> list[dict[str, Any]]:
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list) or not prompts:
        raise ImportRefused("prompts must be a list of prompts")
    first = prompts[0]
    if isinstance(first, dict):
        first = first.get("raw") or first.get("id") or ""
    if not isinstance(first, str) or first.startswith("file://"):
        raise ImportRefused(
            f"prompt {first!r} is a file reference: paste the prompt into the config"
        )
    if len(prompts) > 1:
        draft.say(f"prompts[1:] ({len(prompts) - 1} more) -> not carried over: one input per suite")
    try:
        chat = json.loads(first)
    except ValueError:
        chat = None
    if isinstance(chat, list) and all(isinstance(m, dict) and "role" in m for m in chat):
        draft.say(f"prompts[0] (chat JSON, {len(chat)} messages) -> input")
        return [{"role": m["role"], "content": _template(str(m.get("content", "")))} for m in chat]
    draft.say("prompts[0] (text) -> input: one user message")
    return [{"role": "user", "content": _template(first)}]


def _assert_of(spec: dict[str, Any], where: str, draft: Draft) -> dict[str, Any] | None:
    kind = str(spec.get("type", ""))
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    if base in ("javascript",) or str(spec.get("value", "")).startswith("file://"):
        draft.say(f"{where} {kind} -> not carried over (JavaScript and files do not run here)")
        return None
    if base not in CHECK_TYPES:
        draft.say(f"{where} {kind} -> not carried over (no such check here)")
        return None
    check: dict[str, Any] = {"type": base, "value": spec.get("value")}
    if spec.get("threshold") is not None:
        check["threshold"] = spec["threshold"]
    if negate:
        check["negate"] = True
    return check


def from_promptfoo(doc: dict[str, Any]) -> Draft:
    """A draft suite from a promptfoo config."""
    name = slug(str(doc.get("description") or "promptfoo"))
    draft = Draft(name=name, input=[], items=[], description=str(doc.get("description") or ""))
    draft.say(f"promptfoo config {doc.get('description')!r} -> suite {name}")
    draft.input = _input(doc.get("prompts"), draft)
    providers = doc.get("providers") or []
    if providers:
        ids = [p if isinstance(p, str) else str(p.get("id")) for p in providers]
        draft.say(
            f"providers {', '.join(ids)} -> not part of a suite (nor their options): "
            f"/eval run {name} <model>"
        )
    default = doc.get("defaultTest") or {}
    tests = doc.get("tests")
    if not isinstance(tests, list) or not tests:
        raise ImportRefused("the config has no tests (file:// test lists are not read)")
    default_asserts = list(default.get("assert") or [])
    rubric_in, similar_in = 0, 0
    for index, test in enumerate(tests):
        if not isinstance(test, dict):
            raise ImportRefused(f"tests[{index}] is not a mapping")
        item: dict[str, Any] = {**(default.get("vars") or {}), **(test.get("vars") or {})}
        checks: list[dict[str, Any]] = []
        for a_index, spec in enumerate([*default_asserts, *(test.get("assert") or [])]):
            where = f"tests[{index}].assert[{a_index}]"
            kind = spec.get("type")
            if kind == "llm-rubric":
                item[RUBRIC_FIELD] = str(spec.get("value", ""))
                rubric_in += 1
            elif kind == "similar":
                item[SIMILAR_FIELD] = str(spec.get("value", ""))
                item["similar_threshold"] = spec.get("threshold", 0.75)
                similar_in += 1
            else:
                check = _assert_of(spec, where, draft)
                if check is not None:
                    checks.append(check)
        if checks:
            item["checks"] = checks
        if test.get("description"):
            item["description"] = str(test["description"])
        draft.items.append(item)
    draft.say(f"tests ({len(tests)}) with their vars -> eval.jsonl items")
    n_checks = sum(len(i.get("checks", [])) for i in draft.items)
    if n_checks:
        draft.graders.append(checks_grader())
        draft.needs_checks = True
        draft.say(f"asserts ({n_checks} deterministic) -> item checks, graded by python 'checks'")
    if rubric_in:
        if rubric_in == len(tests):
            draft.graders.append(
                {
                    "type": "score_model",
                    "name": "llm-rubric",
                    "model": "gpt-4.1-mini",
                    "input": [
                        {
                            "role": "system",
                            "content": "Grade the output against the rubric. Score 1 if it "
                            "meets the rubric, 0 if not.",
                        },
                        {
                            "role": "user",
                            "content": "Rubric: {{ item.rubric }}\n\n"
                            "Output: {{ sample.output_text }}",
                        },
                    ],
                    "range": [0, 1],
                    "pass_threshold": 0.5,
                }
            )
            draft.say("llm-rubric -> score_model 'llm-rubric' (judge gpt-4.1-mini, pass at 0.5)")
        else:
            draft.say(f"llm-rubric in {rubric_in} of {len(tests)} tests -> not carried over")
    if similar_in:
        thresholds = {i.get("similar_threshold") for i in draft.items}
        if similar_in == len(tests) and len(thresholds) == 1:
            draft.graders.append(
                {
                    "type": "text_similarity",
                    "name": "similar",
                    "input": "{{ sample.output_text }}",
                    "reference": "{{ item.similar_to }}",
                    "evaluation_metric": "cosine",
                    "pass_threshold": thresholds.pop(),
                }
            )
            draft.say("similar -> text_similarity 'similar' (cosine)")
        else:
            draft.say(f"similar in {similar_in} of {len(tests)} tests -> not carried over")
    if not draft.graders:
        raise ImportRefused("no assert could be carried over: the suite would grade nothing")
    return draft

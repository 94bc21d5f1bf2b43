"""Where training rows come from: the suite's files, a file shared in Slack, the passing
outputs of a (teacher) run (`data=run:`), the disagreements of two runs (`data=runs:`),
or the suite's own items (RFT). Each source returns a validated `TrainingSet`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from commands.finetune.estimates import estimate_tokens
from commands.finetune.validation import (
    DataError,
    DataIssue,
    Method,
    count_duplicates,
    find_issues,
    parse_numbered,
    validate,
)
from commands.suites.suite import Suite
from storage.tables import SampleResult

# In an RFT row every other key is an item field for the grader.
RFT_RESERVED = ("messages", "tools")

# -- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    """Validated rows ready to upload, with what they are estimated to cost."""

    method: Method
    train: list[dict[str, Any]]  # JSONL rows in the provider's format
    valid: list[dict[str, Any]] | None
    source: str  # e.g. "suite train.jsonl", "run r12 (passing outputs)", "file data.jsonl"
    tokens: int  # estimated tokens in the training rows, one epoch (see estimate_tokens)
    duplicates: int = 0  # rows of `train` that repeat an earlier row exactly (a warning)

    def jsonl(self, which: Literal["train", "valid"] = "train") -> bytes:
        """The rows as newline-delimited JSON in UTF-8, ready to upload."""
        rows = self.train if which == "train" else self.valid
        if rows is None:
            raise ValueError(f"this training set has no {which} rows")
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()

    @property
    def warnings(self) -> list[str]:
        """Things worth saying that do not stop the job (e.g. duplicated rows)."""
        if not self.duplicates:
            return []
        rows = "row repeats" if self.duplicates == 1 else "rows repeat"
        return [f"{self.duplicates} {rows} an earlier row exactly in {self.source}"]


# -- building training sets --------------------------------------------------------


def _build(
    method: Method,
    train: list[dict[str, Any]],
    valid: list[dict[str, Any]] | None,
    source: str,
) -> TrainingSet:
    return TrainingSet(
        method=method,
        train=train,
        valid=valid,
        source=source,
        tokens=estimate_tokens(train),
        duplicates=count_duplicates(train),
    )


def _suite_file_name(suite: Suite, path: Path) -> str:
    try:
        return path.relative_to(suite.folder).as_posix()
    except ValueError:
        return path.name


def _read_suite_file(
    method: Method, suite: Suite, path: Path, *, min_examples: int
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    name = _suite_file_name(suite, path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        return [], [DataIssue(name, None, None, f"cannot read: {exc.strerror or exc}")]
    try:
        rows, lines = parse_numbered(name, content)
    except DataError as exc:
        return [], exc.issues
    issues = find_issues(
        method,
        rows,
        source=name,
        suite=suite,
        min_examples=min_examples,
        max_examples=50_000,
        lines=lines,
    )
    return rows, issues


def from_suite_files(method: Method, suite: Suite) -> TrainingSet:
    """The suite's own training data: `train:` (and `valid:`) of suite.yaml.

    For RFT the data is the suite's items (see rft_from_suite). Raises DataError when
    the suite has no training file or when any row of either file is invalid.
    """
    if method == "rft":
        return rft_from_suite(suite)
    if suite.train_path is None:
        raise DataError(
            [
                DataIssue(
                    f"{suite.name}/suite.yaml",
                    None,
                    "train",
                    f"suite {suite.name} has no training data: add `train: train.jsonl` "
                    f"to suite.yaml, or pass data=<file> with a file shared in the channel",
                )
            ]
        )
    train, issues = _read_suite_file(method, suite, suite.train_path, min_examples=10)
    valid: list[dict[str, Any]] | None = None
    if suite.valid_path is not None:
        valid, more = _read_suite_file(method, suite, suite.valid_path, min_examples=1)
        issues += more
    if issues:
        raise DataError(issues)
    return _build(method, train, valid, f"suite {_suite_file_name(suite, suite.train_path)}")


def from_file(method: Method, name: str, content: bytes, suite: Suite) -> TrainingSet:
    """A JSONL file shared in Slack (`data=<file>`), checked for `method`."""
    rows, lines = parse_numbered(name, content)
    validate(method, rows, source=name, suite=suite, lines=lines)
    return _build(method, rows, None, f"file {name}")


def _item(suite: Suite, result: SampleResult) -> dict[str, Any] | None:
    index = result.item_index
    return suite.items[index] if 0 <= index < len(suite.items) else None


def _run_label(results: Iterable[SampleResult]) -> str:
    ids = sorted({r.run_id for r in results})
    if not ids:
        return "no run"
    label = ", ".join(f"r{i}" for i in ids)
    return f"run {label}" if len(ids) == 1 else f"runs {label}"


def _one_model(results: Sequence[SampleResult]) -> str | None:
    models = sorted({r.model for r in results})
    if len(models) > 1:
        raise ValueError(f"results of several models ({', '.join(models)}): pass one model's")
    return models[0] if models else None


def sft_from_run(suite: Suite, results: Sequence[SampleResult]) -> TrainingSet:
    """SFT rows from a run's passing outputs: the suite's prompt, then the output.

    This distils a (teacher) model into the one being fine-tuned. `results` must be one
    model's samples; failed and errored samples are left out, as are samples whose
    item the suite no longer has.
    """
    _one_model(results)
    source = f"{_run_label(results)} (passing outputs)"
    rows: list[dict[str, Any]] = []
    for result in sorted(results, key=lambda r: r.item_index):
        item = _item(suite, result)
        if result.status != "passed" or not result.output or item is None:
            continue
        messages = [*suite.messages(item), {"role": "assistant", "content": result.output}]
        rows.append({"messages": messages})
    validate("sft", rows, source=source, suite=suite)
    return _build("sft", rows, None, source)


def dpo_from_runs(
    suite: Suite, a: Sequence[SampleResult], b: Sequence[SampleResult]
) -> TrainingSet:
    """DPO pairs from two runs (or two models) of the suite, item by item.

    Where exactly one of the two passed and the other failed, the passing output is
    preferred and the failing one is not. Errored samples, items both passed or both
    failed, and identical outputs give no pair.
    """
    model_a, model_b = _one_model(a), _one_model(b)
    by_item = {r.item_index: r for r in b}
    if model_a and model_b and model_a != model_b and _run_label(a) == _run_label(b):
        source = f"{_run_label(a)} ({model_a} vs {model_b})"
    else:
        runs = sorted({r.run_id for r in [*a, *b]})
        source = f"runs {' and '.join(f'r{i}' for i in runs)} (passing vs failing outputs)"
    rows: list[dict[str, Any]] = []
    for first in sorted(a, key=lambda r: r.item_index):
        second = by_item.get(first.item_index)
        item = _item(suite, first)
        if second is None or item is None:
            continue
        if {first.status, second.status} != {"passed", "failed"}:
            continue
        good, bad = (first, second) if first.status == "passed" else (second, first)
        if not good.output or not bad.output or good.output == bad.output:
            continue
        rows.append(
            {
                "input": {"messages": suite.messages(item)},
                "preferred_output": [{"role": "assistant", "content": good.output}],
                "non_preferred_output": [{"role": "assistant", "content": bad.output}],
            }
        )
    validate("dpo", rows, source=source, suite=suite)
    return _build("dpo", rows, None, source)


def rft_from_suite(suite: Suite) -> TrainingSet:
    """RFT rows from the suite's items: the rendered prompt plus the item's fields.

    Item fields go at the top level of each row, where the grader's `{{ item.x }}`
    finds them. An item with its own `messages` or `tools` field would collide with the
    reserved keys and is an error.
    """
    source = _suite_file_name(suite, suite.data_path)
    issues: list[DataIssue] = []
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(suite.items):
        for key in RFT_RESERVED:
            if key in item:
                issues.append(
                    DataIssue(
                        source,
                        index + 1,
                        key,
                        f"{key!r} is reserved in RFT rows; rename this item field",
                    )
                )
        rows.append({"messages": suite.messages(item), **item})
    if issues:
        raise DataError(issues)
    validate("rft", rows, source=source, suite=suite)
    return _build("rft", rows, None, f"suite {source}")

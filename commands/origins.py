"""Why a run exists, as types: who or what started it and what its ending should do.

The database keeps an origin as two strings (`EvalRun.origin`, and `origin_ref`, a small
JSON object) so rows written by older versions still read. This module is the only place
that turns those strings into an `Origin` and back; everything else matches on the types.
A new kind of run gets a dataclass here, a branch in `origin_of`/`stored`, and its
follow-up in commands.outcomes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.tables import EvalRun


@dataclass(frozen=True)
class Slack:
    """Someone typed `/eval run` in a channel."""


@dataclass(frozen=True)
class Cli:
    """`evalbot eval run` in a terminal: the terminal is the channel."""


@dataclass(frozen=True)
class Release:
    """A watch saw a new model: compare it with production (or the best recent run)."""

    watch: int | None
    new: str
    baseline: str | None
    basis: str  # "production" or "best recent run": said in the alert
    base_run: int | None  # an earlier run of the baseline reused, when there is one


@dataclass(frozen=True)
class Drift:
    """A drift watch reran production: alarm only when it dropped significantly."""

    watch: int | None
    model: str
    previous_run: int | None
    channel: str | None


@dataclass(frozen=True)
class FineTune:
    """A fine-tune succeeded: compare it with its base model in the job's thread."""

    job: int | None
    new: str
    baseline: str
    base_run: int | None
    channel: str | None
    thread: str | None


Origin = Slack | Cli | Release | Drift | FineTune


def _ref(run: EvalRun) -> dict[str, Any]:
    try:
        ref = json.loads(run.origin_ref or "{}")
    except ValueError:
        return {}
    return ref if isinstance(ref, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def origin_of(run: EvalRun) -> Origin:
    """The typed origin of a stored run; a row that cannot be read counts as Slack."""
    ref = _ref(run)
    if run.origin == "cli":
        return Cli()
    if run.origin == "watch" and ref.get("kind", "release") == "release":
        return Release(
            watch=_int(ref.get("watch")),
            new=str(ref.get("new")),
            baseline=_str(ref.get("baseline")),
            basis=str(ref.get("basis") or "production"),
            base_run=_int(ref.get("base_run")),
        )
    if run.origin == "drift" or ref.get("kind") == "drift":
        return Drift(
            watch=_int(ref.get("watch")),
            model=str(ref.get("model")),
            previous_run=_int(ref.get("previous_run")),
            channel=_str(ref.get("channel")),
        )
    if run.origin == "finetune":
        return FineTune(
            job=_int(ref.get("job")),
            new=str(ref.get("new")),
            baseline=str(ref.get("baseline")),
            base_run=_int(ref.get("base_run")),
            channel=_str(ref.get("channel")),
            thread=_str(ref.get("thread")),
        )
    return Slack()


def stored(origin: Origin) -> tuple[str, str | None]:
    """(EvalRun.origin, EvalRun.origin_ref) for a new run: the same strings as always."""
    match origin:
        case Slack():
            return "slack", None
        case Cli():
            return "cli", None
        case Release():
            ref: dict[str, Any] = {
                "watch": origin.watch,
                "kind": "release",
                "new": origin.new,
                "baseline": origin.baseline,
                "basis": origin.basis,
                "base_run": origin.base_run,
            }
            return "watch", json.dumps(ref)
        case Drift():
            ref = {
                "watch": origin.watch,
                "kind": "drift",
                "model": origin.model,
                "previous_run": origin.previous_run,
                "channel": origin.channel,
            }
            return "drift", json.dumps(ref)
        case FineTune():
            ref = {
                "kind": "finetune",
                "job": origin.job,
                "new": origin.new,
                "baseline": origin.baseline,
                "base_run": origin.base_run,
                "thread": origin.thread,
                "channel": origin.channel,
            }
            return "finetune", json.dumps(ref)

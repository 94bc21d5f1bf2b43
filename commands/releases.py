"""What counts as a release, and what a release is compared with: rules without I/O.

commands.watch.poll reads the provider's list and the stored runs, then asks these
functions; the rules are tested in milliseconds (tests/usecases).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


def new_releases(
    listed: Iterable[str],
    *,
    glob: str,
    first_seen: Mapping[str, datetime],
    baseline_at: datetime | None,
) -> list[str]:
    """The listed model ids matching the watch's glob that appeared after it was added.

    A model the provider already listed when the watch was added (first seen at or before
    `baseline_at`) is not a release; with no baseline yet (the first poll) nothing is.
    """
    if baseline_at is None:
        return []
    out = []
    for model in listed:
        seen = first_seen.get(model)
        if fnmatch.fnmatchcase(model, glob) and seen is not None and seen > baseline_at:
            out.append(model)
    return out


@dataclass(frozen=True)
class PastRun:
    """What the baseline choice needs to know of one stored run."""

    id: int
    status: str
    models: Sequence[str]
    data_version: str
    total: int
    sample_limit: int | None
    pass_rates: Mapping[str, float | None] = field(default_factory=dict)


def reusable_run(
    runs: Iterable[PastRun], *, model: str, data_version: str, total: int
) -> int | None:
    """A finished run of `model` on the same data and every sample: no need to pay again."""
    for run in runs:
        if (
            run.status == "finished"
            and model in run.models
            and run.data_version == data_version
            and run.total >= total
            and run.sample_limit is None
        ):
            return run.id
    return None


def best_recent(runs: Iterable[PastRun], *, data_version: str) -> tuple[str | None, int | None]:
    """The model with the best pass rate among finished runs on this data version."""
    best: tuple[float, str, int] | None = None
    for run in runs:
        if run.status != "finished" or run.data_version != data_version:
            continue
        for model, rate in run.pass_rates.items():
            if rate is not None and (best is None or rate > best[0]):
                best = (rate, model, run.id)
    return (best[1], best[2]) if best else (None, None)


@dataclass(frozen=True)
class Baseline:
    """What a release run compares the new model with, and which models it must run."""

    model: str | None  # None: nothing to compare with, the new model stands alone
    basis: str  # "production" or "best recent run", said in the alert
    base_run: int | None  # an earlier run of the baseline that is reused
    models: list[str]  # the models the release run itself executes


def choose_baseline(
    new: str,
    *,
    production: str | None,
    runs: Sequence[PastRun],
    data_version: str,
    total: int,
) -> Baseline:
    """The contract: production if set, else the best recent run, else the new model alone.

    A finished full run of the production model on the same data is reused instead of
    running production again; the best recent run is reused by definition.
    """
    if production is None:
        model, base_run = best_recent(runs, data_version=data_version)
        basis = "best recent run"
    else:
        model, basis = production, "production"
        base_run = (
            reusable_run(runs, model=production, data_version=data_version, total=total)
            if production != new
            else None
        )
    alone = base_run is not None or model in (None, new)
    return Baseline(model, basis, base_run, [new] if alone else [model or new, new])

"""Which comparison result leads to a promotion proposal: a rule without I/O.

The numbers (paired diff, exact McNemar test, verdict) come from commands.stats
through commands.eval.compare; this decides what a team sees proposed after a
multi-model run, a release alert or a fine-tune's evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class _Diff(Protocol):
    @property
    def verdict(self) -> str: ...

    @property
    def diff_pp(self) -> float: ...


class _Side(Protocol):
    @property
    def model(self) -> str: ...


class _Comparison(Protocol):
    @property
    def baseline(self) -> _Side: ...

    @property
    def challengers(self) -> Sequence[tuple[_Side, _Diff]]: ...


def proposal_candidate(
    c: _Comparison, *, production: str | None, over_production: bool, has_approvers: bool
) -> str | None:
    """The model to propose, or None.

    Over production (a run or a release alert): only when the baseline is the suite's
    production model. Over the baseline (a fine-tune against its base): whatever the
    baseline. Either way the challenger must be significantly better ("better" verdict),
    the best of those by diff wins, and someone must be able to approve it.
    """
    if over_production and (production is None or c.baseline.model != production):
        return None
    better = [(d.diff_pp, side.model) for side, d in c.challengers if d.verdict == "better"]
    if not better or not has_approvers:
        return None
    return max(better, key=lambda pair: pair[0])[1]

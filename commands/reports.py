"""What use cases say, as data: the edge (bot/presenters, bot/terminal.py) words it.

A report carries numbers and the raw text others wrote (model outputs, dataset items,
provider messages, model names) exactly as it came. It is never mrkdwn: each presenter
escapes what it did not write for its own medium, and nobody parses rendered text back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from commands.stats import PairedDiff, percentile
from storage.admission import QueuePlace
from storage.runs import CriterionTally, ModelTally
from storage.tables import SampleResult


@dataclass(frozen=True)
class RunHeader:
    """What every message about one run starts with."""

    run: str  # "r12"
    suite: str
    data_version: str
    total: int  # samples per model
    user: str | None = None
    # Why the run exists when no person started it: a watch's release or drift check.
    release_of: str | None = None  # the new model of a release run
    drift: bool = False
    watch: str | None = None  # "w3"


@dataclass(frozen=True)
class RunProgress:
    """The run's message while it goes."""

    header: RunHeader
    models: Sequence[str]
    counts: Mapping[str, ModelTally]
    elapsed_s: float
    # A run waiting for capacity: the runs ahead of it (None: it is not queued).
    queued_behind: Sequence[str] | None = None
    # Waiting for its turn (EVALBOT_MAX_ACTIVE_RUNS): the runs executing and those ahead.
    queued: QueuePlace | None = None


@dataclass(frozen=True)
class RunSummary:
    """The run's message once it has ended."""

    header: RunHeader
    state: str  # finished, cancelled, failed
    models: Sequence[str]
    counts: Mapping[str, ModelTally]
    costs: Mapping[str, float | None]  # None: the price table does not know the model
    elapsed_s: float | None
    error: str | None = None  # a failed run's reason (often the provider's message)
    # model -> sampling parameters it refused, so it ran with the provider's default
    adjustments: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # The lead line of a run of several models, once its comparison is known.
    verdict: Verdict | None = None
    # model -> criterion -> its own tally, for suites with `graders:` (testing_criteria)
    criteria: Mapping[str, Mapping[str, CriterionTally]] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """One failing sample, in the provider's and the dataset's own words."""

    index: int
    model: str
    input: str
    expected: str | None
    got: str
    score: float | None
    error: str | None = None
    line: int | None = None  # the item's line in the data file


@dataclass(frozen=True)
class FailureList:
    """Up to a few failing samples of a run, for its thread."""

    run: str
    failures: Sequence[Failure]
    total_failed: int
    # A grader that scores (similarity, a judge) shows the score beside its threshold;
    # an exact match (string_check) has no score worth showing.
    threshold: float | None = None
    file_attached: bool = False  # every failure is in an uploaded file


@dataclass(frozen=True)
class Side:
    """One model's results in one run, keyed by item index."""

    label: str  # the key in the report: the model, or model@rN when names clash
    model: str
    run_id: int
    results: dict[int, SampleResult]

    def graded(self) -> dict[int, bool]:
        return {i: r.status == "passed" for i, r in self.results.items() if r.status != "errored"}

    @property
    def cost(self) -> float:
        return sum(r.cost_usd for r in self.results.values())

    def latency_ms(self, q: float) -> float | None:
        values = [r.latency_ms for r in self.results.values() if r.status != "errored"]
        return percentile(values, q) if values else None

    def criteria_rates(self) -> dict[str, tuple[int, int]]:
        """{criterion: (passed, graded)} over this side's samples that stored a breakdown."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.results.values():
            for name, verdict in (r.criteria or {}).items():
                passed, graded = out.get(name, (0, 0))
                ok = isinstance(verdict, dict) and verdict.get("passed") is True
                out[name] = (passed + int(ok), graded + 1)
        return out


@dataclass(frozen=True)
class Comparison:
    suite: str
    baseline: Side
    challengers: list[tuple[Side, PairedDiff]]

    def as_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "baseline": self.baseline.label,
            "challengers": {
                side.label: {
                    "diff_pp": round(d.diff_pp, 2),
                    "ci95_pp": [round(d.ci95_pp[0], 2), round(d.ci95_pp[1], 2)],
                    "p_value": round(d.p_value, 6),
                    "improved": d.improved,
                    "regressed": d.regressed,
                    "paired": d.paired,
                    "verdict": d.verdict,
                    "cost_diff_usd": round(side.cost - self.baseline.cost, 6),
                    "criteria": criteria_diff(side, self.baseline),
                }
                for side, d in self.challengers
            },
        }


@dataclass(frozen=True)
class Code:
    """A name someone else chose (a model, a suite), shown as code, never as markup."""

    text: str


@dataclass(frozen=True)
class Mention:
    """A Slack user id (someone who approved, proposed, started): a mention where the
    medium has them, shown as code when it is not the shape of a user id."""

    user: str


@dataclass(frozen=True)
class Prose:
    """Words that quote what someone typed (a parser's message): read as prose, with
    nothing in them live or formatting."""

    text: str


# A title in parts: our own words, names shown as code ("Release alert: ", Code(m)),
# people mentioned, and prose that quotes someone.
Title = tuple[str | Code | Mention | Prose, ...]


def title_text(parts: Title) -> str:
    """A title's words with no markup at all (a chart's caption draws them as text)."""
    return "".join(
        p if isinstance(p, str) else p.user if isinstance(p, Mention) else p.text for p in parts
    )


@dataclass(frozen=True)
class ComparisonReport:
    """A paired comparison with its title ("Comparison r12", "Release alert: `m`")."""

    title: Title
    comparison: Comparison
    # Cost per side label; None where the price table does not know the model.
    costs: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The one line a report opens with (commands.headline builds it): the leading model
    against its reference, the paired numbers, and what follows."""

    challenger: str
    challenger_rate: float | None
    reference: str
    reference_rate: float | None
    reference_is: str  # "production", "the next best", "the base model", "r12"...
    diff_pp: float
    p_value: float
    verdict: str  # better, worse, no significant difference
    follow: str  # "proposal p3", "no proposal", ...: our words
    samples_for_gap: int | None  # a hint when the difference is not significant
    prefix: Title = ()  # ":rocket: Release alert (watch w1)" and the like


def criteria_diff(side: Side, baseline: Side) -> dict[str, Any]:
    """Each criterion's pass rate for the challenger and the baseline, and the diff."""
    mine, base = side.criteria_rates(), baseline.criteria_rates()
    out: dict[str, Any] = {}
    for name in [*base, *(n for n in mine if n not in base)]:
        rates = [p / g if g else None for p, g in (mine.get(name, (0, 0)), base.get(name, (0, 0)))]
        out[name] = {
            "pass_rate": round(rates[0], 4) if rates[0] is not None else None,
            "baseline_pass_rate": round(rates[1], 4) if rates[1] is not None else None,
            "diff_pp": round((rates[0] - rates[1]) * 100, 2)
            if rates[0] is not None and rates[1] is not None
            else None,
        }
    return out


# Promotions (commands/promote): a proposal open and decided, and why one may not be made.


@dataclass(frozen=True)
class MissingEvidence:
    """Why a model may not be proposed (or approved) now, with the run that would make the
    evidence. `candidate` None: the suite itself is no longer loaded."""

    suite: str
    candidate: str | None = None
    current: str | None = None

    def words(self) -> Title:
        if self.candidate is None:
            return ("the suite ", Code(self.suite), " is no longer loaded")
        cand, cur = self.candidate, self.current
        models = f"{cur} {cand}" if cur and cur != cand else cand
        paired: Title = (" alongside the production model ", Code(cur)) if cur else ()
        return (
            Code(cand),
            " has no finished, complete run on ",
            Code(self.suite),
            "'s current data",
            *paired,
            ": run ",
            Code(f"/eval run {self.suite} {models}"),
            " (no `limit=`), then propose it again.",
        )

    def as_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "candidate": self.candidate, "current": self.current}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> MissingEvidence:
        return cls(str(value.get("suite", "")), value.get("candidate"), value.get("current"))


@dataclass(frozen=True)
class EvidenceRun:
    """One model's result in the run a proposal rests on."""

    model: str
    run: str  # "r12"
    passed: int
    graded: int
    pass_rate: float | None
    ci95: tuple[float, float]


@dataclass(frozen=True)
class PairedEvidence:
    """The candidate against the current model, item by item (one run or two)."""

    run: str  # "r12", or "r13 and r12" when two runs are paired
    paired: int
    diff_pp: float
    ci95_pp: tuple[float, float]
    p_value: float
    improved: int
    regressed: int
    verdict: str  # better, worse, no significant difference


@dataclass(frozen=True)
class ProposalReport:
    """A promotion proposal, open (`status` open) or decided, with its evidence."""

    id: int | None
    suite: str
    alias: str
    candidate: str
    current: str | None
    proposer: str | None  # None: evalbot proposed it (a report found a better model)
    status: str  # open, approved, rejected, expired, void
    approvals_needed: int
    approvers: Sequence[str]
    approvals: Sequence[str]
    candidate_run: EvidenceRun | None = None
    current_run: EvidenceRun | None = None
    paired: PairedEvidence | None = None
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    # Why a deciding approval found the evidence gone (str: as older rows stored it).
    void: MissingEvidence | str | None = None


# Watches (commands/watch): the watches of a channel, a check, a model's retirement.


@dataclass(frozen=True)
class ProviderFailure:
    """A provider call that failed: its kind (ours) and its message (the provider's)."""

    kind: str
    message: str


@dataclass(frozen=True)
class WatchLine:
    """One watch as a line: what it looks for, where, how often, for which suites."""

    id: int | None
    glob: str
    drift: bool  # a drift watch reruns the production models instead of a glob
    provider: str
    every_s: int
    suites: Sequence[str]
    paused: bool = False
    last_checked_at: datetime | None = None


@dataclass(frozen=True)
class WatchAdded:
    """A watch was added: how many models match now (None: a drift watch, or the first
    check failed), or the failure."""

    user: str
    watch: WatchLine
    matching: int | None = None
    failure: ProviderFailure | None = None


@dataclass(frozen=True)
class WatchList:
    watches: Sequence[WatchLine]


@dataclass(frozen=True)
class StartedRun:
    """A run a poll started: a release's, or a drift rerun of production."""

    run_id: int
    suite: str
    model: str
    drift: bool = False


@dataclass(frozen=True)
class WatchChecked:
    """One watch's part of `/watch check`: the runs it started, or the provider's failure."""

    watch_id: int | None
    glob: str
    drift: bool
    runs: Sequence[StartedRun] = ()
    failure: ProviderFailure | None = None


@dataclass(frozen=True)
class WatchCheck:
    watches: Sequence[WatchChecked]


@dataclass(frozen=True)
class RankedModel:
    """A model's latest pass rate on a suite's current data, as a replacement candidate."""

    model: str
    pass_rate: float
    passed: int
    graded: int
    run_id: int


@dataclass(frozen=True)
class RetirementNotice:
    """A watched model has a shutdown date (announced once; reminders at 30 and 7 days)."""

    watch_id: int | None
    model: str
    shutdown: str  # YYYY-MM-DD, as the provider lists it
    days_left: int  # negative: already past
    reminder: bool
    production_of: Sequence[str]  # the suites whose production model it is
    # Per loaded suite of those, the best recent models on its current data.
    candidates: Sequence[tuple[str, Sequence[RankedModel]]] = ()


# `/models` (commands/models): production models, an alias's history, what a provider serves.


@dataclass(frozen=True)
class ProductionModels:
    """Each suite with its aliases (alias -> model); empty: no production model."""

    suites: Sequence[tuple[str, Mapping[str, str]]]


@dataclass(frozen=True)
class AliasMove:
    created_at: datetime
    alias: str
    previous: str | None
    model: str
    decided_by: Sequence[str]  # the approvers; empty: unknown
    proposal_id: int | None


@dataclass(frozen=True)
class AliasHistory:
    suite: str
    moves: Sequence[AliasMove]  # newest first


@dataclass(frozen=True)
class ServedModel:
    name: str  # as `/eval run` takes it (with the provider's prefix)
    shutdown: str | None


@dataclass(frozen=True)
class ProvidedModels:
    """What a provider lists: the first few models by name, and how many there are."""

    provider: str
    prefix: str  # "" for the default provider, else "name:"
    models: Sequence[ServedModel]
    total: int

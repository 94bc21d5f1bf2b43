"""The Presenter port (commands.ports): every report kind, in a Style (bot.presenters.mrkdwn
for Slack, bot.presenters.plain for a terminal)."""

from __future__ import annotations

from bot.presenters import comparison, models, proposal, run, verdict, watch
from bot.presenters.mrkdwn import Style
from commands.reports import (
    AliasHistory,
    ComparisonReport,
    FailureList,
    ProductionModels,
    ProposalReport,
    ProvidedModels,
    RetirementNotice,
    RunProgress,
    RunSummary,
    Title,
    Verdict,
    WatchAdded,
    WatchCheck,
    WatchList,
)


class StyledPresenter:
    """One wording of every report, in one Style (Slack's, or a terminal's)."""

    def __init__(self, style: Style) -> None:
        self.style = style

    def run_progress(self, report: RunProgress) -> str:
        return run.progress(self.style, report)

    def run_summary(self, report: RunSummary) -> str:
        return run.summary(self.style, report)

    def failures(self, report: FailureList) -> str:
        return run.failures(self.style, report)

    def comparison(self, report: ComparisonReport) -> str:
        return comparison.report(self.style, report)

    def flips(self, report: ComparisonReport) -> str | None:
        return comparison.flips(self.style, report)

    def verdict(self, report: Verdict) -> str:
        return verdict.line(self.style, report)

    def line(self, parts: Title) -> str:
        return self.style.title(parts)

    def proposal(self, report: ProposalReport) -> str:
        if report.status == "open":
            return proposal.opened(self.style, report)
        return proposal.decided(self.style, report)

    def proposal_outcome(self, report: ProposalReport) -> str:
        return proposal.outcome(self.style, report)

    def watch_added(self, report: WatchAdded) -> str:
        return watch.added(self.style, report)

    def watches(self, report: WatchList) -> str:
        return watch.listed(self.style, report)

    def watch_check(self, report: WatchCheck) -> str:
        return watch.checked(self.style, report)

    def retirement(self, report: RetirementNotice) -> str:
        return watch.retirement(self.style, report)

    def production_models(self, report: ProductionModels) -> str:
        return models.production(self.style, report)

    def alias_history(self, report: AliasHistory) -> str:
        return models.history(self.style, report)

    def provided_models(self, report: ProvidedModels) -> str:
        return models.provided(self.style, report)

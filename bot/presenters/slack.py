"""The Presenter port (commands.ports): every report kind, in a Style (bot.presenters.mrkdwn
for Slack, bot.presenters.plain for a terminal)."""

from __future__ import annotations

from bot.presenters import comparison, run
from bot.presenters.mrkdwn import Style
from commands.reports import ComparisonReport, FailureList, RunProgress, RunSummary, Title


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

    def line(self, parts: Title) -> str:
        return self.style.title(parts)

"""A summary says when answers were cut at the output-token cap (issue 12, item 3)."""

from __future__ import annotations

from bot.presenters import run as present_run
from bot.presenters.mrkdwn import SLACK
from bot.presenters.plain import PLAIN
from commands.reports import RunHeader, RunSummary
from storage.runs import ModelTally

HEADER = RunHeader(run="r3", suite="s", data_version="sha256:" + "0" * 64, total=4)


def summary(counts: dict[str, ModelTally]) -> RunSummary:
    return RunSummary(
        header=HEADER,
        state="finished",
        models=list(counts),
        counts=counts,
        costs={m: None for m in counts},
        elapsed_s=1.0,
        error=None,
        adjustments={},
    )


def test_the_summary_counts_cut_answers_per_model_in_both_presenters() -> None:
    report = summary(
        {
            "m-ramble": ModelTally(passed=1, failed=3, truncated=2),
            "m-terse": ModelTally(passed=4),
        }
    )
    for style in (SLACK, PLAIN):
        text = present_run.summary(style, report)
        cut = [line for line in text.splitlines() if "cut at the output-token limit" in line]
        assert len(cut) == 1, text
        assert "m-ramble" in cut[0] and "2 answers were cut" in cut[0]
        assert "1/4 passed" in text and "4/4 passed" in text


def test_no_line_when_nothing_was_cut() -> None:
    text = present_run.summary(SLACK, summary({"m": ModelTally(passed=2, failed=2)}))
    assert "cut at" not in text

"""Each criterion's pass rate in the summary and in the comparison (report and JSON)."""

from __future__ import annotations

from bot.presenters import comparison as present_comparison
from bot.presenters.mrkdwn import SLACK
from bot.presenters.run import criteria_line
from commands.eval.compare import Side, compare_sides
from commands.reports import ComparisonReport
from storage.runs import CriterionTally
from storage.tables import SampleResult


def side(label: str, verdicts: list[tuple[bool, bool] | None]) -> Side:
    results = {}
    for i, verdict in enumerate(verdicts):
        if verdict is None:
            results[i] = SampleResult(run_id=1, model=label, item_index=i, status="errored")
            continue
        tool, args = verdict
        results[i] = SampleResult(
            run_id=1,
            model=label,
            item_index=i,
            status="passed" if tool and args else "failed",
            criteria={
                "tool": {"score": float(tool), "passed": tool},
                "arguments": {"score": float(args), "passed": args},
            },
        )
    return Side(label, label, 1, results)


def test_criteria_line_shows_each_criterion_and_escapes_names() -> None:
    line = criteria_line(SLACK, {"tool": CriterionTally(9, 10), "<!here>": CriterionTally(1, 4)})
    assert line == "      criteria: `tool` 9/10 (90.0%) · `&lt;!here&gt;` 1/4 (25.0%)"
    assert criteria_line(SLACK, {"only": CriterionTally(1, 2)}) is None  # one criterion: the total


def test_comparison_gives_each_criterions_rates_and_diff() -> None:
    base = side("m1", [(True, True), (True, False), (False, False), (True, True)])
    challenger = side("m2", [(True, True), (True, True), (True, False), None])
    c = compare_sides("s", base, [challenger])
    criteria = c.as_json()["challengers"]["m2"]["criteria"]
    assert criteria["tool"] == {"pass_rate": 1.0, "baseline_pass_rate": 0.75, "diff_pp": 25.0}
    assert criteria["arguments"] == {
        "pass_rate": 0.6667,
        "baseline_pass_rate": 0.5,
        "diff_pp": 16.67,
    }
    text = present_comparison.report(SLACK, ComparisonReport(("t",), c))
    assert "criteria: `tool` 100.0% vs 75.0% · `arguments` 66.7% vs 50.0%" in text

"""Third-party text is shown literally: in Slack escaped and as code, in a terminal as is.

A model's answer, a dataset item, a provider's message or a model name may contain
`<!channel>`, a mention, a disguised link, `*`, `_` or a backtick; none of it may become
live mrkdwn in Slack, and the terminal must print it unchanged.
"""

from __future__ import annotations

import re

import pytest

from bot.presenters import comparison as present_comparison
from bot.presenters import run as present_run
from bot.presenters.mrkdwn import SLACK, code, esc
from bot.presenters.plain import PLAIN
from commands.eval.compare import Side, compare_sides
from commands.reports import (
    Code,
    ComparisonReport,
    Failure,
    FailureList,
    RunHeader,
    RunSummary,
)
from storage.runs import ModelTally
from storage.tables import SampleResult

HOSTILE = "<!channel> <@U999> <https://evil.example|click> *bold* _it_ `tick` & more"
HEADER = RunHeader(run="r3", suite="s", data_version="sha256:" + "0" * 64, total=2)


def live_mrkdwn(text: str) -> list[str]:
    """What Slack would act on: <...> sequences (specials, mentions, links)."""
    return re.findall(r"<[^<>]*>", text)


def outside_code(text: str) -> str:
    """The text with inline code spans removed: where * and _ would format."""
    return re.sub(r"`[^`]*`", "", text)


def failures() -> FailureList:
    f = Failure(index=4, model="m", input=HOSTILE, expected=HOSTILE, got=HOSTILE, score=None)
    return FailureList("r3", [f], 1)


def test_escaping_leaves_nothing_live() -> None:
    assert esc("a < b > c & d") == "a &lt; b &gt; c &amp; d"
    shown = code(HOSTILE)
    assert live_mrkdwn(shown) == []
    assert shown.startswith("`") and shown.endswith("`") and shown.count("`") == 2
    assert "&lt;!channel&gt;" in shown and "&lt;@U999&gt;" in shown


def test_failing_samples_in_slack_are_code_and_escaped() -> None:
    text = present_run.failures(SLACK, failures())
    assert live_mrkdwn(text) == []
    # The hostile text appears three times (input, expected, got), always inside code.
    assert text.count("&lt;!channel&gt;") == 3
    assert "*bold*" not in outside_code(text) and "_it_" not in outside_code(text)


def test_failing_samples_in_a_terminal_are_printed_as_written() -> None:
    text = present_run.failures(PLAIN, failures())
    assert text.count(HOSTILE) == 3
    assert "What is 964 * 7?" in present_run.failures(
        PLAIN,
        FailureList("r1", [Failure(0, "m", "What is 964 * 7?", "6748", "6750", None)], 1),
    )


def test_a_provider_message_in_a_failed_run_is_not_live() -> None:
    report = RunSummary(
        HEADER, "failed", ["m"], {"m": ModelTally()}, {"m": None}, 1.0, error=HOSTILE
    )
    slack = present_run.summary(SLACK, report)
    assert live_mrkdwn(slack) == []
    assert "&lt;https://evil.example|click&gt;" in slack
    assert "*bold*" not in slack and "_it_" not in slack, "emphasis cannot pair"
    assert "*\u200bbold*" in slack  # reads exactly as written
    assert HOSTILE in present_run.summary(PLAIN, report)


@pytest.mark.parametrize("name", ["<!here>", "gpt*x*", "a`b", "m_o_d_e_l"])
def test_model_names_people_type_are_not_markup(name: str) -> None:
    report = RunSummary(HEADER, "finished", [name], {name: ModelTally()}, {}, None)
    text = present_run.summary(SLACK, report)
    assert live_mrkdwn(text) == []
    assert name not in outside_code(text) or re.fullmatch(r"[A-Za-z0-9._:/@+-]+", name)


def test_flipped_samples_show_the_answer_as_code() -> None:
    def side(model: str, ok: bool, output: str) -> Side:
        r = SampleResult(run_id=1, model=model, item_index=0, status="passed" if ok else "failed")
        r.output = output
        return Side(model, model, 1, {0: r})

    c = compare_sides("s", side("a", False, "x"), [side("b", True, HOSTILE)])
    report = ComparisonReport(("Release alert: ", Code("<!channel>")), c)
    slack = (present_comparison.flips(SLACK, report) or "") + present_comparison.report(
        SLACK, report
    )
    assert live_mrkdwn(slack) == []
    assert "&lt;!channel&gt;" in slack
    plain = (present_comparison.flips(PLAIN, report) or "") + present_comparison.report(
        PLAIN, report
    )
    assert HOSTILE in plain and "Release alert: <!channel>" in plain


def test_terminal_text_neutralises_control_characters() -> None:
    text = present_run.failures(
        PLAIN, FailureList("r1", [Failure(0, "m", "q", None, "red\x1b[31mtext", None)], 1)
    )
    assert "\x1b" not in text and "\\x1b[31mtext" in text


def test_a_watch_run_says_why_it_exists() -> None:
    from commands.eval.render import run_header
    from commands.origins import Drift, Release, stored
    from storage.tables import EvalRun

    def header_of(origin: Release | Drift) -> str:
        kind, ref = stored(origin)
        run = EvalRun(id=5, suite="s", data_version="v", models=["m"], total=3)
        run.origin, run.origin_ref = kind, ref
        return present_run.header_line(SLACK, run_header(run), "running")

    release = header_of(Release(watch=2, new="<!here>", baseline=None, basis="x", base_run=None))
    assert release.startswith(":rocket: *Release alert* — new model `&lt;!here&gt;` (watch w2)")
    drift = header_of(Drift(watch=4, model="m", previous_run=None, channel="C1"))
    assert drift.startswith(":mag: Drift check (watch w4)\n*Eval r5*")

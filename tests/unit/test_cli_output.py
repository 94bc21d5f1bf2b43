"""The terminal prints third-party text as written, but never its control sequences (issue 11).

`evalbot suites check` quotes the suites' files in its errors, `evalbot suites import`
quotes the imported config (a provider's id, an assert's type), and `evalbot eval run`
names the models below its floor. A suite or config from elsewhere can carry ESC
sequences (retitle the terminal, clear it, recolour what follows) or a bidirectional
override that shows text in another order: each is printed as its code point, and every
printable character (`*`, `<`, backticks) as it is.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import check_suites
from bot.cli_import import run_import
from bot.presenters.plain import literal
from bot.terminal import below_floor

REPO = Path(__file__).resolve().parents[2]
TITLE = "\x1b]0;pwned\x07"  # OSC: retitles the terminal
CLEAR = "\x1b[2J"  # CSI: clears the screen
C1_CSI = "\x9b2J"  # the one-character CSI
RLO = "\u202e"  # right-to-left override


def test_literal_shows_control_sequences_as_code_points_and_keeps_the_rest() -> None:
    text = f"a{TITLE}b{CLEAR}c{C1_CSI}d{RLO}txt.exe *b* <x> `t`\ttab\nline"
    shown = literal(text)
    assert "\x1b" not in shown and "\x9b" not in shown and RLO not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2J" in shown and "\\x9b2J" in shown
    assert "\\u202etxt.exe" in shown
    assert shown.endswith("*b* <x> `t`\ttab\nline")


def test_suites_check_prints_a_suites_escape_sequences_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "suites" / "routing"
    shutil.copytree(REPO / "examples" / "ticket-routing", folder)
    yaml = folder / "suite.yaml"
    yaml.write_text(yaml.read_text() + '"\\e]0;pwned\\a": 1\n')  # a key with an OSC

    assert check_suites(tmp_path / "suites") == 1
    err = capsys.readouterr().err
    assert "unknown key" in err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;pwned\\x07" in err


def test_an_import_prints_the_configs_escape_sequences_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "description: routing\n"
        'prompts: ["Route {{ticket}}"]\n'
        'providers: ["openai:x\\e[2J"]\n'
        "tests:\n"
        "  - vars: {ticket: refund}\n"
        '    assert: [{type: equals, value: refund}, {type: "\\e]0;pwned\\a", value: x}]\n'
    )
    args = argparse.Namespace(file=config, run=None, data=None, name=None, to=tmp_path / "out")
    run_import(args, tmp_path / "out")
    out = capsys.readouterr().out
    assert "providers openai:x" in out and "not carried over" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out


def test_the_models_below_the_floor_are_named_literally() -> None:
    line = below_floor(0.9, [f"m{CLEAR}", "m-2"])
    assert line == "below --min-pass-rate 90%: m\\x1b[2J, m-2"


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_a_terminal_summary_has_no_slack_emoji_codes_and_slack_keeps_them(state: str) -> None:
    from bot.presenters.mrkdwn import SLACK
    from bot.presenters.plain import PLAIN
    from bot.presenters.run import summary
    from commands.reports import RunHeader, RunSummary
    from storage.runs import ModelTally

    report = RunSummary(
        header=RunHeader("r3", "qa", "sha256:abc", 4),
        state=state,
        models=["m1"],
        counts={"m1": ModelTally(passed=1, truncated=1)},
        costs={"m1": None},
        elapsed_s=2.0,
        error="`m1` is not a model this provider serves",
        adjustments={"m1": ["temperature"]},
    )
    terminal, slack = summary(PLAIN, report), summary(SLACK, report)
    shortcodes = re.compile(r":[a-z_]+:")
    assert not shortcodes.search(terminal), terminal
    assert len(shortcodes.findall(slack)) == 3, slack  # the state's, the adjustment's, the cut's
    assert "it ran with the provider's default" in terminal

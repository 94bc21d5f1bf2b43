"""A fine-tune's data refusal quotes the file as written, never as live mrkdwn (issue 11).

`/finetune sft ... data=<file>` through the real handler and the real Chat adapter (file
lookup and download from the fake Slack over HTTP): a line of the file carries
`<!channel>`, a disguised link, `*bold*` and a backtick in a key and in a role. The
refusal the asker sees (what bot/listeners.py posts: `str()` of the UserFacingError) has
every quoted piece escaped and inside a code span in Slack, and as written in a terminal.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.presenters.plain import PLAIN
from bot.presenters.slack import StyledPresenter
from commands.finetune import FINETUNE
from commands.ports import Presenter
from commands.registry import Invocation, Started, UserFacingError
from commands.services import Services
from storage.db import Database
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import build_stack

REPO = Path(__file__).resolve().parents[2]
SUITE = "ticket-routing"
HOSTILE = "<!channel> <http://x|y> *b* `tick`"


def rows() -> list[dict[str, Any]]:
    good = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(12)
    ]
    # Line 3: a role nobody knows and a key nobody asked for, both the attacker's text.
    good[2] = {
        "messages": [{"role": HOSTILE, "content": "q"}, {"role": "assistant", "content": "a"}],
        HOSTILE: 1,
    }
    return good


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini"]) as openai:
        body = "\n".join(json.dumps(r) for r in rows()).encode()
        slack.add_shared_file("bad.jsonl", body, "C1", user="U1")
        yield slack, openai


async def finetune_services(
    fakes: tuple[FakeSlack, FakeOpenAI],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    presenter: Presenter | None = None,
    **env: str,
) -> AsyncIterator[Services]:
    """The real services (bot.wiring) over the fakes, with the example suite."""
    slack, openai = fakes
    suites = tmp_path / "suites"
    if not suites.exists():
        shutil.copytree(REPO / "examples" / SUITE, suites / SUITE)
    db = Database.connect(f"sqlite:///{tmp_path / 'refusals.db'}")
    stack = build_stack(db, slack, openai, monkeypatch, suites=suites, env=env, presenter=presenter)
    try:
        yield stack.services
    finally:
        await stack.close()
        db.close()


@pytest.fixture
async def slack_services(
    fakes: tuple[FakeSlack, FakeOpenAI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Services]:
    async for built in finetune_services(fakes, tmp_path, monkeypatch):
        yield built


@pytest.fixture
async def terminal_services(
    fakes: tuple[FakeSlack, FakeOpenAI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Services]:
    async for built in finetune_services(fakes, tmp_path, monkeypatch, StyledPresenter(PLAIN)):
        yield built


async def refusal(services: Services, text: str) -> str:
    """What the asker is told: the handler's work raises, the listener words it as
    bot/listeners.py does (a Title through the presenter, a str as it is)."""
    with pytest.raises(UserFacingError) as info:
        await finetune(services, text)
    exc = info.value
    return services.presenter.line(exc.words) if exc.words is not None else str(exc)


async def finetune(services: Services, text: str, user: str = "U1") -> None:
    """`/finetune <text>` typed in C1: the handler's checks, then its background work."""

    async def respond(_: str) -> None:
        return None

    outcome = FINETUNE.dispatch(services, Invocation(user, "C1", "/finetune", text, respond))
    assert isinstance(outcome, Started), outcome
    await outcome.work()


def outside_code(text: str) -> str:
    """The text with every inline code span taken out: what Slack would format."""
    return re.sub(r"`[^`\n]*`", "", text)


async def test_a_hostile_line_is_quoted_escaped_and_as_code_in_slack(
    slack_services: Services,
) -> None:
    text = await refusal(slack_services, f"sft {SUITE} base=gpt-4.1-mini data=bad.jsonl")
    assert "nothing was uploaded" in text and "bad.jsonl:3" in text
    # Nothing of the line is live: no mention, no link, no formatting.
    assert "<!channel>" not in text and "<http" not in text
    assert "&lt;!channel&gt; &lt;http://x|y&gt;" in text
    # Every quote of the line sits inside a code span: the key and the role's value.
    assert text.count("&lt;!channel&gt;") == 2
    rest = outside_code(text)
    assert "&lt;!channel&gt;" not in rest and "*b*" not in rest and "tick" not in rest
    # The file's backtick cannot close the span early: it is shown as a look-alike.
    assert "\u02cbtick\u02cb" in text


async def test_a_hostile_file_name_is_quoted_as_code(slack_services: Services) -> None:
    text = await refusal(slack_services, f"sft {SUITE} base=gpt-4.1-mini data=<!here>*b*`x`")
    assert "You have not shared a file" in text
    assert "<!here>" not in text and "&lt;!here&gt;" in text
    assert "&lt;!here&gt;" not in outside_code(text) and "*b*" not in outside_code(text)


async def test_the_terminal_shows_the_line_as_written(terminal_services: Services) -> None:
    text = await refusal(terminal_services, f"sft {SUITE} base=gpt-4.1-mini data=bad.jsonl")
    assert "bad.jsonl:3" in text
    assert f"field {HOSTILE}:" in text  # the key, literally
    assert f"(not {HOSTILE!r})" in text  # the role, literally
    assert "&lt;" not in text

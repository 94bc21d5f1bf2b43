"""The gate every run passes (issue 11, item 5): EVALBOT_MAX_ACTIVE_RUNS and
EVALBOT_DAILY_USD, with the real engine built by `bot.wiring.build_services`, the fake
OpenAI and fake Slack over real HTTP, on SQLite and PostgreSQL.

Runs beyond the limit wait, queued, and their message says what they wait behind; a run
over the day's budget is refused before any request and its message says why; a run
cancelled while it waits sends nothing."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.services import Services
from storage import runs as store
from storage.tables import SampleResult
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import BuildStack, teach_parity, until, write_parity_suite
from tests.stack import new_run as new_parity_run

N = 12


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1"], latency=0.05) as openai:
        teach_parity(openai, "m1", N)
        yield slack, openai


@pytest.fixture
def built(
    request: pytest.FixtureRequest,
    fakes: tuple[FakeSlack, FakeOpenAI],
    stack: BuildStack,
    tmp_path: Path,
) -> Services:
    """The stack with the environment the test's parameter adds."""
    env: dict[str, str] = getattr(request, "param", {})
    suites = write_parity_suite(tmp_path / "suites", N)
    return stack(*fakes, suites=suites, EVALBOT_CONCURRENCY="4", **env).services


def new_run(services: Services) -> int:
    return new_parity_run(services, channel="C1", user_id="U1")


@pytest.mark.parametrize("built", [{"EVALBOT_MAX_ACTIVE_RUNS": "2"}], indirect=True)
async def test_runs_beyond_the_limit_wait_queued_and_say_behind_what(
    built: Services, fakes: tuple[FakeSlack, FakeOpenAI]
) -> None:
    slack, _ = fakes
    ids = [new_run(built) for _ in range(6)]
    for run_id in ids:
        await built.engine.start(run_id)
    most = 0
    deadline = time.monotonic() + 60
    while True:
        runs = [built.db.call(store.get_run, run_id=i) for i in ids]
        statuses = [r.status for r in runs if r is not None]
        most = max(most, statuses.count("running"))
        if all(s == "finished" for s in statuses):
            break
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.01)
    assert most == 2  # never more, and the limit was used
    texts = [str(c.params.get("text", "")) for c in slack.calls_to("chat.update")]
    queued = [t for t in texts if "*Queued*" in t]
    assert queued, texts[:5]
    # First come, first served: a queued run names only earlier runs ahead of it.
    for text in queued:
        run = int(re.search(r"\*Eval r(\d+)\*", text).group(1))  # type: ignore[union-attr]
        ahead = re.search(r"behind \d+ queued runs? \(([^)]*)\)", text)
        names = ahead.group(1).split(", ") if ahead else []
        assert all(int(n[1:]) < run for n in names), text
    assert any(re.search(r"behind [1-9]\d* queued run", t) for t in queued)
    # The queued notices share the app's chat.update budget with progress (bot/slack_budget):
    # some may be dropped, but runs beyond the limit said they were queued.
    assert any(f"*Eval r{i}*" in t for t in queued for i in ids[2:])
    assert all("at most 2 runs at once (EVALBOT_MAX_ACTIVE_RUNS)" in t for t in queued)


@pytest.mark.parametrize("built", [{"EVALBOT_MAX_ACTIVE_RUNS": "1"}], indirect=True)
async def test_a_run_cancelled_while_queued_sends_nothing(
    built: Services, fakes: tuple[FakeSlack, FakeOpenAI]
) -> None:
    _, openai = fakes
    openai.latency = 0.3
    first, second = new_run(built), new_run(built)
    await built.engine.start(first)
    await until(lambda: built.db.call(store.get_run, run_id=first).status == "running", 30)
    await built.engine.start(second)
    await until(lambda: second in built.engine.live, 30)
    assert built.engine.cancel(second)
    await until(lambda: built.db.call(store.get_run, run_id=second).status == "cancelled", 30)
    assert built.db.call(store.get_run, run_id=first).status == "running"
    asked = {r.json["messages"][-1]["content"] for r in openai.requests_to("/chat") if r.json}
    assert len(openai.requests_to("/chat")) <= N and asked  # only the first run's
    assert built.db.call(store.tallies, run_id=second) == {}


@pytest.mark.parametrize("built", [{"EVALBOT_DAILY_USD": "0.5"}], indirect=True)
async def test_a_run_over_the_daily_budget_is_refused_and_says_so(
    built: Services, fakes: tuple[FakeSlack, FakeOpenAI]
) -> None:
    slack, openai = fakes
    spent = new_run(built)  # today's earlier spending, by anyone (a watch, say)
    built.db.call(
        store.save_results,
        results=[
            SampleResult(run_id=spent, model="m1", item_index=0, status="passed", cost_usd=0.6)
        ],
    )
    built.db.call(store.finish, run_id=spent, status="finished")
    refused = new_run(built)
    final = await built.engine.execute_and_announce(refused)
    assert final is not None and final.status == "failed"
    assert final.error is not None and "over the daily budget" in final.error
    assert "$0.60 was spent today" in final.error and "EVALBOT_DAILY_USD" in final.error
    assert openai.requests_to("/chat") == []
    message = slack.message("C1", final.message_ts or "")
    assert "over the daily budget" in message.text

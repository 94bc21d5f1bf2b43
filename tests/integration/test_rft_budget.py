"""RFT jobs count against EVALBOT_DAILY_USD like every other spend (issue 11).

OpenAI bills RFT by the training hour, which no one knows before the job runs; its
estimate is the assumed hours (commands.finetune.estimates.rft_hours) at the price
table's hourly price. The example suite has 36 items: with the default 3 epochs at
30 s per example an epoch, 0.9 hours of o4-mini at $100 an hour, $90.
Real handler, real Chat and gateway against the fake Slack and fake OpenAI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from commands.budget import day_so_far
from commands.registry import UserFacingError
from commands.services import Services
from storage import finetunes as store
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.integration.test_finetune_refusals import SUITE, finetune, finetune_services

RFT = f"rft {SUITE} base=o4-mini"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["o4-mini"]) as openai:
        yield slack, openai


@pytest.fixture
async def services(
    request: pytest.FixtureRequest,
    fakes: tuple[FakeSlack, FakeOpenAI],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Services]:
    daily: str = request.param
    async for built in finetune_services(fakes, tmp_path, monkeypatch, EVALBOT_DAILY_USD=daily):
        yield built


@pytest.mark.parametrize("services", ["50"], indirect=True)
async def test_an_rft_job_over_the_daily_budget_is_refused(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI]
) -> None:
    _, openai = fakes
    with pytest.raises(UserFacingError) as info:
        await finetune(services, RFT)
    text = str(info.value)
    assert "over the daily budget" in text
    assert "this fine-tune is estimated at $90.00" in text and "of $50.00" in text
    assert await services.db.run(store.list_jobs, channel="C1") == []
    assert openai.job_ids() == [] and openai.count("/v1/files") == 0


@pytest.mark.parametrize("services", ["100"], indirect=True)
async def test_an_rft_estimate_is_spent_for_the_day_and_refuses_the_next(
    services: Services, fakes: tuple[FakeSlack, FakeOpenAI]
) -> None:
    slack, _ = fakes
    await finetune(services, RFT)  # $90 of $100: it waits for an approver, as RFT always does
    (job,) = await services.db.run(store.list_jobs, channel="C1")
    assert job.status == "awaiting_approval"
    assert job.estimated_cost_usd == pytest.approx(90.0)
    message = slack.messages("C1")[0].text
    assert "$90.00" in message and "training hours assumed" in message

    budget = await day_so_far(services, 100.0, 0.0, besides=None)
    assert budget.spent == pytest.approx(90.0)
    # One epoch is at least half an hour, $50: with the first job's $90, over $100.
    with pytest.raises(UserFacingError, match="over the daily budget"):
        await finetune(services, RFT + " epochs=1")
    assert len(await services.db.run(store.list_jobs, channel="C1")) == 1

"""The in-process services stack: the bot's own wiring without the bot process.

`bot.wiring.build_services` builds the real engine, outcomes, Slack chat and OpenAI
gateway from settings read from the environment, as `python -m bot` does; here it talks
to the fake Slack and fake OpenAI over real HTTP, with an `IdleScheduler` (a test calls
the job functions itself). Tests get it from the `stack` fixture (tests/integration/
conftest.py), which closes whatever it built; the "parity" suite and the small helpers
below are what those tests share.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.chart_port import ProcessCharts
from bot.gateway import OpenAIGateway
from bot.settings import load_settings
from bot.wiring import build_services
from commands.eval.runner import RunEngine
from commands.ports import IdleScheduler, Presenter
from commands.services import Services
from storage import runs as store
from storage.db import Database
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

SUITE = "parity"


def question(i: int) -> str:
    """Item i's prompt in the parity suite."""
    return f"Is {i} even?"


def label(i: int) -> str:
    """Item i's right answer in the parity suite."""
    return "yes" if i % 2 == 0 else "no"


def write_parity_suite(root: Path, n: int) -> Path:
    """A suite folder `parity` of `n` items under `root`, graded by exact match; returns root."""
    folder = root / SUITE
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        f"name: {SUITE}\n"
        "data: eval.jsonl\n"
        "input:\n"
        '  - role: user\n    content: "Is {{ item.n }} even?"\n'
        "grader:\n  type: string_check\n  name: label\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.label }}"\n'
        "  operation: eq\n"
    )
    rows = [json.dumps({"n": i, "label": label(i)}) for i in range(n)]
    (folder / "eval.jsonl").write_text("\n".join(rows) + "\n")
    return root


def teach_parity(openai: FakeOpenAI, model: str, n: int) -> None:
    """`model` answers every one of the `n` parity items right."""
    for i in range(n):
        openai.answer(model, question(i), label(i))


@dataclass
class Stack:
    """One bot process's services, as `build_services` returns them."""

    services: Services
    gateway: OpenAIGateway

    @property
    def engine(self) -> RunEngine:
        """The run engine itself (Services types it by its port)."""
        engine = self.services.engine
        assert isinstance(engine, RunEngine)
        return engine

    async def close(self) -> None:
        """What the bot does on the way out: stop its tasks, then its connections."""
        await self.services.tasks.cancel_all()
        await self.gateway.close()
        if isinstance(self.services.charts, ProcessCharts):
            self.services.charts.close()


def build_stack(
    database: Database,
    slack: FakeSlack,
    openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    *,
    suites: Path,
    instance: str | None = None,
    env: dict[str, str] | None = None,
    presenter: Presenter | None = None,
) -> Stack:
    """The services built from an environment that points at the fakes and `suites`, with
    `env` on top (EVALBOT_CONCURRENCY, EVALBOT_MAX_ACTIVE_RUNS, ...); `instance` names the
    "host" (two stacks on one database stand for two processes). The caller closes it."""
    for name, value in {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.url,
        "OPENAI_API_KEY": openai.api_key,
        "OPENAI_BASE_URL": openai.base_url,
        "EVALBOT_SUITES_DIR": str(suites),
        **(env or {}),
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(require_slack=False, env_file=None)
    return Stack(
        *build_services(
            settings, database, scheduler=IdleScheduler(), instance=instance, presenter=presenter
        )
    )


class BuildStack(Protocol):
    """The `stack` fixture: builds a stack against these fakes; keyword arguments other
    than `suites` and `instance` are environment variables."""

    def __call__(
        self,
        slack: FakeSlack,
        openai: FakeOpenAI,
        /,
        *,
        suites: Path,
        instance: str | None = None,
        **env: str,
    ) -> Stack: ...


def new_run(services: Services, models: Sequence[str] = ("m1",), **fields: Any) -> int:
    """A queued run of every item of the parity suite; `fields` go to `create_run`
    (channel, user_id, ...). Returns its id."""
    suite = services.suites.get(SUITE)
    assert suite is not None
    run = services.db.call(
        store.create_run,
        suite=SUITE,
        data_version=suite.data_version,
        models=list(models),
        total=len(suite.items),
        **fields,
    )
    assert run.id is not None
    return run.id


async def until(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or 'the condition'}"
        await asyncio.sleep(0.01)

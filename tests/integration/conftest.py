"""Fixtures of the integration tier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import BuildStack, Stack, build_stack


@pytest.fixture
async def stack(database: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BuildStack]:
    """Builds the in-process services stack (tests/stack.py) on this test's database, once
    per "process" the test asks for, and closes every one after the test. Keyword
    arguments other than `suites` and `instance` are environment variables."""
    built: list[Stack] = []

    def build(
        slack: FakeSlack,
        openai: FakeOpenAI,
        /,
        *,
        suites: Path,
        instance: str | None = None,
        **env: str,
    ) -> Stack:
        made = build_stack(
            database, slack, openai, monkeypatch, suites=suites, instance=instance, env=env
        )
        built.append(made)
        return made

    try:
        yield build
    finally:
        for made in built:
            await made.close()

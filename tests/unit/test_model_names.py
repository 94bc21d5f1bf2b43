"""Model names resolved against a provider's list: case, commas, typos, the cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.presenters.mrkdwn import SLACK
from bot.presenters.slack import StyledPresenter
from commands.model_names import ModelDirectory, resolve, resolve_cached, split_names
from commands.ports import ModelInfo, ProviderError


class ListingModels:
    """The part of the Models port a name check uses: a provider's list, counted."""

    def __init__(self, ids: Sequence[str], *, fail: bool = False) -> None:
        self.ids = list(ids)
        self.fail = fail
        self.listed = 0

    def split(self, model: str) -> tuple[str, str]:
        provider, sep, name = model.partition(":")
        if sep and provider == "local":
            return provider, name
        return "default", model

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        self.listed += 1
        if self.fail:
            raise ProviderError("connection", "connection refused")
        return [ModelInfo(id=i, provider=provider) for i in self.ids]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_commas_separate_names() -> None:
    assert split_names(["gpt-4.1-mini,", "gpt-5-mini"]) == ["gpt-4.1-mini", "gpt-5-mini"]
    assert split_names(["a,b", ",", "c"]) == ["a", "b", "c"]


@given(st.lists(st.text(alphabet="ab-,. ", max_size=8), max_size=6))
def test_split_never_keeps_a_comma_or_an_empty_name(words: list[str]) -> None:
    for name in split_names(words):
        assert name and "," not in name and name == name.strip()


SLACK_PRESENTER = StyledPresenter(SLACK)


def test_case_is_resolved_to_the_providers_spelling() -> None:
    models = ListingModels(["gpt-4.1-mini", "gpt-5-mini"])
    directory = ModelDirectory(models)  # type: ignore[arg-type]
    found = run(resolve(directory, models, ["GPT-4.1-mini"]))  # type: ignore[arg-type]
    assert found.models == ["gpt-4.1-mini"] and found.problems == []


def test_a_typo_is_refused_with_the_nearest_names() -> None:
    models = ListingModels(["gpt-4.1-mini", "gpt-4.1-nano", "o3"])
    directory = ModelDirectory(models)  # type: ignore[arg-type]
    found = run(resolve(directory, models, ["gpt-4.1-mimi", "o3"]))  # type: ignore[arg-type]
    assert found.models == ["o3"]
    assert len(found.problems) == 1
    said = SLACK_PRESENTER.line(found.problems[0])
    assert "`gpt-4.1-mimi` is not a model the default provider serves" in said
    assert "Did you mean `gpt-4.1-mini`" in said
    assert "`/models available`" in said


def test_a_suggested_name_from_the_providers_list_is_shown_literally() -> None:
    """The list is the provider's text: a listed id near the typed one stays inert."""
    hostile = "gpt-4.1-mini<!channel>`*x*"
    models = ListingModels([hostile])
    directory = ModelDirectory(models)  # type: ignore[arg-type]
    found = run(resolve(directory, models, ["gpt-4.1-mini<!chann"]))  # type: ignore[arg-type]
    said = SLACK_PRESENTER.line(found.problems[0])
    assert "Did you mean" in said
    assert "<!channel>" not in said and "&lt;!channel&gt;" in said
    assert said.count("`") % 2 == 0  # the backtick in the id cannot open a code span


def test_a_miss_refreshes_the_cached_list_once() -> None:
    models = ListingModels(["m-old"])
    clock = Clock()
    directory = ModelDirectory(models, clock=clock)  # type: ignore[arg-type]
    assert run(resolve(directory, models, ["m-old"])).models == ["m-old"]  # type: ignore[arg-type]
    assert models.listed == 1
    # Cached: answered from memory, before any acknowledgement.
    assert resolve_cached(directory, models, ["M-OLD"]) == ["m-old"]  # type: ignore[arg-type]
    assert resolve_cached(directory, models, ["m-new"]) is None  # type: ignore[arg-type]
    models.ids.append("m-new")  # released since the last look
    found = run(resolve(directory, models, ["m-new"]))  # type: ignore[arg-type]
    assert found.models == ["m-new"] and models.listed == 2
    clock.now += 10_000  # stale: asked again
    assert resolve_cached(directory, models, ["m-old"]) is None  # type: ignore[arg-type]


def test_a_provider_that_cannot_list_does_not_block_runs() -> None:
    models = ListingModels([], fail=True)
    directory = ModelDirectory(models)  # type: ignore[arg-type]
    found = run(resolve(directory, models, ["whatever"]))  # type: ignore[arg-type]
    assert found.models == ["whatever"] and found.problems == []


def test_a_provider_prefix_is_kept_and_untrusted_names_stay_inert() -> None:
    models = ListingModels(["Llama-3.1-8B"])
    directory = ModelDirectory(models)  # type: ignore[arg-type]
    found = run(resolve(directory, models, ["local:llama-3.1-8b"]))  # type: ignore[arg-type]
    assert found.models == ["local:Llama-3.1-8B"]
    bad = run(resolve(directory, models, ["<!channel>`x"]))  # type: ignore[arg-type]
    said = SLACK_PRESENTER.line(bad.problems[0])
    assert "<!channel>" not in said and "&lt;!channel&gt;" in said

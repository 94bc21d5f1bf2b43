"""Model names and watch globs (issue 11, items 2 and 5): a strict shape, refused with
the rule, and the refusal never echoes what could be live mrkdwn or break a code span."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.model_shapes import check_model_glob, check_model_name
from commands.registry import UsageError


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4.1-mini",
        "vllm:meta-llama/Llama-3.1-8B-Instruct",
        "ft:gpt-4.1-mini-2025-04-14:acme::B1x2",
        "azure:my-deployment@2024",
        "o3",
    ],
)
def test_real_model_names_pass(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "gpt`4",
        "<!here>",
        "<https://evil.example|x>",
        "a b",
        "-flag",
        ":model",
        "m\nodel",
        "x" * 129,
        "",
        "gpt‐4",  # a Unicode hyphen
    ],
)
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(UsageError) as err:
        check_model_name(name)
    message = str(err.value)
    assert "letters, digits" in message
    assert "<" not in message.replace("`", "") and message.count("`") % 2 == 0


@given(st.text(max_size=200))
def test_a_refusal_never_carries_markup(text: str) -> None:
    try:
        check_model_name(text)
    except UsageError as err:
        shown = str(err).split("`")[1]
        assert not set(shown) & set("<>&`\n")
    else:
        assert text and len(text) <= 128


@pytest.mark.parametrize("glob", ["gpt-5*", "*-mini", "gpt-[45]*", "claude-*", "m-*", "o[34]*"])
def test_globs_that_name_something_pass(glob: str) -> None:
    assert check_model_glob(glob) == glob


@pytest.mark.parametrize("glob", ["*", "**", "*-*", "?*", "[abc]*", "a*", "*x?"])
def test_globs_that_match_nearly_everything_are_refused(glob: str) -> None:
    with pytest.raises(UsageError, match="nearly every model|not a model glob"):
        check_model_glob(glob)

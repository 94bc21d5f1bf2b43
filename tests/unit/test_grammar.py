"""The slash-command grammar: properties over any text, and every error message."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from commands.grammar import (
    GrammarError,
    Parsed,
    bool_option,
    duration_option,
    float_option,
    format_duration,
    int_option,
    list_option,
    parse,
    tokenize,
)

KEYS = ("limit", "every", "suites", "suffix", "base", "temperature", "dry")


def parsed(text: str) -> Parsed:
    return parse(text, allowed_keys=KEYS)


def error(
    text: str,
    *,
    allowed_keys: tuple[str, ...] | list[str] = KEYS,
    max_length: int = 2000,
    max_words: int = 50,
) -> GrammarError:
    with pytest.raises(GrammarError) as caught:
        parse(text, allowed_keys=allowed_keys, max_length=max_length, max_words=max_words)
    return caught.value


# --- properties --------------------------------------------------------------------


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example("\x00")
@example("\ud800")
@example("x" * 100_000)
@example('"' * 3)
@example("<<<@>>> &amp;&lt;&gt; =")
@example("“‘’”\"'")
def test_parse_returns_or_raises_grammar_error_for_any_text(text: str) -> None:
    try:
        result = parse(text, allowed_keys=KEYS)
    except GrammarError as exc:
        assert str(exc)
        assert exc.position is None or 0 <= exc.position < max(len(text), 1)
    else:
        assert isinstance(result, Parsed)
        assert all(isinstance(word, str) for word in result.words)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.sampled_from([(), KEYS]))
def test_tokenize_never_raises_anything_but_grammar_error(text: str, keys: tuple[str, ...]) -> None:
    try:
        tokenize(text)
        parse(text, allowed_keys=keys, max_words=5)
    except GrammarError:
        pass


_WORD_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
    blacklist_characters='"“”&<>',
)
_word = st.text(_WORD_CHARS, min_size=1, max_size=20).filter(lambda w: w.strip() == w)


@settings(max_examples=300)
@given(st.lists(_word, min_size=1, max_size=10), st.sampled_from(['"{}"', "“{}”", '“{}"', '"{}”']))
def test_quoted_words_round_trip(words: list[str], quoting: str) -> None:
    text = " ".join(quoting.format(word) for word in words)
    assert parsed(text).words == tuple(words)


@settings(max_examples=200)
@given(st.lists(_word, min_size=1, max_size=10))
def test_quoted_option_values_round_trip(values: list[str]) -> None:
    keys = KEYS[: len(values)] if len(values) <= len(KEYS) else KEYS
    pairs = list(zip(keys, values, strict=False))
    text = " ".join(f'{key}="{value}"' for key, value in pairs)
    assert parsed(text).options == dict(pairs)


@settings(max_examples=200)
@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9.:/_-]{0,15}", fullmatch=True), max_size=10))
def test_plain_words_split_on_whitespace(words: list[str]) -> None:
    assert parsed("  \t".join(words)).words == tuple(words)


# --- words, quotes and options ------------------------------------------------------


def test_words_and_options() -> None:
    result = parsed('run ticket-routing gpt-4.1-mini "my model" limit=50')
    assert result.words == ("run", "ticket-routing", "gpt-4.1-mini", "my model")
    assert result.options == {"limit": "50"}


def test_empty_and_blank_text() -> None:
    assert parsed("") == Parsed(words=(), options={})
    assert parsed(" \n\t\u00a0\u200b ") == Parsed(words=(), options={})


def test_quoted_option_value() -> None:
    assert parsed('suffix="my model"').options == {"suffix": "my model"}
    assert parsed("suffix='my model'").options == {"suffix": "my model"}
    assert parsed("suffix=“my model”").options == {"suffix": "my model"}


def test_quoted_equals_is_a_word_not_an_option() -> None:
    assert parsed('"a=b"') == Parsed(words=("a=b",), options={})
    assert parsed("'limit=5'").words == ("limit=5",)


def test_smart_quotes_match_straight_ones() -> None:
    assert parsed("“one two” ‘three four’").words == ("one two", "three four")
    assert parsed('“mixed quotes"').words == ("mixed quotes",)


def test_apostrophes_inside_words_are_plain() -> None:
    assert parsed("don't stop").words == ("don't", "stop")
    assert parsed("‘Bob’s model’ next").words == ("Bob’s model", "next")
    assert parsed("'it's here' x").words == ("it's here", "x")


def test_empty_quotes_make_an_empty_word() -> None:
    assert parsed('a "" b').words == ("a", "", "b")


def test_value_keeps_later_equals_signs() -> None:
    assert parse("base=a=b", allowed_keys=["base"]).options == {"base": "a=b"}


def test_text_before_equals_that_is_not_a_name_is_a_word() -> None:
    assert parsed("1+1=2 ollama:llama3=x").words == ("1+1=2", "ollama:llama3=x")


def test_keys_are_case_insensitive() -> None:
    assert parsed("LIMIT=5").options == {"limit": "5"}


def test_tokens_carry_positions_and_quoting() -> None:
    tokens = tokenize('run "a b" limit=5')
    assert [(t.text, t.key, t.position, t.quoted) for t in tokens] == [
        ("run", None, 0, False),
        ("a b", None, 4, True),
        ("5", "limit", 10, False),
    ]


# --- Slack escapes ------------------------------------------------------------------


def test_entities_are_unescaped() -> None:
    assert parsed("a&amp;b &lt;tag&gt; &amp;lt;").words == ("a&b", "<tag>", "&lt;")


def test_links_render_to_their_url() -> None:
    assert parsed("<https://example.com/x?a=1&amp;b=2|example.com/x>").words == (
        "https://example.com/x?a=1&b=2",
    )
    assert parsed("<http://x.com>").words == ("http://x.com",)


def test_equals_inside_a_link_is_not_an_option() -> None:
    assert parsed("<http://x.com/?limit=5|x.com>").options == {}


def test_link_as_an_option_value() -> None:
    assert parse("data=<http://x.com/d.jsonl|x>", allowed_keys=["data"]).options == {
        "data": "http://x.com/d.jsonl"
    }


def test_mentions_keep_their_ids() -> None:
    assert parsed("<@U123|ann> <#C456|general> <!here>").words == ("<@U123>", "<#C456>", "<!here>")


def test_link_label_with_spaces_stays_one_word() -> None:
    assert parsed("<http://x.com|two words> next").words == ("http://x.com", "next")


def test_stray_angle_bracket_is_plain_text() -> None:
    assert parsed("a<b c>d").words == ("a<b", "c>d")


# --- errors ---------------------------------------------------------------------------


def test_unbalanced_double_quote_says_which_and_where() -> None:
    exc = error('run "my model limit=5')
    assert str(exc).startswith('unbalanced quote: the " at character 5 is never closed')
    assert exc.position == 4


def test_unbalanced_smart_quote() -> None:
    exc = error("run “my model")
    assert "the “ at character 5" in str(exc)


def test_unbalanced_single_quote() -> None:
    exc = error("x suffix='abc")
    assert "the ' at character 10" in str(exc)
    assert exc.position == 9


def test_unknown_key_lists_allowed_and_suggests() -> None:
    exc = error("limt=5", allowed_keys=["limit", "every"])
    assert str(exc) == (
        'unknown option "limt" (did you mean "limit"?); the options are: every=, limit='
    )


def test_unknown_key_without_close_match() -> None:
    assert str(error("zzz=5", allowed_keys=["limit"])) == (
        'unknown option "zzz"; the options are: limit='
    )


def test_unknown_key_when_command_takes_none() -> None:
    assert str(error("limit=5", allowed_keys=[])) == (
        'unknown option "limit": this command takes no options'
    )


def test_duplicate_key() -> None:
    exc = error("limit=5 LIMIT=6")
    assert str(exc) == "option limit= is given twice; give it once"
    assert exc.position == 8


def test_empty_key() -> None:
    exc = error("run =x")
    assert str(exc) == "option at character 5 has no name before '=' (=x); write key=value"
    assert exc.position == 4


def test_empty_value() -> None:
    assert str(error("limit=")) == "option limit= has no value; write limit=<value>"
    assert str(error('suffix=""')) == "option suffix= has no value; write suffix=<value>"


def test_too_long_says_the_limit() -> None:
    exc = error("x" * 2001)
    assert str(exc) == "the command is too long: 2001 characters, the limit is 2000"
    assert parse("x" * 2000).words == ("x" * 2000,)
    assert "the limit is 10" in str(error("x" * 11, max_length=10))


def test_too_many_words() -> None:
    assert str(error("a b c", max_words=2)) == "too many words: the limit is 2"
    assert parse("a b limit=1", allowed_keys=["limit"], max_words=2).words == ("a", "b")


def test_control_characters() -> None:
    exc = error("run\x00 x")
    assert str(exc).startswith("the command contains a control character (U+0000) at character 4")
    assert exc.position == 3
    assert "U+001B" in str(error("\x1b[31m"))


def test_tabs_and_newlines_are_whitespace() -> None:
    assert parsed("a\tb\nc\r\nd").words == ("a", "b", "c", "d")


# --- typed option helpers ---------------------------------------------------------------


def test_int_option() -> None:
    assert int_option(parsed("limit=50"), "limit") == 50
    assert int_option(parsed("limit=1_000"), "limit") == 1000
    assert int_option(parsed(""), "limit") is None
    assert int_option(parsed(""), "limit", default=7) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limit=abc", "limit=abc: expected a whole number"),
        ("limit=1.5", "limit=1.5: expected a whole number"),
        ("limit=0", "limit=0: must be at least 1"),
        ("limit=100001", "limit=100001: must be at most 100000"),
        ("limit=" + "9" * 60, "limit=" + "9" * 40 + "…: must be at most 100000"),
    ],
)
def test_int_option_errors(text: str, message: str) -> None:
    with pytest.raises(GrammarError) as caught:
        int_option(parsed(text), "limit", min=1, max=100_000)
    assert str(caught.value) == message


def test_float_option() -> None:
    assert float_option(parsed("temperature=0.7"), "temperature") == 0.7
    assert float_option(parsed("temperature=.5"), "temperature") == 0.5
    assert float_option(parsed(""), "temperature", default=1.0) == 1.0
    for bad, message in [
        ("nan", "temperature=nan: expected a number, like 0.5"),
        ("inf", "temperature=inf: expected a number, like 0.5"),
        ("1e999", "temperature=1e999: expected a number, like 0.5"),
        ("3", "temperature=3: must be at most 2"),
        ("-0.1", "temperature=-0.1: must be at least 0"),
    ]:
        with pytest.raises(GrammarError) as caught:
            float_option(parsed(f"temperature={bad}"), "temperature", min=0.0, max=2.0)
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("5m", 300), ("1h", 3600), ("1d", 86400), ("7d", 604800), ("1h30m", 5400)],
)
def test_duration_option(value: str, seconds: int) -> None:
    result = duration_option(parsed(f"every={value}"), "every", 3600, min_s=60, max_s=30 * 86400)
    assert result == seconds


def test_duration_option_default_and_errors() -> None:
    assert duration_option(parsed(""), "every", 3600, min_s=60, max_s=86400) == 3600
    cases = [
        ("every=5x", "every=5x: expected a duration like 90s, 5m, 1h or 7d"),
        ("every=90", "every=90: add a unit: expected a duration like 90s, 5m, 1h or 7d"),
        ("every=10s", "every=10s: must be at least 1m"),
        ("every=2d", "every=2d: must be at most 1d"),
    ]
    for text, message in cases:
        with pytest.raises(GrammarError) as caught:
            duration_option(parsed(text), "every", 3600, min_s=60, max_s=86400)
        assert str(caught.value) == message


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59, 90, 3600, 86400 + 60)] == [
        "0s",
        "59s",
        "1m30s",
        "1h",
        "1d1m",
    ]


def test_list_option() -> None:
    assert list_option(parsed("suites=a,b"), "suites") == ["a", "b"]
    assert list_option(parsed('suites="a, b"'), "suites") == ["a", "b"]
    assert list_option(parsed(""), "suites") == []
    assert list_option(parsed(""), "suites", default=["x"]) == ["x"]
    with pytest.raises(GrammarError) as caught:
        list_option(parsed("suites=a,,b"), "suites")
    assert str(caught.value) == (
        "suites=a,,b: empty item in the list; separate items with commas, like a,b"
    )


def test_bool_option() -> None:
    assert bool_option(parsed("dry=yes"), "dry") is True
    assert bool_option(parsed("dry=OFF"), "dry") is False
    assert bool_option(parsed(""), "dry", default=True) is True
    with pytest.raises(GrammarError) as caught:
        bool_option(parsed("dry=maybe"), "dry")
    assert str(caught.value) == "dry=maybe: expected yes or no"


def test_grammar_error_is_a_value_error_with_message() -> None:
    exc = GrammarError("bad", position=3)
    assert isinstance(exc, ValueError)
    assert (str(exc), exc.message, exc.position) == ("bad", "bad", 3)

"""Templates: `{{ item.x }}` / `{{ sample.output_text }}` substitution, never evaluated."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.suites.templates import TemplateError, render, resolve, template_fields

CONTEXT: dict[str, Any] = {
    "item": {
        "ticket": "Charged twice",
        "label": "billing",
        "meta": {"lang": "en", "priority": 2, "flags": ["vip", "eu"]},
        "count": 3,
        "none": None,
    },
    "sample": {"output_text": "billing", "output_json": {"label": "bug", "score": 0.5}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ item.ticket }}", "Charged twice"),
        ("{{item.ticket}}", "Charged twice"),
        ("{{   item.ticket\t}}", "Charged twice"),
        ("Ticket: {{ item.ticket }} ({{ item.label }})", "Ticket: Charged twice (billing)"),
        ("{{ item.meta.lang }}", "en"),
        ("{{ item.meta.flags.1 }}", "eu"),
        ("{{ sample.output_text }}", "billing"),
        ("{{ sample.output_json.label }}", "bug"),
        ("no placeholders", "no placeholders"),
        ("{ item.ticket }", "{ item.ticket }"),  # single braces are text
    ],
)
def test_render_substitutes_paths(text: str, expected: str) -> None:
    assert render(text, CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ item.count }}", "3"),
        ("{{ item.none }}", "null"),
        ("{{ item.meta.flags }}", '["vip", "eu"]'),
        ("{{ item.meta }}", '{"lang": "en", "priority": 2, "flags": ["vip", "eu"]}'),
        ("{{ sample.output_json.score }}", "0.5"),
    ],
)
def test_non_string_values_render_as_json(text: str, expected: str) -> None:
    assert render(text, CONTEXT) == expected


def test_non_ascii_is_kept_as_is() -> None:
    assert render("{{ item.x }}", {"item": {"x": {"città": "Zürich"}}}) == '{"città": "Zürich"}'


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("{{ item.missing }}", "item.missing", "missing"),
        ("{{ item.meta.city }}", "item.meta.city", "missing"),
        ("{{ item.meta.flags.5 }}", "item.meta.flags.5", "missing"),
        ("{{ item.ticket.first }}", "item.ticket.first", "item.ticket is not an object"),
        ("{{ item.none.x }}", "item.none.x", "item.none is null"),
    ],
)
def test_missing_field_names_the_path(text: str, path: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(text, CONTEXT)
    assert str(caught.value) == f"{path}: {reason}"
    assert caught.value.path == tuple(text.strip("{} ").split("."))


def test_output_json_absent_is_an_error_naming_the_path() -> None:
    context = {"item": {}, "sample": {"output_text": "hi", "output_json": None}}
    with pytest.raises(
        TemplateError, match=r"sample.output_json.label: sample.output_json is null"
    ):
        render("{{ sample.output_json.label }}", context)


def test_template_fields_lists_every_path() -> None:
    text = "{{ item.a }} {{item.b.c}} {{ sample.output_text }} {{ item.a }}"
    assert template_fields(text) == {("item", "a"), ("item", "b", "c"), ("sample", "output_text")}
    assert template_fields("plain text") == set()


@pytest.mark.parametrize(
    "text",
    [
        "{{ user.name }}",  # unknown namespace
        "{{ item.__class__.__init__ }}x{{ os.system('ls') }}",
        "{{ item[a] }}",  # an unquoted key in brackets
        "{{ item['a }}",
        "{{ item.a[-1] }}",
        "{{ item.a + 1 }}",
        "{{ }}",
        "{{ item..a }}",
    ],
)
def test_anything_but_a_dotted_path_is_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        template_fields(text)
    with pytest.raises(TemplateError):
        render(text, CONTEXT)


def test_dunder_names_are_plain_dict_keys_never_attributes() -> None:
    # `__class__` is looked up as a key in the item dict, which has none.
    with pytest.raises(TemplateError, match="item.__class__: missing"):
        render("{{ item.__class__ }}", CONTEXT)


def test_resolve_indexes_lists_and_dicts() -> None:
    assert resolve(CONTEXT, ("item", "meta", "flags", "0")) == "vip"
    assert resolve(CONTEXT, ("item",)) is CONTEXT["item"]


@given(st.text())
def test_render_only_ever_raises_template_error(text: str) -> None:
    try:
        out = render(text, CONTEXT)
    except TemplateError:
        return
    if "{{" not in text:
        assert out == text


@given(st.text(alphabet=st.characters(blacklist_characters="{}")))
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert render(text, CONTEXT) == text
    assert template_fields(text) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The JSON-path-like forms of OpenAI's graders guide.
        ("{{ sample.output_tools[0].function.name }}", "route_ticket"),
        ("{{ sample.output_tools[0]['function'][\"arguments\"] }}", '{"queue": "billing"}'),
        ("{{ sample.choices[0].message.content }}", "ok"),
        ("{{ item.meta.flags[1] }}", "eu"),
        ('{{ item["dotted.key"] }}', "dots"),
        ("{{ item['with space'] }}", "space"),
        ("{{ item.città }}", "Zürich"),
        ("{{ item.日本 }}", "東京"),
        ('{{ item["quote\\"d"] }}', "escaped"),
    ],
)
def test_json_path_templates(text: str, expected: str) -> None:
    context: dict[str, Any] = {
        "item": {
            **CONTEXT["item"],
            "dotted.key": "dots",
            "with space": "space",
            "città": "Zürich",
            "日本": "東京",
            'quote"d': "escaped",
        },
        "sample": {
            "output_text": "ok",
            "output_tools": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "route_ticket", "arguments": '{"queue": "billing"}'},
                }
            ],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        },
    }
    assert render(text, context) == expected


def test_an_index_past_the_end_names_the_path() -> None:
    with pytest.raises(TemplateError, match=r"item.meta.flags.7: missing"):
        render("{{ item.meta.flags[7] }}", CONTEXT)

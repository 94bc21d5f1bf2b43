"""A fine-tuned model is named by its provider, and that name reaches the channel: in
`/finetune list` and in `/eval history`. In-process, through the real use cases, it is
shown as code with nothing in it live."""

from __future__ import annotations

import re
from typing import Any

from commands.eval.history import post_history
from commands.finetune import list_jobs
from commands.grammar import Parsed
from commands.registry import Invocation, Started
from commands.services import Ports
from storage.tables import FineTuneJob
from tests.fakes.memory import MemoryChat
from tests.usecases.test_outcomes import finished_run, ports  # noqa: F401 (a fixture)

# What a provider (or a gateway in front of one) might call the model it trained.
FROM_PROVIDER = "ft:<!channel>`x`*b*_i_<http://x|y>"


def assert_inert(text: str) -> None:
    assert re.findall(r"<[^<>]*>", text) == [], text
    assert "&lt;!channel&gt;" in text and "ˋxˋ" in text, text
    assert "*b*" not in re.sub(r"`[^`]*`", "", text), text


async def test_finetune_list_shows_the_providers_model_name_literally(ports: Ports) -> None:  # noqa: F811
    def add(session: Any) -> None:
        session.add(
            FineTuneJob(
                request_key="k1",
                suite="qa",
                method="sft",
                base_model="m1",
                channel="C1",
                status="succeeded",
                fine_tuned_model=FROM_PROVIDER,
            )
        )

    ports.db.call(add)
    said: list[str] = []

    async def respond(text: str) -> None:
        said.append(text)

    inv = Invocation(
        user_id="U1", channel_id="C1", command="/finetune", text="list", respond=respond
    )
    started = list_jobs(ports, inv, Parsed((), {}))  # type: ignore[arg-type]
    assert isinstance(started, Started)
    await started.work()
    (text,) = said
    assert text.splitlines()[1].startswith("• `f1` SFT `qa` on `m1` — succeeded → `ft:")
    assert_inert(text)


async def test_history_shows_the_providers_model_name_literally(ports: Ports) -> None:  # noqa: F811
    chat = ports.chat
    assert isinstance(chat, MemoryChat)
    finished_run(ports, ["prod", FROM_PROVIDER], {"prod": False, FROM_PROVIDER: True})
    await post_history(ports, "qa", "C1")
    text = chat.top_level()[0].text
    assert text.startswith("*History of `qa`*\n")
    assert_inert(text)


def test_a_file_name_the_asker_typed_is_repeated_as_code(ports: Ports) -> None:  # noqa: F811
    from commands.finetune import _file_refusal
    from commands.ports import ChatError

    typed = "<!channel>`x`*b*.jsonl"
    for code in ("file_not_found", "file_too_large", "file_not_hosted", "download_failed"):
        said = ports.presenter.line(
            _file_refusal(ChatError(code, "<@U1> said no"), typed, ports)  # type: ignore[arg-type]
        )
        assert re.findall(r"<[^<>]*>", said) == [], said
        assert "`&lt;!channel&gt;ˋxˋ*b*.jsonl`" in said, said


async def test_eval_suites_quotes_the_providers_model_name_inertly(ports: Ports) -> None:  # noqa: F811
    from commands.eval.commands import suites_cmd
    from storage import aliases

    finished_run(ports, ["m1", FROM_PROVIDER], {"m1": True, FROM_PROVIDER: False})
    ports.db.call(
        aliases.set_alias, suite="qa", alias="production", model=FROM_PROVIDER, decided_by=None
    )
    said: list[str] = []

    async def respond(text: str) -> None:
        said.append(text)

    inv = Invocation(user_id="U1", channel_id="C1", command="/eval", text="suites", respond=respond)
    started = suites_cmd(ports, inv, Parsed((), {}))  # type: ignore[arg-type]
    assert isinstance(started, Started)
    await started.work()
    line = said[0].splitlines()[1]
    assert line.startswith("• `qa` — 30 samples · grader string_check · production `ft:")
    assert " · last r1: m1 100.0%, ft:&lt;!channel&gt;" in line
    assert re.findall(r"<[^<>]*>", line) == [] and "`x`" not in line
    assert "*b*" not in re.sub(r"`[^`]*`", "", line), "emphasis cannot pair outside code"

"""A proposal's messages through the real use case (commands/promote), in-process: a model
whose name is hostile mrkdwn is proposed, refused, voted on and approved, and every text
the bot posts shows the name literally.

Names people type into `/promote` are checked against a strict pattern first; a proposal
made by a report (a better challenger, a release) takes the model's name as the run
stored it, so the presenter is what keeps it inert.
"""

from __future__ import annotations

import re

from commands.ports import Posted
from commands.promote import NoEvidence, on_reaction, propose
from commands.services import Ports
from storage import aliases
from tests.fakes.memory import MemoryChat
from tests.usecases.test_outcomes import finished_run, ports  # noqa: F401 (a fixture)

HOSTILE = "<!channel>`x`*b*_i_<http://x|y>"


def live(text: str) -> set[str]:
    return set(re.findall(r"<[^<>]*>", text))


def assert_inert(text: str) -> None:
    assert live(text) <= {"<@UAPPROVER>", "<@U9>"}, text
    assert "&lt;!channel&gt;" in text and "ˋxˋ" in text, text
    assert "`x`" not in text and "*b*" not in re.sub(r"`[^`]*`", "", text), text


async def test_a_hostile_model_name_is_inert_in_every_proposal_message(ports: Ports) -> None:  # noqa: F811
    chat = ports.chat
    assert isinstance(chat, MemoryChat)
    ports.db.call(aliases.set_alias, suite="qa", alias="production", model="prod", decided_by=None)

    try:
        await propose(ports, suite="qa", model=HOSTILE, proposer="U9", channel="C1")
    except NoEvidence as refused:
        assert_inert(str(refused))  # no run yet: the refusal names the run to make
    else:
        raise AssertionError("proposed without evidence")

    finished_run(ports, ["prod", HOSTILE], {"prod": False, HOSTILE: True})
    proposal = await propose(ports, suite="qa", model=HOSTILE, proposer="U9", channel="C1")
    where = Posted("C1", proposal.message_ts or "")
    assert_inert(chat.messages[-1].text)

    event = {
        "item": {"type": "message", "channel": "C1", "ts": where.ts},
        "reaction": "white_check_mark",
        "user": "UAPPROVER",
    }
    await on_reaction(ports, event, added=True)
    decided = next(m for m in chat.messages if m.ts == where.ts)
    assert decided.text.startswith(":white_check_mark: *Approved* by <@UAPPROVER>")
    assert_inert(decided.text)
    (outcome,) = chat.thread(where)
    assert_inert(outcome.text)
    assert ports.db.call(aliases.get_alias, suite="qa") == HOSTILE

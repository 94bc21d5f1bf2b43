"""Promotions by reaction, through the real bot process (HTTP mode, signed events)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL
from tests.e2e.harness import (
    BotProcess,
    World,
    parity_world,
    start_bot,
    wait_status,
    write_suite,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

PROPOSER, APP2, APP3, OWNER, STRANGER = "U0APP1", "U0APP2", "U0APP3", "U0OWNER", "U0RANDOM"


def write_suites(root: Path) -> Path:
    write_suite(root)
    yaml = (root / "parity" / "suite.yaml").read_text()
    (root / "parity" / "suite.yaml").write_text(yaml + f"owners: [{OWNER}]\napprovals: 1\n")
    twice = root / "parity2"
    twice.mkdir()
    (twice / "eval.jsonl").write_text((root / "parity" / "eval.jsonl").read_text())
    (twice / "suite.yaml").write_text(
        yaml.replace("name: parity", "name: parity2") + f"owners: [{OWNER}]\napprovals: 2\n"
    )
    return root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad"]) as world:
        write_suites(tmp_path / "suites")
        yield world


def launch(world: tuple[Path, FakeSlack, FakeOpenAI], **extra: str) -> BotProcess:
    tmp, slack, openai = world
    env = {"EVALBOT_APPROVERS": f"{PROPOSER},{APP2},{APP3}", **extra}
    return start_bot(tmp, slack, openai, suites_dir=tmp / "suites", extra=env)


def propose(bot: BotProcess, slack: FakeSlack, text: str, user: str = PROPOSER) -> Any:
    before = len(slack.messages("C1"))
    status, ack, _, _ = bot.slash(slack, text, command="/promote", user=user)
    assert status == 200, ack
    return slack.wait_for(lambda: len(slack.messages("C1")) > before and slack.messages("C1")[-1])


def evidence(bot: BotProcess, slack: FakeSlack, text: str, run: str) -> None:
    """Run `/eval run <text>` and wait for it: a proposal needs a finished, complete run."""
    bot.slash(slack, f"run {text}")
    wait_status(bot, run, {"finished"})


def react(
    bot: BotProcess,
    slack: FakeSlack,
    msg: Any,
    user: str,
    reaction: str = "white_check_mark",
    added: bool = True,
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = event or slack.reaction_event(reaction, user, "C1", msg.ts, added=added)
    status, _, took = bot.post_signed(json.dumps(event).encode(), content_type="application/json")
    assert status == 200 and took < 3.0
    return event


def settled(bot: BotProcess, needle: str, count: int = 1) -> None:
    """Wait until the bot has logged `needle` `count` times (a vote was processed)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if bot.log().count(needle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"never logged {needle!r} x{count}:\n{bot.log()[-2000:]}")


def test_one_approval_promotes_and_others_change_nothing(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, _ = world
    bot = launch(world)
    try:
        evidence(bot, slack, "parity m-good", "r1")
        msg = propose(bot, slack, "parity m-good")
        assert "*Proposal p1*" in msg.text and "no production model → `m-good`" in msg.text
        assert "needs 1 approval, 0 so far" in msg.text
        for user in (PROPOSER, APP2, APP3, OWNER):
            assert f"<@{user}>" in msg.text  # approvers: the setting plus the suite's owners
        reactions = {
            c.params["name"]
            for c in slack.wait_for(
                lambda: (
                    len(slack.calls_to("reactions.add")) >= 2 and slack.calls_to("reactions.add")
                )
            )
        }
        assert reactions == {"white_check_mark", "x"}

        react(bot, slack, msg, STRANGER)
        note = slack.wait_for(
            lambda: next((e for e in slack.ephemerals if e.user == STRANGER), None)
        )
        assert "does not count" in note.text
        react(bot, slack, msg, PROPOSER)  # the proposer cannot approve their own proposal
        note = slack.wait_for(
            lambda: next((e for e in slack.ephemerals if e.user == PROPOSER), None)
        )
        assert "You proposed p1" in note.text
        assert bot.get("/api/aliases") == (200, {})

        event = react(bot, slack, msg, OWNER)
        slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
        assert bot.get("/api/aliases") == (200, {"parity": {"production": "m-good"}})
        thread = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)
        assert "Approved by <@U0OWNER>" in thread[0].text

        react(bot, slack, msg, OWNER, event=event)  # Slack redelivers the same event
        react(bot, slack, msg, APP2)  # a decided proposal cannot be decided again
        note = slack.wait_for(lambda: next((e for e in slack.ephemerals if e.user == APP2), None))
        assert "already approved" in note.text
        status, body = bot.get("/api/aliases/parity")
        assert status == 200 and len(body["history"]) == 1
        assert body["history"][0]["proposal"] == "p1"
        assert body["history"][0]["decided_by"] == OWNER
        assert len(slack.thread("C1", msg.ts)) == 1
    finally:
        bot.stop()


def test_two_approvals_withdraw_and_reject(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    _, slack, _ = world
    bot = launch(world)
    try:
        evidence(bot, slack, "parity2 m-good", "r1")
        msg = propose(bot, slack, "parity2 m-good")
        assert "needs 2 approvals" in msg.text
        react(bot, slack, msg, APP2)
        slack.wait_for(lambda: "1 so far" in slack.message("C1", msg.ts).text or None)
        react(bot, slack, msg, APP2, added=False)  # reaction_removed withdraws it
        slack.wait_for(lambda: "0 so far" in slack.message("C1", msg.ts).text or None)
        react(bot, slack, msg, APP2)
        react(bot, slack, msg, APP3)
        slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
        assert bot.get("/api/aliases")[1] == {"parity2": {"production": "m-good"}}

        evidence(bot, slack, "parity2 m-good m-bad", "r2")  # paired with production
        rollback = propose(bot, slack, "parity2 m-bad")
        assert "`m-good` → `m-bad`" in rollback.text
        react(bot, slack, rollback, APP3, reaction="x")
        slack.wait_for(lambda: "*Rejected*" in slack.message("C1", rollback.ts).text or None)
        assert bot.get("/api/aliases")[1] == {"parity2": {"production": "m-good"}}
        thread = slack.wait_for(lambda: slack.thread("C1", rollback.ts) or None)
        assert "stays `m-good`" in thread[0].text
    finally:
        bot.stop()


def test_proposal_expires(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    _, slack, _ = world
    bot = launch(world, EVALBOT_PROPOSAL_DAYS="0.00002")  # about 1.7 seconds
    try:
        evidence(bot, slack, "parity m-good", "r1")
        msg = propose(bot, slack, "parity m-good")
        # the scheduler's sweep expires it (first sweep 5 s after start) without any reaction
        slack.wait_for(lambda: "*Expired*" in slack.message("C1", msg.ts).text or None, timeout=20)
        thread = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)
        assert "expired before it had 1 approval; nothing changed" in thread[0].text
        react(bot, slack, msg, APP2)
        assert bot.get("/api/aliases") == (200, {})
        react(bot, slack, msg, APP3)
        note = slack.wait_for(lambda: next((e for e in slack.ephemerals if e.user == APP3), None))
        assert "already expired" in note.text
    finally:
        bot.stop()


def test_evidence_and_nobody_to_approve(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    bot = launch(world)
    try:
        bot.slash(slack, "run parity m-good m-bad")
        wait_status(bot, "r1", {"finished"})
        msg = propose(bot, slack, "parity m-good")
        assert "candidate `m-good` in r1: 17/20 passed" in msg.text
        react(bot, slack, msg, APP2)
        slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
        second = propose(bot, slack, "parity m-bad")
        assert "current `m-good` in r1: 17/20 passed" in second.text
        assert "paired on 20 samples of r1: -85.0 pp" in second.text and "worse" in second.text
        _, ack, _, _ = bot.slash(slack, "parity m-good", command="/promote")
        slack.wait_for(
            lambda: (
                any("already the production model" in json.dumps(r.body) for r in slack.responses)
                or None
            )
        )
    finally:
        bot.stop()
    # no EVALBOT_APPROVERS and a suite without owners: nothing can be proposed
    (tmp / "bare").mkdir()
    bare = start_bot(tmp / "bare", slack, openai, suites_dir=write_suite(tmp / "bare" / "suites"))
    try:
        _, ack, _, _ = bare.slash(slack, "parity m-good", command="/promote")
        assert "Nobody may approve promotions for `parity`" in ack["text"]
    finally:
        bare.stop()


def test_concurrent_reactions_promote_exactly_once(
    world: tuple[Path, FakeSlack, FakeOpenAI], pg_schema: str
) -> None:
    """Three approvers react at the same moment on a two-approval proposal (PostgreSQL)."""
    _, slack, _ = world
    url = f"{PG_URL}?options=-csearch_path%3D{pg_schema}"
    bot = launch(world, DATABASE_URL=url)
    try:
        evidence(bot, slack, "parity2 m-good", "r1")
        msg = propose(bot, slack, "parity2 m-good")
        events = [
            slack.reaction_event("white_check_mark", u, "C1", msg.ts) for u in (APP2, APP3, OWNER)
        ]
        barrier = threading.Barrier(len(events))

        def send(event: dict[str, Any]) -> None:
            barrier.wait()
            react(bot, slack, msg, "", event=event)

        threads = [threading.Thread(target=send, args=(e,)) for e in events]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        settled(bot, "proposal p1: approve", 3)
        status, body = bot.get("/api/aliases/parity2")
        assert status == 200 and len(body["history"]) == 1
        thread = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)
        bot.wait_idle()
        assert len(slack.thread("C1", msg.ts)) == 1 and "Approved by" in thread[0].text
        assert "closed" in bot.log()  # the third vote found the proposal decided
    finally:
        bot.stop()


def test_a_better_challenger_of_production_gets_a_proposal(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, _ = world
    bot = launch(world)
    try:
        evidence(bot, slack, "parity m-bad", "r1")
        msg = propose(bot, slack, "parity m-bad")
        react(bot, slack, msg, APP2)
        slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
        bot.slash(slack, "run parity m-bad m-good")
        wait_status(bot, "r2", {"finished"})
        run_msg = next(m for m in slack.messages("C1") if "*Eval r2*" in m.text)
        proposal = slack.wait_for(
            lambda: next(
                (m for m in slack.thread("C1", run_msg.ts) if "*Proposal p2*" in m.text), None
            )
        )
        assert "`m-bad` → `m-good`" in proposal.text and "better" in proposal.text
        # The proposal opens with what would change, on what evidence, and what to do.
        assert proposal.text.splitlines()[0] == (
            ":ballot_box_with_check: *Proposal p2*: `m-good` as production of `parity` "
            "(now `m-bad`) — 85.0% vs 0.0%, +85.0 pp, p<0.001, better → react "
            ":white_check_mark: to approve (1 approval needed)"
        )
        react(bot, slack, proposal, APP3)
        slack.wait_for(
            lambda: bot.get("/api/aliases")[1] == {"parity": {"production": "m-good"}} or None
        )
    finally:
        bot.stop()


def test_app_home_shows_production_last_pass_rate_proposals_and_runs(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    bot = launch(world)
    try:
        bot.slash(slack, "run parity m-good")
        wait_status(bot, "r1", {"finished"})
        msg = propose(bot, slack, "parity m-good")
        react(bot, slack, msg, APP2)
        slack.wait_for(lambda: "*Approved*" in slack.message("C1", msg.ts).text or None)
        evidence(bot, slack, "parity2 m-bad", "r2")
        proposal = propose(bot, slack, "parity2 m-bad")
        bot.slash(slack, "add m-* suites=parity2 every=5m", command="/watch")
        openai.latency = 0.5
        bot.slash(slack, "run parity2 m-bad")
        wait_status(bot, "r3", {"running"})
        event = slack.app_home_opened_event(APP3)
        bot.post_signed(json.dumps(event).encode(), content_type="application/json")
        view = slack.wait_for(lambda: slack.published_views.get(APP3))
        text = json.dumps(view)
        assert "production `m-good` \\u00b7 last full run r1: `m-good` 17/20 passed (85.0%)" in text
        # parity2 has no production model: said in the one word used everywhere.
        assert "*parity2* \\u2014 no production model" in text
        link = f"<https://slack.com/archives/C1/p{proposal.ts.replace('.', '')}|p2>"
        assert (
            f"open proposal {link}: no production model \\u2192 `m-bad`, 2 approvals needed" in text
        )
        assert "running <https://slack.com/archives/C1/p" in text and "|r3> on `m-bad`" in text
        assert "watch w1: `m-*` on `default` every 5m" in text
    finally:
        bot.stop()


def refusal(slack: FakeSlack, needle: str) -> str:
    """The ephemeral answer (through the response_url) that contains `needle`."""
    body = slack.wait_for(
        lambda: next((r.body for r in slack.responses if needle in json.dumps(r.body)), None)
    )
    return str(body.get("text", ""))


def test_an_unevaluated_model_is_never_proposed_nor_served(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """Issue 11's reproduction: `/promote parity gpt-9-ultra` (never run) became production
    after one approval. Now: refused with the command that makes the evidence; a sampled
    run is no evidence; and evidence gone by the time of the decision moves nothing."""
    tmp, slack, _ = world
    bot = launch(world)
    try:
        bot.slash(slack, "parity gpt-9-ultra", command="/promote")
        text = refusal(slack, "gpt-9-ultra")
        assert "no finished, complete run" in text and "/eval run parity gpt-9-ultra" in text
        bot.slash(slack, "run parity m-good limit=5")
        wait_status(bot, "r1", {"finished"})
        bot.slash(slack, "parity m-good", command="/promote")
        assert "/eval run parity m-good" in refusal(slack, "`m-good` has no finished")
        bot.wait_idle()
        assert not any("*Proposal" in m.text for m in slack.messages("C1"))

        evidence(bot, slack, "parity m-good", "r2")
        msg = propose(bot, slack, "parity m-good")
        assert "*Proposal p1*" in msg.text and "in r2" in msg.text
    finally:
        bot.stop()
    # The suite's data changes before anyone approves: r2 no longer says anything about it.
    data = tmp / "suites" / "parity" / "eval.jsonl"
    data.write_text(data.read_text() + '{"q": "Is 1000 even?", "label": "yes"}\n')
    bot = launch(world)
    try:
        react(bot, slack, msg, APP2)
        slack.wait_for(lambda: "*Not promoted*" in slack.message("C1", msg.ts).text or None)
        thread = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)
        assert "/eval run parity m-good" in thread[0].text
        assert bot.get("/api/aliases") == (200, {})
    finally:
        bot.stop()

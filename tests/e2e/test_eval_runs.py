"""`/eval run` through the real bot process, the fake Slack and the fake OpenAI server."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    N,
    World,
    label,
    launch,
    parity_world,
    question,
    replies_with,
    start_bot,
    top_messages,
    wait_status,
)
from tests.fakes.openai_inference import Request
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_wire import ApiError
from tests.fakes.slack import FakeSlack


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad", "o-reason"]) as world:
        yield world


def test_exact_counts_summary_failures_and_comparison(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    try:
        status, ack, took, _ = bot.slash(slack, "run parity m-good m-bad")
        assert status == 200 and took < 3.0 and "Starting `parity`" in ack["text"]
        body = wait_status(bot, "r1", {"finished"})
        good, bad = body["models"]["m-good"], body["models"]["m-bad"]
        assert (good["passed"], good["failed"], good["errored"], good["total"]) == (17, 3, 0, 20)
        assert good["pass_rate"] == 0.85
        assert (bad["passed"], bad["failed"]) == (0, 20)
        msg = slack.wait_for(
            lambda: next((m for m in top_messages(slack) if "finished" in m.text), None)
        )
        assert len(top_messages(slack)) == 1  # one message, updated in place
        assert "17/20 passed" in msg.text and "0/20 passed" in msg.text
        assert "85.0% (95% CI" in msg.text
        thread = slack.wait_for(
            lambda: len(slack.thread("C1", msg.ts)) >= 3 and slack.thread("C1", msg.ts)
        )
        failures = next(m for m in thread if m.text.startswith("*Failing samples"))
        assert "(10 of 23 shown; all of them in the attached file)" in failures.text
        assert "• `m-good` item 1 (line 1)" in failures.text  # from 1, with the data line
        assert "score" not in failures.text  # an exact match has no score worth showing
        report = next(m for m in thread if "baseline `m-good`" in m.text)
        assert "-85.0 pp" in report.text and "*worse*" in report.text
        assert "0 improved, 17 regressed" in report.text
        uploads = slack.wait_for(lambda: len(slack.uploads) >= 2 and slack.uploads)
        chart = next(u for u in uploads if u.bytes.startswith(b"\x89PNG"))
        assert chart.thread_ts == msg.ts
        listed = next(u for u in uploads if u.filename == "failures-r1.jsonl")
        assert listed.bytes.count(b"\n") == 23 and listed.thread_ts == msg.ts
        # The summary opens with the verdict: no production model, so the two best.
        final = slack.wait_for(
            lambda: (
                "vs the next best" in slack.message("C1", msg.ts).text
                and slack.message("C1", msg.ts)
            )
        )
        lead = final.text.splitlines()[0]
        assert lead.startswith("`m-good` 85.0% vs the next best `m-bad` 0.0%: +85.0 pp, p<0.001")
        assert "no production model to replace" in lead
        assert "0 errored" not in final.text and "```" not in final.text
        status, comparison = bot.get("/api/runs/r1/comparison")
        assert status == 200
        challenger = comparison["challengers"]["m-bad"]
        assert comparison["baseline"] == "m-good"
        assert (challenger["improved"], challenger["regressed"], challenger["paired"]) == (
            0,
            17,
            20,
        )
        assert challenger["verdict"] == "worse"
        assert challenger["diff_pp"] == -85.0
        # every sample was asked exactly once per model
        prompts = Counter((r.json or {}).get("model") for r in openai.requests_to("/chat"))
        assert prompts == {"m-good": N, "m-bad": N}
    finally:
        bot.stop()


def test_faults_are_retried_and_spent_retries_are_errored_not_failed(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world

    def responder(req: Request) -> str:
        if req.last_user == question(5):
            raise ApiError(
                500, "The server had an error while processing your request.", type="server_error"
            )
        return openai.default_responder(req)

    openai.responder = responder
    openai.fail_next("/chat", status=429, count=4, retry_after_ms=20)
    openai.fail_next("/chat", status=503, count=2)
    bot = launch(tmp, slack, openai, EVALBOT_MAX_ATTEMPTS="3")
    try:
        bot.slash(slack, "run parity m-good")
        body = wait_status(bot, "r1", {"finished"})
        good = body["models"]["m-good"]
        # item 5 always fails on the provider: errored, never failed; the rest graded
        assert (good["errored"], good["graded"], good["passed"], good["failed"]) == (1, 19, 16, 3)
        assert good["pass_rate"] == round(16 / 19, 4)
        asked = Counter(
            r.json["messages"][-1]["content"] for r in openai.requests_to("/chat") if r.json
        )
        assert asked[question(5)] == 3  # EVALBOT_MAX_ATTEMPTS
        msg = slack.wait_for(
            lambda: next((m for m in top_messages(slack) if "finished" in m.text), None)
        )
        assert "16/19 passed" in msg.text and "1 errored" in msg.text
    finally:
        bot.stop()


def stored_results(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT model, item_index FROM sample_results"))


def test_kill_9_mid_run_resumes_without_asking_twice(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    openai.latency = 0.15
    bot = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="2")
    bot.slash(slack, "run parity m-good")
    db = tmp / "evalbot.db"
    slack.wait_for(lambda: len(stored_results(db)) >= 6 or None, timeout=30)
    bot.kill()
    done_before = {i for _, i in stored_results(db)}
    assert 6 <= len(done_before) < N
    message_ts = top_messages(slack)[0].ts
    openai.latency = 0.0
    again = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="2")
    try:
        body = wait_status(again, "r1", {"finished"})
        good = body["models"]["m-good"]
        assert (good["passed"], good["failed"], good["errored"]) == (17, 3, 0)
        asked = Counter(
            r.json["messages"][-1]["content"] for r in openai.requests_to("/chat") if r.json
        )
        for i in done_before:
            assert asked[question(i)] == 1, f"item {i} was stored before the kill yet asked again"
        assert all(asked[question(i)] >= 1 for i in range(N))
        msgs = top_messages(slack)
        assert len(msgs) == 1 and msgs[0].ts == message_ts  # the same message, updated
        final = slack.wait_for(
            lambda: (
                "finished" in slack.message("C1", message_ts).text
                and slack.message("C1", message_ts)
            )
        )
        assert "17/20 passed" in final.text
        assert "resuming r1" in again.log()
    finally:
        again.stop()


def test_cancel_stops_requests_promptly(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    openai.latency = 0.3
    bot = launch(tmp, slack, openai, EVALBOT_CONCURRENCY="1")
    try:
        bot.slash(slack, "run parity m-good")
        db = tmp / "evalbot.db"
        slack.wait_for(lambda: len(stored_results(db)) >= 2 or None, timeout=30)
        assert bot.get("/healthz") == (200, {"ok": True, "idle": False})  # a run in flight
        status, ack, _, _ = bot.slash(slack, "cancel r1")
        assert "Cancelling `r1`" in ack["text"]
        started = time.monotonic()
        wait_status(bot, "r1", {"cancelled"}, timeout=5)
        assert time.monotonic() - started < 3
        count = len(openai.requests_to("/chat"))
        bot.wait_idle()
        assert len(openai.requests_to("/chat")) == count  # nothing more is sent
        assert count < N
        msg = slack.wait_for(
            lambda: next((m for m in top_messages(slack) if "cancelled" in m.text), None)
        )
        assert "cancelled" in msg.text
        _, ack, _, _ = bot.slash(slack, "cancel r1")
        assert ack["text"].startswith("Cancelling")  # the ack; the reply says it had ended
        slack.wait_for(
            lambda: any("already cancelled" in json.dumps(r.body) for r in slack.responses) or None
        )
    finally:
        bot.stop()


def test_refused_sampling_parameter_is_dropped_for_that_model_and_reported(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """A reasoning model refuses temperature=0: it runs with the provider's default, the
    other model keeps temperature=0, and the summary says so."""
    tmp, slack, openai = world
    openai.reasoning_models.add("o-reason")
    for i in range(N):
        openai.answer("o-reason", question(i), label(i))
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good o-reason")
        body = wait_status(bot, "r1", {"finished"})
        assert body["models"]["o-reason"]["passed"] == N
        reason = [
            r.json for r in openai.requests_to("/chat") if r.json and r.json["model"] == "o-reason"
        ]
        assert len(reason) == N + 1  # one refusal, then every sample once
        assert sum("temperature" in r for r in reason) == 1
        good = [
            r.json for r in openai.requests_to("/chat") if r.json and r.json["model"] == "m-good"
        ]
        assert all(r["temperature"] == 0 for r in good)
        msg = slack.wait_for(
            lambda: next((m for m in top_messages(slack) if "finished" in m.text), None)
        )
        assert "`o-reason` does not accept `temperature`" in msg.text
    finally:
        bot.stop()


def test_a_refusal_that_cannot_be_adapted_stops_the_run_at_once(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world

    def responder(req: Request) -> Any:
        if req.model == "m-bad":
            return {
                "status": 400,
                "error": {
                    "message": "This model does not support chat.",
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": None,
                },
            }
        return openai.default_responder(req)

    openai.responder = responder
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity m-good m-bad")
        wait_status(bot, "r1", {"failed"})
        asked = [r for r in openai.requests_to("/chat") if r.json and r.json["model"] == "m-bad"]
        assert len(asked) == 1  # one request, not twenty
        msg = slack.wait_for(
            lambda: next((m for m in top_messages(slack) if "failed" in m.text), None)
        )
        assert "`m-bad` refused the request: This model does not support chat." in msg.text
        assert "Nothing else was sent" in msg.text
    finally:
        bot.stop()


def test_unknown_model_and_unknown_run_say_what_exists(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    try:
        bot.slash(slack, "run parity no-such-model")
        refused = slack.wait_for(
            lambda: next((r for r in slack.responses if "no-such-model" in r.body["text"]), None)
        )
        # Checked against the provider's list first: refused privately, nothing started.
        assert "is not a model the default provider serves" in refused.body["text"]
        assert refused.body["response_type"] == "ephemeral"
        assert bot.get("/api/runs/r1")[0] == 404 and not top_messages(slack)
        bot.slash(slack, "show r42")
        reply = replies_with(slack, "r42")
        assert "There is no run `r42`" in reply.body["text"]
        _, ack, _, _ = bot.slash(slack, "run parit m-good")
        assert "Did you mean `parity`?" in ack["text"] and "Suites: `parity`" in ack["text"]
    finally:
        bot.stop()


def test_tagged_suite_comparison_adds_a_per_tag_chart(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    from tests.e2e.harness import REPO

    bot = start_bot(
        tmp,
        slack,
        openai,
        suites_dir=REPO / "examples",
        extra={"EVALBOT_RETRY_BASE_SECONDS": "0.01"},
    )
    try:
        bot.slash(slack, "run support-summaries m-good m-bad limit=12")
        wait_status(bot, "r1", {"finished"})
        uploads = slack.wait_for(
            lambda: any(u.filename == "tags.png" for u in slack.uploads) and slack.uploads
        )
        names = sorted(u.filename for u in uploads if u.filename.endswith(".png"))
        assert names == ["comparison.png", "tags.png"]
        tags = next(u for u in uploads if u.filename == "tags.png")
        assert tags.bytes.startswith(b"\x89PNG") and len(tags.bytes) > 10_000
    finally:
        bot.stop()


def test_a_channel_the_bot_cannot_post_in_is_reported_and_nothing_runs(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    try:
        slack.fail_next("chat.postMessage", error="not_in_channel")
        bot.slash(slack, "run parity m-good")
        note = replies_with(slack, "invite me")
        assert "`r1` was not started" in note.body["text"]
        assert wait_status(bot, "r1", {"failed"})["models"]["m-good"]["graded"] == 0
        bot.wait_idle()
        assert openai.requests_to("/chat") == []
    finally:
        bot.stop()


def test_a_run_whose_first_post_slack_holds_back_waits_for_it_then_runs(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """A burst of runs in one channel meets Slack's per-channel limit: the run is not
    lost (it was failed with "was not started" while its advice said "tried again")."""
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    try:
        # Six 429s: the first try and the Slack client's five retries all refused.
        slack.fail_next("chat.postMessage", status=429, count=6, retry_after=0)
        bot.slash(slack, "run parity m-good")
        assert wait_status(bot, "r1", {"finished"})["models"]["m-good"]["graded"] == N
        bot.wait_idle()
        runs = [m for m in top_messages(slack) if "*Eval r1*" in m.text]
        assert len(runs) == 1 and "17/20 passed" in runs[0].text
        assert not any("not started" in json.dumps(r.body) for r in slack.responses)
        # Nothing was asked of the provider before the run's message was in the channel:
        # the six refused tries and the one that landed all came first.
        first_request = min(r.time for r in openai.requests_to("/chat"))
        before = [c for c in slack.calls_to("chat.postMessage") if c.time < first_request]
        assert len(before) >= 7
    finally:
        bot.stop()


def test_announcing_again_after_a_restart_posts_nothing_twice(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """A crash after the thread posts but before the run was marked announced."""
    tmp, slack, openai = world
    bot = launch(tmp, slack, openai)
    bot.slash(slack, "run parity m-good m-bad")
    wait_status(bot, "r1", {"finished"})
    msg = slack.wait_for(
        lambda: next((m for m in top_messages(slack) if "finished" in m.text), None)
    )
    slack.wait_for(lambda: len(slack.thread("C1", msg.ts)) >= 4 or None)
    # The first bot finishes announcing (all its steps, then the mark) before it stops: on a
    # loaded machine the thread can hold 4 posts while the last step is still on its way.
    bot.wait_idle()
    with sqlite3.connect(tmp / "evalbot.db") as conn:
        assert conn.execute("SELECT announced FROM eval_runs WHERE id = 1").fetchone()[0]
    bot.stop()
    before = (len(slack.thread("C1", msg.ts)), len(slack.uploads), len(top_messages(slack)))
    with sqlite3.connect(tmp / "evalbot.db") as conn:
        conn.execute("UPDATE eval_runs SET announced = 0 WHERE id = 1")
    again = launch(tmp, slack, openai)
    try:
        deadline, announced = time.monotonic() + 10, False
        while not announced and time.monotonic() < deadline:
            with sqlite3.connect(tmp / "evalbot.db") as conn:
                announced = conn.execute("SELECT announced FROM eval_runs WHERE id = 1").fetchone()[
                    0
                ]
            time.sleep(0.05)
        assert announced, "the restarted bot never took up the unannounced run"
        again.wait_idle()
        after = (len(slack.thread("C1", msg.ts)), len(slack.uploads), len(top_messages(slack)))
        assert after == before
        assert "17/20 passed" in slack.message("C1", msg.ts).text
    finally:
        again.stop()


def test_a_run_above_the_cost_cap_is_refused_and_says_what_fits(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    prices = tmp / "prices.yaml"
    prices.write_text("m-good: {input: 1000, output: 1000}  # USD per million tokens\n")
    bot = launch(tmp, slack, openai, EVALBOT_PRICES_FILE=str(prices), EVALBOT_MAX_RUN_USD="0.05")

    def refusal(n: int) -> str:
        note = slack.wait_for(
            lambda: (
                [r for r in slack.responses if "EVALBOT_MAX_RUN_USD" in json.dumps(r.body)][n - 1 :]
                or None
            )
        )[0]
        return str(note.body["text"])

    try:
        # 20 prompts of ~14 tokens and 5 output tokens each at $1,000/M: about $0.38.
        bot.slash(slack, "run parity m-good")
        text = refusal(1)
        assert "would cost about $0.3" in text and "Nothing was started" in text
        fits = int(re.search(r"`limit=(\d+)`", text).group(1))  # type: ignore[union-attr]
        assert 1 <= fits < N
        bot.wait_idle()
        assert openai.requests_to("/chat") == []
        assert bot.get("/api/runs/r1")[0] == 404
        bot.slash(slack, f"run parity m-good limit={fits}")  # what the refusal proposed
        assert wait_status(bot, "r1", {"finished"})["models"]["m-good"]["graded"] == fits
        # Now the estimate comes from what r1 cost, and still says no to the full suite.
        bot.slash(slack, "run parity m-good")
        assert "earlier runs" in refusal(2)
        assert bot.get("/api/runs/r2")[0] == 404
    finally:
        bot.stop()

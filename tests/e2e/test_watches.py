"""Release watches through the real bot process: new models between polls, restarts,
retirement notices, drift, and two processes sharing one PostgreSQL database."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import aliases
from storage.db import Database
from tests.conftest import PG_URL
from tests.e2e.harness import (
    BotProcess,
    N,
    World,
    label,
    parity_world,
    post_with,
    question,
    replies_with,
    start_bot,
    wait_status,
    write_suite,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with parity_world(tmp_path, ["m-good", "m-bad", "other"]) as world:
        write_suite(tmp_path / "suites")
        yield world


def launch(
    world: tuple[Path, FakeSlack, FakeOpenAI],
    *,
    db_url: str | None = None,
    home: Path | None = None,
) -> BotProcess:
    tmp, slack, openai = world
    home = home or tmp
    home.mkdir(exist_ok=True)
    env = {"EVALBOT_APPROVERS": "U0APP", "EVALBOT_RETRY_BASE_SECONDS": "0.01"}
    return start_bot(
        home,
        slack,
        openai,
        suites_dir=tmp / "suites",
        extra=env,
        database_url=db_url or f"sqlite:///{tmp / 'evalbot.db'}",
    )


def set_production(url: str, model: str) -> None:
    db = Database.connect(url)
    try:
        db.call(
            aliases.set_alias, suite="parity", alias="production", model=model, decided_by="U0APP"
        )
    finally:
        db.close()


def teach_new(openai: FakeOpenAI, model: str) -> None:
    for i in range(N):
        openai.answer(model, question(i), label(i))


def test_a_release_between_polls_runs_the_suite_once_against_production(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    url = f"sqlite:///{tmp / 'evalbot.db'}"
    bot = launch(world)
    try:
        set_production(url, "m-bad")
        _, ack, _, _ = bot.slash(slack, "add m-* suites=parity every=5m", command="/watch")
        assert "Adding the watch" in ack["text"]
        added = post_with(slack, "added a watch")
        assert "`w1` `m-*` on `default` every 5m" in added.text
        assert "2 matching models are listed now" in added.text
        bot.slash(slack, "check", command="/watch")
        replies_with(slack, "no new model")  # the first poll only recorded what exists
        assert bot.get("/api/runs/r1")[0] == 404

        openai.add_model("m-new")
        teach_new(openai, "m-new")
        bot.slash(slack, "check", command="/watch")
        replies_with(slack, "`m-new`")
        body = wait_status(bot, "r1", {"finished"})
        assert sorted(body["models"]) == ["m-bad", "m-new"]  # no earlier production run
        alert = post_with(slack, "Release alert")
        assert "new model `m-new` (watch w1)" in alert.text
        slack.wait_for(lambda: "finished" in slack.message("C1", alert.ts).text or None)
        assert "20/20 passed" in slack.message("C1", alert.ts).text
        thread = slack.wait_for(
            lambda: (
                next((m for m in slack.thread("C1", alert.ts) if "*Proposal p1*" in m.text), None)
                and slack.thread("C1", alert.ts)
            )
        )
        report = next(m for m in thread if "Release alert: `m-new` vs `m-bad`" in m.text)
        assert "+100.0 pp" in report.text and "*better*" in report.text
        # The alert's own message opens with the verdict and what followed, not the model.
        lead = slack.wait_for(
            lambda: (
                "→ proposal p1" in slack.message("C1", alert.ts).text
                and slack.message("C1", alert.ts).text.splitlines()[0]
            )
        )
        assert lead == (
            ":rocket: *Release alert* (watch w1): `m-new` 100.0% vs production `m-bad` 0.0%: "
            "+100.0 pp, p<0.001, *better* → proposal p1"
        )
        assert any(u.thread_ts == alert.ts for u in slack.uploads)  # the chart

        bot.slash(slack, "check", command="/watch")  # a second check: nothing new
        bot.wait_idle()
        assert bot.get("/api/runs/r2")[0] == 404
        assert sum("Release alert" in m.text for m in slack.messages("C1")) == 1

        # The next release reuses production's complete run r1 (only the new model runs),
        # and that pairing is evidence enough for the proposal its verdict announces.
        openai.add_model("m-newer")
        teach_new(openai, "m-newer")
        bot.slash(slack, "check", command="/watch")
        assert sorted(wait_status(bot, "r2", {"finished"})["models"]) == ["m-newer"]
        second = post_with(slack, "new model `m-newer`")
        lead = slack.wait_for(
            lambda: (
                "→ proposal p2" in slack.message("C1", second.ts).text
                and slack.message("C1", second.ts).text.splitlines()[0]
            )
        )
        assert "`m-newer` 100.0% vs production `m-bad` 0.0%" in lead
        proposal = slack.wait_for(
            lambda: next(
                (m for m in slack.thread("C1", second.ts) if "*Proposal p2*" in m.text), None
            )
        )
        assert "paired on 20 samples of r2 and r1" in proposal.text
    finally:
        bot.stop()


def test_watches_survive_a_restart_and_the_job_is_stored(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = launch(world)
    bot.slash(slack, "add other* suites=parity every=1h", command="/watch")
    post_with(slack, "added a watch")
    bot.stop()
    with sqlite3.connect(tmp / "evalbot.db") as conn:
        jobs = dict(conn.execute("SELECT id, next_run_time FROM apscheduler_jobs"))
    assert "watch-1" in jobs
    soon = datetime.now(UTC) + timedelta(minutes=59)
    assert jobs["watch-1"] > soon.timestamp()  # next check an hour after it was added
    openai.add_model("other-2")  # released while the bot was down
    teach_new(openai, "other-2")
    again = launch(world)
    try:
        again.slash(slack, "list", command="/watch")
        replies_with(slack, "`w1` `other*`")
        again.slash(slack, "check", command="/watch")
        replies_with(slack, "`other-2`")
        body = wait_status(again, "r1", {"finished"})
        assert list(body["models"]) == ["other-2"]  # no production model: shown alone
        again.slash(slack, "pause w1", command="/watch")
        replies_with(slack, "Watch `w1` paused")
        with sqlite3.connect(tmp / "evalbot.db") as conn:
            paused = conn.execute(
                "SELECT next_run_time FROM apscheduler_jobs WHERE id='watch-1'"
            ).fetchone()
        assert paused == (None,)
        again.slash(slack, "remove w1", command="/watch")
        replies_with(slack, "Watch `w1` removed")
        with sqlite3.connect(tmp / "evalbot.db") as conn:
            assert conn.execute(
                "SELECT count(*) FROM apscheduler_jobs WHERE id='watch-1'"
            ).fetchone() == (0,)
        _, ack, _, _ = again.slash(slack, "pause w9", command="/watch")
        replies_with(slack, "There is no watch `w9`")
    finally:
        again.stop()


def test_retirement_is_announced_once(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    set_production(f"sqlite:///{tmp / 'evalbot.db'}", "m-good")
    bot = launch(world)
    try:
        bot.slash(slack, "run parity m-good m-bad")
        wait_status(bot, "r1", {"finished"})
        bot.slash(slack, "add zzz* suites=parity", command="/watch")
        post_with(slack, "added a watch")
        shutdown = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()
        openai.set_shutdown_date("m-good", shutdown)
        bot.slash(slack, "check", command="/watch")
        notice = post_with(slack, "shuts down on")
        assert f"`m-good` shuts down on {shutdown} (20 days left)" in notice.text
        assert "production model of `parity`" in notice.text
        assert "`m-good` 85.0% (17/20, r1)" in notice.text
        assert "`m-bad` 0.0%" in notice.text
        bot.slash(slack, "check", command="/watch")
        replies_with(slack, "Checked")
        bot.wait_idle()
        assert sum("shuts down" in m.text for m in slack.messages("C1")) == 1
    finally:
        bot.stop()


def test_drift_alerts_only_on_a_significant_drop(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    tmp, slack, openai = world
    set_production(f"sqlite:///{tmp / 'evalbot.db'}", "m-good")
    bot = launch(world)
    try:
        bot.slash(slack, "run parity m-good")
        wait_status(bot, "r1", {"finished"})
        bot.slash(slack, "add model=@production suites=parity", command="/watch")
        added = post_with(slack, "added a watch")
        assert "production models (drift)" in added.text and "every 1d" in added.text
        bot.slash(slack, "check", command="/watch")  # unchanged model: a run, no alert
        wait_status(bot, "r2", {"finished"})
        bot.wait_idle()
        assert not any("*Drift*" in m.text for m in slack.messages("C1"))
        # A check a person asked for says which run it started, and the run is shown.
        checked = replies_with(slack, "drift rerun")
        assert "drift rerun of production `m-good` on `parity` as `r2`" in checked.body["text"]
        assert "no new model" not in checked.body["text"]
        shown = post_with(slack, "*Eval r2*")
        assert ":mag: Drift check (watch w1)" in shown.text and "17/20 passed" in shown.text
        for i in range(N):  # the provider's model changed behind the same name
            openai.answer("m-good", question(i), "no")
        bot.slash(slack, "check", command="/watch")
        body = wait_status(bot, "r3", {"finished"})
        assert body["models"]["m-good"]["passed"] == 10
        alert = post_with(slack, "*Drift*")
        assert "`m-good` on `parity` dropped" in alert.text and "since r2" in alert.text
    finally:
        bot.stop()


def test_two_processes_on_one_postgres_alert_once(
    world: tuple[Path, FakeSlack, FakeOpenAI], pg_schema: str
) -> None:
    tmp, slack, openai = world
    url = f"{PG_URL}?options=-csearch_path%3D{pg_schema}"
    first = launch(world, db_url=url, home=tmp / "a")
    second = launch(world, db_url=url, home=tmp / "b")
    try:
        first.slash(slack, "add m-* suites=parity", command="/watch")
        post_with(slack, "added a watch")
        leaders = [b for b in (first, second) if "scheduler leader" in b.log()]
        assert len(leaders) == 1  # one advisory-lock leader runs the scheduled jobs
        openai.add_model("m-new")
        teach_new(openai, "m-new")
        barrier = threading.Barrier(2)

        def check(bot: BotProcess) -> None:
            barrier.wait()
            bot.slash(slack, "check", command="/watch")

        threads = [threading.Thread(target=check, args=(b,)) for b in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_status(first, "r1", {"finished"}, timeout=40)
        slack.wait_for(
            lambda: sum("Checked" in json.dumps(r.body) for r in slack.responses) >= 2 or None
        )
        first.wait_idle()
        second.wait_idle()
        assert first.get("/api/runs/r2")[0] == 404
        assert sum("Release alert" in m.text for m in slack.messages("C1")) == 1
        leader = leaders[0]
        leader.kill()  # the other process takes over the scheduler
        other = second if leader is first else first
        deadline = time.monotonic() + 20
        while "scheduler leader" not in other.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "scheduler leader" in other.log()
    finally:
        first.stop()
        second.stop()


def test_a_poll_starts_at_most_three_releases_and_says_the_rest_wait(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    """Issue 11: a glob matching a burst of new models starts a few runs per check, and
    the channel is told about the rest (which start on the next checks)."""
    _, slack, openai = world
    bot = launch(world)
    try:
        bot.slash(slack, "add m-* suites=parity every=5m", command="/watch")
        post_with(slack, "added a watch")
        bot.slash(slack, "check", command="/watch")
        replies_with(slack, "no new model")
        for i in range(5):
            openai.add_model(f"m-burst{i}")
            teach_new(openai, f"m-burst{i}")
        bot.slash(slack, "check", command="/watch")
        note = post_with(slack, "2 more new models match")
        assert "at most 3 per check" in note.text
        bot.wait_idle()
        started = [bot.get(f"/api/runs/r{i}") for i in range(1, 7)]
        assert [s for s, _ in started] == [200, 200, 200, 404, 404, 404]
        bot.slash(slack, "check", command="/watch")  # the next check takes the rest
        wait_status(bot, "r5", {"finished", "running", "queued"})
        bot.wait_idle()
        assert bot.get("/api/runs/r6")[0] == 404
    finally:
        bot.stop()

"""Names a provider chose are shown literally, in the App Home and in messages (issue 11).

commands.home and the messages built from provider listings, with the Slack presenter,
a real SQLite database and in-memory ports. A fine-tune's model is named by its provider
(or serving side) and nobody checked it at a door; a watch's provider lists the ids it
likes. A name with a mention, a line break, `*bold*` and a backtick stays one code span,
escaped. A run started from the terminal (its "channel" is `terminal`) is listed in the
Home without a link to a Slack message that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.presenters.mrkdwn import SLACK
from commands.finetune.jobs import evaluating_text
from commands.home import home_blocks
from commands.services import Ports
from commands.watch.poll import retirement_notice
from storage import runs as store
from storage.db import Database
from storage.tables import FineTuneJob
from tests.fakes.memory import memory_ports, write_qa_suite

HOSTILE = "ft:gpt-4.1-mini:acme:<!here>\n*b* `x`:1"


def write_suite(root: Path) -> Path:
    return write_qa_suite(root, ["q"])


@pytest.fixture
def ports(tmp_path: Path) -> Iterator[Ports]:
    built = memory_ports(
        Database.connect(f"sqlite:///{tmp_path / 'db.sqlite'}"),
        write_suite(tmp_path / "suites"),
        models=["m"],
    )
    yield built
    built.db.close()


def a_run(ports: Ports, models: list[str], channel: str, ts: str, **kw: Any) -> int:
    suite = ports.suites.get("qa")
    assert suite is not None
    run = ports.db.call(
        store.create_run,
        suite="qa",
        data_version=suite.data_version,
        models=models,
        total=1,
        channel=channel,
        **kw,
    )
    ports.db.call(store.set_message, run_id=run.id or 0, channel=channel, ts=ts)
    return run.id or 0


def outside_code(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", text)


async def test_names_stay_code_and_only_slack_messages_are_linked(ports: Ports) -> None:
    evaluation = a_run(ports, [HOSTILE, "gpt-4.1-mini"], "C1", "1700000000.000100")
    terminal = a_run(ports, ["gpt-4.1-mini"], "terminal", "1", origin="cli")
    ports.db.call(store.mark_running, run_id=terminal)

    blocks = await home_blocks(ports)
    (text,) = [b["text"]["text"] for b in blocks if "*qa*" in b.get("text", {}).get("text", "")]

    assert "<!here>" not in text and "&lt;!here&gt;" in text
    # One code span, on one line: the break, `*b*` and the backtick format nothing.
    assert "&lt;!here&gt;" not in outside_code(text) and "*b*" not in outside_code(text)
    assert f"<https://slack.com/archives/C1/p1700000000000100|r{evaluation}>" in text
    # The terminal's run is named, not linked to a message Slack never had.
    assert "archives/terminal" not in text
    assert f"• running r{terminal} on `gpt-4.1-mini`" in text


def assert_literal(text: str) -> None:
    assert "<!here>" not in text and "&lt;!here&gt;" in text
    assert "&lt;!here&gt;" not in outside_code(text) and "*b*" not in outside_code(text)


def test_the_evaluation_of_a_fine_tune_names_its_model_as_code() -> None:
    job = FineTuneJob(id=1, request_key="k", suite="qa", method="sft", base_model="gpt-4.1-mini")
    text = evaluating_text(SLACK.title, HOSTILE, job, 7)
    assert_literal(text)
    assert text.endswith("against `gpt-4.1-mini` (run r7).")


async def test_a_retirement_notice_names_the_providers_ids_as_code(ports: Ports) -> None:
    suite = ports.suites.get("qa")
    assert suite is not None
    run = ports.db.call(
        store.create_run, suite="qa", data_version=suite.data_version, models=[HOSTILE], total=1
    )
    row = store.new_result_row(run.id, HOSTILE, 0)
    row["status"] = "passed"
    ports.db.call(store.save_result_rows, rows=[row])
    ports.db.call(store.finish, run_id=run.id or 0, status="finished")

    notice = await retirement_notice(
        ports,  # type: ignore[arg-type]
        1,
        HOSTILE,
        "2027-01-14",
        20,
        ["qa"],
        reminder=False,
    )
    text = ports.presenter.retirement(notice)
    first, *candidates = text.splitlines()
    assert_literal(first)
    assert first.endswith("shuts down on 2027-01-14 (20 days left) — seen by watch w1.")
    assert_literal("\n".join(candidates))

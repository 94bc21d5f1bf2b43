"""What follows a finished run, in-process: commands.outcomes with in-memory ports.

A real SQLite database (the notices that make follow-ups happen once are rows), the
in-memory Chat, Models and Charts of tests/fakes/memory.py, the Slack presenter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commands.origins import Release, stored
from commands.services import Ports
from storage import aliases
from storage import runs as store
from storage.db import Database
from tests.fakes.memory import PNG, MemoryChat, memory_ports, write_qa_suite

N = 30


class NoFineTuning:
    """No fine-tune is started by a run's follow-ups; any call is a test failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"fine-tuning backend called: {name}")


def write_suite(root: Path) -> Path:
    return write_qa_suite(root, [f"q{i} <!channel>" for i in range(N)])


@pytest.fixture
def ports(tmp_path: Path) -> Ports:
    return memory_ports(
        Database.connect(f"sqlite:///{tmp_path / 'db.sqlite'}"),
        write_suite(tmp_path / "suites"),
        models=["prod", "new"],
        approvers=frozenset({"UAPPROVER"}),
        finetune=NoFineTuning(),
    )


def finished_run(ports: Ports, models: list[str], passes: dict[str, bool], **kw: Any) -> Any:
    suite = ports.suites.get("qa")
    assert suite is not None
    run = ports.db.call(
        store.create_run,
        suite="qa",
        data_version=suite.data_version,
        models=models,
        total=N,
        channel="C1",
        **kw,
    )
    rows = []
    for model in models:
        for i in range(N):
            row = store.new_result_row(run.id, model, i)
            row["status"] = "passed" if passes[model] else "failed"
            row["output"] = "yes" if passes[model] else "no <@U1> *x*"
            rows.append(row)
    ports.db.call(store.save_result_rows, rows=rows)
    ports.db.call(store.finish, run_id=run.id, status="finished")
    return ports.db.call(store.get_run, run_id=run.id)


async def test_a_better_challenger_than_production_is_compared_and_proposed_once(
    ports: Ports,
) -> None:
    chat = ports.chat
    assert isinstance(chat, MemoryChat)
    ports.db.call(aliases.set_alias, suite="qa", alias="production", model="prod", decided_by=None)
    run = finished_run(ports, ["prod", "new"], {"prod": False, "new": True})

    where = await ports.outcomes.run_finished(ports, run)

    assert where is not None
    summary = chat.top_level()[0]
    assert "0/30 passed" in summary.text and "30/30 passed" in summary.text
    thread = [m.text for m in chat.thread(where)]
    failing = next(t for t in thread if t.startswith("*Failing samples of r1*"))
    assert "&lt;!channel&gt;" in failing and "<!channel>" not in failing
    report = next(t for t in thread if t.startswith("*Comparison r1*"))
    assert "+100.0 pp" in report and "*better*" in report
    assert any(u[1].content.startswith(PNG) for u in chat.uploads)  # the chart
    # More failures than fit in a message: every one of them as a file in the thread.
    listed = next(u[1] for u in chat.uploads if u[1].filename == "failures-r1.jsonl")
    assert listed.content.count(b"\n") == 30 and b'"item": 30' in listed.content
    # The verdict first, in the run's own message: production named, and what followed.
    lead = chat.top_level()[0].text.splitlines()[0]
    assert lead.startswith("`new` 100.0% vs production `prod` 0.0%: +100.0 pp, p<0.001")
    assert lead.endswith("→ proposal p1")
    proposals = [m for m in chat.top_level() if "p1" in m.text] + [
        m for m in chat.messages if "p1" in m.text and m.thread_ts
    ]
    assert proposals, "a significantly better challenger over production is proposed"
    assert ports.db.call(store.get_run, run_id=run.id).announced

    before = len(chat.messages)
    await ports.outcomes.run_finished(ports, run)  # a retry or a restart
    assert [m for m in chat.messages[before:] if m.thread_ts] == [], "follow-ups happen once"


async def test_a_release_with_nothing_to_compare_stands_alone(ports: Ports) -> None:
    chat = ports.chat
    assert isinstance(chat, MemoryChat)
    origin, ref = stored(
        Release(watch=1, new="new", baseline=None, basis="production", base_run=None)
    )
    run = finished_run(ports, ["new"], {"new": True}, origin=origin, origin_ref=ref)

    where = await ports.outcomes.run_finished(ports, run)

    assert where is not None
    assert chat.top_level()[0].text.startswith(":rocket: *Release alert* — new model `new`")
    note = [m.text for m in chat.thread(where)]
    assert any("*Release alert: `new`* on `qa`" in t and "stand alone" in t for t in note)
    assert chat.uploads == [], "no comparison, no chart"

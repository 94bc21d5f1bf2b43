"""Runs and fine-tune submissions are worked on by one process at a time: leases.

Two `RunEngine`s built by `bot.wiring.build_services` stand for two bot processes sharing
one database (SQLite and PostgreSQL); they talk to the fake OpenAI and fake Slack over
real HTTP. A run is never executed twice at once, a crashed process's runs are taken
over once its lease lapses, and a run cancelled from another process stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from commands.finetune.jobs import poll, poll_by_provider_id, resume_pending, submit
from commands.leases import dead_here
from storage import finetunes as ft_store
from storage import runs as store
from storage.db import Database
from storage.tables import EvalRun, FineTuneJob, utcnow
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.stack import BuildStack, Stack, teach_parity, until, write_parity_suite
from tests.stack import new_run as new_parity_run

N = 12
LEASE_S = 2.0


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m1"]) as openai:
        openai.fine_tunable_models.add("m1")
        teach_parity(openai, "m1", N)
        yield slack, openai


@pytest.fixture
def two(
    fakes: tuple[FakeSlack, FakeOpenAI], stack: BuildStack, tmp_path: Path
) -> tuple[Stack, Stack]:
    suites = write_parity_suite(tmp_path / "suites", N)
    # Two processes on two hosts: each one's liveness is unknowable to the other.
    a, b = (
        stack(
            *fakes,
            suites=suites,
            instance=f"host-{number}:{os.getpid()}:{number}",
            EVALBOT_CONCURRENCY="2",
            EVALBOT_RUN_LEASE_SECONDS=str(LEASE_S),
        )
        for number in range(2)
    )
    return a, b


def new_run(proc: Stack) -> int:
    return new_parity_run(proc.services)


def asked(openai: FakeOpenAI) -> Counter[str]:
    return Counter(r.json["messages"][-1]["content"] for r in openai.requests_to("/chat") if r.json)


async def first_request(openai: FakeOpenAI, timeout: float = 20) -> None:
    """Wait until the run has sent its first request to the provider."""
    await until(lambda: openai.requests_to("/chat"), timeout, "the run's first request")


async def wait_for_announced(db: Database, run_id: int) -> EvalRun:
    """The run ended and its summary was posted: the lease is given up after that."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = await db.run(store.get_run, run_id=run_id)
        if run.announced and run.owner is None:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"r{run_id} was never announced and released")


async def test_a_run_started_twice_in_one_process_is_executed_once(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, _ = two
    _, openai = fakes
    run_id = new_run(two[0])
    first, second = await asyncio.gather(a.engine.execute(run_id), a.engine.execute(run_id))
    done = [r for r in (first, second) if r is not None]
    assert len(done) == 1 and done[0].status == "finished"
    counts = asked(openai)
    assert len(counts) == N and set(counts.values()) == {1}


async def test_a_run_held_by_a_live_process_is_left_alone(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, b = two
    _, openai = fakes
    openai.latency = 0.15  # 12 samples, 2 at a time: about a second
    run_id = new_run(two[0])
    running = asyncio.create_task(a.engine.execute(run_id))
    await first_request(openai)
    assert await b.engine.execute(run_id) is None
    assert await b.engine.resume_all() == []
    final = await running
    assert final is not None and final.status == "finished"
    counts = asked(openai)
    assert len(counts) == N and set(counts.values()) == {1}
    assert (await database.run(store.get_run, run_id=run_id)).owner is None  # released


async def test_a_crashed_process_run_is_taken_over_when_its_lease_lapses(
    two: tuple[Stack, Stack], database: Database
) -> None:
    _, b = two
    run_id = new_run(two[0])
    now = utcnow()
    claimed = await database.run(
        store.claim,
        run_id=run_id,
        owner="dead-host:1:x",
        now=now,
        until=now + timedelta(seconds=LEASE_S),
    )
    assert claimed
    assert await b.engine.resume_all() == []  # the lease still holds
    deadline = time.monotonic() + LEASE_S + 10
    while not (resumed := await b.engine.resume_all()):
        assert time.monotonic() < deadline, "the run was never taken over"
        await asyncio.sleep(0.05)
    assert resumed == [run_id]
    assert utcnow() >= now + timedelta(seconds=LEASE_S)  # not before the lease lapsed
    final = await wait_for_announced(database, run_id)
    assert final.status == "finished" and final.owner is None


async def test_a_run_cancelled_from_another_process_stops_where_it_runs(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, _ = two
    _, openai = fakes
    openai.latency = 1.0  # 12 samples, 2 at a time: six seconds if nothing stops it
    run_id = new_run(two[0])
    running = asyncio.create_task(a.engine.execute(run_id))
    await first_request(openai)
    # What `/eval cancel` does in a process that is not executing the run.
    assert await database.run(store.finish, run_id=run_id, status="cancelled")
    started = time.monotonic()
    final = await asyncio.wait_for(running, timeout=10)
    assert time.monotonic() - started < LEASE_S + 1.5
    assert final is not None and final.status == "cancelled"
    assert len(openai.requests_to("/chat")) < N


async def test_a_clean_shutdown_hands_its_runs_over_at_once(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, b = two
    _, openai = fakes
    openai.latency = 0.3
    run_id = new_run(two[0])
    await a.engine.start(run_id)
    await first_request(openai)
    await a.services.tasks.cancel_all()  # what Bot.stop does on SIGTERM
    released = await database.run(store.get_run, run_id=run_id)
    assert released.status == "running" and released.owner is None
    openai.latency = 0.0
    assert await b.engine.resume_all() == [run_id]  # no lease to wait for
    final = await wait_for_announced(database, run_id)
    assert final.status == "finished" and final.owner is None
    assert len(asked(openai)) == N


TRAIN_JSONL = (
    "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Is {i} even?"},
                    {"role": "assistant", "content": "yes" if i % 2 == 0 else "no"},
                ]
            }
        )
        for i in range(N)
    )
    + "\n"
)


def new_finetune(db: Database) -> int:
    job, new = db.call(
        ft_store.record_request,
        request_key="k1",
        suite="parity",
        method="sft",
        provider="default",
        base_model="m1",
        train=[TRAIN_JSONL.encode()],
        status="pending",
    )
    assert new and job.id is not None
    return job.id


async def test_a_fine_tune_submitted_three_times_at_once_becomes_one_job(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, b = two
    _, openai = fakes
    openai.latency = 0.2  # the uploads take a while: all three would look and find nothing
    job_id = new_finetune(database)
    # The command's submit, a resume in the same process and one in another process.
    await asyncio.gather(
        submit(a.services, job_id), submit(a.services, job_id), submit(b.services, job_id)
    )
    job = await database.run(ft_store.get_job, job_id=job_id)
    assert job is not None and job.status == "validating_files", job and job.error
    assert len(openai.job_ids()) == 1
    creates = [r for r in openai.requests_to("/v1/fine_tuning/jobs") if r.method == "POST"]
    uploads = [r for r in openai.requests_to("/v1/files") if r.method == "POST"]
    assert len(creates) == 1 and len(uploads) == 1
    job = await database.run(ft_store.get_job, job_id=job_id)
    assert job is not None and job.provider_job_id == openai.job_ids()[0]
    assert job.owner is None  # released
    # What reached the provider is the stored data, byte for byte, streamed from its
    # chunks; once the job exists the data is no longer kept.
    url = f"{openai.base_url.rstrip('/')}/files/{job.training_file_id}/content"
    ask = urllib.request.Request(url, headers={"Authorization": f"Bearer {openai.api_key}"})
    uploaded = await asyncio.to_thread(lambda: urllib.request.urlopen(ask, timeout=10).read())
    assert uploaded == TRAIN_JSONL.encode()
    assert await database.run(ft_store.data_size, job_id=job_id, part="train") == 0


async def test_a_webhook_and_the_polls_seeing_the_end_together_evaluate_once(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    a, b = two
    _, openai = fakes
    job_id = new_finetune(database)
    await submit(a.services, job_id)
    (provider_id,) = openai.job_ids()
    openai.finish_job(provider_id)
    await asyncio.gather(
        poll(a.services, job_id),
        poll_by_provider_id(b.services, provider_id),
        poll(b.services, job_id),
    )
    job = await database.run(ft_store.get_job, job_id=job_id)
    assert job is not None and job.status == "succeeded" and job.eval_run_id is not None
    runs = await database.run(store.recent_runs, suite="parity")
    assert [r.origin for r in runs] == ["finetune"]  # one evaluation, not three


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_a_restart_on_the_same_host_takes_its_runs_back_at_once(
    two: tuple[Stack, Stack], database: Database
) -> None:
    """A killed bot's lease still holds, but its pid is gone: no need to wait."""
    _, b = two
    host = b.services.instance.rsplit(":", 2)[0]
    crashed = new_run(b)
    elsewhere = new_run(b)
    now = utcnow()
    until = now + timedelta(seconds=600)
    for run_id, owner in ((crashed, f"{host}:{dead_pid()}:0ld"), (elsewhere, "other-host:1:x")):
        assert await database.run(store.claim, run_id=run_id, owner=owner, now=now, until=until)
    assert await b.engine.resume_all() == [crashed]  # the other host's run keeps its lease
    final = await wait_for_announced(database, crashed)
    assert final.status == "finished" and final.owner is None
    assert (await database.run(store.get_run, run_id=elsewhere)).owner == "other-host:1:x"


def test_dead_here_only_trusts_what_it_can_check() -> None:
    me = f"{socket.gethostname()}:{os.getpid()}:abc"
    host = socket.gethostname()
    assert dead_here(f"{host}:{dead_pid()}:x", me)  # that process has exited
    assert dead_here(f"{host}:{os.getpid()}:old", me)  # our pid, an earlier incarnation
    assert not dead_here(me, me)
    assert not dead_here(f"{host}:{os.getppid()}:x", me)  # alive
    assert not dead_here(f"elsewhere:{dead_pid()}:x", me)  # another host: unknowable
    assert not dead_here("garbage", me)
    unreaped = subprocess.Popen(["true"])  # exits at once, not yet waited for
    try:
        deadline = time.monotonic() + 10
        while not dead_here(f"{host}:{unreaped.pid}:x", me) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert dead_here(f"{host}:{unreaped.pid}:x", me)  # a zombie is dead
    finally:
        unreaped.wait()


async def test_a_fine_tune_whose_submitter_died_before_claiming_it_is_submitted(
    two: tuple[Stack, Stack], fakes: tuple[FakeSlack, FakeOpenAI], database: Database
) -> None:
    _, b = two
    _, openai = fakes
    job_id = new_finetune(database)
    assert await resume_pending(b.services) == []  # fresh: its command is about to submit

    def age(session: Any) -> None:
        job = session.get(FineTuneJob, job_id)
        job.updated_at = utcnow() - timedelta(seconds=LEASE_S + 1)

    database.call(age)
    assert await resume_pending(b.services) == [job_id]
    await b.services.tasks.wait_idle()
    job = await database.run(ft_store.get_job, job_id=job_id)
    assert job is not None and job.provider_job_id == openai.job_ids()[0]

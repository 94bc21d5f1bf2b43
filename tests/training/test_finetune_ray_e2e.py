"""`/finetune` on the Ray backend, end to end: the real bot process against the fake Slack,
a real Ray head training the tiny model, and `transformers serve` answering with it."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import REPO, BotProcess, bot_env, wait_status
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.training.servers import RayHead, TransformersServe

SUITE = "ticket-routing"
APPROVER = "U0APP"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, FakeSlack, FakeOpenAI]]:
    suites = tmp_path / "suites"
    shutil.copytree(REPO / "examples" / SUITE, suites / SUITE)
    # Eight items keep the two evaluations quick on the CPU.
    data = suites / SUITE / "eval.jsonl"
    data.write_text("\n".join(data.read_text().splitlines()[:8]) + "\n")
    with FakeSlack() as slack, FakeOpenAI() as openai:
        yield tmp_path, slack, openai


def env(
    world: tuple[Path, FakeSlack, FakeOpenAI], head: RayHead, server: TransformersServe
) -> dict[str, str]:
    tmp, slack, openai = world
    return bot_env(
        tmp,
        slack,
        openai,
        suites_dir=tmp / "suites",
        extra={
            "EVALBOT_PROVIDERS": f"local={server.base_url}",
            "EVALBOT_API_STYLE": "local=chat",
            "EVALBOT_FINETUNE_BACKENDS": "local=ray",
            "EVALBOT_RAY_ADDRESS": head.address,
            "EVALBOT_MODEL_STORE": str(tmp / "store"),
            "EVALBOT_SERVING": "local=path",
            "EVALBOT_RAY_PYTHON": sys.executable,
            "EVALBOT_POLL_SECONDS": "5",
            "EVALBOT_RETRY_BASE_SECONDS": "0.01",
            "EVALBOT_RUN_LEASE_SECONDS": "2",
        },
    )


def launch(environ: dict[str, str], tmp: Path) -> BotProcess:
    """The bot, given time to start: torch-heavy tests share 2 cores with everything else."""
    bot = BotProcess(environ, int(environ["PORT"]), tmp / "bot.log").start(wait=False)
    try:
        bot.wait_healthy(timeout=120)
    except AssertionError:
        bot.kill()  # never leave a bot running behind a failed start
        raise
    return bot


def job_message(slack: FakeSlack, n: int, needle: str = "", timeout: float = 60) -> Any:
    return slack.wait_for(
        lambda: next(
            (m for m in slack.messages("C1") if f"*Fine-tune f{n}*" in m.text and needle in m.text),
            None,
        ),
        timeout=timeout,
    )


def ray_job_id(text: str) -> str:
    """The Ray submission id the job's message shows."""
    found = re.search(r"`ray` job `(evalbot-[0-9a-f]+)`", text)
    assert found, text
    return found.group(1)


def ray_jobs(head: RayHead, submission_id: str) -> list[dict[str, Any]]:
    return [j for j in head.jobs() if j.get("submission_id") == submission_id]


def test_sft_on_ray_is_served_and_evaluated_against_its_base_across_a_restart(
    world: tuple[Path, FakeSlack, FakeOpenAI],
    ray_head: RayHead,
    model_server: TransformersServe,
    tiny_model: Path,
) -> None:
    tmp, slack, _ = world
    environ = env(world, ray_head, model_server)
    bot = launch(environ, tmp)
    base = f"local:{tiny_model}"
    try:
        text = f"sft {SUITE} base={base} epochs=2 batch_size=8 lr=0.005 lora_r=4"
        _, ack, took, _ = bot.slash(slack, text, command="/finetune")
        assert took < 3.0 and "Preparing the SFT data" in ack["text"]
        msg = job_message(slack, 1, "`ray` job `evalbot-", timeout=120)
        assert "GPU-hours" in msg.text and "24 examples" in msg.text
        # Killed mid-job: the next process finds the same Ray job by its id.
        bot.kill()
        (ray_job,) = ray_jobs(ray_head, ray_job_id(msg.text))
        bot = launch(environ, tmp)
        bot.slash(slack, text, command="/finetune")  # the same request again: nothing new
        slack.wait_for(
            lambda: (
                any("already requested as `f1`" in json.dumps(r.body) for r in slack.responses)
                or None
            ),
            timeout=30,
        )

        run = wait_status(bot, "r1", {"finished", "failed"}, timeout=600)
        assert run["status"] == "finished", bot.log()[-3000:]
        merged = f"{tmp / 'store' / ray_job['submission_id'] / 'merged'}"
        assert set(run["models"]) == {base, f"local:{merged}"}
        for counts in run["models"].values():
            assert counts["total"] == 8 and counts["errored"] == 0  # real answers from the server
        assert (Path(merged) / "config.json").is_file()
        assert len(ray_jobs(ray_head, ray_job["submission_id"])) == 1
        assert ray_job["metadata"]["evalbot_job"] == "f1"

        thread = slack.wait_for(
            lambda: (
                [m.text for m in slack.thread("C1", msg.ts)]
                if any("Fine-tuned `" in m.text for m in slack.thread("C1", msg.ts))
                else None
            ),
            timeout=60,
        )
        assert any("Training started" in t for t in thread)
        assert any("Evaluating `local:" in t and "r1" in t for t in thread)
        assert "succeeded" in slack.message("C1", msg.ts).text
        uploads = [u.filename for u in slack.uploads if u.thread_ts == msg.ts]
        assert "loss.png" in uploads
    finally:
        bot.stop()


def test_cancel_in_slack_stops_the_job_on_ray(
    world: tuple[Path, FakeSlack, FakeOpenAI],
    ray_head: RayHead,
    model_server: TransformersServe,
    tiny_model: Path,
) -> None:
    tmp, slack, _ = world
    environ = env(world, ray_head, model_server)
    # Any GPU-hour costs more than this: the job waits for an approver first.
    environ.update(EVALBOT_FINETUNE_APPROVAL_USD="0", EVALBOT_APPROVERS=APPROVER)
    bot = launch(environ, tmp)
    try:
        # Options of one backend are refused, with the reason, for the other's providers.
        _, ack, _, _ = bot.slash(
            slack, f"sft {SUITE} base=gpt-4.1-mini lr=0.1", command="/finetune"
        )
        assert "`lr=` is for open-weight training on Ray" in ack["text"]
        _, ack, _, _ = bot.slash(
            slack,
            f"sft {SUITE} base=local:{tiny_model} learning_rate_multiplier=2",
            command="/finetune",
        )
        assert "on Ray give `lr=`" in ack["text"]
        text = f"sft {SUITE} base=local:{tiny_model} epochs=50 batch_size=1 lora_r=2"
        jobs_before = len(ray_head.jobs())
        bot.slash(slack, text, command="/finetune")
        gated = job_message(slack, 1, "may approve")
        assert "GPU-hours" in gated.text and "waiting for an approval" in gated.text
        assert len(ray_head.jobs()) == jobs_before  # nothing reached the cluster
        event = slack.reaction_event("white_check_mark", APPROVER, "C1", gated.ts)
        bot.post_signed(json.dumps(event).encode(), content_type="application/json")
        msg = job_message(slack, 1, "step ", timeout=300)  # approved, and training
        bot.slash(slack, "cancel f1", command="/finetune")
        slack.wait_for(lambda: "cancelled" in slack.message("C1", msg.ts).text or None, timeout=60)
        (ray_job,) = ray_jobs(ray_head, ray_job_id(msg.text))
        assert ray_job["status"] == "STOPPED"
        # Said in the thread by the cancel, or by the poll that saw Ray stop it first.
        slack.wait_for(
            lambda: any("ancelled" in m.text for m in slack.thread("C1", msg.ts)) or None,
            timeout=30,
        )
    finally:
        bot.stop()

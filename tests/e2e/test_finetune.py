"""`/finetune` through the real bot process against the fake Slack and fake OpenAI servers."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import REPO, BotProcess, post_with, replies_with, start_bot, wait_status
from tests.fakes.openai_inference import Request
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

APPROVER, USER = "U0APP", "U1"
SUITE = "ticket-routing"


def labels() -> dict[str, str]:
    rows = (REPO / "examples" / SUITE / "eval.jsonl").read_text().splitlines()
    return {json.loads(r)["ticket"]: json.loads(r)["label"] for r in rows if r.strip()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, FakeSlack, FakeOpenAI]]:
    suites = tmp_path / "suites"
    shutil.copytree(REPO / "examples" / SUITE, suites / SUITE)
    truth = labels()

    with FakeSlack() as slack, FakeOpenAI(models=["gpt-4.1-mini", "o4-mini"]) as openai:

        def responder(req: Request) -> str:
            if req.model.startswith("ft:"):
                return truth.get(req.last_user, "other")  # the fine-tune learned the task
            return "other"  # the base model answers "other" to everything

        openai.responder = responder
        yield tmp_path, slack, openai


def launch(world: tuple[Path, FakeSlack, FakeOpenAI], **extra: str) -> BotProcess:
    tmp, slack, openai = world
    env = {
        "EVALBOT_APPROVERS": APPROVER,
        "EVALBOT_RETRY_BASE_SECONDS": "0.01",
        "EVALBOT_POLL_SECONDS": "5",
        **extra,
    }
    return start_bot(tmp, slack, openai, suites_dir=tmp / "suites", extra=env)


def job_message(slack: FakeSlack, n: int = 1) -> Any:
    return post_with(slack, f"*Fine-tune f{n}*")


def wait_jobs(openai: FakeOpenAI, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if len(openai.job_ids()) >= count:
            return openai.job_ids()
        time.sleep(0.05)
    raise AssertionError(f"expected {count} provider jobs, have {openai.job_ids()}")


def complete(openai: FakeOpenAI, job_id: str) -> None:
    openai.advance_job(job_id, steps=2 + openai.training_steps)
    openai.finish_job(job_id, status="succeeded")


def test_sft_from_suite_followed_to_an_eval_and_a_proposal(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    bot = launch(world)
    try:
        text = f"sft {SUITE} base=gpt-4.1-mini epochs=2 suffix=router"
        _, ack, took, _ = bot.slash(slack, text, command="/finetune")
        assert took < 3.0 and "Preparing the SFT data" in ack["text"]
        msg = job_message(slack)
        assert "24 examples" in msg.text and "tokens" in msg.text and "estimate $" in msg.text
        (provider_id,) = wait_jobs(openai)
        job = openai.job(provider_id)
        assert job["method"]["type"] == "supervised"
        assert job["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
        assert job["metadata"]["evalbot_job"] == "f1" and job["validation_file"]
        assert job["user_provided_suffix"] == "router"

        # the same command again, and a redelivered copy: no second job
        bot.slash(slack, text, command="/finetune")
        replies_with(slack, "already requested as `f1`")
        assert len(openai.job_ids()) == 1

        openai.advance_job(provider_id, steps=3)  # validating -> queued -> running -> step 1
        bot.slash(slack, "status f1", command="/finetune")
        status = replies_with(slack, "step 1/")
        assert "train loss" in json.dumps(status.body)
        slack.wait_for(lambda: "training" in slack.message("C1", msg.ts).text or None)

        complete(openai, provider_id)
        bot.slash(slack, "status f1", command="/finetune")
        run = wait_status(bot, "r1", {"finished"}, timeout=40)
        ft_model = next(m for m in run["models"] if m.startswith("ft:"))
        assert run["models"][ft_model]["passed"] == run["models"][ft_model]["graded"] == 36
        assert run["models"]["gpt-4.1-mini"]["passed"] < 36
        thread = slack.wait_for(
            lambda: (
                next((m for m in slack.thread("C1", msg.ts) if "*Proposal p1*" in m.text), None)
                and slack.thread("C1", msg.ts)
            ),
            timeout=30,
        )
        report = next(m for m in thread if f"Fine-tuned `{ft_model}`" in m.text)
        assert "*better*" in report.text and "(base model)" in report.text
        uploads = [u.filename for u in slack.uploads if u.thread_ts == msg.ts]
        assert "loss.png" in uploads and "comparison.png" in uploads
        assert "succeeded" in slack.message("C1", msg.ts).text
        # The thread tells the steps in our words, not the provider's log lines.
        steps = [m.text for m in thread]
        assert ":gear: Training started" in steps
        assert ":inbox_tray: Data accepted: waiting in the provider's queue" in steps
        assert f":package: Model ready: `{ft_model}`" in steps
        assert not any("moving job to queued state" in t or t.startswith("`info`") for t in steps)
        # The final message keeps the last losses and ends with the verdict against the base.
        final = slack.wait_for(
            lambda: (
                "vs the base model" in slack.message("C1", msg.ts).text
                and slack.message("C1", msg.ts).text
            )
        )
        assert "last losses at step" in final and "train loss" in final
        assert final.splitlines()[-1].startswith(
            f":sparkles: *Fine-tune f1*: `{ft_model}` 100.0% vs the base model `gpt-4.1-mini`"
        )
        assert final.splitlines()[-1].endswith("*better* → proposal p1")
    finally:
        bot.stop()


def test_bad_data_is_refused_before_any_upload(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    _, slack, openai = world
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(12)
    ]
    rows[2] = {"messages": [{"role": "user", "content": "q"}, {"role": "robot", "content": "x"}]}
    rows[5] = {"mesages": []}
    body = "\n".join(json.dumps(r) for r in rows).encode()
    slack.add_shared_file("bad.jsonl", body, "C1")
    bot = launch(world)
    try:
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini data=bad.jsonl", command="/finetune")
        refusal = replies_with(slack, "nothing was uploaded")
        text = refusal.body["text"]
        assert "bad.jsonl:3" in text and "role" in text
        assert "bad.jsonl:6" in text and "messages" in text
        assert openai.count("/v1/files") == 0 and openai.job_ids() == []
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini data=missing.jsonl", command="/finetune")
        replies_with(slack, "You have not shared a file `missing.jsonl` in this channel")
        _, ack, _, _ = bot.slash(
            slack, f"dpo {SUITE} base=gpt-4.1-mini data=run:r1", command="/finetune"
        )
        assert "is for `sft`" in ack["text"]
        _, ack, _, _ = bot.slash(slack, f"sft {SUITE}", command="/finetune")
        assert "Missing `base=<model>`" in ack["text"]
    finally:
        bot.stop()


def test_costly_job_waits_for_an_approval(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    _, slack, openai = world
    bot = launch(world, EVALBOT_FINETUNE_APPROVAL_USD="0")
    try:
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
        msg = post_with(slack, "may approve")
        assert "waiting for an approval" in msg.text
        bot.wait_idle()
        assert openai.job_ids() == []
        home = slack.app_home_opened_event(APPROVER)
        bot.post_signed(json.dumps(home).encode(), content_type="application/json")
        view = slack.wait_for(lambda: slack.published_views.get(APPROVER))
        assert "|f1> (SFT on `gpt-4.1-mini`): awaiting approval" in json.dumps(view)
        for user in ("U0RANDOM", APPROVER):
            event = slack.reaction_event("white_check_mark", user, "C1", msg.ts)
            assert (
                bot.post_signed(json.dumps(event).encode(), content_type="application/json")[0]
                == 200
            )
        (provider_id,) = wait_jobs(openai)
        assert openai.job(provider_id)["metadata"]["evalbot_job"] == "f1"
    finally:
        bot.stop()


def test_refusal_names_the_reason_and_other_providers(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    openai.refuse_new_jobs = "Fine-tuning is not available for new jobs on this account."
    bot = launch(world, EVALBOT_PROVIDERS=f"azure={openai.base_url}")
    try:
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
        msg = job_message(slack)
        slack.wait_for(
            lambda: "refused by the provider" in slack.message("C1", msg.ts).text or None
        )
        note = slack.wait_for(lambda: slack.thread("C1", msg.ts) or None)[0]
        assert "not available for new jobs on this account" in note.text
        assert "`azure`" in note.text
    finally:
        bot.stop()


def test_lost_create_response_and_restart_make_one_job(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    openai.lose_response_next("/v1/fine_tuning/jobs")  # created, but the answer never arrives
    bot = launch(world)
    bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
    msg = job_message(slack)
    slack.wait_for(lambda: "provider job" in slack.message("C1", msg.ts).text or None, timeout=30)
    assert len(openai.job_ids()) == 1  # found by its metadata, not created again
    creates = [r for r in openai.requests_to("/v1/fine_tuning/jobs") if r.method == "POST"]
    assert len(creates) == 1
    bot.kill()  # a restart in the middle of the job
    (provider_id,) = openai.job_ids()
    complete(openai, provider_id)
    again = launch(world)
    try:
        run = wait_status(again, "r1", {"finished"}, timeout=40)
        assert any(m.startswith("ft:") for m in run["models"])
        assert len(openai.job_ids()) == 1
    finally:
        again.stop()


def test_only_finetune_users_may_start_or_cancel(world: tuple[Path, FakeSlack, FakeOpenAI]) -> None:
    _, slack, openai = world
    bot = launch(world, EVALBOT_FINETUNE_USERS="U0TRAINER")
    try:
        _, ack, _, _ = bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
        assert "Only these people may start fine-tunes here: <@U0TRAINER>" in ack["text"]
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune", user="U0TRAINER")
        (provider_id,) = wait_jobs(openai)
        bot.slash(slack, "cancel f1", command="/finetune")  # not who started it (issue 11)
        replies_with(slack, "Only <@U0TRAINER>, who started it")
        bot.slash(slack, "cancel f1", command="/finetune", user="U0TRAINER")
        replies_with(slack, "`f1` is cancelled")
        assert openai.job(provider_id)["status"] == "cancelled"
    finally:
        bot.stop()


def test_a_provider_routed_to_a_backend_not_running_here_is_refused(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    bot = launch(
        world,
        EVALBOT_PROVIDERS=f"local={openai.base_url}",
        EVALBOT_FINETUNE_BACKENDS="local=ray",
    )
    try:
        _, ack, took, _ = bot.slash(
            slack, f"sft {SUITE} base=local:gpt-4.1-mini", command="/finetune"
        )
        assert took < 3.0
        assert "`local`" in ack["text"] and "`ray` backend" in ack["text"]
        assert "EVALBOT_RAY_ADDRESS" in ack["text"]
        # The default provider still fine-tunes with openai.
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
        (provider_id,) = wait_jobs(openai)
        assert openai.job(provider_id)["model"] == "gpt-4.1-mini"
        assert openai.count("/v1/files") == 2  # train and valid of the one job
        assert not any("*Fine-tune f2*" in m.text for m in slack.messages("C1"))
    finally:
        bot.stop()


def test_rft_checks_the_grader_and_dpo_pairs_runs(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    _, slack, openai = world
    bot = launch(world)
    try:
        bot.slash(slack, f"rft {SUITE} base=o4-mini reasoning_effort=low", command="/finetune")
        # billed per training hour, RFT cannot be estimated: it waits for an approver
        gate = post_with(slack, "may approve")
        assert "billed per" in gate.text or "hour" in gate.text
        assert openai.job_ids() == []
        event = slack.reaction_event("white_check_mark", APPROVER, "C1", gate.ts)
        bot.post_signed(json.dumps(event).encode(), content_type="application/json")
        (provider_id,) = wait_jobs(openai)
        job = openai.job(provider_id)
        assert job["method"]["type"] == "reinforcement"
        assert job["method"]["reinforcement"]["grader"]["type"] == "string_check"
        assert openai.count("/v1/fine_tuning/alpha/graders/validate") == 1

        bot.slash(slack, f"run {SUITE} gpt-4.1-mini")
        wait_status(bot, "r1", {"finished"})
        openai.add_model("ft:gpt-4.1-mini:org::teacher")
        bot.slash(slack, f"run {SUITE} ft:gpt-4.1-mini:org::teacher")
        wait_status(bot, "r2", {"finished"})
        bot.slash(
            slack, f"dpo {SUITE} base=gpt-4.1-mini data=runs:r1,r2 beta=0.2", command="/finetune"
        )
        ids = wait_jobs(openai, 2)
        dpo = openai.job(ids[-1])
        assert dpo["method"]["type"] == "dpo"
        assert dpo["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    finally:
        bot.stop()


def _signed_webhook(secret_raw: bytes, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    import base64
    import hashlib
    import hmac

    body = json.dumps(event).encode()
    webhook_id, ts = "wh_" + event["id"], str(int(time.time()))
    digest = hmac.new(secret_raw, f"{webhook_id}.{ts}.".encode() + body, hashlib.sha256)
    signature = "v1," + base64.b64encode(digest.digest()).decode()
    return body, {
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_a_signed_webhook_ends_the_job_without_waiting_for_the_poll(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    import base64
    import urllib.error
    import urllib.request

    _, slack, openai = world
    raw = b"0123456789abcdef0123456789abcdef"
    bot = launch(
        world,
        EVALBOT_POLL_SECONDS="3600",
        OPENAI_WEBHOOK_SECRET="whsec_" + base64.b64encode(raw).decode(),
    )
    try:
        bot.slash(slack, f"sft {SUITE} base=gpt-4.1-mini", command="/finetune")
        (provider_id,) = wait_jobs(openai)
        complete(openai, provider_id)
        event = {
            "id": "evt_1",
            "object": "event",
            "type": "fine_tuning.job.succeeded",
            "created_at": int(time.time()),
            "data": {"id": provider_id},
        }

        def post(body: bytes, headers: dict[str, str]) -> int:
            req = urllib.request.Request(bot.url + "/webhooks/openai", data=body, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        body, headers = _signed_webhook(raw, event)
        forged = dict(headers, **{"webhook-signature": "v1,AAAA"})
        assert post(body, forged) == 401
        assert post(body, {"content-type": "application/json"}) == 401
        assert post(body, headers) == 200
        run = wait_status(bot, "r1", {"finished"}, timeout=40)  # long before the hourly poll
        assert any(m.startswith("ft:") for m in run["models"])
    finally:
        bot.stop()

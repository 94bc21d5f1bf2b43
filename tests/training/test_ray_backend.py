"""The ray backend against a real Ray head on loopback: a job submitted once, followed to
its end through Ray's REST API, and found again by its id (cancel: the e2e tests)."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.ray_backend import GpuPricing, RayFineTuning, submission_id
from bot.ray_jobs import RayJobsClient
from bot.serving import Serving
from bot.settings import ProviderConfig
from commands.finetune import sources
from commands.ports import JobInfo, ProviderError, TrainingRequest
from commands.suites.suite import load_suite
from tests.e2e.harness import REPO
from tests.training.servers import RayHead

SUITE = REPO / "examples" / "ticket-routing"
# Real training and a real cluster on 2 shared cores: slower than a unit test.
pytestmark = pytest.mark.timeout(600)


def backend(address: str, store: Path) -> RayFineTuning:
    providers = {"local": ProviderConfig("local", "http://127.0.0.1:9/v1", None)}
    return RayFineTuning(
        RayJobsClient(address),
        store=str(store),
        python=sys.executable,
        serving=Serving({"local": "path"}, providers),
        providers=providers,
        pricing=GpuPricing(tokens_per_gpu_hour=1_000_000, usd_per_gpu_hour=3.0),
    )


async def until(ft: RayFineTuning, job_id: str, states: set[str], timeout: float) -> JobInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await ft.get("local", job_id)
        if info.status in states:
            return info
        await asyncio.sleep(0.5)
    raise AssertionError(f"{job_id} not in {states}: {info}\n{await ft.client.logs(job_id)}")


def request(tiny: Path, key: str, hyper: dict[str, Any], train: str, valid: str | None) -> Any:
    return TrainingRequest(
        request_key=key,
        label="f1",
        provider="local",
        base_model=str(tiny),
        method="sft",
        hyperparameters=hyper,
        training_file=train,
        validation_file=valid,
        seed=1,
        suite="ticket-routing",
    )


async def submit(ft: RayFineTuning, tiny: Path, key: str, hyper: dict[str, Any]) -> JobInfo:
    tset = sources.from_suite_files("sft", load_suite(SUITE))
    train = await ft.upload("local", "f1-train.jsonl", io.BytesIO(tset.jsonl("train")))
    valid = await ft.upload("local", "f1-valid.jsonl", io.BytesIO(tset.jsonl("valid")))
    return await ft.create(request(tiny, key, hyper, train, valid))


async def test_a_job_runs_once_on_ray_and_ends_servable_by_path(
    ray_head: RayHead, tiny_model: Path, tmp_path: Path
) -> None:
    ft = backend(ray_head.address, tmp_path / "store")
    try:
        key = "a" * 40
        hyper = {"n_epochs": 2, "batch_size": 8, "learning_rate": 5e-3, "lora_r": 4}
        first = await submit(ft, tiny_model, key, hyper)
        assert first.id == submission_id(key)
        # The same request again (a retry, a restart): the same Ray job, not a second one.
        again = await submit(ft, tiny_model, key, hyper)
        assert again.id == first.id
        found = await ft.find("local", key)
        assert found is not None and found.id == first.id

        done = await until(ft, first.id, {"succeeded", "failed"}, timeout=240)
        assert done.status == "succeeded", await ft.client.logs(first.id)
        merged = tmp_path / "store" / first.id / "merged"
        assert await ft.make_servable("local", done) == str(merged)
        assert (merged / "config.json").is_file()
        assert (tmp_path / "store" / first.id / "adapter" / "adapter_config.json").is_file()

        events = await ft.events("local", first.id)
        metrics = [e for e in reversed(events) if e.type == "metrics"]
        assert metrics[-1].data["step"] == metrics[-1].data["total_steps"] == 6
        assert any("valid_loss" in e.data for e in metrics)
        messages = [e.message for e in events if e.type == "message"]
        assert any("training completed" in m for m in messages)
    finally:
        await ft.aclose()


async def test_a_job_that_fails_on_ray_says_why_and_stale_data_is_refused(
    ray_head: RayHead, tiny_model: Path, tmp_path: Path
) -> None:
    ft = backend(ray_head.address, tmp_path / "store")
    try:
        missing = tmp_path / "no-such-model"
        job = await submit(ft, missing, "c" * 40, {"n_epochs": 1})
        done = await until(ft, job.id, {"succeeded", "failed"}, timeout=240)
        assert done.status == "failed" and done.fine_tuned_model is None
        assert done.error is not None and done.error.startswith("training failed:"), done.error
        assert str(missing) in done.error
        # Data a dead process uploaded long ago, now gone from the cluster: refused, clearly.
        gone = "gcs://_ray_pkg_00000000000000000000000000000000.zip"
        with pytest.raises(ProviderError) as raised:
            await ft.create(request(tiny_model, "d" * 40, {}, gone, None))
        assert not raised.value.retryable and "run the same /finetune" in raised.value.message
    finally:
        await ft.aclose()


@pytest.mark.parametrize("method", ["rft"])
def test_gpu_hours_are_estimated_from_tokens_and_throughput(method: str, tmp_path: Path) -> None:
    ft = backend("http://127.0.0.1:9", tmp_path)
    sft = ft.estimate("local", "sft", "m", tokens=500_000, epochs=2)
    assert sft is not None and sft.gpu_hours == pytest.approx(1.0) and sft.usd == 3.0
    rft = ft.estimate("local", method, "m", tokens=500_000, epochs=2)
    assert rft is not None and rft.gpu_hours == pytest.approx(8.0)

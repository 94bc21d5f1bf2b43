"""The fine-tuning backend registry (by provider) and progress read from backend events."""

from __future__ import annotations

from typing import Any, BinaryIO

import pytest

from commands.finetune.progress import Progress, loss_curve, metrics_of, noteworthy, progress
from commands.ports import (
    BackendUnavailable,
    FineTuneBackend,
    FineTuneBackends,
    JobEvent,
    JobInfo,
    TrainingRequest,
)


class RecordingBackend:
    """A FineTuneBackend written outside commands/, as the ray backend will be."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def upload(self, provider: str, filename: str, data: BinaryIO) -> str:
        return f"{self.name}-file"

    async def create(self, request: TrainingRequest) -> JobInfo:
        return JobInfo(id="j1", status="queued", model=request.base_model)

    async def find(self, provider: str, request_key: str) -> JobInfo | None:
        return None

    async def get(self, provider: str, job_id: str) -> JobInfo:
        return JobInfo(id=job_id, status="running", model="m")

    async def cancel(self, provider: str, job_id: str) -> JobInfo:
        return JobInfo(id=job_id, status="cancelled", model="m")

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        return []

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        return None

    async def make_servable(self, provider: str, job: JobInfo) -> str:
        return f"/models/{job.id}"


def port_members() -> set[str]:
    methods = {n for n, v in vars(FineTuneBackend).items() if callable(v) and n[0] != "_"}
    return methods | set(FineTuneBackend.__annotations__)


def test_every_backend_implements_the_whole_port() -> None:
    from bot.finetune_backend import OpenAIFineTuning
    from bot.ray_backend import RayFineTuning

    members = port_members()
    assert {"upload", "create", "find", "get", "cancel", "events", "make_servable"} <= members
    for implementation in (OpenAIFineTuning, RayFineTuning, RecordingBackend):
        missing = {m for m in members if m != "name" and not hasattr(implementation, m)}
        assert not missing, f"{implementation.__name__} lacks {sorted(missing)}"
    assert OpenAIFineTuning.name == "openai" and RayFineTuning.name == "ray"
    backend: FineTuneBackend = RecordingBackend("ray")
    assert backend.name == "ray"


def test_every_provider_uses_openai_unless_mapped() -> None:
    openai, ray = RecordingBackend("openai"), RecordingBackend("ray")
    registry = FineTuneBackends({"openai": openai, "ray": ray}, {"local": "ray"})
    assert registry.for_provider("default") is openai
    assert registry.for_provider("azure") is openai
    assert registry.for_provider("local") is ray
    assert registry.name_for("local") == "ray" and registry.names == ["openai", "ray"]


def test_a_provider_mapped_to_a_backend_this_process_lacks_is_refused_clearly() -> None:
    registry = FineTuneBackends({"openai": RecordingBackend("openai")}, {"local": "ray"})
    with pytest.raises(BackendUnavailable) as info:
        registry.for_provider("local")
    message = str(info.value)
    assert "`local`" in message and "`ray`" in message and "EVALBOT_RAY_ADDRESS" in message
    with pytest.raises(BackendUnavailable, match="This job went to the `ray` backend"):
        registry.named("ray")


def metric(i: int, at: int, **data: Any) -> JobEvent:
    return JobEvent(id=f"m{i}", created_at=at, level="info", message="", type="metrics", data=data)


def test_progress_comes_from_the_latest_metrics_and_their_pace() -> None:
    newest_first = [
        metric(3, 130, step=30, total_steps=100, train_loss=0.5, full_valid_loss=0.7, reward=0.9),
        JobEvent(id="e1", created_at=120, level="info", message="Fine-tuning job started"),
        metric(1, 100, step=10, total_steps=100, train_loss=1.5),
    ]
    metrics = metrics_of(newest_first)
    assert [m.id for m in metrics] == ["m1", "m3"]
    got = progress(metrics, JobInfo(id="j", status="running", model="m"))
    # 20 steps in 30 s: 70 steps to go take 105 s.
    assert got == Progress(
        step=30, total_steps=100, train_loss=0.5, valid_loss=0.7, reward=0.9, eta_s=105
    )
    assert set(got.columns()) == {
        "step",
        "total_steps",
        "train_loss",
        "valid_loss",
        "reward",
        "eta_s",
    }
    assert loss_curve(metrics) == ([(10, 1.5), (30, 0.5)], [(30, 0.7)])


def test_progress_ignores_values_of_the_wrong_type() -> None:
    metrics = [metric(1, 1, step="7", total_steps=True, train_loss="low", reward=None)]
    assert progress(metrics, JobInfo(id="j", status="running", model="m")) == Progress()
    assert loss_curve(metrics) == ([], [])


def test_the_backends_estimated_finish_wins_over_the_pace() -> None:
    info = JobInfo(id="j", status="running", model="m", estimated_finish=1_000)
    assert progress([], info, now=400).eta_s == 600
    assert progress([], info, now=2_000).eta_s == 0


def test_only_milestones_and_warnings_reach_the_thread() -> None:
    def msg(text: str, level: str = "info") -> JobEvent:
        return JobEvent(id=text, created_at=0, level=level, message=text)

    assert noteworthy(msg("Fine-tuning job started"))
    assert noteworthy(msg("disk almost full", level="warn"))
    assert not noteworthy(msg("Step 10/100: training loss=1.2"))
    assert not noteworthy(metric(1, 0, step=1))

"""What a backend's events say about a job's progress: pure functions of the events.

Every backend reports progress as `metrics` events (commands.ports.JobEvent) whose data
may hold `step`, `total_steps`, `train_loss`, `valid_loss` (or `full_valid_loss`) and
`reward`; these functions turn them into the job's progress columns and its loss curve.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from commands.ports import JobEvent, JobInfo

NOTEWORTHY = (
    "validated",
    "started",
    "completed",
    "failed",
    "cancel",
    "new fine-tuned model",
    "checkpoint",
)


@dataclass(frozen=True)
class Progress:
    """The latest step and losses, and the time left when it can be told."""

    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    reward: float | None = None
    eta_s: int | None = None

    def columns(self) -> dict[str, Any]:
        """As FineTuneJob's columns of the same names."""
        return asdict(self)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _valid(data: dict[str, Any]) -> float | None:
    return _float(data.get("valid_loss", data.get("full_valid_loss")))


def metrics_of(events: Sequence[JobEvent]) -> list[JobEvent]:
    """The metrics events, oldest first (backends list events newest first)."""
    return [e for e in reversed(events) if e.type == "metrics" and e.data]


def progress(metrics: Sequence[JobEvent], info: JobInfo, now: float | None = None) -> Progress:
    """Progress from metrics events (oldest first) and the job itself."""
    if not metrics:
        finish = info.estimated_finish
        return Progress(eta_s=max(0, int(finish - (now or time.time()))) if finish else None)
    last = metrics[-1].data
    step0, step1 = _int(metrics[0].data.get("step")), _int(last.get("step"))
    total = _int(last.get("total_steps"))
    eta: int | None = None
    first_t, last_t = metrics[0].created_at, metrics[-1].created_at
    if (
        step0 is not None
        and step1 is not None
        and total is not None
        and step1 > step0
        and last_t > first_t
    ):
        eta = int((last_t - first_t) / (step1 - step0) * (total - step1))
    if info.estimated_finish:
        eta = max(0, int(info.estimated_finish - (now or time.time())))
    return Progress(
        step=step1,
        total_steps=total,
        train_loss=_float(last.get("train_loss")),
        valid_loss=_valid(last),
        reward=_float(last.get("reward")),
        eta_s=eta,
    )


def loss_curve(
    metrics: Sequence[JobEvent],
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, valid) loss by step, for the chart posted when the job ends."""
    train: list[tuple[int, float]] = []
    valid: list[tuple[int, float]] = []
    for event in metrics:
        step = _int(event.data.get("step"))
        if step is None:
            continue
        loss = _float(event.data.get("train_loss"))
        if loss is not None:
            train.append((step, loss))
        vloss = _valid(event.data)
        if vloss is not None:
            valid.append((step, vloss))
    return train, valid


def reward_curve(metrics: Sequence[JobEvent]) -> list[tuple[int, float]]:
    """An RFT job's mean reward by step (Ray's GRPO reports it), for the same chart."""
    found: list[tuple[int, float]] = []
    for event in metrics:
        step, reward = _int(event.data.get("step")), _float(event.data.get("reward"))
        if step is not None and reward is not None:
            found.append((step, reward))
    return found


def noteworthy(event: JobEvent) -> bool:
    """A message worth a line in the job's thread (warnings, and the milestones)."""
    if event.type != "message":
        return False
    if event.level in ("warn", "warning", "error"):
        return True
    text = event.message.lower()
    return any(word in text for word in NOTEWORTHY)

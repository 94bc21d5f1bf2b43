"""What the bot tells a training job, and what the job tells the bot back.

Both sides import this module: the bot (bot.ray_backend) writes a `TrainingSpec` into the
job's working directory and reads the job's log lines; the entrypoint on the cluster
(bot.training.entrypoint) reads the spec and prints those lines. It imports nothing heavy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Method = Literal["sft", "dpo", "rft"]

SPEC_FILE = "evalbot-training.json"
TRAIN_FILE = "train.jsonl"
VALID_FILE = "valid.jsonl"
RESULT_FILE = "result.json"
# Each data file reaches the cluster as a package holding one folder, which Ray unpacks
# onto the job's import path (runtime_env py_modules); the spec is the working directory.
DATA_DIRS = {TRAIN_FILE: "evalbot_data_train", VALID_FILE: "evalbot_data_valid"}
# One JSON object per line after the prefix, so the bot finds them in the job's log
# among whatever else the libraries print.
PROGRESS_PREFIX = "EVALBOT_PROGRESS "
EVENT_PREFIX = "EVALBOT_EVENT "


@dataclass(frozen=True)
class Hyperparameters:
    """Training knobs from the command (`epochs=`, `lr=`, `lora_r=`, `batch_size=`)."""

    epochs: int = 3
    learning_rate: float | None = None  # None: 2e-4 with LoRA, 1e-5 for full fine-tuning
    lora_r: int = 16
    batch_size: int = 4
    full: bool = False  # full fine-tuning instead of LoRA
    beta: float = 0.1  # DPO's and GRPO's KL weight
    max_steps: int = -1  # a cap, for tests and dry runs
    max_length: int = 1024
    max_completion_tokens: int = 64  # rft: the length of each sampled answer
    seed: int = 0

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-5 if self.full else 2e-4


@dataclass(frozen=True)
class GraderProvider:
    """Where a model grader (score_model, label_model) sends its requests from the cluster.

    The key travels by name only: the cluster's environment holds it, so no secret goes
    into Ray's job records.
    """

    base_url: str | None = None
    key_env: str | None = "OPENAI_API_KEY"


@dataclass(frozen=True)
class TrainingSpec:
    """One training job, as the cluster runs it."""

    job: str  # the Ray submission id; also the model's folder in the store
    method: Method
    base_model: str  # a local path or a hub id the cluster can load
    output_dir: str  # EVALBOT_MODEL_STORE/<job>
    hyper: Hyperparameters = field(default_factory=Hyperparameters)
    merge: bool = True  # also write the merged model (for servers that load by path)
    grader: dict[str, Any] | None = None  # rft: the suite's grader, sources inline
    # Model graders name `model` or `provider:model`, as in the bot's configuration.
    grader_providers: dict[str, GraderProvider] = field(default_factory=dict)
    has_valid: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingSpec:
        raw = json.loads(text)
        return cls(
            job=str(raw["job"]),
            method=raw["method"],
            base_model=str(raw["base_model"]),
            output_dir=str(raw["output_dir"]),
            hyper=Hyperparameters(**raw.get("hyper", {})),
            merge=bool(raw.get("merge", True)),
            grader=raw.get("grader"),
            grader_providers={
                str(name): GraderProvider(**value)
                for name, value in (raw.get("grader_providers") or {}).items()
            },
            has_valid=bool(raw.get("has_valid", False)),
        )


@dataclass(frozen=True)
class Progress:
    """One training log entry: the step, its loss, and for rft the mean reward."""

    step: int
    total_steps: int
    time: float
    loss: float | None = None
    reward: float | None = None
    valid_loss: float | None = None

    def line(self) -> str:
        return PROGRESS_PREFIX + json.dumps(asdict(self))


@dataclass(frozen=True)
class Event:
    """A milestone worth a line in the job's Slack thread."""

    time: float
    level: str
    message: str

    def line(self) -> str:
        return EVENT_PREFIX + json.dumps(asdict(self))


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _objects(logs: str, prefix: str) -> Iterator[dict[str, Any]]:
    for line in logs.splitlines():
        start = line.find(prefix)
        if start < 0:
            continue
        try:
            value = json.loads(line[start + len(prefix) :])
        except ValueError:
            continue  # a line cut by the log's tail, or another program's text
        if isinstance(value, dict):
            yield value


def parse_progress(logs: str) -> list[Progress]:
    """The progress lines in a job's log, in order; malformed ones are skipped."""
    found = []
    for raw in _objects(logs, PROGRESS_PREFIX):
        step, total, when = raw.get("step"), raw.get("total_steps"), _finite(raw.get("time"))
        if not isinstance(step, int) or not isinstance(total, int) or when is None:
            continue
        found.append(
            Progress(
                step=step,
                total_steps=total,
                time=when,
                loss=_finite(raw.get("loss")),
                reward=_finite(raw.get("reward")),
                valid_loss=_finite(raw.get("valid_loss")),
            )
        )
    return found


def parse_events(logs: str) -> list[Event]:
    """The milestone lines in a job's log, in order."""
    found = []
    for raw in _objects(logs, EVENT_PREFIX):
        when, message = _finite(raw.get("time")), raw.get("message")
        if when is None or not isinstance(message, str):
            continue
        level = raw.get("level")
        found.append(Event(when, level if isinstance(level, str) else "info", message[:500]))
    return found

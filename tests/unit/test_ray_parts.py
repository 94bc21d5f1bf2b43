"""The Ray backend's pure parts: settings, the progress lines, packages, the command's options."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ray_backend import submission_id
from bot.ray_jobs import package
from bot.serving import lora_name
from bot.settings import Settings, SettingsError, check_ray_settings, parse_serving
from bot.training.spec import (
    Event,
    Hyperparameters,
    Progress,
    TrainingSpec,
    parse_events,
    parse_progress,
)

PROVIDERS = {"default": None, "local": None}


def test_serving_defaults_to_path() -> None:
    assert parse_serving(" local = vllm-lora ", PROVIDERS) == {
        "default": "path",
        "local": "vllm-lora",
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nowhere=path", "unknown provider 'nowhere'"),
        ("local=magic", "other than vllm-lora or path"),
        ("local=path,local=vllm-lora", "twice"),
        ("local", "without a value"),
    ],
)
def test_bad_serving_names_the_problem(text: str, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle) as raised:
        parse_serving(text, PROVIDERS)
    assert str(raised.value).startswith("EVALBOT_SERVING")


def test_ray_settings_are_checked_at_start() -> None:
    settings = Settings(
        _env_file=None,
        evalbot_providers="local=http://127.0.0.1:8000/v1",
        evalbot_finetune_backends="local=ray",
    )
    check_ray_settings(settings)  # refused per command, with what to set, not at start
    with pytest.raises(SettingsError, match="not an http"):
        check_ray_settings(settings.model_copy(update={"evalbot_ray_address": "ray-head:8265"}))
    check_ray_settings(settings.model_copy(update={"evalbot_ray_address": "http://h:8265"}))
    with pytest.raises(SettingsError, match="EVALBOT_SERVING"):
        check_ray_settings(
            settings.model_copy(
                update={"evalbot_ray_address": "http://h:8265", "evalbot_serving": "local=magic"}
            )
        )


def test_progress_lines_round_trip_among_other_output() -> None:
    lines = [
        "INFO something else",
        Progress(step=1, total_steps=4, time=10.0, loss=2.5).line(),
        "EVALBOT_PROGRESS {not json",
        'EVALBOT_PROGRESS {"step": "x", "total_steps": 4, "time": 1}',
        "(pid=12) " + Progress(step=2, total_steps=4, time=11.0, loss=2.0, reward=0.5).line(),
        'EVALBOT_PROGRESS {"step": 3, "total_steps": 4, "time": 12, "loss": NaN}',
        Event(12.5, "error", "training failed: OOM").line(),
    ]
    progress = parse_progress("\n".join(lines))
    assert [(p.step, p.loss, p.reward) for p in progress] == [
        (1, 2.5, None),
        (2, 2.0, 0.5),
        (3, None, None),
    ]
    (event,) = parse_events("\n".join(lines))
    assert event.level == "error" and event.message == "training failed: OOM"


@given(st.text(max_size=300))
def test_any_log_text_parses_without_error(text: str) -> None:
    parse_progress(text)
    parse_events("EVALBOT_EVENT " + text)


def test_spec_round_trips_and_defaults_the_learning_rate() -> None:
    spec = TrainingSpec(
        job="evalbot-f1-ab",
        method="rft",
        base_model="/models/base",
        output_dir="/models/evalbot-f1-ab",
        hyper=Hyperparameters(epochs=2, full=True),
        grader={"type": "string_check"},
    )
    assert TrainingSpec.from_json(spec.to_json()) == spec
    assert spec.hyper.lr == 1e-5 and Hyperparameters().lr == 2e-4


def test_packages_are_content_addressed() -> None:
    uri, content = package({"evalbot_data_train/train.jsonl": b'{"a": 1}\n'})
    again, _ = package({"evalbot_data_train/train.jsonl": b'{"a": 1}\n'})
    other, _ = package({"evalbot_data_train/train.jsonl": b'{"a": 2}\n'})
    assert uri == again != other and uri.startswith("gcs://_ray_pkg_") and uri.endswith(".zip")
    with zipfile.ZipFile(BytesIO(content)) as archive:
        assert archive.namelist() == ["evalbot_data_train/train.jsonl"]


def test_submission_ids_and_adapter_names_are_stable() -> None:
    key = "0123456789abcdef" * 3
    assert submission_id(key) == "evalbot-" + key[:32] == submission_id(key[:40])
    assert lora_name("Ticket Routing!", "f12") == "ft-ticket-routing-f12"


def test_rewards_reported_by_ray_jobs_make_the_charts_reward_series() -> None:
    from commands.finetune.progress import reward_curve
    from commands.ports import JobEvent

    events = [
        JobEvent("step-1", 1, "info", "step 1", "metrics", {"step": 1, "train_loss": 0.1}),
        JobEvent("step-2", 2, "info", "step 2", "metrics", {"step": 2, "reward": 0.25}),
        JobEvent("step-3", 3, "info", "step 3", "metrics", {"step": 3, "reward": "bad"}),
    ]
    assert reward_curve(events) == [(2, 0.25)]


async def test_events_are_newest_first_even_within_one_second() -> None:
    from bot.ray_backend import RayFineTuning
    from bot.serving import Serving

    class Logs:
        async def logs(self, job_id: str) -> str:
            lines = [
                Progress(step=s, total_steps=3, time=100.0, loss=1.0 / s).line() for s in (1, 2, 3)
            ]
            return "\n".join([*lines, Event(100.5, "info", "training completed").line()])

    ft = RayFineTuning(
        Logs(),  # type: ignore[arg-type]
        store="/m",
        python="python",
        serving=Serving({}, {}),
        providers={},
    )
    events = await ft.events("local", "evalbot-x")
    steps = [e.data["step"] for e in events if e.type == "metrics"]
    assert steps == [3, 2, 1]
    assert events[0].message == "training completed"  # the last line of the log

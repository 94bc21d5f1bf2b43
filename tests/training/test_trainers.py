"""The training entrypoint itself, in this process: SFT (LoRA merged, and full), DPO and
GRPO scored by the suite's own grader, each a few real steps on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.training.entrypoint import Outcome, train
from bot.training.spec import (
    TRAIN_FILE,
    VALID_FILE,
    Hyperparameters,
    TrainingSpec,
    parse_events,
    parse_progress,
)
from commands.finetune import sources
from commands.suites.suite import load_suite
from tests.e2e.harness import REPO

SUITE = REPO / "examples" / "ticket-routing"
# Real training and a real cluster on 2 shared cores: slower than a unit test.
pytestmark = pytest.mark.timeout(600)


def workdir(tmp_path: Path, tset: sources.TrainingSet) -> Path:
    """The job's working directory as the bot sends it: the validated JSONL files."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / TRAIN_FILE).write_bytes(tset.jsonl("train"))
    if tset.valid:
        (folder / VALID_FILE).write_bytes(tset.jsonl("valid"))
    return folder


def run(
    spec: TrainingSpec, folder: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Outcome, str]:
    outcome = train(spec, folder)
    return outcome, capsys.readouterr().out


def falls(losses: list[float]) -> bool:
    head, tail = losses[:3], losses[-3:]
    return sum(tail) / len(tail) < sum(head) / len(head)


def test_sft_lora_writes_the_adapter_and_a_merged_model_that_generates(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(SUITE)
    tset = sources.from_suite_files("sft", suite)
    folder = workdir(tmp_path, tset)
    out = tmp_path / "store" / "evalbot-f1-abc"
    spec = TrainingSpec(
        job="evalbot-f1-abc",
        method="sft",
        base_model=str(tiny_model),
        output_dir=str(out),
        hyper=Hyperparameters(epochs=4, batch_size=4, learning_rate=5e-3, lora_r=8),
        has_valid=bool(tset.valid),
    )
    outcome, logs = run(spec, folder, capsys)

    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 8
    assert (out / "merged" / "config.json").is_file()
    assert not (out / "merged" / "adapter_config.json").exists()  # a whole model, no adapter
    assert json.loads((out / "result.json").read_text())["merged"] == str(out / "merged")

    progress = parse_progress(logs)
    assert progress and progress[-1].step == outcome.steps == progress[-1].total_steps == 24
    losses = [p.loss for p in progress if p.loss is not None]
    assert len(losses) >= 10 and falls(losses), losses
    assert any(p.valid_loss is not None for p in progress)  # the suite's valid.jsonl
    messages = [e.message for e in parse_events(logs)]
    assert any(m.startswith("training started") for m in messages)
    assert any(m.startswith("training completed") for m in messages)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out / "merged")
    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "My card was charged twice."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    generated = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert generated.shape[-1] > prompt["input_ids"].shape[-1]


def test_full_fine_tuning_writes_only_a_full_model(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(SUITE)
    folder = workdir(tmp_path, sources.from_suite_files("sft", suite))
    out = tmp_path / "store" / "full"
    spec = TrainingSpec(
        job="full",
        method="sft",
        base_model=str(tiny_model),
        output_dir=str(out),
        hyper=Hyperparameters(epochs=2, batch_size=4, learning_rate=3e-3, full=True),
    )
    outcome, logs = run(spec, folder, capsys)
    assert outcome.adapter is None and outcome.merged == str(out / "merged")
    assert (out / "merged" / "model.safetensors").is_file()
    assert not (out / "adapter").exists()
    assert falls(outcome.losses), outcome.losses

    from safetensors.torch import load_file

    before = load_file(tiny_model / "model.safetensors")
    after = load_file(out / "merged" / "model.safetensors")
    changed = [k for k in before if k in after and not before[k].equal(after[k])]
    assert len(changed) > len(before) // 2  # every layer trained, not an adapter


def dpo_rows() -> list[dict[str, Any]]:
    """OpenAI's DPO rows: the right label preferred over a wrong one."""
    rows = []
    for line in (SUITE / "eval.jsonl").read_text().splitlines()[:16]:
        item = json.loads(line)
        wrong = "other" if item["label"] != "other" else "billing"
        rows.append(
            {
                "input": {"messages": [{"role": "user", "content": item["ticket"]}]},
                "preferred_output": [{"role": "assistant", "content": item["label"]}],
                "non_preferred_output": [{"role": "assistant", "content": wrong}],
            }
        )
    return rows


def test_dpo_learns_the_preferences(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(SUITE)
    content = "\n".join(json.dumps(r) for r in dpo_rows()).encode()
    tset = sources.from_file("dpo", "prefs.jsonl", content, suite)
    folder = workdir(tmp_path, tset)
    out = tmp_path / "store" / "dpo"
    spec = TrainingSpec(
        job="dpo",
        method="dpo",
        base_model=str(tiny_model),
        output_dir=str(out),
        hyper=Hyperparameters(epochs=3, batch_size=4, learning_rate=5e-3, lora_r=8),
    )
    outcome, logs = run(spec, folder, capsys)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "merged" / "config.json").is_file()
    losses = [p.loss for p in parse_progress(logs) if p.loss is not None]
    assert losses[0] == pytest.approx(0.6931, abs=0.01)  # log 2: no preference yet
    assert falls(losses), losses


def test_grpo_rewards_answers_with_the_suites_grader(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(SUITE)
    tset = sources.rft_from_suite(suite)
    folder = workdir(tmp_path, tset)
    out = tmp_path / "store" / "rft"
    spec = TrainingSpec(
        job="rft",
        method="rft",
        base_model=str(tiny_model),
        output_dir=str(out),
        hyper=Hyperparameters(
            epochs=1, batch_size=4, learning_rate=5e-3, max_steps=3, max_completion_tokens=4
        ),
        grader=suite.grader,
    )
    outcome, logs = run(spec, folder, capsys)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert outcome.steps == 3
    # Every sampled answer was scored by the grader: 3 steps x a batch of 4 completions.
    assert outcome.reward_calls == 12
    rewards = [p.reward for p in parse_progress(logs) if p.reward is not None]
    assert rewards and all(0.0 <= r <= 1.0 for r in rewards)

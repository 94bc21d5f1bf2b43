"""The training job that runs on the Ray cluster: `python -m bot.training`.

It reads the spec and the data that the bot put in the job's working directory, trains
with TRL (SFTTrainer, DPOTrainer, or GRPOTrainer scored by the suite's grader), LoRA by
default, prints progress lines the bot parses from the job's log, and writes the model to
EVALBOT_MODEL_STORE/<job>/: `adapter/` (LoRA) and `merged/` (a full model, for servers
that load by path). torch, transformers and trl are imported inside the functions: the bot
imports bot.training.spec but never needs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.training.rows import convert, read_jsonl
from bot.training.spec import (
    DATA_DIRS,
    RESULT_FILE,
    SPEC_FILE,
    TRAIN_FILE,
    VALID_FILE,
    Event,
    Progress,
    TrainingSpec,
)

log = logging.getLogger(__name__)


def say(message: str, level: str = "info") -> None:
    """A milestone for the job's Slack thread (the bot reads it from the log)."""
    print(Event(time.time(), level, message).line(), flush=True)  # noqa: T201


@dataclass
class Outcome:
    """What a finished training wrote, also saved as result.json beside the model."""

    output_dir: str
    adapter: str | None
    merged: str | None
    steps: int
    losses: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    reward_calls: int = 0


def _progress_callback(sink: Outcome) -> Any:
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):  # type: ignore[misc]
        """Print one progress line per logging step (TRL logs loss, and reward for GRPO)."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            loss, reward = logs.get("loss"), logs.get("reward")
            if loss is None and reward is None and "eval_loss" not in logs:
                return  # the closing summary (train_runtime...)
            if isinstance(loss, int | float):
                sink.losses.append(float(loss))
            if isinstance(reward, int | float):
                sink.rewards.append(float(reward))
            line = Progress(
                step=int(state.global_step),
                total_steps=int(state.max_steps),
                time=time.time(),
                loss=float(loss) if isinstance(loss, int | float) else None,
                reward=float(reward) if isinstance(reward, int | float) else None,
                valid_loss=logs.get("eval_loss"),
            ).line()
            print(line, flush=True)  # noqa: T201

    return ProgressLines()


def data_file(workdir: Path, name: str) -> Path:
    """A data file beside the spec, else in its package's folder on the import path."""
    here = workdir / name
    if here.is_file():
        return here
    for entry in [str(workdir), *sys.path]:
        candidate = Path(entry or ".") / DATA_DIRS[name] / name
        if candidate.is_file():
            return candidate
        if Path(entry).name == DATA_DIRS[name] and (Path(entry) / name).is_file():
            return Path(entry) / name
    raise FileNotFoundError(f"{name} is neither in {workdir} nor on the import path")


def _dataset(spec: TrainingSpec, workdir: Path, name: str) -> Any:
    from datasets import Dataset

    rows = convert(spec.method, read_jsonl(data_file(workdir, name).read_text()))
    return Dataset.from_list(rows)


def _common_args(spec: TrainingSpec, out: Path, has_eval: bool) -> dict[str, Any]:
    import torch

    h = spec.hyper
    gpu = torch.cuda.is_available()
    return {
        "output_dir": str(out / "checkpoints"),
        "num_train_epochs": h.epochs,
        "max_steps": h.max_steps,
        "learning_rate": h.lr,
        "per_device_train_batch_size": h.batch_size,
        "per_device_eval_batch_size": h.batch_size,
        # Under 1: a fraction of the steps, so a long job logs about a hundred times.
        "logging_steps": 0.01,
        "logging_first_step": True,
        "eval_strategy": "epoch" if has_eval else "no",
        "save_strategy": "no",
        "report_to": [],
        "seed": h.seed,
        "use_cpu": not gpu,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "disable_tqdm": True,
    }


def _peft_config(spec: TrainingSpec) -> Any:
    if spec.hyper.full:
        return None
    from peft import LoraConfig

    r = spec.hyper.lora_r
    return LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, task_type="CAUSAL_LM")


def _generations(batch_size: int) -> int:
    """GRPO samples a group of answers per prompt; the batch must hold whole groups."""
    for n in (8, 4, 2):
        if batch_size % n == 0:
            return n
    return batch_size


def build_trainer(spec: TrainingSpec, workdir: Path, out: Path, sink: Outcome) -> Any:
    """The TRL trainer for the spec's method, with the progress callback attached."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(spec.base_model)
    train = _dataset(spec, workdir, TRAIN_FILE)
    valid = _dataset(spec, workdir, VALID_FILE) if spec.has_valid else None
    common = _common_args(spec, out, valid is not None)
    h = spec.hyper
    shared: dict[str, Any] = {
        "model": model,
        "train_dataset": train,
        "processing_class": tokenizer,
        "peft_config": _peft_config(spec),
        "callbacks": [_progress_callback(sink)],
    }
    if spec.method == "sft":
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(**common, max_length=h.max_length)
        return SFTTrainer(args=args, eval_dataset=valid, **shared)
    if spec.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, beta=h.beta, max_length=h.max_length)
        return DPOTrainer(args=args, eval_dataset=valid, **shared)
    from trl import GRPOConfig, GRPOTrainer

    from bot.training.reward import GraderReward

    if spec.grader is None:
        raise ValueError("an rft job needs the suite's grader")
    reward = GraderReward(spec.grader, folder=workdir, providers=spec.grader_providers)
    sink_reward: list[GraderReward] = [reward]
    common["eval_strategy"] = "no"  # GRPO's eval would sample and grade the valid set too
    args = GRPOConfig(
        **common,
        beta=h.beta,
        num_generations=_generations(h.batch_size),
        max_completion_length=h.max_completion_tokens,
    )
    trainer = GRPOTrainer(reward_funcs=[reward], args=args, **shared)
    trainer.evalbot_rewards = sink_reward
    return trainer


def _save(spec: TrainingSpec, trainer: Any, out: Path) -> tuple[str | None, str | None]:
    adapter: str | None = None
    merged: str | None = None
    tokenizer = trainer.processing_class
    if spec.hyper.full:
        merged = str(out / "merged")
        trainer.save_model(merged)
        tokenizer.save_pretrained(merged)
        return None, merged
    adapter = str(out / "adapter")
    trainer.save_model(adapter)
    tokenizer.save_pretrained(adapter)
    say(f"checkpoint: the LoRA adapter is saved in {adapter}")
    if spec.merge:
        merged = str(out / "merged")
        model = trainer.model.merge_and_unload()
        model.save_pretrained(merged)
        tokenizer.save_pretrained(merged)
    return adapter, merged


def _publish(local: Path, target: str) -> None:
    """Copy the finished model to an s3:// store (pyarrow's filesystem, as Ray Train does)."""
    from pyarrow import fs

    fs.copy_files(str(local), target)


def train(spec: TrainingSpec, workdir: Path) -> Outcome:
    """Run the whole job; returns what it wrote (also in <output_dir>/result.json)."""
    remote = spec.output_dir.startswith("s3://")
    out = Path(tempfile.mkdtemp(prefix="evalbot-model-")) if remote else Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sink = Outcome(output_dir=spec.output_dir, adapter=None, merged=None, steps=0)
    if spec.base_model.startswith(("/", "./", "../")) and not Path(spec.base_model).exists():
        # Else transformers reads it as a hub id and names a rule about repo ids.
        raise FileNotFoundError(
            f"the base model {spec.base_model} does not exist on the Ray node: a model given "
            "by path must be on storage the cluster mounts"
        )
    say(f"loading the base model {spec.base_model}")
    trainer = build_trainer(spec, workdir, out, sink)
    mode = "full fine-tuning" if spec.hyper.full else f"LoRA r={spec.hyper.lora_r}"
    say(f"training started: {spec.method.upper()}, {mode}, {len(trainer.train_dataset)} examples")
    result = trainer.train()
    sink.steps = int(result.global_step)
    for reward in getattr(trainer, "evalbot_rewards", []):
        sink.reward_calls += reward.calls
        reward.close()
    adapter, merged = _save(spec, trainer, out)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)

    def where(path: str | None) -> str | None:
        if path is None or not remote:
            return path
        return spec.output_dir.rstrip("/") + "/" + Path(path).name

    sink.adapter, sink.merged = where(adapter), where(merged)
    (out / RESULT_FILE).write_text(json.dumps(sink.__dict__, indent=2))
    if remote:
        _publish(out, spec.output_dir)
        shutil.rmtree(out, ignore_errors=True)
    say(f"training completed: {sink.steps} steps; the model is in {spec.output_dir}")
    return sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.training", description=__doc__)
    parser.add_argument("--spec", default=SPEC_FILE, help="the job's spec (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    spec_path = Path(args.spec)
    spec = TrainingSpec.from_json(spec_path.read_text())
    try:
        train(spec, spec_path.resolve().parent)
    except Exception as exc:
        # The reason goes to the thread; the traceback stays in the job's log.
        say(f"training failed: {type(exc).__name__}: {exc}"[:400], level="error")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

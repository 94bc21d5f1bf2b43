"""`/finetune`: SFT, DPO and RFT jobs from a suite's data (not built yet: issue 7)."""

from __future__ import annotations

from commands.grammar import Parsed
from commands.registry import Family, Invocation, UsageError
from commands.services import Services

FINETUNE = Family("/finetune", "fine-tune a model on a suite's data and evaluate the result")

NOT_YET = "Fine-tuning from Slack is not available in this version of evalbot yet."
JOB_KEYS = (
    "base",
    "data",
    "epochs",
    "suffix",
    "batch_size",
    "learning_rate_multiplier",
    "beta",
    "seed",
    "reasoning_effort",
)


def _method(services: Services, inv: Invocation, parsed: Parsed) -> str:
    if not parsed.words:
        raise UsageError("Missing the suite.")
    name = parsed.words[0]
    if services.suites.get(name) is None:
        raise UsageError(services.suites.unknown(name))
    if "base" not in parsed.options:
        raise UsageError("Missing `base=<model>`, the model to fine-tune.")
    if not services.policy.may_finetune(inv.user_id):
        who = ", ".join(f"<@{u}>" for u in sorted(services.policy.finetune_users))
        return f"Only these people may start fine-tunes: {who}."
    return NOT_YET


@FINETUNE.sub("sft", "<suite> base=<model> [data=<file>] [epochs=N] [suffix=S]", keys=JOB_KEYS)
def sft(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Supervised fine-tuning (e.g. distil a large model into a small one)."""
    return _method(services, inv, parsed)


@FINETUNE.sub("dpo", "<suite> base=<model> [data=<file>] [epochs=N] [beta=B]", keys=JOB_KEYS)
def dpo(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Direct preference optimisation from preferred and rejected answers."""
    return _method(services, inv, parsed)


@FINETUNE.sub("rft", "<suite> base=<model> [epochs=N] [reasoning_effort=E]", keys=JOB_KEYS)
def rft(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Reinforcement fine-tuning scored by the suite's own grader."""
    return _method(services, inv, parsed)


@FINETUNE.sub("list")
def list_jobs(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Fine-tuning jobs of this channel."""
    return NOT_YET


@FINETUNE.sub("status", "<job-id>")
def status(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """A job's status, step, losses and time left."""
    return NOT_YET


@FINETUNE.sub("cancel", "<job-id>")
def cancel(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Cancel a running job."""
    return NOT_YET

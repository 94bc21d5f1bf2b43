"""How a fine-tuning job reads in its one Slack message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands.formats import money, progress_bar
from commands.reports import Code, Title
from storage.tables import FineTuneJob

STATUS_WORDS = {
    "awaiting_approval": ":hourglass: waiting for an approval (the estimate is over the limit)",
    "pending": ":arrow_up: uploading the data and creating the job",
    "validating_files": ":mag: the provider is validating the files",
    "queued": ":hourglass_flowing_sand: queued at the provider",
    "running": ":gear: training",
    "serving": ":rocket: trained; being made servable",
    "succeeded": ":white_check_mark: succeeded",
    "failed": ":x: failed",
    "cancelled": ":no_entry_sign: cancelled",
    "refused": ":no_entry: refused by the provider",
    "rejected": ":x: not approved",
}


def _eta(seconds: Any) -> str:
    if not isinstance(seconds, int) or seconds <= 0:
        return ""
    hours, rest = divmod(seconds, 3600)
    return (
        f" · about {hours}h {rest // 60:02d}m left" if hours else f" · about {rest // 60 + 1}m left"
    )


def _metrics(job: FineTuneJob) -> list[str]:
    out = []
    if job.train_loss is not None:
        out.append(f"train loss {job.train_loss:.3f}")
    if job.valid_loss is not None:
        out.append(f"valid loss {job.valid_loss:.3f}")
    if job.reward is not None:
        out.append(f"reward {job.reward:.3f}")
    return out


def job_text(job: FineTuneJob, line: Callable[[Title], str]) -> str:
    """Status, step/total, latest losses, time left, and what the job is.

    `line` is the presenter's (Presenter.line): names, the provider's ids and its error
    text are third-party, passed as Code so they are escaped and never live mrkdwn.
    """
    estimate = (
        money(job.estimated_cost_usd)
        if job.estimated_cost_usd is not None
        else (job.cost_note or "n/a")
    )
    if job.estimated_cost_usd is not None and job.cost_note:
        estimate += f" ({job.cost_note})"  # what the price stands for: Ray's GPU-hours
    by = f" · started by <@{job.user_id}>" if job.user_id else ""
    lines = [
        line(
            (f"*Fine-tune f{job.id}* · {job.method.upper()} ", Code(job.suite), " on ")
            + (Code(job.base_model), by)
        ),
        line(
            ("data: ", Code(job.data_source or "suite"), f" · {job.examples} examples, ")
            + (f"≈{job.estimated_tokens:,} tokens · estimate {estimate}",)
        ),
        f"status: {STATUS_WORDS.get(job.status, job.status)}",
    ]
    step, total = job.step, job.total_steps
    if job.status in ("succeeded", "failed", "cancelled", "serving"):
        # The end: the last losses stay in the message, without a progress bar.
        last = _metrics(job)
        if last:
            at = f" at step {step}" if step is not None else ""
            lines.append(f"last losses{at}: " + " · ".join(last))
    elif step is not None and total is not None and total > 0:
        metrics = _metrics(job)
        lines.append(
            f"{progress_bar(step, total)} step {step}/{total}"
            + (" · " + " · ".join(metrics) if metrics else "")
            + _eta(job.eta_s)
        )
    if job.provider_job_id:
        backend: Title = ("provider",) if job.backend == "openai" else (Code(job.backend),)
        lines.append(line((*backend, " job ", Code(job.provider_job_id))))
    if job.fine_tuned_model:
        lines.append(line(("model: ", Code(job.fine_tuned_model))))
    if job.error and job.status in ("failed", "refused"):
        lines.append(line(("reason: ", Code(job.error))))
    return "\n".join(lines)

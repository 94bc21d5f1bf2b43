"""A job's milestones in the team's words instead of the provider's log lines.

A thread full of "Files validated, moving job to queued state" and job ids tells a person
less than "Data accepted: waiting in the provider's queue". Known provider messages
(OpenAI's, which Azure and other compatible services repeat) become a friendly step;
anything else that matters (warnings, errors, unknown milestones) is kept, as inert
text, because it may be the one line that explains a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from commands.ports import JobEvent

# The provider's messages are third-party text: they are matched, never trusted.
_NAMED = re.compile(r"^new fine-tuned model created:\s*(\S+)", re.IGNORECASE)
_CHECKPOINT = re.compile(r"checkpoint.*?step\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One line for the job's thread: an emoji, our words, and provider text if any."""

    emoji: str
    words: str
    theirs: str | None = None  # shown escaped, as code (a model id, an error)


_FIXED: tuple[tuple[str, Callable[[str], Step | None]], ...] = (
    ("validating training file", lambda _m: Step(":mag:", "Checking the training data")),
    ("validating", lambda _m: Step(":mag:", "Checking the training data")),
    (
        "files validated",
        lambda _m: Step(":inbox_tray:", "Data accepted: waiting in the provider's queue"),
    ),
    ("job started", lambda _m: Step(":gear:", "Training started")),
    # The ray backend's entrypoint says what it trains: "training started: SFT, lora, …".
    ("training started", lambda m: Step(":gear:", "Training started", m.split(":", 1)[-1])),
    ("successfully completed", lambda _m: Step(":checkered_flag:", "Training finished")),
    ("cancelled", lambda _m: Step(":no_entry_sign:", "Cancelled")),
    ("created fine-tuning job", lambda _m: None),  # our own message already says so
)


def friendly(event: JobEvent) -> Step | None:
    """The step an event stands for, or None when it adds nothing to the thread."""
    if event.type != "message":
        return None
    text = event.message.strip()
    lower = text.lower()
    if lower.startswith("the job failed"):
        return None  # the job's end reports the reason once (commands.finetune.jobs)
    if event.level == "error":
        return Step(":x:", "The provider reports an error", text)
    named = _NAMED.match(text)
    if named:
        return Step(":package:", "Model ready", named.group(1))
    point = _CHECKPOINT.search(text)
    if point:
        return Step(":floppy_disk:", f"Checkpoint saved at step {point.group(1)}")
    for needle, make in _FIXED:
        if needle in lower:
            return make(text)
    if event.level in ("warn", "warning"):
        return Step(":warning:", "The provider warns", text)
    return None


def step_text(step: Step) -> str:
    """The step in Slack mrkdwn: provider text escaped and shown as code."""
    if step.theirs is None:
        return f"{step.emoji} {step.words}"
    flat = " ".join(step.theirs.split())[:300].replace("`", "\u02cb")
    safe = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{step.emoji} {step.words}: `{safe}`"

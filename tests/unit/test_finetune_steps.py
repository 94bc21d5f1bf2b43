"""A job's provider log lines become friendly steps; the rest stays out, or inert."""

from __future__ import annotations

import pytest

from commands.finetune.steps import friendly, step_text
from commands.ports import JobEvent


def event(message: str, level: str = "info", kind: str = "message") -> JobEvent:
    return JobEvent(id="e1", created_at=0, level=level, message=message, type=kind)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Validating training file: file-abc", ":mag: Checking the training data"),
        ("Files validated, moving job to queued state", ":inbox_tray: Data accepted"),
        ("Fine-tuning job started", ":gear: Training started"),
        ("Checkpoint created at step 40", ":floppy_disk: Checkpoint saved at step 40"),
        ("New fine-tuned model created: ft:gpt-4.1-mini:o::x", ":package: Model ready: `ft:"),
        ("The job has successfully completed", ":checkered_flag: Training finished"),
    ],
)
def test_known_provider_messages_become_steps(message: str, expected: str) -> None:
    step = friendly(event(message))
    assert step is not None and step_text(step).startswith(expected)


def test_noise_and_the_failure_line_stay_out() -> None:
    assert friendly(event("Created fine-tuning job: ftjob-1")) is None
    assert friendly(event("Step 3/10: training loss=1.20", kind="metrics")) is None
    assert friendly(event("The job failed: bad data")) is None  # the job's end says it once


def test_warnings_are_kept_but_inert() -> None:
    step = friendly(event("<!channel> disk *almost* full `x`", level="warn"))
    assert step is not None
    text = step_text(step)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert text.count("`") == 2  # one code span: the provider's backtick cannot close it

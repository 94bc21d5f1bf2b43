"""A fine-tune's message shows the provider's words literally (issue 10's done-when)."""

from __future__ import annotations

from bot.presenters.mrkdwn import SLACK
from bot.presenters.plain import PLAIN
from commands.finetune.render import job_text
from storage.tables import FineTuneJob

HOSTILE = "<!channel> see <https://evil.example/x|https://slack.com/approve> *now* `x`"


def job() -> FineTuneJob:
    return FineTuneJob(
        id=3,
        request_key="k",
        suite="routing",
        method="sft",
        base_model="gpt-4.1-mini",
        status="failed",
        provider_job_id="ftjob-<@U1>",
        error=HOSTILE,
    )


def test_the_providers_error_and_ids_are_escaped_in_slack() -> None:
    text = job_text(job(), SLACK.title)
    assert "<!channel>" not in text and "<https://" not in text and "<@U1>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U1&gt;" in text
    assert "reason: `" in text  # shown as code: `*now*` is not bold


def test_the_terminal_shows_the_same_words_as_typed() -> None:
    text = job_text(job(), PLAIN.title)
    assert "<!channel> see <https://evil.example/x|https://slack.com/approve>" in text

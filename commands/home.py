"""The App Home tab: per suite the production model and its last full run (the model
named), open proposals (linked), watches, running and queued runs and unfinished
fine-tunes, built fresh each time a user opens it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from commands.formats import clip
from commands.grammar import format_duration
from commands.reports import Code, Title
from commands.services import Ports
from storage import aliases as alias_store
from storage import finetunes as finetune_store
from storage import proposals as proposal_store
from storage import runs as run_store
from storage import watches as watch_store


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


Line = Callable[[Title], str]

# What Slack's ids look like: anything else (a terminal run's "terminal" channel and its
# counter for a ts) is not a Slack message, and no link is built from it.
_CHANNEL = re.compile(r"^[CDG][A-Z0-9]+$")
_TS = re.compile(r"^\d+\.\d+$")


def _code(line: Line, text: str) -> str:
    """A name someone else chose (model, glob, provider) as code, in the presenter's words:
    escaped, on one line, backticks neutralised, at most 60 characters."""
    return line((Code(clip(text, 60)),))


def message_link(channel: str | None, ts: str | None, label: str) -> str:
    """A link to a message, built as Slack builds permalinks (archives/<channel>/p<ts>);
    slack.com sends a signed-in person on to their workspace. Only a Slack channel and
    timestamp make a link: anything else is the label alone."""
    if not channel or not ts or not _CHANNEL.match(channel) or not _TS.match(ts):
        return label
    return f"<https://slack.com/archives/{channel}/p{ts.replace('.', '')}|{label}>"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rate(t: run_store.ModelTally) -> str:
    return (
        f"{t.passed}/{t.graded} passed ({t.pass_rate * 100:.1f}%)"
        if t.pass_rate is not None
        else "nothing graded"
    )


def _last_full_run(session: Any, line: Line, name: str, version: str, prod: str | None) -> str:
    """The production model's last full run (the model named); without a production
    model, the suite's last full run with each model's result."""
    for run in run_store.complete_runs(
        session, suite=name, data_version=version, model=prod, limit=20
    ):
        counts = run_store.tallies(session=session, run_id=run.id or 0, with_latencies=False)
        shown = [
            m for m in ([prod] if prod else run.models[:3]) if m in counts and counts[m].graded
        ]
        if shown:
            rates = ", ".join(f"{_code(line, m)} {_rate(counts[m])}" for m in shown)
            return f"last full run r{run.id}: {rates}"
    return "no full run yet"


async def home_blocks(services: Ports) -> list[dict[str, Any]]:
    """Everything the Home tab shows, read in one transaction on the database thread.

    Names (models, globs, providers) are third-party text: each goes through the
    presenter as code (`_code`), the same escaping as every message of the bot.
    """
    line = services.presenter.line

    def read(session: Any) -> list[dict[str, Any]]:
        aliases = alias_store.all_aliases(session=session)
        active = run_store.active_runs(session=session)
        running_ids = [r.id or 0 for r in active if r.status == "running"]
        tuning = finetune_store.unfinished(session=session)
        watches = watch_store.list_watches(session=session)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": "evalbot"}},
            _section(
                "Suites, their production models and what is in flight. "
                "`/eval help` lists the commands."
            ),
            {"type": "divider"},
        ]
        for name in services.suites.names()[:40]:
            prod = aliases.get(name, {}).get("production")
            version = services.suites.suites[name].data_version
            last = _last_full_run(session, line, name, version, prod)
            head = f"production {_code(line, prod)}" if prod else "no production model"
            lines = [f"*{name}* — {head} · {last}"]
            for p in proposal_store.open_proposals(session=session, suite=name):
                link = message_link(p.channel, p.message_ts, f"p{p.id}")
                current = _code(line, p.current) if p.current else "no production model"
                lines.append(
                    f"• open proposal {link}: {current} → {_code(line, p.candidate)},"
                    f" {_plural(p.approvals_needed, 'approval')} needed"
                )
            for w in (w for w in watches if name in w.suites):
                state = " (paused)" if w.paused else ""
                lines.append(
                    f"• watch w{w.id}: {_code(line, w.glob)} on {_code(line, w.provider)}"
                    f" every {format_duration(w.every_s)}{state}"
                )
            for r in (r for r in active if r.suite == name):
                models = ", ".join(_code(line, m) for m in r.models)
                link = message_link(r.channel, r.message_ts, f"r{r.id}")
                if r.status == "queued":
                    ahead = [i for i in running_ids if i != r.id]
                    behind = " behind " + ", ".join(f"r{i}" for i in ahead) if ahead else ""
                    lines.append(f"• queued {link} on {models}{behind}")
                else:
                    lines.append(f"• running {link} on {models}")
            for j in (j for j in tuning if j.suite == name):
                link = message_link(j.channel, j.message_ts, f"f{j.id}")
                lines.append(
                    f"• fine-tune {link} ({j.method.upper()} on {_code(line, j.base_model)}):"
                    f" {j.status.replace('_', ' ')}"
                )
            blocks.append(_section("\n".join(lines)))
        return blocks[:100]

    return await services.db.run(read)


async def publish_home(services: Ports, user_id: str) -> None:
    """Render and publish the App Home for `user_id`."""
    await services.chat.publish_home(user_id, await home_blocks(services))

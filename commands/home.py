"""The App Home tab: per suite the production model, its last pass rate, open proposals and
running work, built fresh each time a user opens it."""

from __future__ import annotations

from typing import Any

from commands.services import Services
from storage import aliases as alias_store
from storage import finetunes as finetune_store
from storage import proposals as proposal_store
from storage import runs as run_store


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


async def home_blocks(services: Services) -> list[dict[str, Any]]:
    """Everything the Home tab shows, read in one transaction on the database thread."""

    def read(session: Any) -> list[dict[str, Any]]:
        aliases = alias_store.all_aliases(session=session)
        active = run_store.active_runs(session=session)
        tuning = finetune_store.unfinished(session=session)
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
            last = "never run"
            version = services.suites.suites[name].data_version
            for run in run_store.complete_runs(
                session, suite=name, data_version=version, model=prod, limit=20
            ):
                counts = run_store.tallies(
                    session=session, run_id=run.id or 0, with_latencies=False
                )
                model = prod or run.models[0]
                t = counts.get(model)
                if t and t.pass_rate is not None:
                    last = f"{t.passed}/{t.graded} passed ({t.pass_rate * 100:.1f}%) in r{run.id}"
                    break
            proposals = proposal_store.open_proposals(session=session, suite=name)
            running = [r for r in active if r.suite == name]
            lines = [f"*{name}* — production `{prod or 'unset'}` · last {last}"]
            for p in proposals:
                lines.append(
                    f"• open proposal p{p.id}: `{p.candidate}` "
                    f"({p.approvals_needed} approval(s) needed)"
                )
            for r in running:
                lines.append(f"• running r{r.id} on {', '.join(r.models)}")
            for j in (j for j in tuning if j.suite == name):
                lines.append(
                    f"• fine-tune f{j.id} ({j.method.upper()} on `{j.base_model}`): {j.status}"
                )
            blocks.append(_section("\n".join(lines)))
        return blocks[:100]

    return await services.db.run(read)


async def publish_home(services: Services, user_id: str) -> None:
    """Render and publish the App Home for `user_id`."""
    await services.chat.publish_home(user_id, await home_blocks(services))

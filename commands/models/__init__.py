"""`/models`: the production model of each suite, and an alias's history."""

from __future__ import annotations

from typing import Any

from commands.grammar import Parsed
from commands.registry import Family, Invocation, Started, UsageError
from commands.services import Services
from storage import aliases as alias_store

MODELS = Family("/models", "which model each suite uses in production, and since when")


@MODELS.main("[<suite>]")
def models_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Production model per suite; with a suite, its alias history."""
    if parsed.options or len(parsed.words) > 1:
        raise UsageError("`/models` takes at most a suite name.")
    suite = parsed.words[0] if parsed.words else None
    if suite is not None and services.suites.get(suite) is None:
        raise UsageError(services.suites.unknown(suite))

    async def work() -> None:
        if suite is None:
            aliases = await services.db.run(alias_store.all_aliases)
            lines = ["*Production models*"]
            for name in services.suites.names():
                current = aliases.get(name, {})
                shown = ", ".join(f"{a} `{m}`" for a, m in sorted(current.items()))
                lines.append(f"• `{name}` — {shown or 'no alias set'}")
            await inv.respond("\n".join(lines))
            return

        def read(session: Any) -> list[Any]:
            return alias_store.history(session=session, suite=suite, limit=20)

        changes = await services.db.run(read)
        if not changes:
            await inv.respond(f"`{suite}` has no alias set yet. Propose one with `/promote`.")
            return
        lines = [f"*Aliases of `{suite}`*, newest first"]
        for c in changes:
            by = f"<@{c.decided_by}>" if c.decided_by else "unknown"
            via = f" (p{c.proposal_id})" if c.proposal_id else ""
            lines.append(
                f"• {c.created_at:%Y-%m-%d %H:%M} {c.alias}: "
                f"`{c.previous or '—'}` → `{c.model}` by {by}{via}"
            )
        await inv.respond("\n".join(lines))

    return Started("Looking up the aliases…", work, "models")

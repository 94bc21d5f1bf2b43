"""`/models`: the production model of each suite, an alias's history, and what a provider
serves (`/models available [provider]`)."""

from __future__ import annotations

from typing import Any

from commands.grammar import Parsed
from commands.registry import Family, Invocation, Started, UsageError
from commands.services import Services
from storage import aliases as alias_store

MODELS = Family("/models", "which model each suite uses in production, and since when")


MAX_LISTED = 80


@MODELS.main("[<suite>] | available [<provider>]")
def models_cmd(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Production model per suite; with a suite, its alias history; `available`, what a
    provider serves."""
    if (
        parsed.words
        and parsed.words[0].lower() == "available"
        and (services.suites.get(parsed.words[0]) is None)
    ):
        return _available(services, inv, parsed)
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
                lines.append(f"• `{name}` — {shown or 'no production model'}")
            await inv.respond("\n".join(lines))
            return

        def read(session: Any) -> list[Any]:
            return alias_store.history(session=session, suite=suite, limit=20)

        changes = await services.db.run(read)
        if not changes:
            await inv.respond(
                f"`{suite}` has no production model yet. Propose one with `/promote`."
            )
            return
        lines = [f"*Aliases of `{suite}`*, newest first"]
        for c in changes:
            by = f"<@{c.decided_by}>" if c.decided_by else "unknown"
            via = f" (p{c.proposal_id})" if c.proposal_id else ""
            lines.append(
                f"• {c.created_at:%Y-%m-%d %H:%M} {c.alias}: "
                f"{f'`{c.previous}`' if c.previous else 'no production model'} → `{c.model}`"
                f" by {by}{via}"
            )
        await inv.respond("\n".join(lines))

    return Started("Looking up the aliases…", work, "models")


def _code(text: str) -> str:
    """A provider's model id as inline code that cannot break out of itself."""
    shown = text if len(text) <= 80 else text[:79] + "…"
    safe = shown.replace("`", "\u02cb").replace("&", "&amp;").replace("<", "&lt;")
    return "`" + safe.replace(">", "&gt;") + "`"


def _available(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    if parsed.options or len(parsed.words) > 2:
        raise UsageError("`/models available` takes at most a provider name.")
    providers = services.models.providers()
    provider = parsed.words[1] if len(parsed.words) == 2 else "default"
    if provider not in providers:
        shown = provider if len(provider) <= 40 else provider[:39] + "…"
        raise UsageError(
            f"`{shown}` is not a configured provider. Providers: "
            + ", ".join(f"`{p}`" for p in providers)
            + "."
        )

    async def work() -> None:
        listed = await services.models.directory.listed(provider, refresh=True)
        if listed is None:
            await inv.respond(
                f"`{provider}` did not list its models (see the bot's log); runs on it are "
                "checked by the provider itself."
            )
            return
        if not listed:
            await inv.respond(f"`{provider}` lists no models.")
            return
        ids = sorted(listed, key=lambda m: m.id.casefold())
        prefix = "" if provider == "default" else f"{provider}:"
        lines = [
            f"*Models `{provider}` serves* ({len(ids)}), named as `/eval run` takes them"
            + ("" if not prefix else f" (with the `{prefix}` prefix)")
        ]
        for m in ids[:MAX_LISTED]:
            retiring = f" · shuts down {_code(m.shutdown_date)}" if m.shutdown_date else ""
            lines.append(f"• {_code(prefix + m.id)}{retiring}")
        if len(ids) > MAX_LISTED:
            lines.append(f"…and {len(ids) - MAX_LISTED} more.")
        await inv.respond("\n".join(lines))

    return Started(f"Asking `{provider}` for its models…", work, "models-available")

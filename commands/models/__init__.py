"""`/models`: the production model of each suite, an alias's history, and what a provider
serves (`/models available [provider]`)."""

from __future__ import annotations

from typing import Any

from commands.formats import clip
from commands.grammar import Parsed
from commands.registry import Family, Invocation, Started, UsageError
from commands.reports import (
    AliasHistory,
    AliasMove,
    Code,
    ProductionModels,
    ProvidedModels,
    ServedModel,
    Title,
)
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
            suites = tuple((name, aliases.get(name, {})) for name in services.suites.names())
            await inv.respond(services.presenter.production_models(ProductionModels(suites)))
            return

        def read(session: Any) -> list[Any]:
            return alias_store.history(session=session, suite=suite, limit=20)

        changes = await services.db.run(read)
        if not changes:
            await inv.respond(
                services.presenter.line(
                    (Code(suite), " has no production model yet. Propose one with `/promote`.")
                )
            )
            return
        moves = tuple(
            AliasMove(
                created_at=c.created_at,
                alias=c.alias,
                previous=c.previous,
                model=c.model,
                # The approvers who moved it, as storage keeps them (comma-separated).
                decided_by=tuple(u for u in (c.decided_by or "").split(",") if u),
                proposal_id=c.proposal_id,
            )
            for c in changes
        )
        await inv.respond(services.presenter.alias_history(AliasHistory(suite, moves)))

    return Started("Looking up the aliases…", work, "models")


def _available(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    if parsed.options or len(parsed.words) > 2:
        raise UsageError("`/models available` takes at most a provider name.")
    providers = services.models.providers()
    provider = parsed.words[1] if len(parsed.words) == 2 else "default"
    if provider not in providers:
        names: Title = ()
        for n, p in enumerate(providers):
            names += (", ", Code(p)) if n else (Code(p),)
        raise UsageError(
            services.presenter.line(
                (
                    Code(clip(provider, 40)),
                    " is not a configured provider. Providers: ",
                    *names,
                    ".",
                )
            )
        )

    async def work() -> None:
        listed = await services.models.directory.listed(provider, refresh=True)
        if listed is None:
            await inv.respond(
                services.presenter.line(
                    (
                        Code(provider),
                        " did not list its models (see the bot's log); runs on it are "
                        "checked by the provider itself.",
                    )
                )
            )
            return
        if not listed:
            await inv.respond(services.presenter.line((Code(provider), " lists no models.")))
            return
        ids = sorted(listed, key=lambda m: m.id.casefold())
        prefix = "" if provider == "default" else f"{provider}:"
        served = tuple(ServedModel(prefix + m.id, m.shutdown_date) for m in ids[:MAX_LISTED])
        report = ProvidedModels(provider, prefix, served, len(ids))
        await inv.respond(services.presenter.provided_models(report))

    said = services.presenter.line(("Asking ", Code(provider), " for its models…"))
    return Started(said, work, "models-available")

"""`/models` messages: each suite's production model, an alias's history, and the models
a provider lists. Suite names come from suite files, model ids from `/promote` and the
provider's list: all shown as code."""

from __future__ import annotations

from bot.presenters.mrkdwn import Style, word
from commands.reports import AliasHistory, ProductionModels, ProvidedModels

NO_PRODUCTION = "no production model"
MAX_NAME = 80  # a provider's id longer than this is cut, marked with …


def production(s: Style, r: ProductionModels) -> str:
    """Every suite with its aliases."""
    lines = [s.bold("Production models")]
    for suite, aliases in r.suites:
        shown = ", ".join(f"{word(s, a)} {s.code(m)}" for a, m in sorted(aliases.items()))
        lines.append(f"• {s.code(suite)} — {shown or NO_PRODUCTION}")
    return "\n".join(lines)


def history(s: Style, r: AliasHistory) -> str:
    """An alias's moves, newest first, with who decided them."""
    lines = [f"{s.bold(f'Aliases of {s.code(r.suite)}')}, newest first"]
    for c in r.moves:
        by = ", ".join(s.mention(u) for u in c.decided_by) or "unknown"
        via = f" (p{c.proposal_id})" if c.proposal_id else ""
        before = s.code(c.previous) if c.previous else NO_PRODUCTION
        lines.append(
            f"• {c.created_at:%Y-%m-%d %H:%M} {word(s, c.alias)}: {before} → {s.code(c.model)}"
            f" by {by}{via}"
        )
    return "\n".join(lines)


def provided(s: Style, r: ProvidedModels) -> str:
    """What a provider serves, named as `/eval run` takes them."""
    lines = [
        f"{s.bold(f'Models {s.code(r.provider)} serves')} ({r.total}), named as `/eval run` "
        "takes them" + (f" (with the {s.code(r.prefix)} prefix)" if r.prefix else "")
    ]
    for m in r.models:
        retiring = f" · shuts down {s.code(m.shutdown, MAX_NAME)}" if m.shutdown else ""
        lines.append(f"• {s.code(m.name, MAX_NAME)}{retiring}")
    if r.total > len(r.models):
        lines.append(f"…and {r.total - len(r.models)} more.")
    return "\n".join(lines)

"""Model names checked against what a provider serves, before anything starts.

People type model names into Slack: `GPT-4.1-mini`, `gpt-4.1-mini, gpt-5-mini`, typos.
A name the provider does not serve used to become a run that failed in public; now it is
resolved against the provider's own list (GET /v1/models) first: exact, else the one
listed id that matches ignoring case, else refused privately with the nearest names.

The lists are cached per provider (`ModelDirectory`), so a run's acknowledgement can
check names from memory; a name the cache lacks refreshes the list once (a model
released since the last look is found), and only a name still missing is refused.
A provider that cannot list its models (no /models endpoint, a network fault) does not
block runs: its names are taken as typed and the run reports what the provider says.

The shape a name must have before it goes anywhere is commands.model_shapes.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from commands.formats import clip
from commands.ports import ModelInfo, Models, ProviderError
from commands.reports import Code, Title

log = logging.getLogger(__name__)

# Long enough that a burst of commands lists once, short enough that a retired model
# disappears within minutes; a miss refreshes anyway.
CACHE_SECONDS = 300.0
MAX_SUGGESTIONS = 3


def split_names(words: Iterable[str]) -> list[str]:
    """Model names from words, commas counting as separators (`a, b` and `a,b`)."""
    return [part.strip() for word in words for part in word.split(",") if part.strip()]


@dataclass
class _Listing:
    models: list[ModelInfo]
    at: float


@dataclass
class ModelDirectory:
    """What each provider serves, as last listed; refreshed when stale or on a miss."""

    models: Models
    ttl_s: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _lists: dict[str, _Listing] = field(default_factory=dict)

    def cached(self, provider: str) -> list[ModelInfo] | None:
        """The provider's fresh list from memory, or None when it must be asked."""
        found = self._lists.get(provider)
        if found is None or self.clock() - found.at > self.ttl_s:
            return None
        return found.models

    async def listed(self, provider: str, *, refresh: bool = False) -> list[ModelInfo] | None:
        """The provider's models (cached unless `refresh`); None when it cannot list them."""
        if not refresh:
            fresh = self.cached(provider)
            if fresh is not None:
                return fresh
        try:
            models = await self.models.list_models(provider)
        except ProviderError as exc:
            log.warning("cannot list the models of %s: %s", provider, exc)
            return None
        self._lists[provider] = _Listing(models, self.clock())
        return models

    async def warm(self, providers: Iterable[str]) -> None:
        """List every provider once at start, so the first run's names are checked in
        its acknowledgement; a provider that cannot list is simply asked later."""
        for provider in providers:
            await self.listed(provider)


@dataclass(frozen=True)
class Resolution:
    """Names as the provider spells them, and what was wrong with the others."""

    models: list[str]
    problems: list[Title]  # names as `Code`: the typed one and the provider's own ids


def _match(wanted: str, ids: Sequence[str]) -> str | None:
    if wanted in ids:
        return wanted
    folded = [i for i in ids if i.casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def _full(provider: str, name: str, typed: str) -> str:
    """Keep the `provider:` prefix the person typed (the default provider has none)."""
    return (
        name
        if provider == "default" or not typed.startswith(f"{provider}:")
        else (f"{provider}:{name}")
    )


def suggestions(wanted: str, ids: Sequence[str]) -> list[str]:
    """The nearest listed names (difflib), compared without case."""
    by_fold = {i.casefold(): i for i in ids}
    close = difflib.get_close_matches(
        wanted.casefold(), list(by_fold), n=MAX_SUGGESTIONS, cutoff=0.6
    )
    return [by_fold[c] for c in close]


def resolve_cached(
    directory: ModelDirectory, models: Models, names: Sequence[str]
) -> list[str] | None:
    """Every name resolved from the cache alone, or None when any needs the provider."""
    out: list[str] = []
    for typed in names:
        provider, name = models.split(typed)
        listing = directory.cached(provider)
        if listing is None:
            return None
        found = _match(name, [m.id for m in listing])
        if found is None:
            return None
        out.append(_full(provider, found, typed))
    return out


async def resolve(
    directory: ModelDirectory, models: Models, names: Sequence[str], *, slack: bool = True
) -> Resolution:
    """Resolve names against the providers' lists; a miss refreshes that list once.
    `slack`: a refusal ends with the Slack command that lists a provider's models."""
    out: list[str] = []
    problems: list[Title] = []
    refreshed: set[str] = set()
    for typed in names:
        provider, name = models.split(typed)
        listing = await directory.listed(provider)
        found = None if listing is None else _match(name, [m.id for m in listing])
        if listing is not None and found is None and provider not in refreshed:
            refreshed.add(provider)
            listing = await directory.listed(provider, refresh=True)
            found = None if listing is None else _match(name, [m.id for m in listing])
        if listing is None or not listing:
            out.append(typed)  # nothing to check against: the provider will say
            continue
        if found is None:
            ids = [m.id for m in listing]
            near = suggestions(name, ids)
            where: Title = ("the default provider",) if provider == "default" else (Code(provider),)
            hint: list[str | Code] = []
            for k, n in enumerate(near):
                hint += [" Did you mean " if k == 0 else " or ", Code(_full(provider, n, typed))]
            listing_cmd = "/models available" + ("" if provider == "default" else f" {provider}")
            problems.append(
                (Code(clip(typed, 60)), " is not a model ", *where, " serves.", *hint)
                + (("?",) if near else ())
                + ((" ", Code(listing_cmd), " lists them.") if slack else ())
            )
            continue
        out.append(_full(provider, found, typed))
    return Resolution(out, problems)

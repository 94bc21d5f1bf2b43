"""`/watch`: scheduled checks for new models (not built yet: issue 6)."""

from __future__ import annotations

from commands.grammar import Parsed, duration_option, list_option
from commands.registry import Family, Invocation, UsageError
from commands.services import Services

WATCH = Family("/watch", "check providers for new models and rerun suites on them")

NOT_YET = "Release watches are not available in this version of evalbot yet."


@WATCH.sub(
    "add",
    "<model-glob> suites=<a,b> [every=1h] [provider=P]",
    keys=("suites", "every", "provider", "model"),
)
def add(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Watch a provider for models matching a glob, and run these suites on them."""
    if len(parsed.words) != 1 and "model" not in parsed.options:
        raise UsageError("Give one model glob, like `gpt-5*`.")
    suites = list_option(parsed, "suites")
    if not suites:
        raise UsageError("Missing `suites=<a,b>`: the suites to run on a new model.")
    for name in suites:
        if services.suites.get(name) is None:
            raise UsageError(services.suites.unknown(name))
    duration_option(parsed, "every", 3600, min_s=300, max_s=7 * 86400)
    return NOT_YET


@WATCH.sub("list")
def list_watches(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Watches of this channel."""
    return NOT_YET


@WATCH.sub("remove", "<watch-id>")
def remove(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Delete a watch."""
    return NOT_YET


@WATCH.sub("pause", "<watch-id>")
def pause(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Stop checking until resumed."""
    return NOT_YET


@WATCH.sub("resume", "<watch-id>")
def resume(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Check again on schedule."""
    return NOT_YET


@WATCH.sub("check")
def check(services: Services, inv: Invocation, parsed: Parsed) -> str:
    """Check every watch of this channel now."""
    return NOT_YET

"""Where eval data may be shown: only in the channel where its run (or job) started.

Items, answers, references, failing samples and flips are a team's private eval data; a
run started in a private channel must not leak through `/eval show` or `/eval compare`
typed somewhere else. Elsewhere evalbot gives the numbers and where to look.
"""

from __future__ import annotations

from collections.abc import Iterable


def samples_visible(origin_channels: Iterable[str | None], asked_in: str) -> bool:
    """Whether samples of runs started in `origin_channels` may be shown in `asked_in`:
    only when every one of them started there (a run with no channel, from the CLI,
    shows its samples in no channel)."""
    return all(channel == asked_in for channel in origin_channels)


def elsewhere_note(what: str, channel: str | None) -> str:
    """Our words for "the samples are over there" (a channel link, never its content)."""
    where = f"<#{channel}>" if channel else "the terminal that ran it"
    return (
        f":lock: {what} started in {where}: its samples (inputs, answers, references) are "
        "shown only there. Ask there, or look at its message in that channel."
    )

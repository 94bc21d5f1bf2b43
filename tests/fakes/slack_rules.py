"""Slack's rules that the fake enforces: rate limits per method per app (and per channel
for chat.postMessage), and channel membership.

Defaults follow Slack's published limits, so a bot that passes against the fake does not
hammer the real one: chat.update is Tier 3 (about 50 a minute for the whole app, not per
message); chat.postMessage about 1 a second per channel with short bursts. A refusal is
HTTP 429 with Retry-After (whole seconds) and `{"ok": false, "error": "ratelimited"}`.
Tests loosen or tighten a limit with `FakeSlack.set_limit`.

Membership: a channel a test never declared is a public channel the bot is a member of,
so tests that do not care keep working; `FakeSlack.add_channel` declares others (not
joined, private, archived, read-only).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` calls at once, refilled at `per_minute`."""

    per_minute: float
    burst: int
    per_channel: bool = False


# Slack's tiers: 1 = 1+/min, 2 = 20+/min, 3 = 50+/min, 4 = 100+/min (bursts allowed).
TIER_2, TIER_3, TIER_4 = Limit(20, 20), Limit(50, 50), Limit(100, 100)

DEFAULT_LIMITS: dict[str, Limit] = {
    "chat.update": TIER_3,
    "chat.postMessage": Limit(60, 5, per_channel=True),
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "reactions.add": TIER_3,
    "reactions.remove": TIER_3,
    "conversations.info": TIER_3,
    "conversations.join": TIER_3,
    "users.info": TIER_4,
    "usergroups.users.list": TIER_2,
    "views.publish": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "files.info": TIER_4,
    "files.list": TIER_3,
}


class RateLimiter:
    """Token buckets per (method) or per (method, channel); thread-safety is the caller's
    (FakeSlack holds its lock)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits: dict[str, Limit | None] = dict(DEFAULT_LIMITS)
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, at

    def set(self, method: str, limit: Limit | None) -> None:
        """Replace one method's limit (None: unlimited); its bucket starts full."""
        self.limits[method] = limit
        for key in [k for k in self._buckets if k[0] == method]:
            del self._buckets[key]

    def take(self, method: str, channel: str) -> int | None:
        """None when the call is allowed, else the Retry-After seconds to answer with."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        key = (method, channel if limit.per_channel else "")
        now = self._clock()
        rate = limit.per_minute / 60.0
        tokens, at = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate)) if rate > 0 else 60


@dataclass
class Channel:
    """A conversation as far as membership goes."""

    id: str
    private: bool = False
    member: bool = True
    archived: bool = False
    read_only: bool = False  # an announcement channel: only admins may post

    def json(self) -> dict[str, object]:
        is_im = self.id.startswith("D")
        return {
            "id": self.id,
            "name": f"channel-{self.id.lower()}",
            "is_channel": not is_im and not self.private,
            "is_group": self.private,
            "is_im": is_im,
            "is_private": self.private,
            "is_member": self.member,
            "is_archived": self.archived,
        }


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{1,20}$")

DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "chat:write.public",
        "channels:join",
        "channels:read",
        "commands",
        "files:read",
        "files:write",
        "reactions:read",
        "reactions:write",
        "users:read",
    }
)


@dataclass
class Membership:
    """Which conversations exist and which the bot is in, and what the app may do."""

    channels: dict[str, Channel] = field(default_factory=dict)
    scopes: set[str] = field(default_factory=lambda: set(DEFAULT_SCOPES))

    @staticmethod
    def valid_id(channel: str) -> bool:
        return bool(_CHANNEL_ID.match(channel))

    def get(self, channel: str) -> Channel | None:
        """The channel (an undeclared well-formed id is a public channel the bot is in)."""
        if not self.valid_id(channel):
            return None
        found = self.channels.get(channel)
        if found is None:
            found = self.channels[channel] = Channel(channel, private=channel.startswith("G"))
        return found

    def visible(self, channel: str) -> Channel | None:
        """The channel as the bot sees it: private ones it is not in do not exist for it."""
        found = self.get(channel)
        if found is None or (found.private and not found.member):
            return None
        return found

    def post_error(self, channel: str) -> str | None:
        """Slack's error for chat.postMessage into `channel`, or None when it may post."""
        found = self.visible(channel)
        if found is None:
            return "channel_not_found"
        if found.archived:
            return "is_archived"
        public = found.id.startswith("C") and not found.private
        if not found.member and not (public and "chat:write.public" in self.scopes):
            return "not_in_channel"
        if found.read_only:
            return "restricted_action_read_only_channel"
        return None

    def member_error(self, channel: str, *, invalid: str = "channel_not_found") -> str | None:
        """Slack's error for a call that needs the bot in the channel (uploads, reactions)."""
        if not self.valid_id(channel):
            return invalid
        found = self.visible(channel)
        if found is None:
            return "channel_not_found"
        if found.archived:
            return "is_archived"
        if not found.member:
            return "not_in_channel"
        if found.read_only:
            return "posting_to_channel_denied"
        return None

    def delivers(self, channel: str) -> bool:
        """Events API events from `channel` reach the app only when the bot is a member."""
        found = self.get(channel)
        return found is not None and found.member

"""Whether this process is busy: the `idle` of GET /healthz.

Tests (and operators draining a process) wait for `idle` instead of sleeping a fixed
time before checking that nothing more happened. Busy means a Slack listener still
running, a background task (a command's work, a run, its announcement), a scheduled
job or the leader's start-up work in progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


class Activity:
    """Counts work in flight in this process; `idle` when there is none."""

    def __init__(self) -> None:
        self._handling = 0
        self._sources: list[Callable[[], int]] = []

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """Count the enclosed work (a listener, the leader's resume) as in flight."""
        self._handling += 1
        try:
            yield
        finally:
            self._handling -= 1

    def watch(self, busy: Callable[[], int]) -> None:
        """Also count what `busy()` reports (tasks, scheduled jobs running)."""
        self._sources.append(busy)

    @property
    def idle(self) -> bool:
        return self._handling == 0 and not any(source() for source in self._sources)

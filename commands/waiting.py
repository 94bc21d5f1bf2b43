"""Waiting for an event with a timeout, without losing a cancellation.

On Python 3.11, `asyncio.wait_for(event.wait(), t)` can swallow the cancellation of the
task that awaits it when the event is set at the same moment (python/cpython#86296,
fixed in 3.12): a loop around it then never ends, and whoever awaits that task hangs.
`asyncio.wait` never swallows it.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True if it is set."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()

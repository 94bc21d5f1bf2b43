"""bot.activity: what /healthz reports as `idle`."""

from __future__ import annotations

import pytest

from bot.activity import Activity


def test_idle_only_when_nothing_is_in_flight() -> None:
    activity = Activity()
    assert activity.idle
    tasks = [0]
    activity.watch(lambda: tasks[0])
    with activity.handling():
        assert not activity.idle
        with activity.handling():
            assert not activity.idle
        assert not activity.idle
    assert activity.idle
    tasks[0] = 2
    assert not activity.idle
    tasks[0] = 0
    with pytest.raises(RuntimeError), activity.handling():  # a failing listener ends too
        raise RuntimeError("boom")
    assert activity.idle

"""Answers a model can give that used to crash or stall grading (issue 12, items 2-3)."""

from __future__ import annotations

import asyncio
import time

import pytest

from commands.suites.graders import cpu_pool
from commands.suites.graders.base import Sample, parse_output_json
from commands.suites.graders.similarity import meteor


def test_deeply_nested_json_is_not_json_rather_than_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert parse_output_json(deep) is None
    assert Sample(deep).output_json is None
    assert Sample('{"a": [[1]]}').output_json == {"a": [[1]]}


async def test_a_long_metric_is_scored_off_the_event_loop() -> None:
    reference = " ".join(f"w{i % 500}" for i in range(500))
    answer = " ".join(f"w{(i * 7) % 900}" for i in range(8_000))
    assert len(answer) > cpu_pool.INLINE_CHARS
    expected = meteor(answer, reference)
    # Warm the pool first: a spawned worker's start is not what is measured.
    await cpu_pool.score_metric("meteor", answer[:5000], reference, grader="g")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        score = await cpu_pool.score_metric("meteor", answer, reference, grader="g")
    finally:
        tick.cancel()
    took = time.perf_counter() - started
    assert score == pytest.approx(expected)
    assert took > 0.05, "too quick to show anything: make the answer longer"
    # The loop kept ticking while the worker computed (a generous bound for 2 busy cores).
    assert max(gaps) < max(0.25, took / 2)


async def test_a_short_metric_is_scored_in_place() -> None:
    score = await cpu_pool.score_metric("rouge_1", "the cat sat", "the cat sat", grader="g")
    assert score == 1.0

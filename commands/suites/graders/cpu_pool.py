"""Similarity metrics off the event loop, in a small pool of worker processes.

The metrics (nltk, rouge-score, rapidfuzz) are mostly pure Python and some quadratic
(METEOR's alignment: 1.35 s for a 50,000-word answer against a 500-word reference). On
the event loop that stalls every slash command's acknowledgement; in a thread it still
holds the GIL for as long. So a long pair is scored in another process, with a time
limit. A short pair (most graded answers, a millisecond of work) is scored in a thread,
where a process hop would cost more: a thread, not in place, because METEOR's first
call reads WordNet (seconds).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import threading
from concurrent.futures.process import BrokenProcessPool

from commands.suites.graders.base import GradeError
from commands.suites.graders.similarity import LOCAL_METRICS

__all__ = ["INLINE_CHARS", "TIME_LIMIT_S", "score_metric", "shutdown"]

# Below this many characters in both texts a metric takes about a millisecond (METEOR
# on 2 x 250 words), cheaper than shipping it to a worker.
INLINE_CHARS = 4_000
TIME_LIMIT_S = 60.0

_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None


def _score(metric: str, text: str, reference: str) -> float:
    """Runs in a worker: the metric by name (the table holds lambdas, not picklable)."""
    return LOCAL_METRICS[metric](text, reference)


def _get_pool() -> concurrent.futures.ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn, not fork: the bot has threads (database, Slack) whose locks a
            # forked child would inherit mid-use.
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=max(1, min(2, os.cpu_count() or 1)),
                mp_context=multiprocessing.get_context("spawn"),
            )
        return _pool


def _discard(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Drop a pool whose worker died or overran: its processes are ended, not waited."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


async def score_metric(metric: str, text: str, reference: str, *, grader: str) -> float:
    """The metric's score; a long pair is computed in a worker process.

    Raises GradeError when the worker dies or the time limit passes (the sample is
    errored, the run goes on).
    """
    if len(text) + len(reference) <= INLINE_CHARS:
        return await asyncio.to_thread(LOCAL_METRICS[metric], text, reference)
    pool = _get_pool()
    future = asyncio.get_running_loop().run_in_executor(pool, _score, metric, text, reference)
    try:
        return await asyncio.wait_for(future, TIME_LIMIT_S)
    except TimeoutError as exc:
        _discard(pool)
        raise GradeError(
            f"grader {grader!r}: {metric} took over {TIME_LIMIT_S:.0f} s on an answer of "
            f"{len(text):,} characters; set a smaller max_completion_tokens in suite.yaml"
        ) from exc
    except BrokenProcessPool as exc:
        _discard(pool)
        raise GradeError(f"grader {grader!r}: the {metric} worker stopped") from exc


def shutdown() -> None:
    """End the worker processes (at exit; a later call starts a new pool)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)

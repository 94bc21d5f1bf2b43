"""A child process that runs one eval through the real engine and prints JSON.

It takes the same path as `evalbot eval run`: settings from the environment,
`build_services` with a silent `Chat`, SQLite, `RunEngine.execute_and_announce`. Run by
the throughput, rate-limit and memory benchmarks so that their numbers (wall time, CPU,
peak RSS) are the engine's alone::

    python -m bench.engine_child --suite bench-echo --model gpt-4.1-mini [--profile out.prof]

The environment carries OPENAI_BASE_URL, OPENAI_API_KEY, DATABASE_URL,
EVALBOT_SUITES_DIR and EVALBOT_CONCURRENCY.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

from commands.ports import ChatError, Posted, Upload


class SilentChat:
    """The Chat port with nowhere to go: counts calls, like a terminal that prints nothing."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._n = 0

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        """Pretend to post; returns a fresh ts."""
        self._count("post")
        self._n += 1
        return Posted(channel, str(self._n))

    async def update(
        self,
        where: Posted,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        progress: bool = False,
    ) -> None:
        """Pretend to update a message."""
        self._count("update")

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Pretend to send an ephemeral message."""
        self._count("ephemeral")

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        """Pretend to upload a file."""
        self._count("upload")

    async def react(self, where: Posted, emoji: str) -> None:
        """Pretend to add a reaction."""
        self._count("react")

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        """Pretend to publish an App Home view."""
        self._count("publish_home")

    async def fetch_file(self, channel: str, name: str, max_bytes: int) -> bytes:
        """No files are shared in a benchmark."""
        self._count("fetch_file")
        raise ChatError("file_not_found")


async def drain_bucket(base_url: str, api_key: str, model: str) -> int:
    """Spend the provider's request budget until it answers 429; returns requests sent.

    The fake's token bucket starts full (a minute's worth of requests), so without this
    a run shorter than a minute's budget would never meet the rate limit.
    """
    import aiohttp

    sent = 0
    limited = asyncio.Event()
    body = {"model": model, "messages": [{"role": "user", "content": "x"}]}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession() as session:

        async def spend() -> None:
            nonlocal sent
            while not limited.is_set():
                url = f"{base_url}/chat/completions"
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    sent += 1
                    if resp.status == 429:
                        limited.set()

        await asyncio.gather(*(spend() for _ in range(32)))
    return sent


async def run_once(
    suite_name: str, models: list[str], limit: int | None, drain: bool = False
) -> dict[str, Any]:
    """Create a run and execute it to the end; returns timings and counts."""
    from bot.settings import load_settings
    from bot.wiring import build_services
    from commands.ports import IdleScheduler
    from storage import runs as store
    from storage.db import Database

    t0 = time.perf_counter()
    settings = load_settings(require_slack=False, env_file=None)
    db = await asyncio.to_thread(Database.connect, settings.sqlalchemy_url)
    chat = SilentChat()
    services, gateway = build_services(settings, db, chat=chat, scheduler=IdleScheduler())
    await gateway.warm()  # as `evalbot eval run` and the bot do before any run
    try:
        suite = services.suites.get(suite_name)
        if suite is None:
            raise SystemExit(f"no suite {suite_name!r} in {settings.suites_dir}")
        total = min(limit or len(suite.items), len(suite.items))
        run = await db.run(
            store.create_run,
            suite=suite.name,
            data_version=suite.data_version,
            models=models,
            total=total,
            sample_limit=limit,
            channel="bench",
            origin="cli",
        )
        drained = 0
        if drain:
            drained = await drain_bucket(
                settings.openai_base_url or "", settings.openai_api_key or "", models[0]
            )
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        t1 = time.perf_counter()
        final = await services.engine.execute_and_announce(run.id or 0)
        wall = time.perf_counter() - t1
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        await services.tasks.wait_idle()
        counts = await db.run(store.tallies, run_id=run.id or 0, with_latencies=False)
        stored = await db.run(store.done_items, run_id=run.id or 0)
        attempts = await db.run(_attempts, run_id=run.id or 0)
        return {
            "status": final.status if final else None,
            "setup_s": t1 - t0,
            "wall_s": wall,
            "cpu_s": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
            "samples": total * len(models),
            "stored": len(stored),
            "passed": sum(c.passed for c in counts.values()),
            "failed": sum(c.failed for c in counts.values()),
            "errored": sum(c.errored for c in counts.values()),
            "attempts": attempts,
            "chat_calls": chat.calls,
            "drained": drained,
        }
    finally:
        await gateway.close()
        await asyncio.to_thread(db.close)


def _attempts(session: Any, *, run_id: int) -> int:
    from sqlalchemy import func, select
    from sqlmodel import col

    from storage.tables import SampleResult

    query = select(func.sum(SampleResult.attempts)).where(col(SampleResult.run_id) == run_id)
    return int(session.execute(query).scalar() or 0)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run, print one JSON line (with the peak RSS of this process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--profile", default=None, help="write a cProfile of the run here")
    parser.add_argument("--drain", action="store_true", help="exhaust the rate limit first")
    args = parser.parse_args(argv)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        out = asyncio.run(run_once(args.suite, args.model, args.limit, args.drain))
        profiler.disable()
        profiler.dump_stats(args.profile)
    else:
        out = asyncio.run(run_once(args.suite, args.model, args.limit, args.drain))
    # Linux reports ru_maxrss in KiB.
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()

"""A child process for the crash-waste benchmark: start a run, or resume it.

    python -m bench.crash_child --suite bench-echo --model gpt-4.1-mini --limit 120

With no run in the database it creates one and executes it; with one already there (a
previous child was killed with SIGKILL) it does what a restarted bot does: takes back
the dead process's run (`RunEngine.resume_all`) and finishes it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from bench.engine_child import SilentChat


async def start_or_resume(suite_name: str, model: str, limit: int) -> dict[str, object]:
    """Execute the database's one run (creating it first if there is none)."""
    from bot.settings import load_settings
    from bot.wiring import build_services
    from commands.ports import IdleScheduler
    from storage import runs as store
    from storage.db import Database

    settings = load_settings(require_slack=False, env_file=None)
    db = await asyncio.to_thread(Database.connect, settings.sqlalchemy_url)
    services, gateway = build_services(settings, db, chat=SilentChat(), scheduler=IdleScheduler())
    await gateway.warm()
    try:
        existing = await db.run(store.get_run, run_id=1)
        if existing is None:
            suite = services.suites.get(suite_name)
            if suite is None:
                raise SystemExit(f"no suite {suite_name!r}")
            run = await db.run(
                store.create_run,
                suite=suite.name,
                data_version=suite.data_version,
                models=[model],
                total=min(limit, len(suite.items)),
                sample_limit=limit,
                channel="bench",
                origin="slack",  # a terminal's run is never resumed by a bot
            )
            print(json.dumps({"created": run.id}), flush=True)
            await services.engine.execute_and_announce(run.id or 0)
            resumed: list[int] = []
        else:
            resumed = await services.engine.resume_all()
            while not (await db.run(store.get_run, run_id=1)).announced:
                await asyncio.sleep(0.05)
        final = await db.run(store.get_run, run_id=1)
        stored = await db.run(store.done_items, run_id=1)
        return {
            "status": final.status if final else None,
            "resumed": resumed,
            "stored": len(stored),
        }
    finally:
        await gateway.close()
        await asyncio.to_thread(db.close)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, start or resume, print the outcome as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--limit", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(start_or_resume(args.suite, args.model, args.limit))))


if __name__ == "__main__":
    main()

"""Memory and time of a large training file: validate, record, 20 polls, upload prep.

    .venv/bin/python -m bench.finetune_data_memory [MB]

Measures this checkout. To measure a checkout from before the training data left the
job row (it kept the file in `finetune_jobs.options`), run this file with that
checkout first on `sys.path`: it detects the old API and takes the old path.
Figures are VmRSS (now) and ru_maxrss (peak) of this process, in MB.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from commands.suites.suite import load_suite
from storage import finetunes as store
from storage.db import Database

try:
    from commands.finetune.sources import from_file

    NEW = True
except ImportError:  # a checkout from before the split
    from commands.finetune.data import from_file  # type: ignore[import-not-found,no-redef]

    NEW = False

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def training_file(megabytes: int) -> tuple[bytes, int]:
    lines: list[str] = []
    total = 0
    while total < megabytes * 1024 * 1024:
        row = {
            "messages": [
                {"role": "user", "content": f"ticket {len(lines)} " + "lorem ipsum " * 80},
                {"role": "assistant", "content": "billing"},
            ]
        }
        lines.append(json.dumps(row) + "\n")
        total += len(lines[-1])
    return "".join(lines).encode(), len(lines)


def _lines(rows: list[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode()


def main(megabytes: int = 50) -> None:
    suite = load_suite(REPO / "examples" / "ticket-routing")
    content, rows = training_file(megabytes)
    gc.collect()
    mode = "after" if NEW else "before"
    print(f"{mode}: file {len(content) / 1e6:.1f} MB, {rows} rows; RSS {rss_mb():.0f} MB")
    started = time.perf_counter()
    tset = from_file("sft", "big.jsonl", content, suite)
    del content
    gc.collect()
    took = time.perf_counter() - started
    print(f"validated in {took:.1f}s: RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")
    db = Database.connect(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    started = time.perf_counter()
    fields: dict[str, Any] = {"suite": "s", "method": "sft", "base_model": "gpt-4.1-mini"}
    if NEW:
        train = _lines(tset.train)
        job, _ = db.call(store.record_request, request_key="k", train=train, **fields)
        del train
    else:
        options = {"train_jsonl": tset.jsonl("train").decode(), "method": {}}
        job, _ = db.call(store.record_request, request_key="k", options=options, **fields)
        del options
    del tset
    gc.collect()
    took = time.perf_counter() - started
    print(f"recorded in {took:.1f}s: RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")
    started = time.perf_counter()
    for _ in range(20):
        db.call(store.get_job, job_id=job.id)
    gc.collect()
    each = (time.perf_counter() - started) / 20 * 1000
    print(f"20 polls: {each:.1f} ms each to load the job; RSS {rss_mb():.0f} MB")
    started = time.perf_counter()
    with tempfile.TemporaryFile() as spool:
        if NEW:
            size = db.call(store.copy_data, job_id=job.id, part="train", into=spool)
        else:
            row = db.call(store.get_job, job_id=job.id)
            size = spool.write(row.options["train_jsonl"].encode())
    took = time.perf_counter() - started
    print(f"upload prep: {size / 1e6:.1f} MB in {took:.2f}s; peak {peak_mb():.0f} MB")
    db.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

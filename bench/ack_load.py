"""The load generator of the ack benchmark, in a process of its own so that its threads
do not share a GIL with the fake Slack server.

Reads a JSON job on stdin: ``{"url", "secret", "threads", "spacing_s", "requests":
[{"kind", "body"}, ...]}``. Request i is due ``i * spacing_s`` after the start (an open
loop: a slow answer does not delay the next request); ``threads`` workers take them in
order, sign them at send time and time the POST. Prints ``{"samples": [[kind, status,
seconds, late_s], ...]}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from tests.fakes.slack import sign_request


def post(url: str, secret: str, body: bytes) -> tuple[int, float]:
    """One signed slash-command POST; (status, seconds until the answer was read)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign_request(secret, body)}
    request = urllib.request.Request(url, data=body, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
            return resp.status, time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, time.perf_counter() - started
    except OSError:
        return 0, time.perf_counter() - started


def run(job: dict[str, Any]) -> list[list[Any]]:
    """Send every request of the job; return one sample per request."""
    requests = job["requests"]
    spacing = float(job["spacing_s"])
    samples: list[list[Any]] = [[] for _ in requests]
    lock = threading.Lock()
    next_index = 0
    start = time.perf_counter() + 0.05

    def worker() -> None:
        nonlocal next_index
        while True:
            with lock:
                index = next_index
                next_index += 1
            if index >= len(requests):
                return
            due = start + index * spacing
            late = time.perf_counter() - due
            if late < 0:
                time.sleep(-late)
                late = 0.0
            item = requests[index]
            status, seconds = post(job["url"], job["secret"], item["body"].encode())
            samples[index] = [item["kind"], status, seconds, late]

    threads = [threading.Thread(target=worker) for _ in range(int(job["threads"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def main() -> None:
    """Read the job, run it, print the samples as one JSON line."""
    job = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps({"samples": run(job)}) + "\n")


if __name__ == "__main__":
    main()

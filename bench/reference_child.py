"""The reference run: inspect-ai on the benchmark suite, in a throwaway venv.

Run by bench/reference.py with the interpreter of a venv under /tmp that has inspect-ai
installed (never the project's): ``python reference_child.py DATA_JSONL CONCURRENCY
LOG_DIR``, with FAKE_BASE_URL and FAKE_API_KEY pointing at the fake OpenAI server. Same
prompts, same grading (exact match), same concurrency as the engine run. Prints one JSON
line: wall time of ``eval()``, CPU seconds, sample counts.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    """Build the task from the JSONL, run it once, print timings."""
    from inspect_ai import Task, eval  # type: ignore[import-not-found]
    from inspect_ai.dataset import Sample  # type: ignore[import-not-found]
    from inspect_ai.scorer import exact  # type: ignore[import-not-found]
    from inspect_ai.solver import generate, system_message  # type: ignore[import-not-found]

    data_path, concurrency, log_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(data_path, encoding="utf-8") as data:
        items = [json.loads(line) for line in data if line.strip()]
    samples = [Sample(input=item["q"], target=item["label"]) for item in items]
    task = Task(
        dataset=samples,
        solver=[system_message("Repeat the question word for word."), generate()],
        scorer=exact(),
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    logs = eval(
        task,
        model="openai-api/fake/gpt-4.1-mini",
        max_connections=concurrency,
        max_samples=concurrency,
        max_tokens=16,
        temperature=0,
        display="none",
        log_dir=log_dir,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    log = logs[0]
    scores = log.results.scores if log.results else []
    metrics = scores[0].metrics if scores else {}
    accuracy = next((m.value for m in metrics.values()), None)
    out = {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "status": log.status,
        "samples": len(samples),
        "completed": log.results.completed_samples if log.results else 0,
        "accuracy": accuracy,
        "max_rss_mb": after.ru_maxrss / 1024,
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()

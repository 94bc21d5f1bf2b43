"""The real bot with models that answer badly on purpose (issue 12, items 2 and 3):
a rambling model graded with METEOR does not hold up slash commands, and an answer of
deeply nested brackets is graded like any other text."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import start_bot, wait_status
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

N = 6
REFERENCE = " ".join(f"w{i}" for i in range(500))
# 50,000 words: METEOR on it is over a second of pure Python per sample (issue 12).
RAMBLE = " ".join(f"w{(i * 7) % 900}" for i in range(50_000))


def write_suite(root: Path) -> Path:
    folder = root / "essay"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        "name: essay\n"
        "data: eval.jsonl\n"
        "input:\n"
        '  - role: user\n    content: "Essay {{ item.n }}"\n'
        "grader:\n  type: text_similarity\n  name: close\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.reference }}"\n'
        "  evaluation_metric: meteor\n  pass_threshold: 0.5\n"
        "sampling: {max_completion_tokens: 60000}\n"  # let it ramble past the default cap
    )
    rows = [f'{{"n": {i}, "reference": "{REFERENCE}"}}' for i in range(N)]
    (folder / "eval.jsonl").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, FakeSlack, FakeOpenAI]]:
    with FakeSlack() as slack, FakeOpenAI(models=["m-ramble"]) as openai:
        for i in range(N):
            openai.answer("m-ramble", f"Essay {i}", RAMBLE)
        openai.answer("m-ramble", "Essay 0", "[" * 100_000 + "]" * 100_000)
        yield tmp_path, slack, openai


def test_commands_are_acknowledged_quickly_while_rambling_answers_are_graded(
    world: tuple[Path, FakeSlack, FakeOpenAI],
) -> None:
    tmp, slack, openai = world
    bot = start_bot(tmp, slack, openai, suites_dir=write_suite(tmp / "suites"))
    try:
        status, _, _, _ = bot.slash(slack, "run essay m-ramble")
        assert status == 200
        wait_status(bot, "r1", {"running", "finished"})
        acks: list[float] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, took, _ = bot.slash(slack, "status")
            assert status == 200
            acks.append(took)
            _, body = bot.get("/api/runs/r1")
            if body["status"] == "finished":
                break
            time.sleep(0.1)
        final = wait_status(bot, "r1", {"finished"}, timeout=60)
        counts = final["models"]["m-ramble"]
        # Every sample graded (the brackets one too: as text it is not close), none lost.
        assert counts["graded"] + counts["errored"] == N and counts["errored"] == 0
        assert counts["failed"] >= 1
        assert len(acks) >= 3, "the run ended before commands could be timed"
        # Generous for a loaded 2-core machine; on the event loop METEOR held it >10 s.
        assert max(acks) < 1.5, f"slowest ack {max(acks):.2f} s: {acks}"
    finally:
        bot.stop()

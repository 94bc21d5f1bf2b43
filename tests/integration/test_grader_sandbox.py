"""A suite's python grader, written by an attacker, tries each way out of its sandbox.

Real worker processes, a real loopback server, real files: every test's grader
returns 1.0 when its escape worked, so a guard that stops holding fails the test.
Some tests switch one guard off (`sandbox=` knobs of PythonGrader) to show that the
guard left on holds by itself. docs/security.md maps each guard to its test.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from commands.ports import Models
from commands.suites.graders import _grader_sandbox
from commands.suites.graders.base import GradeError, Sample
from commands.suites.graders.python_grader import PythonGrader

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")

NO_MODELS: Models = None  # type: ignore[assignment]  # python graders call no model
SECRET = "xoxb-sandbox-test-secret-0123456789"


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    """A suites dir with the grader's suite, a sibling suite and a database beside it."""
    root = tmp_path / "suites"
    (root / "mine").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "other" / "eval.jsonl").write_text('{"secret": "sibling data"}\n')
    (tmp_path / "evalbot.db").write_bytes(b"SQLite format 3\x00 private rows")
    return root


@pytest.fixture
async def make(suites: Path) -> AsyncIterator[Callable[..., PythonGrader]]:
    made: list[PythonGrader] = []

    def build(source: str, **options: Any) -> PythonGrader:
        grader = PythonGrader(
            "escape", source, filename="<source>", folder=suites / "mine", **options
        )
        made.append(grader)
        return grader

    yield build
    for grader in made:
        await grader.aclose()


async def score(grader: PythonGrader, **item: Any) -> float:
    return (await grader.grade(item, Sample("answer"), NO_MODELS)).score


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


# -- the bot's environment and files ------------------------------------------------------


@pytest.mark.parametrize(
    "landlock",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="the capability drop is root's"),
        ),
    ],
    ids=["all-guards", "root-without-capabilities-alone"],
)
async def test_grader_cannot_read_the_bot_environment(
    make: Callable[..., PythonGrader], monkeypatch: pytest.MonkeyPatch, landlock: bool
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SECRET)
    grader = make(
        "import os\n"
        "def grade(sample, item):\n"
        "    if item['token'] in repr(os.environ):\n"
        "        return 1.0\n"
        "    for pid in (os.getppid(), item['bot']):\n"
        "        try:\n"
        "            with open(f'/proc/{pid}/environ', 'rb') as f:\n"
        "                if f.read():  # the bot's start-up environment: its tokens\n"
        "                    return 1.0\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 0.0\n",
        sandbox={"landlock": landlock},
    )
    assert await score(grader, token=SECRET, bot=os.getpid()) == 0.0


async def test_grader_cannot_read_the_database_or_other_suites(
    make: Callable[..., PythonGrader], suites: Path
) -> None:
    grader = make(
        "import os\n"
        "def grade(sample, item):\n"
        "    for path in item['paths']:\n"
        "        try:\n"
        "            if os.path.isdir(path):\n"
        "                os.listdir(path)\n"
        "            else:\n"
        "                open(path, 'rb').read()\n"
        "            return 1.0\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 0.0\n"
    )
    paths = [
        str(suites.parent / "evalbot.db"),
        str(suites / "other" / "eval.jsonl"),
        str(suites),
        str(suites / "mine"),
        "/etc/passwd",
        str(Path.cwd()),
    ]
    assert await score(grader, paths=paths) == 0.0


async def test_grader_writes_only_in_its_empty_scratch_dir(
    make: Callable[..., PythonGrader], tmp_path: Path
) -> None:
    outside = [tmp_path / "escaped", Path("/tmp") / f"evalbot-escape-{os.getpid()}"]
    grader = make(
        "import os\n"
        "def grade(sample, item):\n"
        "    assert os.listdir('.') == [], 'the scratch dir starts empty'\n"
        "    with open('notes.txt', 'w') as f:  # its own scratch dir: allowed\n"
        "        f.write('ok')\n"
        "    for path in item['outside']:\n"
        "        try:\n"
        "            with open(path, 'w') as f:\n"
        "                f.write('escaped')\n"
        "            return 1.0\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 0.0\n"
    )
    assert await score(grader, outside=[str(p) for p in outside]) == 0.0
    assert not any(p.exists() for p in outside)


# -- network -----------------------------------------------------------------------------


@pytest.mark.parametrize("landlock", [True, False], ids=["all-guards", "seccomp-alone"])
async def test_grader_cannot_reach_a_loopback_server(
    make: Callable[..., PythonGrader], landlock: bool
) -> None:
    connections = 0

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    grader = make(
        "import socket\n"
        "def grade(sample, item):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', item['port']), timeout=2).close()\n"
        "        return 1.0\n"
        "    except OSError:\n"
        "        return 0.0\n",
        sandbox={"landlock": landlock},
    )
    try:
        assert await score(grader, port=port) == 0.0
        assert connections == 0
    finally:
        server.close()
        await server.wait_closed()


# -- processes, memory, CPU --------------------------------------------------------------


async def test_grader_cannot_start_processes(make: Callable[..., PythonGrader]) -> None:
    grader = make(
        "import os, subprocess\n"
        "def grade(sample, item):\n"
        "    started = 0\n"
        "    for _ in range(50):\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                os._exit(0)\n"
        "            started += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    try:\n"
        "        subprocess.run(['true'])\n"
        "        started += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "    return min(started, 1)\n"
    )
    assert await score(grader) == 0.0


async def test_a_child_process_is_killed_with_its_sample(
    make: Callable[..., PythonGrader],
) -> None:
    # Process creation switched off is the first guard; this shows the second: the
    # worker's process group goes down with the sample that left something behind.
    grader = make(
        "import os, time\n"
        "def grade(sample, item):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return pid / 1e8\n",
        sandbox={"deny_processes": False},
    )
    child = round(await score(grader) * 1e8)
    assert child > 0
    assert await wait_until(lambda: not alive(child)), "the child outlived its sample"
    assert grader._idle == []  # the worker went with it


async def test_a_thread_left_running_retires_the_worker(
    make: Callable[..., PythonGrader],
) -> None:
    grader = make(
        "import threading, time\n"
        "def grade(sample, item):\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "    return 1.0\n"
    )
    assert await score(grader) == 1.0
    assert grader._idle == []
    assert await score(grader) == 1.0  # the next sample gets a fresh worker


async def test_grader_memory_is_capped(make: Callable[..., PythonGrader]) -> None:
    grader = make(
        "def grade(sample, item):\n"
        "    try:\n"
        "        hog = bytearray(1024 * 1024 * 1024)\n"
        "        return 1.0\n"
        "    except MemoryError:\n"
        "        return 0.0\n",
        memory_mb=128,
    )
    assert await score(grader) == 0.0


async def test_grader_cpu_is_capped_below_its_wall_time(make: Callable[..., PythonGrader]) -> None:
    grader = make(
        "def spin():\n    while True:\n        pass\ndef grade(sample, item):\n    spin()\n",
        timeout_s=60,
        cpu_s=1,
    )
    started = time.monotonic()
    with pytest.raises(GradeError, match="CPU time"):
        await asyncio.wait_for(score(grader), 20)
    assert time.monotonic() - started < 20


@pytest.mark.skipif(
    _grader_sandbox._landlock_abi() < 6, reason="signal scoping needs Landlock ABI 6"
)
async def test_grader_cannot_signal_the_bot(make: Callable[..., PythonGrader]) -> None:
    grader = make(
        "import os, signal\n"
        "def grade(sample, item):\n"
        "    try:\n"
        "        os.kill(item['bot'], 0)  # 0: only asks whether a signal would be allowed\n"
        "        return 1.0\n"
        "    except OSError:\n"
        "        return 0.0\n"
    )
    assert await score(grader, bot=os.getpid()) == 0.0


async def test_scratch_dirs_are_removed_with_their_workers(
    make: Callable[..., PythonGrader],
) -> None:
    grader = make("def grade(sample, item):\n    open('left.txt', 'w').write('x')\n    return 1\n")
    assert await score(grader) == 1.0
    scratch = Path(grader._idle[0].scratch)
    assert (scratch / "left.txt").exists()
    await grader.aclose()
    assert not scratch.exists()

"""python: the suite's own `def grade(sample, item) -> float`, run in worker processes.

The code comes from the suite folder (inline `source`, or `source_file` inside the
folder), never from Slack, but a suite is still not trusted with the bot's secrets.
It runs in separate processes (`python -I`, empty environment, an empty scratch dir
as cwd, a session and process group of their own) that each serve many samples over
JSON lines, behind the walls of _grader_sandbox.py (no network, no files but Python's
own and the scratch dir, no new processes, memory and CPU limits). A sample that
overruns its wall time, or leaves a thread or process running, gets its worker's
whole process group killed; the next sample starts a fresh one. docs/security.md
says what this protects against and what it does not.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from commands.ports import Models
from commands.suites.graders.base import Grade, GradeError, Sample
from commands.suites.graders.spec import SpecContext

__all__ = ["PythonGrader", "build_python"]

KEYS = (
    "type",
    "name",
    "source",
    "source_file",
    "image_tag",
    "pass_threshold",
    "timeout",
    "memory_mb",
)
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MEMORY_MB = 512
_WORKER_SCRIPT = Path(__file__).with_name("_python_worker.py")
_MIN_STARTUP_S = 10.0
_log = logging.getLogger(__name__)
_warned: set[str] = set()


class _WorkerGone(Exception):
    pass


class _Worker:
    """One process running the grader; not shared between concurrent samples."""

    def __init__(self, process: asyncio.subprocess.Process, scratch: str, cpu_s: int) -> None:
        self.process = process
        self.loop = asyncio.get_running_loop()
        self.scratch = scratch
        self.cpu_s = cpu_s

    @property
    def usable(self) -> bool:
        return self.process.returncode is None and self.loop is asyncio.get_running_loop()

    async def call(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            await self.process.stdin.drain()
            line = await self.process.stdout.readline()
        except ConnectionError as exc:
            raise _WorkerGone from exc
        try:
            reply = json.loads(line) if line else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise _WorkerGone
        return reply

    async def reap(self) -> None:
        """After the pipe closed: let the process finish to learn why, then make sure."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 1.0)
        await self.kill()

    def leftovers(self, min_cpu_left_s: float) -> bool:
        """True when the worker must not serve another sample: a thread or child process
        outlived the sample, or too little of its CPU limit is left for one more."""
        proc = f"/proc/{self.process.pid}"
        try:
            tasks = os.listdir(f"{proc}/task")
            for task in tasks:
                with open(f"{proc}/task/{task}/children") as children:
                    if children.read().strip():
                        return True
            with open(f"{proc}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return True  # gone, or not inspectable: do not trust it with another sample
        used_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return len(tasks) > 1 or self.cpu_s - used_s < min_cpu_left_s

    async def kill(self) -> None:
        # The whole process group (the worker leads its own session): a child the
        # code managed to start goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.process.returncode is not None or self.loop is not asyncio.get_running_loop():
            return  # already reaped, or its event loop is gone (a new loop in tests)
        # wait() also waits for the pipes to close, which a process outside the group
        # could hold open for as long as it likes: the sample does not wait on it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 2.0)


class PythonGrader:
    """Grades with the suite's python code in a small pool of worker processes."""

    def __init__(
        self,
        name: str,
        source: str,
        *,
        filename: str,
        folder: Path,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_mb: int = DEFAULT_MEMORY_MB,
        max_workers: int | None = None,
        cpu_s: int | None = None,
        sandbox: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.filename = filename
        self.folder = folder
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.max_workers = max_workers or min(4, os.cpu_count() or 1)
        # A worker's CPU limit covers several samples; it retires before a sample
        # could run short. Tests lower it (cpu_s) and switch guards off (sandbox).
        self.cpu_s = cpu_s or 4 * math.ceil(timeout_s) + 10
        self.sandbox = dict(sandbox or {})
        self.pass_threshold: float | None = None  # in the units grade() returns
        self._idle: list[_Worker] = []
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def __repr__(self) -> str:
        return f"PythonGrader(name={self.name!r}, filename={self.filename!r})"

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Run `grade(sample, item)` in a worker; errors and timeouts become GradeError."""
        request = {"sample": sample.as_dict(), "item": item}
        async with self._worker() as worker:
            try:
                reply = await asyncio.wait_for(worker.call(request), self.timeout_s)
            except TimeoutError:
                await worker.kill()
                raise GradeError(f"timed out after {self.timeout_s:g} s") from None
            except _WorkerGone:
                await worker.reap()
                raise GradeError(self._died(worker)) from None
            if worker.leftovers(min(self.timeout_s, self.cpu_s / 2)):
                await worker.kill()  # nothing of a sample outlives it
        # The code's verdict is a score, never an error (OpenAI's rules): raising or
        # returning no number scores 0. Only a grader that could not run is an error.
        if "error" in reply:
            return Grade(0.0, detail=f"grade() raised {reply['error']}", raw=0.0)
        score = reply.get("score")
        if not isinstance(score, float) or math.isnan(score):
            return Grade(0.0, detail=f"grade() returned {score!r}, not a number", raw=0.0)
        return Grade(min(1.0, max(0.0, score)), raw=score)

    async def aclose(self) -> None:
        """Stop the idle worker processes (they also exit when the bot does)."""
        idle, self._idle = self._idle, []
        for worker in idle:
            with contextlib.suppress(Exception):
                if worker.process.stdin is not None and worker.usable:
                    worker.process.stdin.close()
            await worker.kill()

    def _died(self, worker: _Worker) -> str:
        code = worker.process.returncode
        if code is not None and code < 0 and -code == signal.SIGKILL:
            how = "was killed (out of memory or CPU time?)"
        elif code is not None and code < 0 and -code == signal.SIGXCPU:
            how = "ran out of CPU time"
        else:
            how = f"exited with code {code}"
        return f"the grader process {how}"

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.max_workers))
        return self._slots[1]

    @contextlib.asynccontextmanager
    async def _worker(self) -> AsyncIterator[_Worker]:
        async with self._semaphore():
            worker = None
            while self._idle and worker is None:
                candidate = self._idle.pop()
                if candidate.usable:
                    worker = candidate
                else:
                    await candidate.kill()
            if worker is None:
                worker = await self._start()
            finished = False
            try:
                yield worker
                finished = True
            finally:
                # A worker interrupted mid-request (cancelled run) may still answer
                # it later: never hand it to another sample.
                if finished and worker.usable:
                    self._idle.append(worker)
                else:
                    await worker.kill()

    async def _start(self) -> _Worker:
        scratch = tempfile.mkdtemp(prefix="evalbot-grader-")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(_WORKER_SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=scratch,
            env={"HOME": scratch, "TMPDIR": scratch},
            start_new_session=True,
        )
        worker = _Worker(process, scratch, self.cpu_s)
        hello = {
            "source": self.source,
            "filename": self.filename,
            "memory_bytes": self.memory_mb * 1024 * 1024,
            "sandbox": {"scratch": scratch, "cpu_seconds": self.cpu_s, **self.sandbox},
        }
        try:
            reply = await asyncio.wait_for(worker.call(hello), max(_MIN_STARTUP_S, self.timeout_s))
        except TimeoutError:
            await worker.kill()
            raise GradeError(f"the grader code took over {self.timeout_s:g} s to load") from None
        except _WorkerGone:
            await worker.reap()
            raise GradeError(self._died(worker)) from None
        if "error" in reply:
            await worker.kill()
            if reply.get("sandbox") is False:
                _warn_once(f"python graders cannot run on this machine: {reply['error']}")
                raise GradeError(f"python graders cannot run here: {reply['error']}")
            raise GradeError(f"loading the grader code raised {reply['error']}")
        for warning in reply.get("warnings") or ():
            _warn_once(f"python grader sandbox is weaker here: {warning}")
        return worker


def _warn_once(message: str) -> None:
    """The operator hears once per process what the sandbox cannot do here."""
    if message not in _warned:
        _warned.add(message)
        _log.warning(message)


def _check_source(source: str, filename: str, where: str, ctx: SpecContext) -> bool:
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        ctx.error(where, f"{filename} line {exc.lineno}: {exc.msg}")
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "grade":
            params = node.args.posonlyargs + node.args.args
            if len(params) >= 2 or node.args.vararg:
                return True
            ctx.error(where, f"{filename}: grade() must take (sample, item)")
            return False
    ctx.error(where, f"{filename} defines no top-level `def grade(sample, item)`")
    return False


def _source_file(value: Any, where: str, ctx: SpecContext) -> tuple[str, str] | None:
    if not isinstance(value, str) or not value.strip():
        ctx.error(where, "must be a file name inside the suite folder")
        return None
    folder = ctx.folder.resolve()
    path = (folder / value).resolve()
    if not path.is_relative_to(folder):
        ctx.error(where, f"{value} is outside the suite folder; grader code must live in it")
        return None
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        ctx.error(where, f"cannot read {value}: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError:
        ctx.error(where, f"cannot read {value}: not UTF-8 text")
        return None
    ctx.files.append(ctx.folder / value)
    return source, value


def build_python(spec: Mapping[str, Any], where: str, ctx: SpecContext) -> PythonGrader | None:
    """Check a python grader spec; None (with errors recorded in ctx) when it is invalid."""
    ctx.check_keys(spec, where, KEYS, "a python grader")
    timeout = ctx.number(spec, "timeout", where, DEFAULT_TIMEOUT_S)
    if timeout is not None and not 0 < timeout <= 300:
        ctx.error(f"{where}.timeout", "must be between 0 and 300 seconds")
        timeout = None
    memory = ctx.number(spec, "memory_mb", where, DEFAULT_MEMORY_MB)
    if memory is not None and not 64 <= memory <= 65536:
        ctx.error(f"{where}.memory_mb", "must be between 64 and 65536")
        memory = None
    found: tuple[str, str] | None = None
    if ("source" in spec) == ("source_file" in spec):
        ctx.error(f"{where}.source", "give either source (inline code) or source_file")
    elif "source" in spec:
        source = spec["source"]
        if isinstance(source, str) and source.strip():
            found = source, "<source>"
        else:
            ctx.error(f"{where}.source", "must be python code defining grade(sample, item)")
    else:
        found = _source_file(spec["source_file"], f"{where}.source_file", ctx)
    field = f"{where}.{'source' if 'source' in spec else 'source_file'}"
    if found is None or not _check_source(found[0], found[1], field, ctx):
        return None
    if timeout is None or memory is None:
        return None
    grader = PythonGrader(
        str(spec.get("name", "python")),
        found[0],
        filename=found[1],
        folder=ctx.folder,
        timeout_s=timeout,
        memory_mb=int(memory),
    )
    grader.pass_threshold = ctx.optional_number(spec, "pass_threshold", where)
    return grader

"""The process that runs a python grader's code: started by python_grader.py.

Protocol, one JSON object per line. First line in: {"source", "filename",
"memory_bytes"}; out: {"ready": true} or {"error": "..."}. Then per sample, in:
{"sample": {...}, "item": {...}}; out: {"score": <float>} or {"error": "..."}.
The user's code runs here, never in the bot: before loading it, this process
enters the sandbox of _grader_sandbox.py (with the "sandbox" settings of the first
line), and the bot kills it when it overruns its time or leaves anything running.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import IO, Any

_MAX_ERROR = 500


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _describe(exc: BaseException, filename: str) -> str:
    """The traceback's last line, with the user's line number when there is one."""
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if frames:
        text += f" (at {filename} line {frames[-1].lineno})"
    return text[:_MAX_ERROR]


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    try:
        import resource
    except ImportError:  # not on this platform (Windows): run without the limit
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _sandbox_module() -> ModuleType:
    # Loaded by path: `python -I` keeps this folder off sys.path, and importing the
    # commands package would pull in the bot's dependencies before the walls go up.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_grader_sandbox.py")
    spec = importlib.util.spec_from_file_location("_grader_sandbox", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _enter_sandbox(settings: dict[str, Any]) -> list[str]:
    """Confine this process before any of the suite's code runs in it."""
    sandbox = _sandbox_module()
    try:
        warnings: list[str] = sandbox.enter(**settings)
    except sandbox.SandboxUnavailable as exc:
        raise RuntimeError(f"sandbox unavailable: {exc}") from None
    return warnings


def main() -> None:
    """Serve grade requests on stdin until it closes."""
    # Keep the real stdout for the protocol; whatever the user's code prints goes
    # to stderr instead, so it cannot corrupt a reply.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process

    hello = json.loads(requests.readline() or b"{}")
    filename = str(hello.get("filename", "<grader>"))
    namespace: dict[str, Any] = {"__name__": "__grader__"}
    try:
        _limit_memory(hello.get("memory_bytes"))  # before the sandbox forbids setrlimit
        warnings = _enter_sandbox(hello["sandbox"])
    except Exception as exc:  # noqa: BLE001 - refuse to load the code unconfined
        _send(out, {"error": str(exc), "sandbox": False})
        return
    try:
        code = compile(str(hello["source"]), filename, "exec")
        exec(code, namespace)  # the user's grader; running it is this process's job
        grade: Callable[[Any, Any], Any] = namespace["grade"]
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a reply
        _send(out, {"error": _describe(exc, filename)})
        return
    _send(out, {"ready": True, "warnings": warnings})

    for line in requests:
        request = json.loads(line)
        try:
            value = grade(request["sample"], request["item"])
            # bool is an int to Python, but True is a verdict, not a score.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"grade() returned {value!r}, not a number")
            reply: dict[str, Any] = {"score": float(value)}
        except BaseException as exc:  # noqa: BLE001 - the user's exception is the answer
            reply = {"error": _describe(exc, filename)}
        _send(out, reply)


if __name__ == "__main__":
    main()

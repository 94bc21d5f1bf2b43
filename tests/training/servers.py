"""Real servers on loopback for the training tier: a Ray head and `transformers serve`.

Each runs in its own process group (start_new_session) and is ended by group at teardown,
so nothing outlives the tests: `ray stop` would end every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.e2e.harness import REPO, free_port

BIN = Path(sys.executable).parent


def _get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body.strip() else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


class _Group:
    """A process started in its own session, with its output in a log file."""

    name = "server"
    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_path = folder / f"{self.name}.log"

    def _start(self, argv: list[str], env: dict[str, str]) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=log, start_new_session=True, cwd=self.folder
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait(self, ready: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"{self.name} not ready within {timeout}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; children it left in the group get the same signal.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            break
        self.proc = None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def training_env(**extra: str) -> dict[str, str]:
    """What a training process sees: the venv first on PATH, no model hub."""
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    env.update(extra)
    return env


class RayHead(_Group):
    """`ray start --head --block` on 127.0.0.1 with free ports; `address` is its job server."""

    name = "ray-head"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        # Ray's socket paths must stay short: its own temp dir, not pytest's deep one.
        self.temp_dir = tempfile.mkdtemp(prefix="evray-", dir="/tmp")

    def __enter__(self) -> RayHead:
        argv = [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--port={free_port()}",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            "--num-cpus=2",
            f"--temp-dir={self.temp_dir}",
        ]
        # Keeps every Ray address on loopback (PLATFORM-FACTS: else it binds eth0 too).
        env = training_env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
        self._start(argv, env)
        self._wait(self._ready, timeout=90)
        return self

    def _ready(self) -> bool:
        status, _ = _get(self.address + "/api/version")
        if status != 200:
            return False
        status, nodes = _get(self.address + "/nodes?view=summary")
        return status == 200

    def jobs(self) -> list[dict[str, Any]]:
        _, found = _get(self.address + "/api/jobs/")
        return list(found or [])

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class TransformersServe(_Group):
    """`transformers serve` on 127.0.0.1: it loads whatever local model path a request names."""

    name = "transformers-serve"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> TransformersServe:
        argv = [
            str(BIN / "transformers"),
            "serve",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--device=cpu",
        ]
        self._start(argv, training_env())
        self._wait(lambda: _get(self.base_url + "/models")[0] == 200, timeout=90)
        return self

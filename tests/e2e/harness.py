"""Start the real bot process (`python -m bot`) against the fake Slack and OpenAI servers,
and what the e2e modules share: the "parity" suite and its taught models, waiting for a
run's status, for a post or for an ephemeral reply."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack, sign_request

REPO = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "test-signing-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BotProcess:
    """A running `python -m bot` with its log captured to a file."""

    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> BotProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=REPO, env=self.env, stdout=log, stderr=log
        )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"bot exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.get("/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"bot not healthy within {timeout}s:\n{self.log()}")

    def wait_idle(self, timeout: float = 20.0) -> None:
        """Wait until the bot has no work in flight (`idle` of GET /healthz): what a test
        does before asserting that nothing more happened, instead of a fixed sleep."""
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            status, body = self.get("/healthz")
            if status == 200 and body.get("idle") is True:
                return
            time.sleep(0.02)
        raise AssertionError(f"bot still busy after {timeout}s ({body}):\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return exc.code, json.loads(body) if body else None

    def post_signed(
        self,
        body: bytes,
        *,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        sign: bool = True,
    ) -> tuple[int, bytes, float]:
        """POST to /slack/events; returns (status, body, seconds taken)."""
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(sign_request(secret, body, timestamp))
        all_headers.update(headers or {})
        req = urllib.request.Request(self.url + "/slack/events", data=body, headers=all_headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), time.perf_counter() - started
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), time.perf_counter() - started

    def slash(
        self,
        fake: FakeSlack,
        text: str,
        *,
        command: str = "/eval",
        user: str = "U1",
        channel: str = "C1",
        **kw: Any,
    ) -> tuple[int, dict[str, Any], float, str]:
        """Send a signed slash command; returns (status, ack json, seconds, response_url)."""
        payload = fake.slash_command_payload(
            command=command, text=text, user_id=user, channel_id=channel
        )
        body = urllib.parse.urlencode(payload).encode()
        status, raw, took = self.post_signed(
            body, content_type="application/x-www-form-urlencoded", **kw
        )
        ack = json.loads(raw) if raw.strip().startswith(b"{") else {"text": raw.decode()}
        return status, ack, took, str(payload["response_url"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def bot_env(
    tmp: Path,
    slack: FakeSlack,
    openai: FakeOpenAI,
    *,
    mode: str = "http",
    database_url: str | None = None,
    suites_dir: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A scrubbed environment for the bot: only what the test sets."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        # One matplotlib font cache for every bot a test run starts, not one per test.
        "MPLCONFIGDIR": os.path.join(tempfile.gettempdir(), "evalbot-test-mplconfig"),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.url,
        "OPENAI_API_KEY": openai.api_key,
        "OPENAI_BASE_URL": openai.base_url,
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'evalbot.db'}",
        "EVALBOT_SUITES_DIR": str(suites_dir or REPO / "examples"),
        "PORT": str(free_port()),
    }
    if mode == "http":
        env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
    else:
        env["SLACK_APP_TOKEN"] = slack.app_token
    env.update(extra or {})
    return env


def start_bot(tmp: Path, slack: FakeSlack, openai: FakeOpenAI, **kw: Any) -> BotProcess:
    env = bot_env(tmp, slack, openai, **kw)
    return BotProcess(env, int(env["PORT"]), tmp / "bot.log").start()


def wait_status(bot: BotProcess, run: str, statuses: set[str], timeout: float = 30) -> Any:
    """The run's JSON (GET /api/runs/<run>) once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        status, body = bot.get(f"/api/runs/{run}")
        if status == 200 and body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{run} not in {statuses}: {body}\n{bot.log()[-3000:]}")


def top_messages(slack: FakeSlack) -> list[Any]:
    """The top-level messages in C1, where the tests type their commands."""
    return slack.messages("C1")


def post_with(slack: FakeSlack, needle: str, timeout: float = 20) -> Any:
    """The first top-level message in C1 whose text contains `needle`, once there is one."""
    return slack.wait_for(
        lambda: next((m for m in slack.messages("C1") if needle in m.text), None), timeout=timeout
    )


def replies_with(slack: FakeSlack, needle: str, timeout: float = 20) -> Any:
    """The first ephemeral answer (through a response_url) that contains `needle`."""
    return slack.wait_for(
        lambda: next((r for r in slack.responses if needle in json.dumps(r.body)), None),
        timeout=timeout,
    )


# The "parity" suite: N yes/no questions; m-good gets three wrong (17/20), m-bad says maybe.
N = 20
WRONG_FOR_GOOD = {0, 1, 2}
World = tuple[Path, FakeSlack, FakeOpenAI]


def question(i: int) -> str:
    return f"Is {i} an even number?"


def label(i: int) -> str:
    return "yes" if i % 2 == 0 else "no"


def write_suite(
    root: Path, *, sampling: str = "{temperature: 0, max_completion_tokens: 5}"
) -> Path:
    """The parity suite's folder under `root`; returns root."""
    folder = root / "parity"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        "name: parity\n"
        "description: Say whether a number is even\n"
        "data: eval.jsonl\n"
        "input:\n"
        "  - role: system\n    content: Answer yes or no.\n"
        '  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: label\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.label }}"\n'
        "  operation: eq\n"
        f"sampling: {sampling}\n"
    )
    lines = [json.dumps({"q": question(i), "label": label(i)}) for i in range(N)]
    (folder / "eval.jsonl").write_text("\n".join(lines) + "\n")
    return root


def teach(openai: FakeOpenAI) -> None:
    """m-good knows parity except for three items; m-bad always says maybe."""
    for i in range(N):
        right = label(i)
        wrong = "no" if right == "yes" else "yes"
        openai.answer("m-good", question(i), wrong if i in WRONG_FOR_GOOD else right)
        openai.answer("m-bad", question(i), "maybe")


@contextmanager
def parity_world(tmp: Path, models: Sequence[str]) -> Iterator[World]:
    """The fake Slack and a fake OpenAI serving `models`, taught the parity suite."""
    with FakeSlack() as slack, FakeOpenAI(models=list(models)) as openai:
        teach(openai)
        yield tmp, slack, openai


def launch(tmp: Path, slack: FakeSlack, openai: FakeOpenAI, **extra: str) -> BotProcess:
    """The bot on the parity suite (written under tmp/suites unless it is there), with
    quick retries and `extra` in its environment."""
    suites = tmp / "suites"
    if not suites.exists():
        write_suite(suites)
    env = {"EVALBOT_RETRY_BASE_SECONDS": "0.01", **extra}
    return start_bot(tmp, slack, openai, suites_dir=suites, extra=env)

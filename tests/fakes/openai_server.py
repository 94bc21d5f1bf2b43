"""A fake OpenAI-compatible API over real HTTP on 127.0.0.1, for tests and benchmarks.

The server runs aiohttp on its own loop in a background thread, so sync tests can start
it, point ``OPENAI_BASE_URL`` at ``fake.base_url`` and turn its knobs (latency, faults,
rate limits, scripted answers, fine-tuning progress) from the test thread::

    with FakeOpenAI(models=["gpt-4.1-mini"]) as fake:
        fake.answer("gpt-4.1-mini", "My card was charged twice", "billing")
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url)

Benchmarks run it in a process of its own (``run_in_subprocess`` or
``python -m tests.fakes.openai_server --port 0 --latency 0.1 --rpm 600``) so that its CPU
does not come out of the bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.openai_faults import FaultsAndLimits, prefix_of
from tests.fakes.openai_finetune import FilesAndFineTuning
from tests.fakes.openai_inference import InferenceEndpoints, Request, Responder, embed
from tests.fakes.openai_wire import (
    BODY_KEY,
    JSON_TYPE,
    RECORDED_KEY,
    TOKENS_KEY,
    ApiError,
    Recorded,
    json_response,
    list_page,
    missing,
)

log = logging.getLogger(__name__)

__all__ = [
    "ApiError",
    "FakeOpenAI",
    "FakeOpenAIProcess",
    "Recorded",
    "Request",
    "Responder",
    "embed",
    "run_in_subprocess",
]

DEFAULT_MODELS = (
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o-mini",
    "gpt-5-mini",
    "o4-mini",
    "text-embedding-3-small",
)
# The endpoints that the rate limiter counts and whose answers carry x-ratelimit-* headers.
RATE_LIMITED = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/embeddings"})


class FakeOpenAI(InferenceEndpoints, FaultsAndLimits, FilesAndFineTuning):
    """The fake API server; see the module docstring. Knobs may be set at any time."""

    def __init__(
        self,
        *,
        api_key: str = "sk-test",
        models: list[str] | None = None,
        latency: float = 0.0,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        record_requests: bool = True,
        record_bodies: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        self.latency_for_model: dict[str, float] = {}
        self.rpm_limit = rpm_limit
        self.tpm_limit = tpm_limit
        self.record_requests = record_requests
        self.record_bodies = record_bodies
        self.requests: list[Recorded] = []
        self.max_in_flight = 0
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._models: dict[str, dict[str, Any]] = {}
        for i, model_id in enumerate(DEFAULT_MODELS if models is None else models):
            self.add_model(model_id, created=1_700_000_000 + i * 86_400)
        self._in_flight = 0
        self._counts: Counter[str] = Counter()
        self._init_inference()
        self._init_faults()
        self._init_files_and_jobs()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Bind a port and serve in a background thread; returns self."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self.base_url = f"http://{self._host}:{self._port}/v1"
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._stopping = asyncio.Event()

            @web.middleware  # a bound method cannot carry aiohttp's new-style marker
            async def middleware(
                request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
            ) -> web.StreamResponse:
                return await self._middleware(request, handler)

            app = web.Application(middlewares=[middleware], client_max_size=512 * 2**20)
            app.add_routes(self._routes())
            self._runner = web.AppRunner(
                app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
            )
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            ready.set()

        failure: list[BaseException] = []

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(serve())
            except BaseException as exc:  # hand start-up errors to the caller's thread
                failure.append(exc)
                ready.set()
                return
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError("fake OpenAI server did not start") from (
                failure[0] if failure else None
            )
        return self

    def stop(self) -> None:
        """Stop serving (hung requests are released) and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._stopping is not None:
                self._stopping.set()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (0 before ``start``)."""
        return self._port

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/models", self._list_models),
            web.get("/v1/models/{id:.+}", self._get_model),
            *self._inference_routes(),
            web.get("/_fake/stats", self._stats),
            *self._finetune_routes(),
        ]

    # -- models --------------------------------------------------------------------------

    def add_model(
        self,
        model_id: str,
        created: int | None = None,
        owned_by: str = "system",
        shutdown_date: str | None = None,
    ) -> None:
        """List a model (or update it); ``shutdown_date`` is ``YYYY-MM-DD`` or None."""
        with self._lock:
            self._models[model_id] = {
                "id": model_id,
                "object": "model",
                "created": int(time.time()) if created is None else created,
                "owned_by": owned_by,
                "shutdown_date": shutdown_date,
            }

    def remove_model(self, model_id: str) -> None:
        """Stop listing and serving a model."""
        with self._lock:
            self._models.pop(model_id, None)

    def set_shutdown_date(self, model_id: str, date: str | None) -> None:
        """Announce (or clear) a model's shutdown; after it, the model answers 404."""
        with self._lock:
            self._models[model_id] = {**self._models[model_id], "shutdown_date": date}

    def model_ids(self) -> list[str]:
        """Ids of the listed models, in listing order."""
        with self._lock:
            return list(self._models)

    def _check_model(self, model: Any) -> str:
        if not model:
            raise missing("model")
        info = self._models.get(model)
        if info is None:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        shutdown = info["shutdown_date"]
        if shutdown and shutdown <= dt.date.today().isoformat():
            raise ApiError(
                404,
                f"The model `{model}` has been deprecated, learn more here: "
                "https://platform.openai.com/docs/deprecations",
                code="model_not_found",
            )
        return str(model)

    async def _list_models(self, request: web.Request) -> web.Response:
        with self._lock:
            models = list(self._models.values())
        return json_response(list_page(models, request.query, default_limit=10_000))

    async def _get_model(self, request: web.Request) -> web.Response:
        model = request.match_info["id"]
        with self._lock:
            info = self._models.get(model)
        if info is None:
            raise ApiError(
                404,
                f"The model '{model}' does not exist",
                param="model",
                code="model_not_found",
            )
        return json_response(info)

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            by_path = dict(self._counts)
        return json_response(
            {
                "requests": sum(by_path.values()),
                "by_path": by_path,
                "max_in_flight": self.max_in_flight,
            }
        )

    # -- the request pipeline ------------------------------------------------------------

    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        recorded: Recorded | None = None
        response: web.StreamResponse | None = None
        try:
            body = None
            if (
                request.method == "POST"
                and request.content_type == JSON_TYPE
                and request.can_read_body
            ):
                try:
                    body = json.loads(await request.read())
                except ValueError:
                    body = None
                    response = ApiError(
                        400,
                        "We could not parse the JSON body of your request. (HINT: This likely "
                        "means you aren't using your HTTP library correctly.)",
                    ).response()
            request[BODY_KEY] = body
            with self._lock:
                self._counts[request.path] += 1
                if self.record_requests:
                    keep = self.record_bodies
                    recorded = Recorded(
                        request.method,
                        request.path,
                        dict(request.query),
                        body if keep else None,
                        dict(request.headers) if keep else {},
                        time.time(),
                    )
                    self.requests.append(recorded)
            request[RECORDED_KEY] = recorded
            if response is None:
                response = await self._answer(request, handler, body)
            return response
        finally:
            self._in_flight -= 1
            if recorded is not None:
                recorded.status = response.status if response is not None else 0

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        body: Any,
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_fake/"):
            response: web.StreamResponse = await handler(request)
            return response
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return ApiError(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            ).response()
        limited = path in RATE_LIMITED
        model = body.get("model", "") if isinstance(body, dict) else ""
        fault = self._take_fault(path) if self._faults else None
        if fault is not None:
            early = await self._apply_fault(request, fault, limited)
            if early is not None:
                return early
        if limited:
            refused = self._rate_limited(str(model))
            if refused is not None:
                return refused
        delay = self.latency_for_model.get(model, self.latency) if model else self.latency
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException:
            raise  # aiohttp's own 404/405 for unknown routes
        except Exception as exc:  # a bug in the fake answers like an outage, in JSON
            log.exception("fake OpenAI handler failed")
            response = ApiError(500, f"fake server error: {exc!r}", type="server_error").response()
        if fault is not None and fault.kind == "lose_response":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # the work is done; the answer is lost
        if limited:
            self._tpm.tokens -= request.get(TOKENS_KEY, 0)
            response.headers.update(self._rate_headers())
        return response

    # -- recording -----------------------------------------------------------------------

    def requests_to(self, path_prefix: str) -> list[Recorded]:
        """Recorded requests whose path starts with ``path_prefix`` (``/v1`` optional)."""
        prefix = prefix_of(path_prefix)
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def count(self, path_prefix: str) -> int:
        """How many requests under ``path_prefix`` arrived (recorded or not)."""
        prefix = prefix_of(path_prefix)
        with self._lock:
            return sum(n for path, n in self._counts.items() if path.startswith(prefix))

    def reset_records(self) -> None:
        """Forget recorded requests and counts."""
        with self._lock:
            self.requests = []
            self._counts.clear()
            self.max_in_flight = self._in_flight


class FakeOpenAIProcess:
    """A fake server running in a child process; only its CLI flags configure it."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str, api_key: str) -> None:
        self.proc = proc
        self.base_url = base_url
        self.api_key = api_key

    def stop(self) -> None:
        """Terminate the child and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FakeOpenAIProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_subprocess(
    *,
    port: int = 0,
    latency: float = 0.0,
    rpm: int | None = None,
    api_key: str = "sk-test",
    models: list[str] | None = None,
) -> FakeOpenAIProcess:
    """Start ``python -m tests.fakes.openai_server`` and wait until it listens."""
    cmd = [
        sys.executable,
        "-m",
        "tests.fakes.openai_server",
        "--port",
        str(port),
        "--latency",
        str(latency),
        "--api-key",
        api_key,
    ]
    if rpm:
        cmd += ["--rpm", str(rpm)]
    if models:
        cmd += ["--models", ",".join(models)]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the child prints its URL once it listens, or dies
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"fake OpenAI subprocess did not start: {line!r}")
    return FakeOpenAIProcess(proc, line.split()[1], api_key)


def main(argv: list[str] | None = None) -> None:
    """CLI: serve until SIGTERM/SIGINT; prints ``LISTENING <base_url>`` when ready."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--tpm", type=int, default=None)
    parser.add_argument("--api-key", default="sk-test")
    parser.add_argument("--models", default=None, help="comma-separated model ids")
    parser.add_argument("--record", action="store_true", help="keep a record of requests")
    parser.add_argument("--auto-progress", action="store_true", help="jobs advance on GET")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        api_key=args.api_key,
        models=args.models.split(",") if args.models else None,
        latency=args.latency,
        rpm_limit=args.rpm,
        tpm_limit=args.tpm,
        record_requests=args.record,
        host=args.host,
        port=args.port,
    )
    fake.auto_progress = args.auto_progress
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with fake:
        print(f"LISTENING {fake.base_url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()

"""The two small interfaces through which commands/ reaches the outside world.

bot/ implements them over slack_sdk and openai; tests run the same code against the
fake servers in tests/fakes/. Nothing in commands/ imports slack or openai directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Message = dict[str, Any]  # an OpenAI chat message: {"role": ..., "content": ...}


@dataclass(frozen=True)
class Completion:
    """One model answer with what it cost."""

    text: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    # The tool calls made, in Chat Completions' shape ({id, type: function, function:
    # {name, arguments}}) whichever API answered.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInfo:
    """A model as a provider lists it (GET /v1/models)."""

    id: str
    provider: str
    created: int = 0
    owned_by: str = ""
    shutdown_date: str | None = None  # YYYY-MM-DD


ErrorKind = Literal[
    "rate_limit",  # 429
    "server",  # 5xx
    "timeout",
    "connection",
    "bad_request",  # 400: a parameter the model refuses, a bad prompt...
    "auth",  # 401/403
    "not_found",  # 404: unknown model
    "cancelled",
]


class ProviderError(Exception):
    """A failed provider call, classified so callers can decide whether to retry."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.param = param

    @property
    def retryable(self) -> bool:
        return self.kind in ("rate_limit", "server", "timeout", "connection")


@dataclass
class RateLimitState:
    """What the provider's x-ratelimit-* headers said on the last answer."""

    remaining_requests: int | None = None
    limit_requests: int | None = None
    remaining_tokens: int | None = None
    limit_tokens: int | None = None


class Models(Protocol):
    """The gateway to model providers (any OpenAI-compatible API)."""

    def providers(self) -> list[str]:
        """Names of the configured providers; "default" is OPENAI_API_KEY/OPENAI_BASE_URL."""
        ...

    def split(self, model: str) -> tuple[str, str]:
        """`provider:model` -> (provider, model); a bare name -> ("default", name)."""
        ...

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        """One completion; raises ProviderError. `model` may carry a provider prefix."""
        ...

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings for `texts`; raises ProviderError."""
        ...

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        """Every model the provider lists; raises ProviderError."""
        ...

    def rate_limit(self, provider: str) -> RateLimitState:
        """The provider's rate-limit headroom as last reported."""
        ...


@dataclass(frozen=True)
class ChartBar:
    """One model in a comparison chart: pass rate and its 95% interval, as fractions."""

    label: str
    pass_rate: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class TagRate:
    """One model's pass rate (a fraction) on the samples carrying one tag."""

    tag: str
    model: str
    pass_rate: float
    n: int = 0


class Charts(Protocol):
    """Renders charts to PNG bytes off the event loop (bot/ implements it)."""

    async def comparison(self, title: str, bars: Sequence[ChartBar]) -> bytes: ...

    async def history(
        self,
        title: str,
        series: dict[str, list[tuple[datetime, float]]],
        promotions: Sequence[tuple[datetime, str]],
    ) -> bytes: ...

    async def tag_breakdown(self, title: str, rows: Sequence[TagRate]) -> bytes: ...

    async def loss_curve(
        self, title: str, train: Sequence[tuple[int, float]], valid: Sequence[tuple[int, float]]
    ) -> bytes: ...


@dataclass(frozen=True)
class JobInfo:
    """A provider's fine-tuning job, as far as evalbot needs it."""

    id: str
    status: str  # validating_files queued running succeeded failed cancelled
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    estimated_finish: int | None = None  # unix seconds
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEvent:
    id: str
    created_at: int
    level: str
    message: str
    type: str = "message"  # message | metrics
    data: dict[str, Any] = field(default_factory=dict)


class FineTuneBackend(Protocol):
    """Fine-tuning on a provider. One implementation serves every OpenAI-compatible API
    (OpenAI, Azure OpenAI, gateways); an open-weight backend can plug in later."""

    async def upload(self, provider: str, filename: str, content: bytes) -> str:
        """Upload training data (purpose fine-tune); the file id."""
        ...

    async def create_job(
        self,
        provider: str,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: dict[str, Any],
        suffix: str | None,
        seed: int | None,
        metadata: dict[str, str],
    ) -> JobInfo:
        """Create a job with ONE attempt (no automatic retries: they could duplicate it)."""
        ...

    async def find_jobs(self, provider: str, metadata: dict[str, str]) -> list[JobInfo]: ...

    async def get_job(self, provider: str, job_id: str) -> JobInfo: ...

    async def cancel_job(self, provider: str, job_id: str) -> JobInfo: ...

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        """Newest first, as the API lists them."""
        ...

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        """Raise ProviderError(bad_request) with the provider's reason if it is invalid."""
        ...


class Scheduler(Protocol):
    """Durable interval jobs, run by one process (bot/ implements it with APScheduler).

    Methods are async: they write the job store, which is database I/O.

    `func` names a coroutine function as "module:function" (see commands.jobs); `args` must
    be plain values, since the job store keeps them.
    """

    async def every(
        self,
        job_id: str,
        func: str,
        seconds: int,
        args: tuple[Any, ...] = (),
        *,
        first_in_s: int | None = None,
    ) -> None: ...

    async def cancel(self, job_id: str) -> None: ...

    async def pause(self, job_id: str) -> None: ...

    async def resume(self, job_id: str) -> None: ...


class ChatError(Exception):
    """Slack refused a call; `code` is Slack's error string (not_in_channel, ...)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code

    @property
    def advice(self) -> str:
        """What the person in the channel can do about it."""
        if self.code in ("not_in_channel", "channel_not_found"):
            return "I can't post in this channel: invite me first (`/invite @evalbot`)."
        if self.code in ("is_archived",):
            return "This channel is archived: run the command in another channel."
        return f"Slack refused the message ({self.code})."


@dataclass(frozen=True)
class Posted:
    """Where a message landed: enough to update it or reply in its thread."""

    channel: str
    ts: str


@dataclass(frozen=True)
class Upload:
    """A file to attach: bytes with a name and a title."""

    filename: str
    content: bytes
    title: str = ""
    alt_text: str = ""


@dataclass
class Blocks:
    """Text plus optional Block Kit blocks; `text` is the notification fallback."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


class Chat(Protocol):
    """What commands may do in Slack."""

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted: ...

    async def update(
        self, where: Posted, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> None: ...

    async def ephemeral(self, channel: str, user: str, text: str) -> None: ...

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None: ...

    async def react(self, where: Posted, emoji: str) -> None: ...

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None: ...

    async def fetch_file(self, channel: str, name: str, max_bytes: int) -> bytes:
        """The newest file called `name` shared in `channel`; ChatError file_not_found or
        file_too_large."""
        ...

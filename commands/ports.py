"""The two small interfaces through which commands/ reaches the outside world.

bot/ implements them over slack_sdk and openai; tests run the same code against the
fake servers in tests/fakes/. Nothing in commands/ imports slack or openai directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, runtime_checkable

from commands.redact import redact

if TYPE_CHECKING:
    from commands.reports import (
        AliasHistory,
        ComparisonReport,
        FailureList,
        ProductionModels,
        ProposalReport,
        ProvidedModels,
        RetirementNotice,
        RunProgress,
        RunSummary,
        Title,
        Verdict,
        WatchAdded,
        WatchCheck,
        WatchList,
    )

Message = dict[str, Any]  # an OpenAI chat message: {"role": ..., "content": ...}


@dataclass(frozen=True)
class Completion:
    """One model answer with what it cost."""

    text: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    truncated: bool = False  # cut at the output-token cap, not finished by the model
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
    "too_large",  # an answer body over the gateway's byte limit: not read, not retried
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
        # Provider messages reach Slack and the logs, and may quote a key: every
        # ProviderError is born redacted, whoever raises it.
        message = redact(message)
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
    """One model in a comparison chart: pass rate and its 95% interval, as fractions.

    `label` is what the chart shows (model@rN when two runs name one model); `model`
    picks the colour, so it stays the model's own across charts (empty: the label).
    """

    label: str
    pass_rate: float
    ci_low: float
    ci_high: float
    n: int
    model: str = ""


@dataclass(frozen=True)
class ChartDiff:
    """A challenger against the baseline on paired samples: the comparison's annotation.

    `label` matches the challenger's ChartBar; differences are percentage points.
    """

    label: str
    diff_pp: float
    ci_low_pp: float
    ci_high_pp: float
    p_value: float
    verdict: str  # better | worse | no significant difference
    paired: int


@dataclass(frozen=True)
class HistoryPoint:
    """One run of one model in the history chart; rates are fractions."""

    when: datetime
    pass_rate: float
    ci_low: float
    ci_high: float
    partial: bool = False  # a `limit=N` run: fewer samples than the suite has


@dataclass(frozen=True)
class TagRate:
    """One model's pass rate (a fraction) on the samples carrying one tag."""

    tag: str
    model: str
    pass_rate: float
    n: int = 0


# Model -> colour slot (commands.chart_colours): the same model, the same colour, in
# every chart of a suite. A model missing from it gets a colour from its name alone.
ColourSlots = Mapping[str, int]


class Charts(Protocol):
    """Renders charts to PNG bytes off the event loop (bot/ implements it)."""

    async def comparison(
        self,
        title: str,
        bars: Sequence[ChartBar],
        diffs: Sequence[ChartDiff] = (),
        colours: ColourSlots | None = None,
    ) -> bytes:
        """Pass rate per model (the first is the baseline), each challenger annotated."""
        ...

    async def history(
        self,
        title: str,
        series: Mapping[str, Sequence[HistoryPoint]],
        promotions: Sequence[tuple[datetime, str]],
        colours: ColourSlots | None = None,
    ) -> bytes: ...

    async def tag_breakdown(
        self, title: str, rows: Sequence[TagRate], colours: ColourSlots | None = None
    ) -> bytes: ...

    async def loss_curve(
        self,
        title: str,
        train: Sequence[tuple[int, float]],
        valid: Sequence[tuple[int, float]],
        reward: Sequence[tuple[int, float]] = (),
    ) -> bytes: ...


@dataclass(frozen=True)
class JobInfo:
    """A backend's fine-tuning job, as far as evalbot needs it."""

    id: str
    status: str  # validating_files queued running succeeded failed cancelled
    model: str
    fine_tuned_model: str | None = None  # the result's name at the backend, once trained
    trained_tokens: int | None = None
    error: str | None = None
    estimated_finish: int | None = None  # unix seconds
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A provider's failure text is posted in the job's thread: mask what it quotes.
        if self.error:
            object.__setattr__(self, "error", redact(self.error))


@dataclass(frozen=True)
class JobEvent:
    """One line of a job's log. `type` "metrics" carries progress in `data`: `step`,
    `total_steps`, `train_loss`, `valid_loss` (or `full_valid_loss`), `reward` (RFT/GRPO)."""

    id: str
    created_at: int
    level: str
    message: str
    type: str = "message"  # message | metrics
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))  # posted in the thread


TrainingMethod = Literal["sft", "dpo", "rft"]


@dataclass(frozen=True)
class TrainingRequest:
    """Everything a backend needs to create one job, in evalbot's own terms.

    `request_key` is evalbot's idempotency key: the backend tags the job with it so that
    `find` can answer "was this already created?" after a doubtful failure or a restart.
    """

    request_key: str  # at most 64 characters
    label: str  # "f12": the job as people see it
    provider: str
    base_model: str  # without the provider prefix
    method: TrainingMethod
    hyperparameters: dict[str, Any]
    training_file: str  # what `upload` returned
    validation_file: str | None = None
    grader: dict[str, Any] | None = None  # rft: the suite's grader (OpenAI grader schema)
    suffix: str | None = None
    seed: int | None = None
    suite: str = ""  # the suite it trains on (Ray names a served adapter after it)


@dataclass(frozen=True)
class CostEstimate:
    """A backend's own estimate of a job, before it is submitted."""

    usd: float | None
    note: str | None = None  # shown beside the estimate, e.g. "≈0.4 GPU-hours"
    gpu_hours: float | None = None


@runtime_checkable
class EstimatesCost(Protocol):
    """A backend that estimates its own jobs (Ray: GPU-hours from tokens and throughput);
    the others are priced from the price table."""

    def estimate(
        self, provider: str, method: str, base_model: str, tokens: int, epochs: int
    ) -> CostEstimate | None: ...


class FineTuneBackend(Protocol):
    """Fine-tuning somewhere: `openai` (any OpenAI-compatible fine-tuning API, in
    bot/finetune_backend.py) or `ray` (open weights on a Ray cluster). bot/ implements it;
    commands/finetune drives the lifecycle (submit once, poll, cancel, evaluate) the same
    way for every backend. See docs/finetune-backends.md."""

    name: str  # the name EVALBOT_FINETUNE_BACKENDS uses: "openai", "ray"

    async def upload(self, provider: str, filename: str, data: BinaryIO) -> str:
        """Store training data (JSONL, read from `data` as a stream); an id for `create`."""
        ...

    async def create(self, request: TrainingRequest) -> JobInfo:
        """Create the job with ONE attempt, tagged with `request.request_key`.

        No automatic retries: they could create it twice. evalbot calls `find` after a
        doubtful failure (ProviderError with `retryable`) before trying again.
        """
        ...

    async def find(self, provider: str, request_key: str) -> JobInfo | None:
        """The job created for `request_key`, if any."""
        ...

    async def get(self, provider: str, job_id: str) -> JobInfo: ...

    async def cancel(self, provider: str, job_id: str) -> JobInfo: ...

    async def events(self, provider: str, job_id: str, limit: int = 100) -> list[JobEvent]:
        """Newest first; metrics events carry step, losses and reward (see JobEvent)."""
        ...

    async def validate_grader(self, provider: str, grader: dict[str, Any]) -> None:
        """Raise ProviderError(bad_request) with the reason if the backend cannot use it."""
        ...

    async def make_servable(self, provider: str, job: JobInfo) -> str:
        """Make a succeeded job's model answer requests; the model name to evaluate it by
        (without the provider prefix). OpenAI serves it already: its `fine_tuned_model`.
        Ray: load the LoRA into vLLM, or the model's path for a server that loads by path.
        Raise ProviderError when it cannot be served."""
        ...


class BackendUnavailable(Exception):
    """A provider's fine-tunes go to a backend this process does not run; str() says what
    to set."""


class FineTuneBackends:
    """The backends this process runs, by name, and which one each provider uses.

    Built by the composition root (EVALBOT_FINETUNE_BACKENDS); a provider not named
    there uses `default` ("openai").
    """

    def __init__(
        self,
        backends: Mapping[str, FineTuneBackend],
        routes: Mapping[str, str] | None = None,
        default: str = "openai",
    ) -> None:
        self._backends = dict(backends)
        self._routes = dict(routes or {})
        self._default = default

    def name_for(self, provider: str) -> str:
        """The backend name `provider` fine-tunes with."""
        return self._routes.get(provider, self._default)

    def for_provider(self, provider: str) -> FineTuneBackend:
        """The backend for a new job on `provider`; BackendUnavailable says what is missing."""
        return self.named(self.name_for(provider), provider)

    def named(self, name: str, provider: str | None = None) -> FineTuneBackend:
        """The backend a job was created with (its row keeps the name)."""
        found = self._backends.get(name)
        if found is None:
            whose = f"`{provider}`'s fine-tunes go" if provider else "This job went"
            setting = "EVALBOT_RAY_ADDRESS" if name == "ray" else "EVALBOT_FINETUNE_BACKENDS"
            raise BackendUnavailable(
                f"{whose} to the `{name}` backend, which this deployment does not run: "
                f"an operator can set {setting}, or map the provider to another backend "
                "in EVALBOT_FINETUNE_BACKENDS."
            )
        return found

    @property
    def names(self) -> list[str]:
        return sorted(self._backends)

    async def aclose(self) -> None:
        """Close what the backends hold open (the Ray client's HTTP session)."""
        for backend in self._backends.values():
            close = getattr(backend, "aclose", None)
            if close is not None:
                await close()


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


class IdleScheduler:
    """A Scheduler that schedules nothing: for processes that run no jobs (the CLI)."""

    async def every(
        self,
        job_id: str,
        func: str,
        seconds: int,
        args: tuple[Any, ...] = (),
        *,
        first_in_s: int | None = None,
    ) -> None:
        return None

    async def cancel(self, job_id: str) -> None:
        return None

    async def pause(self, job_id: str) -> None:
        return None

    async def resume(self, job_id: str) -> None:
        return None


# Slack's answers that mean the bot is not (or may not act as) a member of the channel.
MEMBERSHIP_CODES = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "no_permission",
        "invalid_channel",
        "posting_to_channel_denied",
        "restricted_action",
        "restricted_action_read_only_channel",
    }
)
# Failures that say nothing about the request itself: the same call may succeed later.
RETRYABLE_CODES = frozenset(
    {
        "ratelimited",
        "network",  # timeout or dropped connection
        "upload_failed",  # the raw POST of a file's bytes
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
    }
)


class ChatError(Exception):
    """Slack refused a call; `code` is Slack's error string (not_in_channel, ...)."""

    def __init__(self, code: str, message: str = "", *, retry_after_s: float | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later (rate limit, network, Slack's 5xx);
        False when Slack refused the request itself (membership, a deleted message)."""
        return self.code in RETRYABLE_CODES

    @property
    def advice(self) -> str:
        """What the person in the channel can do about it."""
        if self.code in ("posting_to_channel_denied", "restricted_action_read_only_channel"):
            return (
                "This channel only lets some members post: ask an admin to allow me "
                "(`/invite @evalbot`), or run the command in another channel."
            )
        if self.code in MEMBERSHIP_CODES:
            return "I can't post in this channel: invite me first (`/invite @evalbot`)."
        if self.code in ("is_archived",):
            return "This channel is archived: run the command in another channel."
        if self.retryable:
            return f"Slack did not take the message ({self.code}); it will be tried again."
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


class Presenter(Protocol):
    """Words a report for the medium at the edge (bot/presenters: Slack; bot/terminal.py: a
    terminal). Reports hold raw third-party text; the presenter escapes it."""

    def run_progress(self, report: RunProgress) -> str: ...

    def run_summary(self, report: RunSummary) -> str: ...

    def failures(self, report: FailureList) -> str: ...

    def comparison(self, report: ComparisonReport) -> str: ...

    def flips(self, report: ComparisonReport) -> str | None: ...

    def verdict(self, report: Verdict) -> str:
        """The one line a report opens with (commands.headline)."""
        ...

    def line(self, parts: Title) -> str:
        """One line of our words (which may use the medium's emphasis) and names."""
        ...

    def proposal(self, report: ProposalReport) -> str:
        """A promotion proposal's message: open, or decided with the outcome on top."""
        ...

    def proposal_outcome(self, report: ProposalReport) -> str:
        """A decided proposal's outcome, for its thread."""
        ...

    def watch_added(self, report: WatchAdded) -> str: ...

    def watches(self, report: WatchList) -> str: ...

    def watch_check(self, report: WatchCheck) -> str: ...

    def retirement(self, report: RetirementNotice) -> str:
        """A watched model's shutdown date, and how the candidates to replace it compare."""
        ...

    def production_models(self, report: ProductionModels) -> str: ...

    def alias_history(self, report: AliasHistory) -> str: ...

    def provided_models(self, report: ProvidedModels) -> str:
        """The models a provider lists, named as `/eval run` takes them."""
        ...


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
        self,
        where: Posted,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        progress: bool = False,
    ) -> None:
        """Edit a message. `progress=True`: a refresh that may be dropped (over the app's
        budget, superseded); otherwise the update must land and is retried until it does,
        raising ChatError only when Slack refuses it for good."""
        ...

    async def ephemeral(self, channel: str, user: str, text: str) -> None: ...

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None: ...

    async def react(self, where: Posted, emoji: str) -> None: ...

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None: ...

    async def group_members(self, group: str) -> frozenset[str]:
        """The user ids in the Slack user group `group` (S...), recently cached; empty
        when there is no such group."""
        ...

    async def fetch_file(self, channel: str, name: str, max_bytes: int, *, user: str) -> bytes:
        """The newest file called `name` (or the file id `F...`) that `user` shared in
        `channel`, hosted by Slack; ChatError file_not_found, file_not_yours,
        file_not_hosted, download_failed or file_too_large."""
        ...

"""In-memory fakes of the Chat, Models and Charts ports, for the use-case tier.

They keep what the ports' contracts promise (a post returns where it landed, an update
needs a message that exists, an unknown model is a ProviderError not_found) and record
what happened, so tests/usecases can drive use cases in-process in milliseconds. The
HTTP-level fakes (tests/fakes/slack.py, openai_server.py) stay the e2e tier's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from commands.ports import (
    ChartBar,
    ChartDiff,
    ChatError,
    ColourSlots,
    Completion,
    HistoryPoint,
    Message,
    ModelInfo,
    Posted,
    ProviderError,
    RateLimitState,
    TagRate,
    Upload,
)

# The 8-byte signature every PNG starts with: what a chart upload must carry.
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Sent:
    """One message as the channel would hold it."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    edits: list[str] = field(default_factory=list)


class MemoryChat:
    """The Chat port in memory: messages, threads, uploads, reactions, ephemerals."""

    def __init__(self, *, members: Sequence[str] = ("C1",)) -> None:
        self.members = set(members)
        self.messages: list[Sent] = []
        self.uploads: list[tuple[str, Upload, str | None]] = []
        self.reactions: list[tuple[Posted, str]] = []
        self.ephemerals: list[tuple[str, str, str]] = []
        self._ts = itertools.count(1)

    def _find(self, where: Posted) -> Sent:
        for m in self.messages:
            if (m.channel, m.ts) == (where.channel, where.ts):
                return m
        raise ChatError("message_not_found")

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        if not text.strip():
            raise ChatError("no_text")
        ts = f"{next(self._ts)}.000100"
        self.messages.append(Sent(channel, ts, text, thread_ts))
        return Posted(channel, ts)

    async def update(
        self, where: Posted, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        message = self._find(where)
        message.edits.append(message.text)
        message.text = text

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        self.ephemerals.append((channel, user, text))

    async def upload(
        self, channel: str, upload: Upload, *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        if channel not in self.members:  # as Slack: no upload where the bot is not
            raise ChatError("not_in_channel")
        self.uploads.append((channel, upload, thread_ts))

    async def react(self, where: Posted, emoji: str) -> None:
        self._find(where)
        self.reactions.append((where, emoji))

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        return None

    async def fetch_file(self, channel: str, name: str, max_bytes: int) -> bytes:
        raise ChatError("file_not_found")

    # What tests read ------------------------------------------------------------

    def top_level(self, channel: str = "C1") -> list[Sent]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def thread(self, where: Posted | Sent) -> list[Sent]:
        return [m for m in self.messages if m.thread_ts == where.ts]


class MemoryModels:
    """The Models port in memory: answers by (model, last user message)."""

    def __init__(self, models: Sequence[str] = ("m1",)) -> None:
        self.models = list(models)
        self.answers: dict[tuple[str, str], str] = {}
        self.calls = 0

    def answer(self, model: str, prompt: str, text: str) -> None:
        self.answers[(model, prompt)] = text

    def providers(self) -> list[str]:
        return ["default"]

    def split(self, model: str) -> tuple[str, str]:
        provider, _, name = model.rpartition(":")
        return (provider or "default", name)

    async def complete(
        self, model: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        self.calls += 1
        if self.split(model)[1] not in self.models:
            raise ProviderError("not_found", f"The model `{model}` does not exist", status=404)
        prompt = str(messages[-1]["content"]) if messages else ""
        text = self.answers.get((self.split(model)[1], prompt), "")
        return Completion(text, input_tokens=len(prompt.split()), output_tokens=1)

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        return [[float(len(t)), 1.0] for t in texts]

    async def list_models(self, provider: str = "default") -> list[ModelInfo]:
        return [ModelInfo(m, provider) for m in self.models]

    def rate_limit(self, provider: str) -> RateLimitState:
        return RateLimitState()


class MemoryCharts:
    """The Charts port without matplotlib: a PNG signature plus what was asked."""

    def __init__(self) -> None:
        self.drawn: list[tuple[str, str]] = []

    async def comparison(
        self,
        title: str,
        bars: Sequence[ChartBar],
        diffs: Sequence[ChartDiff] = (),
        colours: ColourSlots | None = None,
    ) -> bytes:
        self.drawn.append(("comparison", title))
        return PNG + repr(bars).encode()

    async def history(
        self,
        title: str,
        series: Mapping[str, Sequence[HistoryPoint]],
        promotions: Sequence[tuple[datetime, str]],
        colours: ColourSlots | None = None,
    ) -> bytes:
        self.drawn.append(("history", title))
        return PNG

    async def tag_breakdown(
        self, title: str, rows: Sequence[TagRate], colours: ColourSlots | None = None
    ) -> bytes:
        self.drawn.append(("tags", title))
        return PNG

    async def loss_curve(
        self, title: str, train: Sequence[tuple[int, float]], valid: Sequence[tuple[int, float]]
    ) -> bytes:
        self.drawn.append(("loss", title))
        return PNG


if TYPE_CHECKING:
    from commands.services import Ports


def memory_ports(
    db: Any,
    suites_root: Any,
    *,
    models: Sequence[str],
    approvers: frozenset[str] = frozenset(),
    finetune: Any = None,
) -> Ports:
    """The use-case tier's `Ports`: the in-memory Chat, Models and Charts above, the Slack
    presenter, a real database (`db`) and the suites under `suites_root`; no scheduler,
    no fine-tuning backend unless one is given. Imported here, not at the top: the fakes
    stay importable without the whole app."""
    from bot.presenters.mrkdwn import SLACK
    from bot.presenters.slack import StyledPresenter
    from commands.outcomes import RunOutcomes
    from commands.ports import IdleScheduler
    from commands.prices import PriceTable
    from commands.services import Policy, Ports, Tasks
    from commands.suites.catalog import SuiteCatalog
    from commands.throttle import ResilientModels

    return Ports(
        chat=MemoryChat(),
        presenter=StyledPresenter(SLACK),
        models=ResilientModels(MemoryModels(list(models)), concurrency=4),
        db=db,
        suites=SuiteCatalog.load(suites_root),
        prices=PriceTable.load(None),
        charts=MemoryCharts(),
        policy=Policy(approvers=approvers),
        tasks=Tasks(),
        scheduler=IdleScheduler(),
        finetune=finetune,
        outcomes=RunOutcomes(),
        instance="test:1:a",
        held=set(),
    )


def write_qa_suite(root: Any, questions: Sequence[str]) -> Any:
    """A suite `qa` under `root` (a Path) whose items ask `questions`, each expecting the
    exact answer "yes"; returns root, for `memory_ports`."""
    import json

    folder = root / "qa"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(
        "name: qa\ndata: eval.jsonl\n"
        'input:\n  - role: user\n    content: "{{ item.q }}"\n'
        "grader:\n  type: string_check\n  name: a\n"
        '  input: "{{ sample.output_text }}"\n  reference: "{{ item.a }}"\n'
        "  operation: eq\n"
    )
    rows = [json.dumps({"q": q, "a": "yes"}) for q in questions]
    (folder / "eval.jsonl").write_text("\n".join(rows) + "\n")
    return root

"""What an operator watches when something goes wrong, in Prometheus' text format.

Counters and histograms are bumped where things happen (provider attempts, Slack calls,
acks); gauges that the database knows better (runs, samples, spend) are read at scrape
time, so a restarted bot reports the same numbers. One registry per bot, not the
process-global one, so tests build as many bots as they like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlmodel import Session

from commands.ports import ProviderError
from storage import gauges
from storage.db import Database

# Slack wants an ack within 3 s: buckets around that line.
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class Metrics:
    """The bot's metrics; `render` produces the /metrics body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.provider_requests = Counter(
            "evalbot_provider_requests",
            "Completion attempts sent to a provider, by outcome (HTTP status or error kind).",
            ["provider", "status"],
            registry=r,
        )
        self.provider_retries = Counter(
            "evalbot_provider_retries",
            "Provider attempts that failed and were retried, by what failed.",
            ["provider", "status"],
            registry=r,
        )
        self.slack_calls = Counter(
            "evalbot_slack_calls",
            "Slack Web API calls made by the bot, by method and outcome.",
            ["method", "outcome"],
            registry=r,
        )
        self.slack_ratelimited = Counter(
            "evalbot_slack_ratelimited",
            "Slack answers of HTTP 429 (ratelimited), by method.",
            ["method"],
            registry=r,
        )
        self.slack_dropped = Counter(
            "evalbot_slack_progress_dropped",
            "Progress updates dropped: over the app's budget, superseded or refused.",
            registry=r,
        )
        self.ack_seconds = Histogram(
            "evalbot_ack_seconds",
            "Time from receiving a Slack request to answering it.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.runs = Gauge("evalbot_runs", "Runs stored, by status.", ["status"], registry=r)
        self.samples = Gauge(
            "evalbot_samples", "Sample results stored, by status.", ["status"], registry=r
        )
        self.spend = Gauge(
            "evalbot_spend_usd_today",
            "USD spent on samples since 00:00 UTC.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "evalbot_samples_queued",
            "Samples of running runs not yet answered in this process.",
            registry=r,
        )
        self.in_flight = Gauge(
            "evalbot_provider_in_flight",
            "Provider requests in flight, by provider.",
            ["provider"],
            registry=r,
        )
        self.tasks = Gauge(
            "evalbot_background_tasks", "Background tasks running in this process.", registry=r
        )

    # Hooks --------------------------------------------------------------------

    def provider_attempt(self, provider: str, error: ProviderError | None) -> None:
        """One completion attempt ended (error None: it succeeded)."""
        self.provider_requests.labels(provider, _provider_status(error)).inc()

    def provider_retry(self, provider: str, error: ProviderError) -> None:
        self.provider_retries.labels(provider, _provider_status(error)).inc()

    def slack_call(self, method: str, outcome: str) -> None:
        self.slack_calls.labels(method, outcome).inc()
        if outcome == "ratelimited":
            self.slack_ratelimited.labels(method).inc()

    def ack_timer(self, kind: str) -> Callable[[], None]:
        """Start timing one Slack request; call the result when it is answered."""
        started = time.perf_counter()

        def done() -> None:
            self.ack_seconds.labels(kind).observe(time.perf_counter() - started)

        return done

    # Scrape -------------------------------------------------------------------

    async def render(
        self,
        db: Database,
        *,
        queued_samples: int = 0,
        in_flight: dict[str, int] | None = None,
        tasks: int = 0,
    ) -> bytes:
        """The /metrics body: the database's counts read now, then everything."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

        def read(session: Session) -> tuple[dict[str, int], dict[str, int], float]:
            return (
                gauges.runs_by_status(session=session),
                gauges.samples_by_status(session=session),
                gauges.spend_since(session=session, since=midnight),
            )

        runs, samples, spend = await db.run(read)
        for status in ("queued", "running", "finished", "cancelled", "failed"):
            self.runs.labels(status).set(runs.get(status, 0))
        for status in ("passed", "failed", "errored"):
            self.samples.labels(status).set(samples.get(status, 0))
        self.spend.set(spend)
        self.queue_depth.set(queued_samples)
        for provider, n in (in_flight or {}).items():
            self.in_flight.labels(provider).set(n)
        self.tasks.set(tasks)
        return generate_latest(self.registry)


def _provider_status(error: ProviderError | None) -> str:
    if error is None:
        return "200"
    return str(error.status) if error.status else error.kind

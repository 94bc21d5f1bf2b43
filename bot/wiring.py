"""The use cases' services, built from settings: the one wiring that the Slack bot
(bot.app) and the terminal runner (bot.cli) share.

Kept apart from bot.app so that `evalbot eval run` imports no Slack, web server or
scheduler on its way to the first provider request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from bot.chart_port import ProcessCharts
from bot.finetune_backend import OpenAIFineTuning
from bot.gateway import OpenAIGateway
from bot.settings import Settings, parse_api_styles, parse_finetune_backends
from commands.eval.catalog import SuiteCatalog
from commands.eval.runner import RunEngine
from commands.ports import Chat, FineTuneBackend, FineTuneBackends
from commands.prices import PriceTable
from commands.services import Policy, Services
from commands.throttle import ResilientModels, RetryPolicy
from storage.db import Database

if TYPE_CHECKING:  # prometheus_client stays out of the terminal's imports
    from bot.metrics import Metrics


def build_services(
    settings: Settings, db: Database, chat: Chat | None = None, metrics: Metrics | None = None
) -> tuple[Services, OpenAIGateway]:
    """Everything the use cases need, built from settings (counted in `metrics`)."""
    gateway = OpenAIGateway(
        settings.providers(),
        concurrency=settings.evalbot_concurrency,
        timeout_s=settings.evalbot_request_timeout,
        styles=cast(Any, parse_api_styles(settings.evalbot_api_style, settings.providers())),
    )
    retry = RetryPolicy(
        max_attempts=settings.evalbot_max_attempts,
        base_delay_s=settings.evalbot_retry_base_seconds,
    )
    if chat is None:  # imported here: the terminal brings its own chat and no Slack
        from bot.slack_chat import SlackChat, make_web_client

        client = make_web_client(settings.slack_bot_token or "", settings.slack_api_url, metrics)
        chat = SlackChat(client, observer=metrics)
    policy = Policy(
        approvers=frozenset(settings.evalbot_approvers),
        finetune_users=frozenset(settings.evalbot_finetune_users),
        concurrency=settings.evalbot_concurrency,
        poll_seconds=settings.evalbot_poll_seconds,
        proposal_days=settings.evalbot_proposal_days,
        finetune_approval_usd=settings.evalbot_finetune_approval_usd,
        finetune_max_bytes=settings.evalbot_finetune_max_mb * 1024 * 1024,
        run_lease_s=settings.evalbot_run_lease_seconds,
        max_run_usd=settings.evalbot_max_run_usd,
        runners=frozenset(settings.evalbot_runners),
        max_active_runs=settings.evalbot_max_active_runs,
        daily_usd=settings.evalbot_daily_usd,
    )
    services = Services(
        chat=chat,
        models=ResilientModels(
            gateway, concurrency=settings.evalbot_concurrency, policy=retry, observer=metrics
        ),
        db=db,
        suites=SuiteCatalog.load(settings.suites_dir),
        prices=PriceTable.load(settings.evalbot_prices_file),
        charts=ProcessCharts(),
        policy=policy,
    )
    # Fine-tuning backends by name; a provider's jobs go to the one
    # EVALBOT_FINETUNE_BACKENDS names (default openai). Issue 15 adds "ray" here.
    backends: dict[str, FineTuneBackend] = {"openai": OpenAIFineTuning(gateway)}
    services.finetune = FineTuneBackends(
        backends, parse_finetune_backends(settings.evalbot_finetune_backends, settings.providers())
    )
    services.engine_ = RunEngine(services, services.suites, services.prices, services.models)
    return services, gateway

"""The use cases' services, built from settings: the one wiring that the Slack bot
(bot.app) and the terminal runner (bot.cli) share.

Kept apart from bot.app so that `evalbot eval run` imports no Slack, web server or
scheduler on its way to the first provider request.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from bot.chart_port import ProcessCharts
from bot.finetune_backend import OpenAIFineTuning
from bot.gateway import OpenAIGateway
from bot.presenters.mrkdwn import SLACK
from bot.presenters.slack import StyledPresenter
from bot.settings import Settings, parse_api_styles, parse_finetune_backends
from commands.eval.runner import RunEngine
from commands.outcomes import RunOutcomes
from commands.ports import Chat, FineTuneBackend, FineTuneBackends, Presenter, Scheduler
from commands.prices import PriceTable
from commands.services import Policy, Ports, Services, Tasks, new_instance_id
from commands.suites.catalog import SuiteCatalog
from commands.throttle import ResilientModels, RetryPolicy
from storage.db import Database

if TYPE_CHECKING:  # prometheus_client stays out of the terminal's imports
    from bot.metrics import Metrics


def ray_backend(settings: Settings) -> FineTuneBackend:
    """Open-weight training on the Ray cluster at EVALBOT_RAY_ADDRESS."""
    from bot.ray_backend import GpuPricing, RayFineTuning
    from bot.ray_jobs import RayJobsClient
    from bot.serving import Serving
    from bot.settings import parse_serving

    providers = settings.providers()
    return RayFineTuning(
        RayJobsClient(settings.evalbot_ray_address or ""),
        store=settings.evalbot_model_store,
        python=settings.evalbot_ray_python,
        serving=Serving(parse_serving(settings.evalbot_serving, providers), providers),
        providers=providers,
        pricing=GpuPricing(
            tokens_per_gpu_hour=settings.evalbot_ray_tokens_per_gpu_hour,
            usd_per_gpu_hour=settings.evalbot_ray_gpu_hour_usd,
        ),
    )


def build_services(
    settings: Settings,
    db: Database,
    *,
    scheduler: Scheduler,
    chat: Chat | None = None,
    presenter: Presenter | None = None,
    instance: str | None = None,
    metrics: Metrics | None = None,
) -> tuple[Services, OpenAIGateway]:
    """Everything the use cases need, built from settings, complete when returned.

    The ports come first, then the engine from the ports (its one callback is
    commands.outcomes), then the frozen Services of both: nothing is filled in later.
    Provider and Slack calls are counted in `metrics` when given.
    """
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
    # Fine-tuning backends by name; a provider's jobs go to the one
    # EVALBOT_FINETUNE_BACKENDS names (default openai). Issue 15 adds "ray" here.
    backends: dict[str, FineTuneBackend] = {"openai": OpenAIFineTuning(gateway)}
    if settings.evalbot_ray_address:
        backends["ray"] = ray_backend(settings)
    outcomes = RunOutcomes()
    ports = Ports(
        chat=chat,
        presenter=presenter or StyledPresenter(SLACK),
        models=ResilientModels(
            gateway, concurrency=settings.evalbot_concurrency, policy=retry, observer=metrics
        ),
        db=db,
        suites=SuiteCatalog.load(settings.suites_dir),
        prices=PriceTable.load(settings.evalbot_prices_file),
        charts=ProcessCharts(),
        policy=policy,
        tasks=Tasks(),
        scheduler=scheduler,
        finetune=FineTuneBackends(
            backends,
            parse_finetune_backends(settings.evalbot_finetune_backends, settings.providers()),
        ),
        outcomes=outcomes,
        instance=instance or new_instance_id(),  # tests name two "hosts"
        held=set(),
    )
    engine = RunEngine(
        ports,
        ports.suites,
        ports.prices,
        ports.models,
        on_finished=partial(outcomes.run_finished, ports),
    )
    services = Services(**{f.name: getattr(ports, f.name) for f in fields(Ports)}, engine=engine)
    return services, gateway

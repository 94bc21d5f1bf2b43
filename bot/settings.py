"""Typed settings read from the environment and a `.env` file (the contract's table).

`load_settings()` validates everything at start and fails with one line a person can act
on (`SettingsError`); `bot.cli` turns that into exit status 2 without a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from commands.redact import Redactor

HOW_TO_GET = {
    "SLACK_BOT_TOKEN": "create the app from deploy/slack-manifest.yaml, install it to your "
    "workspace and copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions",
    "SLACK_APP_TOKEN": "in the app's Basic Information, create an App-Level Token with the "
    "connections:write scope (xapp-...), or unset it to run in HTTP mode",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from the app's Basic Information page "
    "(HTTP mode needs it; set SLACK_APP_TOKEN instead to use Socket Mode)",
    "SLACK_API_URL": "give the Slack Web API base URL, e.g. https://slack.com/api/",
    "EVALBOT_MODE": "use `socket` (needs SLACK_APP_TOKEN) or `http` (needs SLACK_SIGNING_SECRET)",
    "PORT": "give a TCP port number from 1 to 65535",
    "OPENAI_BASE_URL": "give the provider's API base URL, e.g. https://api.openai.com/v1",
    "EVALBOT_PROVIDERS": "use `name=base_url[|KEY_ENV_VAR],...`, "
    "e.g. `local=http://localhost:8000/v1|VLLM_KEY`",
    "DATABASE_URL": "give an SQLAlchemy URL such as sqlite:///evalbot.db or "
    "postgresql://user@host:5432/evalbot",
    "EVALBOT_SUITES_DIR": "point it at a folder of eval suites (see examples/)",
    "EVALBOT_APPROVERS": "give comma-separated Slack user ids such as U012ABCDEF",
    "EVALBOT_FINETUNE_USERS": "give comma-separated Slack user ids such as U012ABCDEF",
    "EVALBOT_CONCURRENCY": "give a whole number from 1 to 1024",
    "EVALBOT_POLL_SECONDS": "give a whole number of seconds from 5 to 86400",
    "EVALBOT_PRICES_FILE": "point it at a YAML or JSON price table (see docs/prices.md)",
    "EVALBOT_PROPOSAL_DAYS": "give a number of days from 1 to 365",
    "EVALBOT_RETRY_BASE_SECONDS": "give the first retry delay in seconds (default 0.5)",
    "EVALBOT_MAX_ATTEMPTS": "give a whole number of attempts from 1 to 20 (default 6)",
    "EVALBOT_API_STYLE": "use `provider=responses|chat,...`, e.g. `default=chat`",
    "EVALBOT_REQUEST_TIMEOUT": "give a provider request timeout in seconds (default 60)",
    "EVALBOT_FINETUNE_APPROVAL_USD": "give a dollar amount; fine-tunes estimated above it "
    "wait for an approval (default 100)",
    "EVALBOT_FINETUNE_MAX_MB": "give the largest training file to download, in MB (default 100)",
    "EVALBOT_MAX_RUN_USD": "give a dollar amount; `/eval run`s estimated above it are refused",
    "EVALBOT_RUNNERS": "give comma-separated Slack user ids (U012ABCDEF) or user-group ids "
    "(S012ABCDEF); empty lets everyone start runs",
    "EVALBOT_MAX_ACTIVE_RUNS": "give a whole number from 1 to 256 (default 4)",
    "EVALBOT_DAILY_USD": "give a dollar amount above 0: the spend per UTC day",
    "EVALBOT_FINETUNE_BACKENDS": "use `provider=openai|ray,...`, e.g. `local=ray`; "
    "a provider not named fine-tunes with `openai`",
    "EVALBOT_RUN_LEASE_SECONDS": "give the seconds a crashed process holds its runs before "
    "another takes them over, from 2 to 3600 (default 30)",
    "EVALBOT_API_TOKEN": "give a random token of 16 or more characters (e.g. `openssl rand "
    "-hex 32`); clients send it as `Authorization: Bearer <token>`",
    "EVALBOT_HOST": "give the address to bind, e.g. 127.0.0.1 or 0.0.0.0",
    "EVALBOT_RAY_ADDRESS": "give the Ray cluster's job server, e.g. http://ray-head:8265",
    "EVALBOT_MODEL_STORE": "give a path the Ray cluster and the model servers share, "
    "or an s3:// URL",
    "EVALBOT_SERVING": "use `provider=vllm-lora|path,...`, e.g. `local=vllm-lora`",
    "EVALBOT_RAY_TOKENS_PER_GPU_HOUR": "give the training throughput used for GPU-hour "
    "estimates (default 10000000)",
    "EVALBOT_RAY_GPU_HOUR_USD": "give the price of one GPU-hour in USD (default 2)",
}

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(Exception):
    """A missing or malformed setting; str() is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        hint = HOW_TO_GET.get(variable, "")
        # Messages name entries, not values; a name that is really a pasted key is
        # masked all the same (the line goes to a terminal and CI logs).
        problem = Redactor().scrub(problem)
        super().__init__(f"{variable} {problem}" + (f": {hint}." if hint else "."))


@dataclass(frozen=True)
class ProviderConfig:
    """One OpenAI-compatible provider: `default`, or one named in EVALBOT_PROVIDERS."""

    name: str
    base_url: str | None
    api_key: str | None
    key_env: str | None = None


def _split_ids(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything evalbot reads from its environment; names are the variables'."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    evalbot_mode: Literal["socket", "http"] | None = None
    port: int = Field(default=3000, ge=1, le=65535)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    evalbot_providers: str = ""
    database_url: str = "sqlite:///evalbot.db"
    evalbot_suites_dir: Path | None = None
    evalbot_approvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    evalbot_finetune_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    evalbot_concurrency: int = Field(default=32, ge=1, le=1024)
    evalbot_poll_seconds: int = Field(default=30, ge=5, le=86400)
    evalbot_prices_file: Path | None = None
    evalbot_proposal_days: float = Field(default=7.0, gt=0, le=365)
    # Operational knobs beyond the contract's table.
    evalbot_retry_base_seconds: float = Field(default=0.5, gt=0, le=60)
    evalbot_max_attempts: int = Field(default=6, ge=1, le=20)
    evalbot_request_timeout: float = Field(default=60.0, gt=0, le=600)
    evalbot_finetune_approval_usd: float = Field(default=100.0, ge=0)
    evalbot_finetune_max_mb: int = Field(default=100, ge=1, le=1024)
    evalbot_max_run_usd: float | None = Field(default=None, gt=0)
    evalbot_runners: Annotated[list[str], NoDecode] = Field(default_factory=list)
    evalbot_max_active_runs: int = Field(default=4, ge=1, le=256)
    evalbot_daily_usd: float | None = Field(default=None, gt=0)
    evalbot_run_lease_seconds: float = Field(default=30.0, ge=2, le=3600)
    openai_webhook_secret: str | None = None
    evalbot_api_style: str = ""  # provider=responses|chat,...
    evalbot_finetune_backends: str = ""  # provider=openai|ray,...
    evalbot_api_token: str | None = Field(default=None, min_length=16)
    evalbot_host: str | None = None
    # Open-weight fine-tuning on a Ray cluster (check_ray_settings checks these together).
    evalbot_ray_address: str | None = None
    evalbot_model_store: str = "./models"
    evalbot_serving: str = ""  # provider=vllm-lora|path,...
    evalbot_ray_python: str = "python"  # the cluster's interpreter that has evalbot[train]
    evalbot_ray_tokens_per_gpu_hour: float = Field(default=10_000_000, gt=0)
    evalbot_ray_gpu_hour_usd: float = Field(default=2.0, ge=0)

    @field_validator("evalbot_approvers", "evalbot_finetune_users", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_ids(value)

    @field_validator("evalbot_approvers", "evalbot_finetune_users")
    @classmethod
    def _valid_ids(cls, value: list[str]) -> list[str]:
        for number, uid in enumerate(value, 1):
            if not _USER_ID.match(uid):
                # By position, not value: a token pasted here must not reach the logs.
                raise ValueError(f"entry {number} is not a Slack user id")
        return value

    @field_validator("evalbot_runners", mode="before")
    @classmethod
    def _runner_ids(cls, value: Any) -> Any:
        return _split_ids(value)

    @field_validator("evalbot_runners")
    @classmethod
    def _valid_runners(cls, value: list[str]) -> list[str]:
        for uid in value:
            if not (_USER_ID.match(uid) or _GROUP_ID.match(uid)):
                raise ValueError("an entry is neither a Slack user id nor a user-group id")
        return value

    @field_validator("evalbot_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower() or None
        return value

    # Derived views ------------------------------------------------------------

    @property
    def mode(self) -> Literal["socket", "http"]:
        if self.evalbot_mode:
            return self.evalbot_mode
        return "socket" if self.slack_app_token else "http"

    @property
    def suites_dir(self) -> Path:
        if self.evalbot_suites_dir is not None:
            return self.evalbot_suites_dir
        local = Path("evals")
        return local if local.is_dir() else Path("examples")

    @property
    def host(self) -> str:
        """EVALBOT_HOST, else every interface in HTTP mode (Slack must reach it) and
        loopback in Socket Mode (nothing outside needs to)."""
        if self.evalbot_host:
            return self.evalbot_host
        return "0.0.0.0" if self.mode == "http" else "127.0.0.1"

    def secrets(self) -> list[str]:
        """Every configured secret value, for the redactor of logs and provider messages."""
        values = [
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.openai_webhook_secret,
            self.evalbot_api_token,
            urlparse(self.database_url).password,
            *(p.api_key for p in self.providers().values()),
        ]
        return [v for v in values if v]

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with PostgreSQL pointed at psycopg 3, the driver we ship."""
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def providers(self) -> dict[str, ProviderConfig]:
        """The default provider plus those of EVALBOT_PROVIDERS, by name."""
        result = {"default": ProviderConfig("default", self.openai_base_url, self.openai_api_key)}
        result.update(parse_providers(self.evalbot_providers, os.environ))
        return result


def parse_api_styles(text: str, providers: Any) -> dict[str, str]:
    """`default=responses,local=chat` -> {provider: style}; SettingsError names the entry."""
    styles: dict[str, str] = {}
    for number, raw in enumerate(text.split(","), 1):
        entry = raw.strip()
        if not entry:
            continue
        name, _, style = (part.strip() for part in entry.partition("="))
        if name not in providers:
            what = repr(name) if _PROVIDER_NAME.match(name) else f"in entry {number}"
            raise SettingsError("EVALBOT_API_STYLE", f"names an unknown provider {what}")
        if style not in ("responses", "chat"):
            raise SettingsError(
                "EVALBOT_API_STYLE", f"gives {name!r} a style other than responses or chat"
            )
        styles[name] = style
    return styles


FINETUNE_BACKENDS = ("openai", "ray")


def parse_finetune_backends(text: str, providers: Any) -> dict[str, str]:
    """`local=ray,default=openai` -> {provider: backend}; SettingsError names the entry.

    A provider not named uses `openai`. Whether this process runs the named backend is
    the composition root's business (a `ray` route without a Ray backend is refused
    when a fine-tune asks for it, with what to set).
    """
    routes: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, backend = (part.strip() for part in entry.partition("="))
        if not sep or not backend:
            raise SettingsError(
                "EVALBOT_FINETUNE_BACKENDS", f"has an entry without a backend ({name!r})"
            )
        if name not in providers:
            raise SettingsError("EVALBOT_FINETUNE_BACKENDS", f"names an unknown provider {name!r}")
        if name in routes:
            raise SettingsError("EVALBOT_FINETUNE_BACKENDS", f"names provider {name!r} twice")
        if backend not in FINETUNE_BACKENDS:
            raise SettingsError(
                "EVALBOT_FINETUNE_BACKENDS",
                f"gives {name!r} a backend other than {' or '.join(FINETUNE_BACKENDS)}",
            )
        routes[name] = backend
    return routes


def parse_providers(text: str, environ: Any) -> dict[str, ProviderConfig]:
    """Parse `name=base_url[|KEY_ENV_VAR],...`; raises SettingsError naming the entry."""
    found: dict[str, ProviderConfig] = {}
    for number, raw in enumerate(text.split(","), 1):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, rest = entry.partition("=")
        name = name.strip()
        # Name an entry by position until its name is known to be a name: a key
        # pasted into the wrong place must not be echoed.
        if not _PROVIDER_NAME.match(name) or name == "default":
            raise SettingsError(
                "EVALBOT_PROVIDERS",
                f"has a bad provider name in entry {number} (lowercase letters, digits, - and _)",
            )
        if not sep or not rest.strip():
            raise SettingsError("EVALBOT_PROVIDERS", f"has an entry without a URL ({name!r})")
        if name in found:
            raise SettingsError("EVALBOT_PROVIDERS", f"names provider {name!r} twice")
        url, _, key_env = rest.partition("|")
        url, key_env = url.strip(), key_env.strip()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError("EVALBOT_PROVIDERS", f"has a bad URL for {name!r}")
        if key_env and not _ENV_NAME.match(key_env):
            raise SettingsError("EVALBOT_PROVIDERS", f"has a bad key variable name for {name!r}")
        key = environ.get(key_env) if key_env else None
        found[name] = ProviderConfig(name, url, key or None, key_env or None)
    return found


def _first_error(exc: ValidationError) -> SettingsError:
    err = exc.errors()[0]
    variable = str(err["loc"][0]).upper() if err.get("loc") else "setting"
    # Never echo the offending value: it may be a secret pasted into the wrong variable.
    message = str(err.get("msg", "is malformed")).removeprefix("Value error, ")
    return SettingsError(variable, f"is malformed ({message})")


def load_settings(*, require_slack: bool = True, env_file: str | None = ".env") -> Settings:
    """Read and validate settings; raises SettingsError with a one-line, actionable message."""
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as exc:
        raise _first_error(exc) from None
    parse_api_styles(settings.evalbot_api_style, settings.providers())
    parse_finetune_backends(settings.evalbot_finetune_backends, settings.providers())
    check_ray_settings(settings)
    _check_url("SLACK_API_URL", settings.slack_api_url)
    if settings.openai_base_url:
        _check_url("OPENAI_BASE_URL", settings.openai_base_url)
    if "://" not in settings.database_url:
        raise SettingsError("DATABASE_URL", "is malformed (no scheme)")
    if settings.evalbot_prices_file is not None:
        if not settings.evalbot_prices_file.is_file():
            raise SettingsError("EVALBOT_PRICES_FILE", "names a file that does not exist")
        from commands.prices import PriceTable

        try:
            PriceTable.load(settings.evalbot_prices_file)
        except (OSError, ValueError) as exc:
            raise SettingsError("EVALBOT_PRICES_FILE", f"is unusable: {exc}") from None
    if require_slack:
        _check_slack(settings)
    return settings


def _check_url(variable: str, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(variable, "is not an http(s) URL")


def _check_slack(settings: Settings) -> None:
    token = settings.slack_bot_token
    if not token:
        raise SettingsError("SLACK_BOT_TOKEN", "is not set")
    if not token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN", "is not a bot token (it should start with xoxb-)")
    app_token = settings.slack_app_token
    if app_token and not app_token.startswith("xapp-"):
        raise SettingsError(
            "SLACK_APP_TOKEN", "is not an app-level token (it should start with xapp-)"
        )
    if settings.mode == "socket" and not app_token:
        raise SettingsError("SLACK_APP_TOKEN", "is not set but EVALBOT_MODE is socket")
    if settings.mode == "http" and not settings.slack_signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET", "is not set (HTTP mode)")


ServingKind = Literal["path", "vllm-lora"]
SERVING_KINDS: tuple[ServingKind, ...] = ("path", "vllm-lora")


def parse_serving(text: str, providers: Any) -> dict[str, ServingKind]:
    """`local=vllm-lora` -> {provider: serving}; providers not named use `path`."""
    kinds: dict[str, ServingKind] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, kind = (part.strip() for part in entry.partition("="))
        if not sep or not kind:
            raise SettingsError("EVALBOT_SERVING", f"has an entry without a value ({name!r})")
        if name not in providers:
            raise SettingsError(
                "EVALBOT_SERVING",
                f"names an unknown provider {name!r} (known: {', '.join(providers)})",
            )
        if name in kinds:
            raise SettingsError("EVALBOT_SERVING", f"names provider {name!r} twice")
        found = next((k for k in SERVING_KINDS if k == kind), None)
        if found is None:
            raise SettingsError(
                "EVALBOT_SERVING", f"gives {name!r} a serving other than vllm-lora or path"
            )
        kinds[name] = found
    return {name: kinds.get(name, "path") for name in providers}


def check_ray_settings(settings: Settings) -> None:
    """EVALBOT_RAY_ADDRESS, EVALBOT_SERVING and EVALBOT_MODEL_STORE, checked at start.

    A provider routed to ray without EVALBOT_RAY_ADDRESS is not an error here: its
    fine-tunes are refused with what to set (commands.ports.FineTuneBackends).
    """
    parse_serving(settings.evalbot_serving, settings.providers())
    address = settings.evalbot_ray_address
    if address:
        _check_url("EVALBOT_RAY_ADDRESS", address)
    if not settings.evalbot_model_store.strip():
        raise SettingsError("EVALBOT_MODEL_STORE", "is empty")

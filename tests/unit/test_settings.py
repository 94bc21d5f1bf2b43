"""Settings: the contract's variables, and one actionable line for each mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings, parse_providers

REPO = Path(__file__).resolve().parents[2]


def env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s3cret")
    s = load_settings()
    assert s.mode == "http"
    assert s.port == 3000
    assert s.database_url == "sqlite:///evalbot.db"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.evalbot_concurrency == 32 and s.evalbot_poll_seconds == 30
    assert s.evalbot_approvers == [] and s.evalbot_finetune_users == []
    assert s.suites_dir == Path("examples")  # no ./evals here
    (tmp_path / "evals").mkdir()
    assert s.suites_dir == Path("evals")


def test_app_token_selects_socket_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert load_settings(env_file=None).mode == "socket"
    env(monkeypatch, EVALBOT_MODE="http", SLACK_SIGNING_SECRET="x")
    assert load_settings(env_file=None).mode == "http"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_APP_TOKEN=xapp-from-file\n"
        "EVALBOT_APPROVERS=U0AAA, U0BBB\nEVALBOT_CONCURRENCY=8\n"
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.slack_bot_token == "xoxb-from-file"
    assert s.evalbot_approvers == ["U0AAA", "U0BBB"]
    assert s.evalbot_concurrency == 8


@pytest.mark.parametrize(
    ("values", "variable", "words"),
    [
        ({}, "SLACK_BOT_TOKEN", "is not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN", "xoxb-"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET", "HTTP mode"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN", "xapp-"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "EVALBOT_MODE": "socket"}, "SLACK_APP_TOKEN", "socket"),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
                "EVALBOT_CONCURRENCY": "lots",
            },
            "EVALBOT_CONCURRENCY",
            "whole number",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "EVALBOT_CONCURRENCY": "0"},
            "EVALBOT_CONCURRENCY",
            "1 to 1024",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "PORT": "99999"},
            "PORT",
            "65535",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "EVALBOT_MODE": "grpc"},
            "EVALBOT_MODE",
            "socket",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
                "EVALBOT_APPROVERS": "alice",
            },
            "EVALBOT_APPROVERS",
            "Slack user id",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
                "EVALBOT_PROVIDERS": "local",
            },
            "EVALBOT_PROVIDERS",
            "name=base_url",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
                "SLACK_API_URL": "slack.com",
            },
            "SLACK_API_URL",
            "http",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
                "DATABASE_URL": "evalbot.db",
            },
            "DATABASE_URL",
            "SQLAlchemy URL",
        ),
    ],
)
def test_each_mistake_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], variable: str, words: str
) -> None:
    env(monkeypatch, **values)
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None)
    message = str(info.value)
    assert message.startswith(variable)
    assert words in message
    assert "\n" not in message


def test_a_malformed_value_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    env(
        monkeypatch,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        EVALBOT_CONCURRENCY="sk-live-secret-pasted-here",
    )
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None)
    assert "sk-live" not in str(info.value)


def test_providers_are_parsed_with_their_keys() -> None:
    found = parse_providers(
        "local=http://127.0.0.1:8000/v1|VLLM_KEY, azure=https://x.openai.azure.com/openai/v1",
        {"VLLM_KEY": "k1"},
    )
    assert found["local"].base_url == "http://127.0.0.1:8000/v1"
    assert found["local"].api_key == "k1"
    assert found["azure"].api_key is None
    with pytest.raises(SettingsError, match="twice"):
        parse_providers("a=http://x,a=http://y", {})
    with pytest.raises(SettingsError, match="bad URL"):
        parse_providers("a=ftp://x", {})


def test_postgres_urls_use_the_shipped_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, DATABASE_URL="postgresql://u@h:5432/db")
    assert load_settings(require_slack=False, env_file=None).sqlalchemy_url == (
        "postgresql+psycopg://u@h:5432/db"
    )


def clean_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}


def test_starting_without_a_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("evalbot: SLACK_BOT_TOKEN is not set")
    assert "deploy/slack-manifest.yaml" in lines[0]
    assert "Traceback" not in proc.stderr


def test_python_m_bot_takes_the_evalbot_commands_arguments(tmp_path: Path) -> None:
    # It used to start the bot whatever it was given (and ask for a Slack token).
    (tmp_path / "suites").mkdir()
    env = clean_env(tmp_path) | {"EVALBOT_SUITES_DIR": str(tmp_path / "suites")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "suites", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "SLACK_BOT_TOKEN" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_make_run_without_a_token_exits_2(tmp_path: Path) -> None:
    """`make run` as a newcomer types it: the bot's one line, then make's own status."""
    venv = REPO / ".venv" / "bin"
    if not (venv / "python").exists():
        pytest.skip("make run needs the project's .venv")
    env = clean_env(tmp_path)
    env["PATH"] = f"{venv}:{env['PATH']}"
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "evalbot: SLACK_BOT_TOKEN is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_api_style_is_configurable_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import parse_api_styles

    env(monkeypatch, EVALBOT_PROVIDERS="local=http://127.0.0.1:8000/v1")
    providers = load_settings(require_slack=False, env_file=None).providers()
    assert parse_api_styles("default=chat, local=responses", providers) == {
        "default": "chat",
        "local": "responses",
    }
    with pytest.raises(SettingsError, match="unknown provider 'azure'"):
        parse_api_styles("azure=chat", providers)
    with pytest.raises(SettingsError, match="responses or chat"):
        parse_api_styles("local=grpc", providers)


def test_a_broken_price_table_is_named_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-x: {input: cheap, output: 1}\n")
    env(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    monkeypatch.setenv("EVALBOT_PRICES_FILE", str(prices))
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None)
    message = str(info.value)
    assert message.startswith("EVALBOT_PRICES_FILE is unusable")
    assert "gpt-x" in message and "docs/prices.md" in message and "\n" not in message
    prices.write_text("gpt-x: {input: 1, output: 2}\n")
    assert load_settings(env_file=None).evalbot_prices_file == prices


def test_the_run_cost_cap_must_be_a_positive_amount(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert load_settings(env_file=None).evalbot_max_run_usd is None
    monkeypatch.setenv("EVALBOT_MAX_RUN_USD", "25")
    assert load_settings(env_file=None).evalbot_max_run_usd == 25.0
    monkeypatch.setenv("EVALBOT_MAX_RUN_USD", "-1")
    with pytest.raises(SettingsError, match="EVALBOT_MAX_RUN_USD"):
        load_settings(env_file=None)


def test_finetune_backends_follow_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import parse_finetune_backends

    env(monkeypatch, EVALBOT_PROVIDERS="local=http://127.0.0.1:8000/v1")
    providers = load_settings(require_slack=False, env_file=None).providers()
    assert parse_finetune_backends("", providers) == {}, "openai for every provider"
    assert parse_finetune_backends("local=ray, default=openai", providers) == {
        "local": "ray",
        "default": "openai",
    }
    for text, says in [
        ("azure=openai", "unknown provider 'azure'"),
        ("local=trl", "openai or ray"),
        ("local", "without a backend"),
        ("local=ray,local=openai", "twice"),
    ]:
        with pytest.raises(SettingsError, match=says) as info:
            parse_finetune_backends(text, providers)
        assert str(info.value).startswith("EVALBOT_FINETUNE_BACKENDS ")


def test_a_malformed_finetune_backends_setting_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env(monkeypatch, EVALBOT_FINETUNE_BACKENDS="default=sagemaker")
    with pytest.raises(SettingsError) as info:
        load_settings(require_slack=False, env_file=None)
    assert "EVALBOT_FINETUNE_BACKENDS" in str(info.value) and "openai or ray" in str(info.value)
    env(monkeypatch, EVALBOT_FINETUNE_BACKENDS="default=ray")
    loaded = load_settings(require_slack=False, env_file=None)
    assert loaded.evalbot_finetune_backends == "default=ray"

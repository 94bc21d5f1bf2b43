"""The deploy/ folder agrees with the code: manifest, Dockerfile, compose and Kubernetes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from commands.table import build_table

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(
            d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None
        )
    return docs


def _kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _k8s_docs() if d.get("kind") == kind]


# Slack app manifest ---------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = _load(DEPLOY / "slack-manifest.yaml")
    assert isinstance(data, dict)
    return data


def test_manifest_declares_exactly_the_served_slash_commands(manifest: dict[str, Any]) -> None:
    declared = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert len(declared) == len(set(declared)), "a slash command is declared twice"
    assert set(declared) == {f.command for f in build_table()}


def test_manifest_slash_commands_are_complete(manifest: dict[str, Any]) -> None:
    for cmd in manifest["features"]["slash_commands"]:
        assert cmd["description"].strip(), cmd["command"]
        assert cmd["should_escape"] is False, cmd["command"]
        assert cmd["url"].endswith("/slack/events"), cmd["command"]


def test_manifest_subscribes_to_the_events_the_bot_handles(manifest: dict[str, Any]) -> None:
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"reaction_added", "reaction_removed", "app_home_opened"} <= events


def test_manifest_uses_socket_mode_with_interactivity(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_requests_the_needed_bot_scopes(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "files:write", "reactions:read", "reactions:write"} <= scopes
    # Posting where it never joined works, uploads and reactions there do not: it joins.
    assert "chat:write.public" not in scopes or "channels:join" in scopes


# Compose and Kubernetes ----------------------------------------------------------


def test_compose_parses_and_runs_the_bot_on_postgres() -> None:
    compose = _load(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"bot", "db"} <= set(services)
    bot = services["bot"]
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"]


def test_every_k8s_yaml_parses() -> None:
    files = sorted(K8S.glob("*.yaml"))
    assert files
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        assert docs, f"{path.name} is empty"
        if path.name != "kustomization.yaml":
            assert all("apiVersion" in d and "kind" in d for d in docs), path.name


def test_kustomization_lists_existing_files() -> None:
    kustomization = _load(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise AssertionError(f"named port {port!r} is not declared by the container")


def test_deployment_probes_healthz_on_the_port_the_service_exposes() -> None:
    (deployment,) = _kind("Deployment")
    (service,) = _kind("Service")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    service_targets = {
        _port_number(container, p.get("targetPort", p["port"])) for p in service["spec"]["ports"]
    }
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert _port_number(container, get["port"]) in service_targets, probe


def test_deployment_runs_as_non_root_with_secrets_from_evalbot_secrets() -> None:
    (deployment,) = _kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    from_secret = {
        e["name"]
        for e in container.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "evalbot-secrets"
    }
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY", "DATABASE_URL"} <= from_secret


# Dockerfile ----------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments): comment lines dropped, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [args for word, args in _instructions() if word == "USER"]
    assert users, "the Dockerfile has no USER line"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_healthcheck_hits_healthz() -> None:
    checks = [args for word, args in _instructions() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]


def _copied_sources() -> list[str]:
    """Paths the Dockerfile COPYs from the build context (the repository root)."""
    sources: list[str] = []
    for word, args in _instructions():
        if word != "COPY":
            continue
        parts = yaml.safe_load(args) if args.startswith("[") else shlex.split(args)
        if any(p.startswith("--from") for p in parts):
            continue  # from another build stage, not from the build context
        *from_context, _dest = [p for p in parts if not p.startswith("--")]
        sources.extend(from_context)
    return sources


def test_every_file_the_dockerfile_copies_exists() -> None:
    sources = _copied_sources()
    assert {"pyproject.toml", "bot/", "commands/", "storage/", "examples/"} <= set(sources)
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"COPY sources not in the repository: {missing}"


def test_dockerignore_allowlist_keeps_what_the_dockerfile_copies() -> None:
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert ".env" in patterns or "*" in patterns, "the build context could include .env"
    if "*" in patterns:
        for source in _copied_sources():
            top = source.strip("/").split("/")[0]
            assert {f"!{top}", f"!{top}/"} & patterns, f"{source} is ignored by the allowlist"

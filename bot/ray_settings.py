"""EVALBOT_FINETUNE_BACKENDS, EVALBOT_RAY_ADDRESS and EVALBOT_SERVING: parsed and checked at
start, so a typo stops the bot with one line instead of failing the first fine-tune."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import urlparse

from bot.serving import SERVING_KINDS, ServingKind
from bot.settings import Settings, SettingsError

BackendKind = Literal["openai", "ray"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("openai", "ray")


def _pairs(variable: str, text: str, providers: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not value:
            raise SettingsError(variable, f"has an entry without a value ({name!r})")
        if name not in providers:
            raise SettingsError(
                variable, f"names an unknown provider {name!r} (known: {', '.join(providers)})"
            )
        if name in found:
            raise SettingsError(variable, f"names provider {name!r} twice")
        found[name] = value
    return found


def parse_backends(text: str, providers: Mapping[str, Any]) -> dict[str, BackendKind]:
    """`local=ray,default=openai` -> {provider: backend}; providers not named use openai."""
    kinds = _pairs("EVALBOT_FINETUNE_BACKENDS", text, providers)
    for name, kind in kinds.items():
        if kind not in BACKEND_KINDS:
            raise SettingsError(
                "EVALBOT_FINETUNE_BACKENDS", f"gives {name!r} a backend other than openai or ray"
            )
    return {name: cast(BackendKind, kinds.get(name, "openai")) for name in providers}


def parse_serving(text: str, providers: Mapping[str, Any]) -> dict[str, ServingKind]:
    """`local=vllm-lora` -> {provider: serving}; providers not named use `path`."""
    kinds = _pairs("EVALBOT_SERVING", text, providers)
    for name, kind in kinds.items():
        if kind not in SERVING_KINDS:
            raise SettingsError(
                "EVALBOT_SERVING", f"gives {name!r} a serving other than vllm-lora or path"
            )
    return {name: cast(ServingKind, kinds.get(name, "path")) for name in providers}


def check_ray_settings(settings: Settings) -> None:
    """Raise SettingsError when the Ray settings cannot work together."""
    providers = settings.providers()
    backends = parse_backends(settings.evalbot_finetune_backends, providers)
    parse_serving(settings.evalbot_serving, providers)
    address = settings.evalbot_ray_address
    if address:
        parsed = urlparse(address)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError("EVALBOT_RAY_ADDRESS", "is not an http(s) URL")
    ray_providers = [name for name, kind in backends.items() if kind == "ray"]
    if ray_providers and not address:
        raise SettingsError(
            "EVALBOT_RAY_ADDRESS",
            f"is not set, but EVALBOT_FINETUNE_BACKENDS sends {ray_providers[0]!r} to ray",
        )
    if not settings.evalbot_model_store.strip():
        raise SettingsError("EVALBOT_MODEL_STORE", "is empty")

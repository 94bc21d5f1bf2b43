"""EVALBOT_RAY_ADDRESS, EVALBOT_SERVING and EVALBOT_MODEL_STORE: parsed and checked at start,
with EVALBOT_FINETUNE_BACKENDS, so a typo stops the bot with one line instead of failing the
first fine-tune."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlparse

from bot.serving import SERVING_KINDS, ServingKind
from bot.settings import Settings, SettingsError, parse_finetune_backends


def parse_serving(text: str, providers: Mapping[str, Any]) -> dict[str, ServingKind]:
    """`local=vllm-lora` -> {provider: serving}; providers not named use `path`."""
    kinds: dict[str, str] = {}
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
        if kind not in SERVING_KINDS:
            raise SettingsError(
                "EVALBOT_SERVING", f"gives {name!r} a serving other than vllm-lora or path"
            )
        kinds[name] = kind
    return {name: cast(ServingKind, kinds.get(name, "path")) for name in providers}


def check_ray_settings(settings: Settings) -> None:
    """Raise SettingsError when the Ray settings cannot work together."""
    providers = settings.providers()
    parse_finetune_backends(settings.evalbot_finetune_backends, providers)
    parse_serving(settings.evalbot_serving, providers)
    address = settings.evalbot_ray_address
    if address:
        parsed = urlparse(address)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError("EVALBOT_RAY_ADDRESS", "is not an http(s) URL")
    # A provider routed to ray without EVALBOT_RAY_ADDRESS is not an error here: its
    # fine-tunes are refused with what to set (commands.ports.FineTuneBackends).
    if not settings.evalbot_model_store.strip():
        raise SettingsError("EVALBOT_MODEL_STORE", "is empty")

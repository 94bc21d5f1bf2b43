"""The headers and base URL an `AsyncOpenAI` client would send, without importing openai.

Completions are posted with plain aiohttp (bot/gateway.py), carrying what the provider's
SDK client carries: auth, organization and project, the user agent and the SDK's
platform headers, any OPENAI_CUSTOM_HEADERS, and the same base URL. Building an SDK
client only to copy those costs the SDK's import, about 60% of `evalbot eval run`'s
start-up (docs/benchmarks.md, cli_start), so they are computed here the way openai's
`_client.py` / `_base_client.py` / `lib/_client_auth.py` compute them.
tests/integration/test_openai_headers.py compares both, value and order, for each
setting that changes them; it fails when an SDK release changes its headers.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import platform
import re
import sys
from pathlib import Path

from bot.settings import ProviderConfig

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# What the gateway gives the SDK when a provider has no key (the SDK refuses none).
NO_KEY = "not-set"

_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


@functools.cache
def sdk_version() -> str:
    """The installed openai package's version, read from its `_version.py` (as the SDK
    itself reads it) without running the package's `__init__`."""
    spec = importlib.util.find_spec("openai")
    if spec is None or spec.origin is None:
        raise RuntimeError("the openai package is not installed")
    source = (Path(spec.origin).parent / "_version.py").read_text(encoding="utf-8")
    found = _VERSION.search(source)
    if found is None:
        raise RuntimeError("cannot read openai's version from its _version.py")
    return found.group(1)


def _platform_name() -> str:
    # openai._base_client.get_platform
    try:
        system = platform.system().lower()
        platform_name = platform.platform().lower()
    except Exception:  # noqa: BLE001 - as the SDK: any failure is "Unknown"
        return "Unknown"
    if "iphone" in platform_name or "ipad" in platform_name:
        return "iOS"
    if system == "darwin":
        return "MacOS"
    if system == "windows":
        return "Windows"
    if "android" in platform_name:
        return "Android"
    if system == "freebsd":
        return "FreeBSD"
    if system == "openbsd":
        return "OpenBSD"
    if system == "linux":
        try:
            distro_id = platform.freedesktop_os_release().get("ID", "").lower()
        except OSError:
            distro_id = ""
        if distro_id == "freebsd":
            return "FreeBSD"
        if distro_id == "openbsd":
            return "OpenBSD"
        return "Linux"
    if platform_name:
        return f"Other:{platform_name}"
    return "Unknown"


def _architecture() -> str:
    # openai._base_client.get_architecture
    try:
        machine = platform.machine().lower()
    except Exception:  # noqa: BLE001 - as the SDK
        return "unknown"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine == "arm":
        return "arm"
    if machine == "x86_64":
        return "x64"
    if sys.maxsize <= 2**32:
        return "x32"
    if machine:
        return f"other:{machine}"
    return "unknown"


def _or_unknown(read: functools.partial[str]) -> str:
    try:
        return read()
    except Exception:  # noqa: BLE001 - as the SDK
        return "unknown"


@functools.cache
def platform_headers() -> dict[str, str]:
    """openai._base_client.platform_headers, cached for the process as the SDK caches it."""
    return {
        "X-Stainless-Lang": "python",
        "X-Stainless-Package-Version": sdk_version(),
        "X-Stainless-OS": _platform_name(),
        "X-Stainless-Arch": _architecture(),
        "X-Stainless-Runtime": _or_unknown(functools.partial(platform.python_implementation)),
        "X-Stainless-Runtime-Version": _or_unknown(functools.partial(platform.python_version)),
    }


def _custom_headers() -> dict[str, str]:
    # OPENAI_CUSTOM_HEADERS: one `Name: value` a line, as lib/_client_auth reads it.
    raw = os.environ.get("OPENAI_CUSTOM_HEADERS")
    parsed: dict[str, str] = {}
    if raw is None:
        return parsed
    for line in raw.split("\n"):
        colon = line.find(":")
        if colon >= 0:
            parsed[line[:colon].strip()] = line[colon + 1 :].strip()
    return parsed


def _async_library() -> str:
    # openai._utils.get_async_library: sniffio names asyncio inside a task, else "false".
    try:
        return "asyncio" if asyncio.current_task() is not None else "false"
    except RuntimeError:  # no running loop
        return "false"


def request_headers(provider: ProviderConfig) -> dict[str, str]:
    """`{**client.default_headers, **client.auth_headers}` of the provider's AsyncOpenAI
    client (built with `api_key=provider.api_key or "not-set"`), Omit values left out."""
    custom = _custom_headers()
    headers: dict[str, str] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"AsyncOpenAI/Python {sdk_version()}",
        **platform_headers(),
        **custom,
    }
    headers["X-Stainless-Async"] = f"async:{_async_library()}"
    organization = os.environ.get("OPENAI_ORG_ID")
    if organization is not None:
        headers["OpenAI-Organization"] = organization
    project = os.environ.get("OPENAI_PROJECT_ID")
    if project is not None:
        headers["OpenAI-Project"] = project
    headers.update(custom)
    headers["Authorization"] = f"Bearer {provider.api_key or NO_KEY}"
    return headers


def base_url(provider: ProviderConfig) -> str:
    """The client's base URL as the gateway used it (`str(client.base_url).rstrip("/")`):
    the provider's, else OPENAI_BASE_URL, else OpenAI's, with the slash the SDK puts at
    the end of its path (before any query). httpx's spelling of the host and port is not
    copied: aiohttp's URL parsing makes the same request of both (a test checks)."""
    url = provider.base_url
    if url is None:
        url = os.environ.get("OPENAI_BASE_URL")
    if url is None:
        url = DEFAULT_BASE_URL
    path, query_mark, query = url.partition("?")
    if not path.endswith("/"):
        path += "/"
    return (path + query_mark + query).rstrip("/")

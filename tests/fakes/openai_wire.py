"""Wire-level helpers shared by the fake OpenAI server's modules.

JSON answers, OpenAI-shaped error bodies, cursor paging and the recorded-request type.
Kept free of aiohttp application state so each endpoint module can use them.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON_TYPE = "application/json"

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """A unique, monotonically increasing id such as ``file-000012ab34cd``.

    The counter keeps ids sortable by creation; the random tail keeps them looking real.
    """
    return f"{prefix}-{next(_ids):06d}{secrets.token_hex(4)}"


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An answer with ``content-type: application/json``, as the SDK insists on."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type=JSON_TYPE,
        headers=headers,
    )


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ApiError(Exception):
    """Raised by endpoint code to answer with an OpenAI-shaped error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type=type, param=param, code=code)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """The aiohttp answer for this error."""
        return json_response(self.body, status=self.status, headers=self.headers)


def not_found(kind: str, ident: str, *, param: str | None = None) -> ApiError:
    """A 404 like the API's for a missing file, job or other object."""
    return ApiError(404, f"No such {kind}: '{ident}'", param=param, code=None)


def missing(param: str) -> ApiError:
    """A 400 for a required parameter that was not sent."""
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def invalid_value(param: str, value: Any, allowed: Sequence[str]) -> ApiError:
    """A 400 for an enum parameter with a value outside ``allowed``."""
    quoted = [f"'{a}'" for a in allowed]
    listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def list_page(
    items: Sequence[dict[str, Any]],
    query: Mapping[str, str],
    *,
    default_limit: int = 20,
    max_limit: int = 10_000,
) -> dict[str, Any]:
    """A cursor page over ``items`` (already in answer order) honouring ``after`` and ``limit``.

    ``after`` is the id of the last item of the previous page; an unknown id gives an empty
    page so that a client's paging loop always terminates.
    """
    start = 0
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    try:
        limit = int(query.get("limit", default_limit))
    except ValueError:
        raise ApiError(400, "Invalid 'limit': expected an integer.", param="limit") from None
    if limit < 1 or limit > max_limit:
        raise ApiError(
            400,
            f"Invalid 'limit': integer below minimum value or above maximum {max_limit}.",
            param="limit",
            code="integer_out_of_range",
        )
    data = list(items[start : start + limit])
    return {
        "object": "list",
        "data": data,
        "has_more": start + limit < len(items),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def format_reset(seconds: float) -> str:
    """A reset duration in OpenAI's header format: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest):d}s"


_WORD = re.compile(r"\S+")


def count_words(text: str) -> int:
    """The fake's token count: whitespace-separated words (deterministic, cheap)."""
    return len(_WORD.findall(text))


def content_text(content: Any) -> str:
    """The text of a chat or responses ``content``: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


@dataclass
class Recorded:
    """One request the fake answered, for tests to inspect."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: float
    status: int = 0  # 0 when the connection was dropped or the handler cancelled
    extra: dict[str, Any] = field(default_factory=dict)


BODY_KEY: web.RequestKey[Any] = web.RequestKey("json")
"""The parsed JSON body (None for other bodies), set by the server's middleware."""
RECORDED_KEY: web.RequestKey[Recorded | None] = web.RequestKey("recorded")
"""The request's record, so handlers can add to it (multipart uploads)."""
TOKENS_KEY: web.RequestKey[int] = web.RequestKey("tokens", int)
"""Tokens the answer used, for the tokens-per-minute bucket."""


def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = request.get(BODY_KEY)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body

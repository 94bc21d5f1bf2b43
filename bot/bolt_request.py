"""aiohttp request -> bolt request, working around slack_bolt's `parse_body`.

slack_bolt 1.30 (`request/internals.py: parse_body`) treats any form body that contains
the substring `payload` anywhere as an interactive payload; finding no `payload=` field it
returns `{}`, and bolt answers 404 "unhandled request". A slash command such as
`/eval run payload-extraction gpt-4.1` (or a user or channel named so) is lost in HTTP
mode. Socket Mode hands bolt a dict and is immune. Here such a body is parsed as the plain
form it is; the raw body is kept untouched, so the signature check still covers exactly
what Slack signed.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

FORM = "application/x-www-form-urlencoded"


async def to_bolt_request(request: web.Request) -> AsyncBoltRequest:
    """The request as bolt should see it (form bodies parsed correctly)."""
    raw = await request.text()
    bolt_request = AsyncBoltRequest(
        body=raw,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]
    )
    if not bolt_request.body and "payload" in raw and bolt_request.content_type == FORM:
        fields = dict(parse_qsl(raw, keep_blank_values=True))
        if "payload" not in fields:  # a real interactive payload is bolt's to parse
            bolt_request.body = fields
            bolt_request.context = build_async_context(AsyncBoltContext({}), fields)
    return bolt_request

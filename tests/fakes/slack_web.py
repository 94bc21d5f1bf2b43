"""Slack's Web API as the fake implements it: workspace state and one function per method.

No I/O here: tests/fakes/slack.py receives the HTTP requests, merges their parameters,
checks the token and calls `Workspace.call` under its lock. Errors are raised as
`ApiError(code)` and become `{"ok": false, "error": code}` with HTTP 200, like Slack's.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack_rules import Membership

Params = dict[str, Any]
_MAX_BLOCKS = 50
_MAX_TEXT = 40_000
_MAX_SECTION_TEXT = 3_000


class ApiError(Exception):
    """Raised by a method implementation: the reply is `{"ok": false, "error": code}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Msg:
    """A message in a channel, in its current state."""

    channel: str
    ts: str
    text: str
    user: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    updates: int = 0
    reactions: dict[str, list[str]] = field(default_factory=dict)  # name -> user ids
    files: list[str] = field(default_factory=list)  # file ids shared with the message


@dataclass(frozen=True)
class Ephemeral:
    """A chat.postEphemeral message (only `user` saw it)."""

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    message_ts: str


@dataclass
class Upload:
    """A file uploaded by the app with files_upload_v2 and completed."""

    file_id: str
    filename: str
    bytes: bytes
    channel: str | None = None
    thread_ts: str | None = None
    title: str | None = None
    initial_comment: str | None = None


@dataclass
class StoredFile:
    """A file Slack holds: uploaded by the app (content None until the bytes arrive)
    or shared by a person in a test."""

    id: str
    name: str
    content: bytes | None
    length: int
    title: str | None = None
    user: str = ""
    alt_txt: str | None = None  # given to files.getUploadURLExternal
    external: bool = False  # an external file (Google Drive...): is_external, its own URL
    url: str | None = None  # where url_private(_download) points, when not the fake itself
    shares: list[tuple[str, str, str | None]] = field(default_factory=list)  # channel, ts, thread


class Workspace:
    """Channels, messages, files and views; mutated only under FakeSlack's lock."""

    def __init__(
        self, *, bot_user_id: str, team_id: str, app_id: str, new_ticket: Callable[[], str]
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id.lstrip("U")
        self.team_id = team_id
        self.app_id = app_id
        self.new_ticket = new_ticket
        self.port = 0  # set once the server listens
        self.messages: dict[str, list[Msg]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.files: dict[str, StoredFile] = {}
        self.uploads: list[Upload] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}  # S... -> user ids
        self.membership = Membership()
        self._ts = itertools.count(1_700_000_000_000_100, 100)  # microseconds, strictly rising
        self._ids = itertools.count(1)

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT`, for the URLs the replies carry."""
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def knows(method: str) -> bool:
        """Whether the fake implements a Web API method."""
        return method in _METHODS

    def call(self, method: str, params: Params) -> dict[str, Any]:
        """Run one Web API method; raises ApiError for Slack's `ok: false` answers."""
        return _METHODS[method](self, params)

    def add_shared_file(
        self,
        name: str,
        content: bytes,
        channel: str,
        *,
        user: str,
        title: str,
        external: bool = False,
        url: str | None = None,
    ) -> str:
        """A file a person shared in `channel` (a message with the file); its id."""
        file = StoredFile(self.new_id("F"), name, content, len(content), title or name, user)
        file.external, file.url = external, url
        self.files[file.id] = file
        msg = self.add_message(channel, user=user, text="", thread_ts=None)
        msg.files.append(file.id)
        file.shares.append((channel, msg.ts, None))
        return file.id

    def new_id(self, prefix: str) -> str:
        """A fresh id such as `F00000012`."""
        return f"{prefix}{next(self._ids):08d}"

    def new_ts(self) -> str:
        """A fresh message ts, later than every earlier one."""
        micros = next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def find(self, channel: str, ts: str) -> Msg:
        """The message `ts` in `channel` (KeyError when absent)."""
        for m in self.messages.get(channel, []):
            if m.ts == ts:
                return m
        raise KeyError(f"{channel}/{ts}")

    def add_message(self, channel: str, *, user: str, text: str, thread_ts: str | None) -> Msg:
        """Append a new message to `channel`."""
        msg = Msg(channel=channel, ts=self.new_ts(), text=text, user=user, thread_ts=thread_ts)
        self.messages.setdefault(channel, []).append(msg)
        return msg

    def file_json(self, file: StoredFile) -> dict[str, Any]:
        """The file object as Slack's files.info shows it."""
        shares: dict[str, list[dict[str, Any]]] = {}
        for channel, ts, thread_ts in file.shares:
            entry: dict[str, Any] = {"ts": ts, "channel_name": f"channel-{channel.lower()}"}
            if thread_ts:
                entry["thread_ts"] = thread_ts
            shares.setdefault(channel, []).append(entry)
        private = file.url or f"{self.base}/files-pri/{self.team_id}-{file.id}/download/{file.name}"
        return {
            "is_external": file.external,
            "id": file.id,
            "name": file.name,
            "title": file.title or file.name,
            "user": file.user,
            "size": file.length,
            "mimetype": "application/octet-stream",
            "filetype": file.name.rsplit(".", 1)[-1] if "." in file.name else "binary",
            "url_private": private,
            "url_private_download": private,
            "channels": sorted(shares),
            "shares": {"public": shares} if shares else {},
        }

    def message_json(self, msg: Msg) -> dict[str, Any]:
        """The message object as Slack's replies show it."""
        out: dict[str, Any] = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts}
        if msg.user == self.bot_user_id:
            out["bot_id"] = self.bot_id
        for key in ("blocks", "attachments", "thread_ts"):
            if getattr(msg, key) is not None:
                out[key] = getattr(msg, key)
        if msg.files:
            out["files"] = [self.file_json(self.files[f]) for f in msg.files]
        return out


# Web API method implementations: (ws, merged params) -> reply body. They run under the lock.
_Handler = Callable[[Workspace, Params], dict[str, Any]]
_METHODS: dict[str, _Handler] = {}


def _method(name: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _METHODS[name] = fn
        return fn

    return register


def _json_arg(value: Any) -> Any:
    """Form bodies carry blocks, views and files as JSON strings; JSON bodies as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError("invalid_arguments") from None
    return value


def _required(params: Params, key: str, error: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise ApiError(error)
    return str(value)


def _blocks(raw: Any) -> list[dict[str, Any]] | None:
    """Parse and check blocks against the limits Slack enforces with `invalid_blocks`."""
    if raw is None or raw == "":
        return None
    blocks = _json_arg(raw)
    if not isinstance(blocks, list) or len(blocks) > _MAX_BLOCKS:
        raise ApiError("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            raise ApiError("invalid_blocks")
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text", ""))) > _MAX_SECTION_TEXT:
            raise ApiError("invalid_blocks")
    return blocks


def _content(params: Params) -> tuple[str, list[dict[str, Any]] | None, Any]:
    text = str(params.get("text") or "")
    if len(text) > _MAX_TEXT:
        raise ApiError("msg_too_long")
    blocks = _blocks(params.get("blocks"))
    attachments = _json_arg(params.get("attachments")) if params.get("attachments") else None
    if not (text or blocks or attachments):
        raise ApiError("no_text")
    return text, blocks, attachments


def _refuse(error: str | None) -> None:
    if error is not None:
        raise ApiError(error)


def _message(ws: Workspace, channel: str, ts: str) -> Msg:
    try:
        return ws.find(channel, ts)
    except KeyError:
        raise ApiError("message_not_found") from None


def _thread_root(ws: Workspace, channel: str, thread_ts: Any) -> str | None:
    """Slack threads a reply to a reply under the root message."""
    if not thread_ts:
        return None
    try:
        return ws.find(channel, str(thread_ts)).thread_ts or str(thread_ts)
    except KeyError:
        return str(thread_ts)  # Slack accepts an unknown thread_ts too


@_method("auth.test")
def _auth_test(ws: Workspace, p: Params) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://fake-team.slack.com/",
        "team": "Fake Team",
        "user": "evalbot",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


@_method("chat.postMessage")
def _post_message(ws: Workspace, p: Params) -> dict[str, Any]:
    channel = _required(p, "channel", "channel_not_found")
    _refuse(ws.membership.post_error(channel))
    text, blocks, attachments = _content(p)
    thread_ts = _thread_root(ws, channel, p.get("thread_ts"))
    msg = ws.add_message(channel, user=ws.bot_user_id, text=text, thread_ts=thread_ts)
    msg.blocks, msg.attachments = blocks, attachments
    return {"ok": True, "channel": channel, "ts": msg.ts, "message": ws.message_json(msg)}


@_method("chat.update")
def _update(ws: Workspace, p: Params) -> dict[str, Any]:
    channel = _required(p, "channel", "channel_not_found")
    found = ws.membership.visible(channel)
    _refuse("channel_not_found" if found is None else "is_archived" if found.archived else None)
    msg = _message(ws, channel, _required(p, "ts", "message_not_found"))
    if msg.user != ws.bot_user_id:
        raise ApiError("cant_update_message")
    text, blocks, attachments = _content(p)
    # Slack keeps the previous blocks / attachments when the field is left out.
    msg.text = text
    if "blocks" in p:
        msg.blocks = blocks
    if "attachments" in p:
        msg.attachments = attachments
    msg.updates += 1
    return {
        "ok": True,
        "channel": channel,
        "ts": msg.ts,
        "text": msg.text,
        "message": ws.message_json(msg),
    }


@_method("chat.postEphemeral")
def _post_ephemeral(ws: Workspace, p: Params) -> dict[str, Any]:
    channel = _required(p, "channel", "channel_not_found")
    _refuse(ws.membership.post_error(channel))
    user = _required(p, "user", "user_not_found")
    text, blocks, _ = _content(p)
    thread_ts = str(p["thread_ts"]) if p.get("thread_ts") else None
    ts = ws.new_ts()
    ws.ephemerals.append(Ephemeral(channel, user, text, blocks, thread_ts, ts))
    return {"ok": True, "message_ts": ts}


@_method("chat.getPermalink")
def _permalink(ws: Workspace, p: Params) -> dict[str, Any]:
    channel = _required(p, "channel", "channel_not_found")
    msg = _message(ws, channel, _required(p, "message_ts", "message_not_found"))
    link = f"https://fake-team.slack.com/archives/{channel}/p{msg.ts.replace('.', '')}"
    if msg.thread_ts and msg.thread_ts != msg.ts:
        link += f"?thread_ts={msg.thread_ts}&cid={channel}"
    return {"ok": True, "channel": channel, "permalink": link}


def _reaction_target(ws: Workspace, p: Params) -> tuple[Msg, str]:
    channel = _required(p, "channel", "channel_not_found")
    _refuse(ws.membership.member_error(channel))
    msg = _message(ws, channel, _required(p, "timestamp", "message_not_found"))
    return msg, _required(p, "name", "invalid_name").strip(":")


@_method("reactions.add")
def _reactions_add(ws: Workspace, p: Params) -> dict[str, Any]:
    msg, name = _reaction_target(ws, p)
    users = msg.reactions.setdefault(name, [])
    if ws.bot_user_id in users:
        raise ApiError("already_reacted")
    users.append(ws.bot_user_id)
    return {"ok": True}


@_method("reactions.remove")
def _reactions_remove(ws: Workspace, p: Params) -> dict[str, Any]:
    msg, name = _reaction_target(ws, p)
    users = msg.reactions.get(name, [])
    if ws.bot_user_id not in users:
        raise ApiError("no_reaction")
    users.remove(ws.bot_user_id)
    if not users:
        del msg.reactions[name]
    return {"ok": True}


@_method("views.publish")
def _views_publish(ws: Workspace, p: Params) -> dict[str, Any]:
    user = _required(p, "user_id", "invalid_arguments")
    view = _json_arg(p.get("view"))
    if not isinstance(view, dict) or view.get("type") != "home":
        raise ApiError("invalid_arguments")
    _blocks(view.get("blocks", []))
    stored = {**view, "id": ws.new_id("V"), "team_id": ws.team_id, "app_id": ws.app_id}
    ws.views[user] = stored
    return {"ok": True, "view": copy.deepcopy(stored)}


@_method("usergroups.users.list")
def _usergroups_users_list(ws: Workspace, p: Params) -> dict[str, Any]:
    """The members of a user group, as Slack lists them (a disabled group answers
    no_such_subteam unless include_disabled is set; we keep no disabled ones)."""
    group = _required(p, "usergroup", "no_such_subteam")
    if group not in ws.usergroups:
        raise ApiError("no_such_subteam")
    return {"ok": True, "users": list(ws.usergroups[group])}


@_method("users.info")
def _users_info(ws: Workspace, p: Params) -> dict[str, Any]:
    user = _required(p, "user", "user_not_found")
    if user[:1] not in ("U", "W") or not user.isalnum():
        raise ApiError("user_not_found")
    name = "evalbot" if user == ws.bot_user_id else f"user-{user.lower()}"
    profile = {"real_name": name.title(), "display_name": name, "email": f"{name}@example.com"}
    return {
        "ok": True,
        "user": {
            "id": user,
            "team_id": ws.team_id,
            "name": name,
            "real_name": profile["real_name"],
            "tz": "Europe/London",
            "is_bot": user == ws.bot_user_id,
            "deleted": False,
            "profile": profile,
        },
    }


@_method("conversations.info")
def _conversations_info(ws: Workspace, p: Params) -> dict[str, Any]:
    found = ws.membership.visible(_required(p, "channel", "channel_not_found"))
    if found is None:
        raise ApiError("channel_not_found")
    return {"ok": True, "channel": found.json()}


@_method("conversations.join")
def _conversations_join(ws: Workspace, p: Params) -> dict[str, Any]:
    """Join a public channel (scope channels:join); private ones need an invitation."""
    if "channels:join" not in ws.membership.scopes:
        raise ApiError("missing_scope")
    found = ws.membership.visible(_required(p, "channel", "channel_not_found"))
    if found is None:
        raise ApiError("channel_not_found")
    if found.private or found.id.startswith("D"):
        raise ApiError("method_not_supported_for_channel_type")
    if found.archived:
        raise ApiError("is_archived")
    reply: dict[str, Any] = {"ok": True}
    if found.member:
        reply["warning"] = "already_in_channel"
        reply["response_metadata"] = {"warnings": ["already_in_channel"]}
    found.member = True
    reply["channel"] = found.json()
    return reply


@_method("files.getUploadURLExternal")
def _get_upload_url(ws: Workspace, p: Params) -> dict[str, Any]:
    filename = _required(p, "filename", "invalid_arguments")
    length = _required(p, "length", "invalid_arguments")
    if not length.isdigit():
        raise ApiError("invalid_arguments")
    file = StoredFile(ws.new_id("F"), filename, None, int(length), user=ws.bot_user_id)
    file.alt_txt = str(p["alt_txt"]) if p.get("alt_txt") else None
    ws.files[file.id] = file
    return {"ok": True, "upload_url": f"{ws.base}/upload/v1/{file.id}", "file_id": file.id}


@_method("files.completeUploadExternal")
def _complete_upload(ws: Workspace, p: Params) -> dict[str, Any]:
    items = _json_arg(_required(p, "files", "invalid_arguments"))
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_arguments")
    files: list[StoredFile] = []
    for item in items:
        file = ws.files.get(str(item.get("id"))) if isinstance(item, dict) else None
        if file is None or file.content is None:  # never uploaded: Slack does not know it
            raise ApiError("file_not_found")
        file.title = str(item.get("title") or file.name)
        files.append(file)
    channel = str(p.get("channel_id") or "") or None
    if channel:
        _refuse(ws.membership.member_error(channel, invalid="invalid_channel"))
    thread_ts = _thread_root(ws, channel, p.get("thread_ts")) if channel else None
    comment = str(p["initial_comment"]) if p.get("initial_comment") else None
    if any(f.alt_txt for f in files):
        # python-slack-sdk#1818 (open, server side): with alt_txt Slack answers ok but
        # shares the file nowhere.
        channel = thread_ts = None
    if channel:
        msg = ws.add_message(channel, user=ws.bot_user_id, text=comment or "", thread_ts=thread_ts)
        msg.files.extend(f.id for f in files)
        for file in files:
            file.shares.append((channel, msg.ts, thread_ts))
    for file in files:
        content = file.content or b""
        ws.uploads.append(
            Upload(file.id, file.name, content, channel, thread_ts, file.title, comment)
        )
    return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in files]}


@_method("files.info")
def _files_info(ws: Workspace, p: Params) -> dict[str, Any]:
    file = ws.files.get(_required(p, "file", "file_not_found"))
    if file is None or file.content is None:
        raise ApiError("file_not_found")
    return {"ok": True, "file": ws.file_json(file)}


@_method("files.list")
def _files_list(ws: Workspace, p: Params) -> dict[str, Any]:
    """Files shared in a channel, newest first, as Slack pages them (count, page)."""
    channel = str(p.get("channel") or "")
    user = str(p.get("user") or "")
    shared = [
        f
        for f in ws.files.values()
        if f.content is not None
        and (not channel or any(c == channel for c, _, _ in f.shares))
        and (not user or f.user == user)
    ]
    shared.reverse()
    count = int(p.get("count") or 100)
    page = int(p.get("page") or 1)
    chunk = shared[(page - 1) * count : page * count]
    pages = max(1, -(-len(shared) // count))
    return {
        "ok": True,
        "files": [ws.file_json(f) for f in chunk],
        "paging": {"count": count, "total": len(shared), "page": page, "pages": pages},
    }


@_method("apps.connections.open")
def _connections_open(ws: Workspace, p: Params) -> dict[str, Any]:
    ticket = ws.new_ticket()
    return {"ok": True, "url": f"ws://127.0.0.1:{ws.port}/socket-mode/{ticket}"}

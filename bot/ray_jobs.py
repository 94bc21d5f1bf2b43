"""A small async client for Ray's job submission REST API (the dashboard's /api/jobs).

Ray's own JobSubmissionClient is synchronous and pulls all of Ray into the bot; this is
the same wire protocol over aiohttp: upload a working-directory package, submit a job
under a submission id we choose, read its status and logs, stop it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from commands.ports import ProviderError

log = logging.getLogger(__name__)

# Ray's JobStatus values.
PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED = (
    "PENDING",
    "RUNNING",
    "STOPPED",
    "SUCCEEDED",
    "FAILED",
)
TERMINAL = (STOPPED, SUCCEEDED, FAILED)


@dataclass(frozen=True)
class RayJob:
    """A job as GET /api/jobs/<id> describes it."""

    submission_id: str
    status: str
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    start_time: int | None = None  # unix milliseconds
    end_time: int | None = None
    entrypoint: str = ""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RayJob:
        metadata = raw.get("metadata") or {}
        return cls(
            submission_id=str(raw.get("submission_id") or raw.get("job_id") or ""),
            status=str(raw.get("status", PENDING)),
            message=str(raw.get("message") or ""),
            metadata={str(k): str(v) for k, v in metadata.items()},
            start_time=raw.get("start_time"),
            end_time=raw.get("end_time"),
            entrypoint=str(raw.get("entrypoint") or ""),
        )


class AlreadySubmitted(Exception):
    """Ray already has a job under this submission id (a retry, or a restarted bot)."""


def package(files: Mapping[str, bytes]) -> tuple[str, bytes]:
    """A working-directory zip and its content-addressed gcs:// URI, as Ray names them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            # A fixed date: the same files make the same bytes, hence the same URI.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], zipfile.ZIP_DEFLATED)
    content = buffer.getvalue()
    digest = hashlib.sha256(content).hexdigest()[:32]
    return f"gcs://_ray_pkg_{digest}.zip", content


def _error(status: int, text: str, what: str) -> ProviderError:
    kind: Any = "server" if status >= 500 else "not_found" if status == 404 else "bad_request"
    return ProviderError(kind, f"Ray {what}: HTTP {status}: {text[:300]}", status=status)


class RayJobsClient:
    """Ray's job server at `address` (e.g. http://ray-head:8265)."""

    def __init__(self, address: str, *, timeout_s: float = 30.0) -> None:
        self.address = address.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> tuple[int, str]:
        try:
            async with self._http().request(method, self.address + path, **kw) as resp:
                return resp.status, await resp.text()
        except TimeoutError as exc:
            raise ProviderError("timeout", f"Ray {what}: no answer from {self.address}") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                "connection", f"Ray {what}: cannot reach {self.address} ({exc})"
            ) from exc

    async def has_package(self, uri: str) -> bool:
        """Whether the cluster holds the package; asking also pins it for a few minutes."""
        path = "/api/packages/" + uri.replace("://", "/", 1)
        status, text = await self._call("GET", path, "package check")
        if status >= 500:
            raise _error(status, text, "package check")
        return status == 200

    async def upload_package(self, uri: str, content: bytes) -> None:
        """PUT the zip unless the cluster has it already (packages are content-addressed)."""
        if await self.has_package(uri):
            return
        path = "/api/packages/" + uri.replace("://", "/", 1)
        status, text = await self._call("PUT", path, "package upload", data=content)
        if status != 200:
            raise _error(status, text, "package upload")

    async def submit(
        self,
        submission_id: str,
        entrypoint: str,
        *,
        runtime_env: Mapping[str, Any],
        metadata: Mapping[str, str],
        num_gpus: float = 0,
        num_cpus: float = 0,
    ) -> None:
        """POST /api/jobs/; AlreadySubmitted if the id is taken (Ray keeps ids unique)."""
        body: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": dict(runtime_env),
            "metadata": dict(metadata),
        }
        if num_gpus:
            body["entrypoint_num_gpus"] = num_gpus
        if num_cpus:
            body["entrypoint_num_cpus"] = num_cpus
        status, text = await self._call("POST", "/api/jobs/", "job submission", json=body)
        if status == 200:
            return
        if "already exists" in text or "already been used" in text:
            raise AlreadySubmitted(submission_id)
        raise _error(status, text, "job submission")

    async def get(self, submission_id: str) -> RayJob | None:
        """The job, or None when Ray has no job with that id."""
        status, text = await self._call("GET", f"/api/jobs/{submission_id}", "job status")
        if status == 404:
            return None
        if status != 200:
            raise _error(status, text, "job status")
        return RayJob.from_json(json.loads(text))

    async def logs(self, submission_id: str) -> str:
        """The job's whole log (the entrypoint's stdout and stderr)."""
        status, text = await self._call("GET", f"/api/jobs/{submission_id}/logs", "job logs")
        if status == 404:
            return ""
        if status != 200:
            raise _error(status, text, "job logs")
        return str(json.loads(text).get("logs") or "")

    async def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; False when it had already ended."""
        status, text = await self._call("POST", f"/api/jobs/{submission_id}/stop", "job stop")
        if status != 200:
            raise _error(status, text, "job stop")
        return bool(json.loads(text).get("stopped"))

"""Files and fine-tuning endpoints of the fake OpenAI server.

A mixin of ``FakeOpenAI``: the state lives on the server object and is guarded by its
lock, because tests drive jobs (``advance_job``, ``finish_job``) from their own thread
while the server's loop answers the bot.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_graders import (
    run_grader_endpoint,
    validate_grader,
    validate_grader_endpoint,
)
from tests.fakes.openai_wire import (
    RECORDED_KEY,
    ApiError,
    count_words,
    invalid_value,
    json_object,
    json_response,
    list_page,
    missing,
    new_id,
    not_found,
)

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
METHODS = ("supervised", "dpo", "reinforcement")
TERMINAL = ("succeeded", "failed", "cancelled")
ORG_ID = "org-fake"
ORG_SLUG = "org"

DEFAULT_FINE_TUNABLE = frozenset(
    {"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o4-mini"}
)
_HYPERPARAMETER_DEFAULTS: dict[str, dict[str, Any]] = {
    "supervised": {"batch_size": 1, "learning_rate_multiplier": 2.0, "n_epochs": 3},
    "dpo": {"batch_size": 1, "learning_rate_multiplier": 2.0, "n_epochs": 3, "beta": 0.1},
    "reinforcement": {
        "batch_size": 1,
        "learning_rate_multiplier": 2.0,
        "n_epochs": 1,
        "compute_multiplier": 1.0,
        "eval_interval": 1,
        "eval_samples": 1,
        "reasoning_effort": "medium",
    },
}
_JOB_PARAMS = {
    "model",
    "training_file",
    "validation_file",
    "hyperparameters",
    "integrations",
    "metadata",
    "method",
    "seed",
    "suffix",
}
_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


@dataclass
class _Job:
    """A job's answer body plus what the fake needs to move it along."""

    body: dict[str, Any]
    step: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)


class FilesAndFineTuning:
    """Files, fine-tuning jobs and grader endpoints; mixed into ``FakeOpenAI``."""

    _lock: threading.RLock
    fine_tunable_models: set[str]
    refuse_new_jobs: str | None
    refuse_status: int
    auto_progress: bool
    training_steps: int

    def add_model(
        self,
        model_id: str,
        created: int | None = None,
        owned_by: str = "system",
        shutdown_date: str | None = None,
    ) -> None:
        """Provided by FakeOpenAI."""
        raise NotImplementedError

    def is_reasoning_model(self, model: str) -> bool:
        """Provided by FakeOpenAI."""
        raise NotImplementedError

    def _init_files_and_jobs(self) -> None:
        self.fine_tunable_models = set(DEFAULT_FINE_TUNABLE)
        self.refuse_new_jobs = None
        self.refuse_status = 403
        self.auto_progress = False
        self.training_steps = 3
        self._files: dict[str, dict[str, Any]] = {}
        self._file_content: dict[str, bytes] = {}
        self._jobs: dict[str, _Job] = {}

    def _finetune_routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/files", self._create_file),
            web.get("/v1/files", self._list_files),
            web.get("/v1/files/{id}", self._get_file),
            web.delete("/v1/files/{id}", self._delete_file),
            web.get("/v1/files/{id}/content", self._file_content_handler),
            web.post("/v1/fine_tuning/jobs", self._create_job),
            web.get("/v1/fine_tuning/jobs", self._list_jobs),
            web.get("/v1/fine_tuning/jobs/{id}", self._get_job),
            web.post("/v1/fine_tuning/jobs/{id}/cancel", self._cancel_job),
            web.get("/v1/fine_tuning/jobs/{id}/events", self._list_events),
            web.get("/v1/fine_tuning/jobs/{id}/checkpoints", self._list_checkpoints),
            web.post("/v1/fine_tuning/alpha/graders/validate", validate_grader_endpoint),
            web.post("/v1/fine_tuning/alpha/graders/run", run_grader_endpoint),
        ]

    # -- files -------------------------------------------------------------------------

    def add_file(self, content: bytes, *, filename: str, purpose: str = "fine-tune") -> str:
        """Store a file as if uploaded; returns its id (for tests that skip the upload)."""
        file_id = new_id("file")
        body = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        with self._lock:
            self._files[file_id] = body
            self._file_content[file_id] = content
        return file_id

    async def _create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            upload = None
        if purpose is None:
            raise missing("purpose")
        if upload is None or isinstance(upload, str):
            raise missing("file")
        if purpose not in FILE_PURPOSES:
            raise invalid_value("purpose", purpose, FILE_PURPOSES)
        content = upload.file.read()
        file_id = self.add_file(content, filename=upload.filename, purpose=str(purpose))
        recorded = request.get(RECORDED_KEY)
        if recorded is not None:
            recorded.json = {"purpose": purpose, "filename": upload.filename}
        return json_response(self._files[file_id])

    def _file(self, request: web.Request) -> dict[str, Any]:
        file_id = request.match_info["id"]
        with self._lock:
            if file_id not in self._files:
                raise not_found("file", file_id, param="id")
            return self._files[file_id]

    async def _get_file(self, request: web.Request) -> web.Response:
        return json_response(self._file(request))

    async def _file_content_handler(self, request: web.Request) -> web.Response:
        body = self._file(request)
        return web.Response(
            body=self._file_content[body["id"]], content_type="application/octet-stream"
        )

    async def _delete_file(self, request: web.Request) -> web.Response:
        body = self._file(request)
        with self._lock:
            self._files.pop(body["id"], None)
            self._file_content.pop(body["id"], None)
        return json_response({"id": body["id"], "object": "file", "deleted": True})

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        with self._lock:
            files = [f for f in self._files.values() if purpose in (None, f["purpose"])]
        if request.query.get("order", "desc") == "desc":
            files.reverse()
        return json_response(list_page(files, request.query, default_limit=10_000))

    # -- fine-tuning jobs ---------------------------------------------------------------

    def _check_training_file(self, file_id: Any, param: str) -> None:
        with self._lock:
            found = self._files.get(file_id) if isinstance(file_id, str) else None
        if found is None:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param, code=f"invalid_{param}")
        if found["purpose"] != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose '{found['purpose']}'; fine-tuning needs a file "
                "uploaded with purpose 'fine-tune'.",
                param=param,
                code=f"invalid_{param}",
            )

    def _method(self, body: dict[str, Any]) -> dict[str, Any]:
        method = body.get("method")
        if method is None:  # the deprecated top-level hyperparameters mean supervised
            method = {"type": "supervised", "supervised": {}}
            if body.get("hyperparameters"):
                method["supervised"]["hyperparameters"] = body["hyperparameters"]
        if not isinstance(method, dict):
            raise ApiError(400, "Invalid type for 'method': expected an object.", param="method")
        kind = method.get("type")
        if kind is None:
            raise missing("method.type")
        if kind not in METHODS:
            raise invalid_value("method.type", kind, METHODS)
        for key in method:
            if key not in ("type", kind):
                raise ApiError(
                    400,
                    f"Unknown parameter: 'method.{key}'.",
                    param=f"method.{key}",
                    code="unknown_parameter",
                )
        detail = dict(method.get(kind) or {})
        given = detail.get("hyperparameters") or {}
        defaults = _HYPERPARAMETER_DEFAULTS[kind]
        for key in given:
            if key not in defaults:
                param = f"method.{kind}.hyperparameters.{key}"
                raise ApiError(
                    400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
                )
        detail["hyperparameters"] = {
            key: default if given.get(key) in (None, "auto") else given[key]
            for key, default in defaults.items()
        }
        if kind == "reinforcement":
            if detail.get("grader") is None:
                raise missing("method.reinforcement.grader")
            validate_grader(detail["grader"], param="method.reinforcement.grader")
            if not self.is_reasoning_model(body["model"]):
                raise ApiError(
                    400,
                    f"Model {body['model']} does not support reinforcement fine-tuning; "
                    "use a reasoning model.",
                    param="model",
                    code="model_not_available",
                )
        elif "grader" in detail:
            raise ApiError(
                400,
                f"Unknown parameter: 'method.{kind}.grader'.",
                param=f"method.{kind}.grader",
                code="unknown_parameter",
            )
        return {"type": kind, kind: detail}

    async def _create_job(self, request: web.Request) -> web.Response:
        body = json_object(request)
        if self.refuse_new_jobs is not None:
            raise ApiError(self.refuse_status, self.refuse_new_jobs, code=None)
        for key in body:
            if key not in _JOB_PARAMS:
                raise ApiError(400, f"Unrecognized request argument supplied: {key}", param=key)
        for key in ("model", "training_file"):
            if not body.get(key):
                raise missing(key)
        model = body["model"]
        if model not in self.fine_tunable_models:
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        self._check_training_file(body["training_file"], "training_file")
        if body.get("validation_file") is not None:
            self._check_training_file(body["validation_file"], "validation_file")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise ApiError(
                400,
                "Invalid 'suffix': at most 64 characters.",
                param="suffix",
                code="invalid_value",
            )
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or not all(isinstance(v, str) for v in metadata.values())
        ):
            raise ApiError(400, "Invalid 'metadata': up to 16 string values.", param="metadata")
        method = self._method(body)
        job_id = new_id("ftjob")
        now = int(time.time())
        job_body = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": now,
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": method[method["type"]]["hyperparameters"],
            "model": model,
            "organization_id": ORG_ID,
            "result_files": [],
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "estimated_finish": None,
            "integrations": body.get("integrations") or [],
            "metadata": metadata,
            "method": method,
            "user_provided_suffix": suffix,
        }
        job = _Job(body=job_body)
        with self._lock:
            self._jobs[job_id] = job
            self._event(job, f"Created fine-tuning job: {job_id}")
            self._event(job, f"Validating training file: {body['training_file']}")
            return json_response(copy.deepcopy(job.body))

    def _job(self, request: web.Request) -> _Job:
        job_id = request.match_info["id"]
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found("fine-tuning job", job_id, param="fine_tuning_job_id")
        return job

    async def _get_job(self, request: web.Request) -> web.Response:
        with self._lock:
            job = self._job(request)
            if self.auto_progress:
                self._advance(job)
            return json_response(job.body)

    async def _list_jobs(self, request: web.Request) -> web.Response:
        query = request.query
        wanted = {m.group(1): v for k, v in query.items() if (m := _METADATA_KEY.match(k))}
        null_metadata = query.get("metadata") == "null"
        with self._lock:
            jobs = list(self._jobs.values())
            if self.auto_progress:
                for job in jobs:
                    self._advance(job)
            bodies = [
                job.body
                for job in reversed(jobs)
                if (not null_metadata or not job.body["metadata"])
                and all((job.body["metadata"] or {}).get(k) == v for k, v in wanted.items())
            ]
            return json_response(list_page(bodies, query, default_limit=20))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        with self._lock:
            job = self._job(request)
            if job.body["status"] in TERMINAL:
                raise ApiError(
                    400,
                    f"Job {job.body['id']} has already {job.body['status']}; it cannot be "
                    "cancelled.",
                    param="fine_tuning_job_id",
                )
            self._finish(job, "cancelled", None)
            return json_response(job.body)

    async def _list_events(self, request: web.Request) -> web.Response:
        with self._lock:
            job = self._job(request)
            if self.auto_progress:
                self._advance(job)
            events = list(reversed(job.events))
            return json_response(list_page(events, request.query, default_limit=20))

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        with self._lock:
            job = self._job(request)
            if self.auto_progress:
                self._advance(job)
            points = list(reversed(job.checkpoints))
            return json_response(list_page(points, request.query, default_limit=10))

    # -- test control -------------------------------------------------------------------

    def job(self, job_id: str) -> dict[str, Any]:
        """A copy of the job's current body (KeyError for an unknown id)."""
        with self._lock:
            return copy.deepcopy(self._jobs[job_id].body)

    def job_ids(self) -> list[str]:
        """Ids of every job created so far, oldest first."""
        with self._lock:
            return list(self._jobs)

    def advance_job(self, job_id: str, steps: int = 1) -> dict[str, Any]:
        """Move a job ``steps`` transitions along; returns a copy of its body.

        validating_files -> queued -> running -> ``training_steps`` training steps (each
        emits a metrics event and a checkpoint) -> succeeded. Terminal jobs stay put.
        """
        with self._lock:
            job = self._jobs[job_id]
            for _ in range(steps):
                self._advance(job)
            return copy.deepcopy(job.body)

    def finish_job(
        self, job_id: str, status: str = "succeeded", error: str | dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """End a job now as ``succeeded``, ``failed`` or ``cancelled``; returns its body.

        A failed job's ``error`` is a message or a ``{"code", "message", "param"}`` dict.
        On success the fine-tuned model is named and added to the models list.
        """
        if status not in TERMINAL:
            raise ValueError(f"status must be one of {TERMINAL}")
        with self._lock:
            job = self._jobs[job_id]
            if job.body["status"] not in TERMINAL:
                if job.body["status"] != "running":
                    job.body["status"] = "running"
                self._finish(job, status, error)
            return copy.deepcopy(job.body)

    # -- state machine (lock held) ----------------------------------------------------

    def _event(
        self,
        job: _Job,
        message: str,
        *,
        level: str = "info",
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "id": new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": kind,
            }
        )

    def _model_name(self, job: _Job) -> str:
        suffix = job.body["user_provided_suffix"] or ""
        return f"ft:{job.body['model']}:{ORG_SLUG}:{suffix}:{job.body['id'][-8:]}"

    def _advance(self, job: _Job) -> None:
        status = job.body["status"]
        if status == "validating_files":
            job.body["status"] = "queued"
            self._event(job, "Files validated, moving job to queued state")
        elif status == "queued":
            job.body["status"] = "running"
            job.body["estimated_finish"] = int(time.time()) + 60 * self.training_steps
            self._event(job, "Fine-tuning job started")
        elif status == "running":
            if job.step >= self.training_steps:
                self._finish(job, "succeeded", None)
            else:
                self._train_step(job)

    def _train_step(self, job: _Job) -> None:
        job.step += 1
        step, total = job.step, self.training_steps
        train_loss = round(2.0 / (1 + step), 4)
        valid_loss = round(train_loss * 1.1, 4)
        metrics = {
            "step": step,
            "train_loss": train_loss,
            "train_mean_token_accuracy": round(1 - train_loss / 3, 4),
            "valid_loss": valid_loss,
            "valid_mean_token_accuracy": round(1 - valid_loss / 3, 4),
            "full_valid_loss": round(valid_loss * 1.05, 4),
            "full_valid_mean_token_accuracy": round(1 - valid_loss * 1.05 / 3, 4),
        }
        self._event(
            job,
            f"Step {step}/{total}: training loss={train_loss:.2f}, "
            f"validation loss={valid_loss:.2f}",
            kind="metrics",
            data={**metrics, "total_steps": total},
        )
        job.checkpoints.append(
            {
                "id": new_id("ftckpt"),
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": f"{self._model_name(job)}:ckpt-step-{step}",
                "fine_tuning_job_id": job.body["id"],
                "metrics": metrics,
                "step_number": step,
            }
        )

    def _finish(self, job: _Job, status: str, error: str | dict[str, Any] | None) -> None:
        now = int(time.time())
        body = job.body
        body["status"] = status
        body["finished_at"] = now
        body["estimated_finish"] = None
        if status == "succeeded":
            model = self._model_name(job)
            body["fine_tuned_model"] = model
            tokens = count_words(self._file_content.get(body["training_file"], b"").decode())
            body["trained_tokens"] = tokens * int(body["hyperparameters"].get("n_epochs", 1))
            lines = ["step,train_loss,valid_loss"] + [
                f"{c['step_number']},{c['metrics']['train_loss']},{c['metrics']['valid_loss']}"
                for c in job.checkpoints
            ]
            body["result_files"] = [
                self.add_file(
                    "\n".join(lines).encode(),
                    filename="step_metrics.csv",
                    purpose="fine-tune-results",
                )
            ]
            self.add_model(model, created=now, owned_by=ORG_ID)
            self._event(job, f"New fine-tuned model created: {model}")
            self._event(job, "The job has successfully completed")
        elif status == "failed":
            if isinstance(error, dict):
                body["error"] = {"code": "", "param": None, "message": "", **error}
            else:
                body["error"] = {
                    "code": "training_failed",
                    "param": None,
                    "message": error or "The job failed due to an internal error.",
                }
            self._event(job, f"The job failed: {body['error']['message']}", level="error")
        else:
            self._event(job, "Fine-tuning job cancelled")

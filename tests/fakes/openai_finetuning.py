"""The files and fine-tuning API of the fake OpenAI server (both URL shapes).

OpenAI: ``/v1/files``, ``/v1/files/{id}``, ``/v1/fine_tuning/jobs``,
``/v1/fine_tuning/jobs/{id}``, ``.../{id}/events``, ``.../{id}/cancel`` (Bearer key).
Azure: the same under ``/openai/`` with an ``api-key`` header and ``?api-version=``.

Tests drive a job's life with :meth:`FakeFineTuning.advance` (state, trained tokens, model,
error, events) and make the next calls fail with :meth:`FakeFineTuning.fail`.
"""

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections import deque
from typing import Any

_PATH = re.compile(
    r"^/(?P<root>v1|openai)/(?P<rest>files(?:/[^/]+)?|fine_tuning/jobs(?:/[^/]+(?:/events|/cancel)?)?)$"
)


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``{field: (filename, bytes)}`` of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = (part.get_filename(), payload)
    return fields


class FakeFineTuning:
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.deleted_files: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}  # oldest first
        self.calls: list[tuple[str, str]] = []  # (method, path) of every call, in order
        self._failures: deque[int] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # A job create answered 400 with this message (the provider refusing the file).
        self.reject_create: str | None = None

    # --- what tests call -------------------------------------------------------------------
    def fail(self, status: int, *, times: int = 1) -> None:
        """The next ``times`` files/fine-tuning calls answer ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    def advance(
        self,
        job_id: str,
        *,
        status: str,
        trained_tokens: int | None = None,
        fine_tuned_model: str | None = None,
        error: dict[str, str] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> None:
        with self._lock:
            job = self.jobs[job_id]
            job["status"] = status
            if trained_tokens is not None:
                job["trained_tokens"] = trained_tokens
            if fine_tuned_model is not None:
                job["fine_tuned_model"] = fine_tuned_model
            if error is not None:
                job["error"] = {"param": None, **error}
            if status in ("succeeded", "failed", "cancelled"):
                job["finished_at"] = int(time.time())
            for event in events or ():
                self._event(job_id, **event)

    def only_job(self) -> dict[str, Any]:
        assert len(self.jobs) == 1, self.jobs
        return next(iter(self.jobs.values()))

    # --- the HTTP side -------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def _event(
        self, job_id: str, *, message: str, type: str = "message", data: Any = None, level="info"
    ) -> None:
        self.events.setdefault(job_id, []).append(
            {
                "id": self._next_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": type,
                "data": data,
            }
        )

    def handles(self, path: str) -> bool:
        return _PATH.match(path) is not None

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
    ) -> tuple[int, Any]:
        match = _PATH.match(path)
        assert match is not None
        if match["root"] == "openai":
            if not headers.get("api-key") or "api-version" not in query:
                return 401, {"error": {"message": "missing api-key or api-version"}}
        elif not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"error": {"message": "missing key"}}
        with self._lock:
            self.calls.append((method, path))
            if self._failures:
                status = self._failures.popleft()
                return status, {"error": {"message": f"scripted {status}", "type": "fake"}}
            parts = match["rest"].split("/")
            if parts[0] == "files":
                return self._files(method, parts[1:], headers, raw)
            return self._jobs(method, parts[2:], query, raw)

    def _files(
        self, method: str, rest: list[str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        if method == "POST" and not rest:
            fields = _multipart(headers.get("content-type", ""), raw)
            filename, content = fields.get("file", (None, b""))
            purpose = fields.get("purpose", (None, b""))[1].decode()
            if purpose != "fine-tune" or not content:
                return 400, {"error": {"message": "expected a fine-tune file"}}
            file_id = self._next_id("file")
            self.file_bytes[file_id] = content
            self.files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename or "upload.jsonl",
                "purpose": purpose,
                "status": "processed",
            }
            return 200, self.files[file_id]
        if rest and rest[0] in self.files:
            if method == "DELETE":
                self.files.pop(rest[0])
                self.deleted_files.append(rest[0])
                return 200, {"id": rest[0], "object": "file", "deleted": True}
            return 200, self.files[rest[0]]
        return 404, {"error": {"message": "No such file"}}

    def _jobs(
        self, method: str, rest: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any]:
        if method == "POST" and not rest:
            body = json.loads(raw or b"{}")
            if self.reject_create:
                return 400, {"error": {"message": self.reject_create, "code": "invalid_file"}}
            if body.get("training_file") not in self.files:
                return 400, {"error": {"message": "invalid training_file"}}
            if body.get("validation_file") and body["validation_file"] not in self.files:
                return 400, {"error": {"message": "invalid validation_file"}}
            job_id = self._next_id("ftjob")
            hyper = body.get("hyperparameters") or {}
            self.jobs[job_id] = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": {
                    "n_epochs": hyper.get("n_epochs", "auto"),
                    "batch_size": hyper.get("batch_size", "auto"),
                    "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto"),
                },
                "model": body.get("model"),
                "organization_id": "org-fake",
                "result_files": [],
                "seed": body.get("seed") or 42,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": body.get("training_file"),
                "validation_file": body.get("validation_file"),
                "suffix": body.get("suffix"),
                "request": body,
            }
            self._event(job_id, message=f"Created fine-tuning job: {job_id}")
            return 200, self.jobs[job_id]
        if not rest or rest[0] not in self.jobs:
            return 404, {"error": {"message": "No such job"}}
        job = self.jobs[rest[0]]
        if len(rest) == 1 and method == "GET":
            return 200, job
        if rest[1] == "cancel" and method == "POST":
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return 400, {"error": {"message": "Job has already completed"}}
            job["status"] = "cancelled"
            job["finished_at"] = int(time.time())
            return 200, job
        if rest[1] == "events" and method == "GET":
            newest = list(reversed(self.events.get(rest[0], [])))
            after = (query.get("after") or [None])[0]
            if after:
                ids = [e["id"] for e in newest]
                newest = newest[ids.index(after) + 1 :] if after in ids else []
            limit = int((query.get("limit") or ["20"])[0])
            page = newest[:limit]
            return 200, {"object": "list", "data": page, "has_more": len(newest) > limit}
        return 404, {"error": {"message": "not found"}}

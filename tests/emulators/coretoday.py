"""Emulator of core.today's prediction API for the model ``wan-video/wan-2.5-i2v``.

Contract: shared/reference/providers.md §2 (endpoints and auth §2.1, model page §2.2, response
shapes §2.3, gaps §2.4).

Routes:

* ``POST   /v1/predictions``         create from JSON ``{"model", "input", ...}``
* ``POST   /v1/predictions/upload``  create from multipart: ``model``, ``input`` (JSON string) and
  files ``file:<input_key>``; each file is served at ``/uploads/<token>/<name>`` and its URL is
  injected into ``input[<input_key>]`` (a repeated key gives a list)
* ``GET    /v1/predictions/{id}``    pending → processing → completed/succeeded | failed | cancelled
* ``DELETE /v1/predictions/{id}``    cancel
* ``GET    /files/{id}.mp4``, ``GET /uploads/<token>/<name>``  result video and uploaded files

The documented response shape differs between pages, so ``shape`` picks one:

* ``"job_id"`` (llms.txt / Quick Start): ``{"job_id", "status", "provider": "replicate", "model",
  "created_at", "result", "error", "public_url"}``; success is ``completed`` and ``result`` the URL
  (a one-element list with ``result_as_list=True``).
* ``"id"`` (API Reference): ``{"id", "status", "model", "input", "created_at", "output", "error"}``;
  success is ``succeeded``, ``output`` a list of URLs, plus ``metrics`` in seconds.

Interpretations where the contract is silent (§2.4): create answers 200; errors are
``{"error": "..."}``; an unknown model is 404; the DELETE body is the prediction object, now
``cancelled`` (a finished prediction is returned unchanged); a ``timeout`` outcome is reported as
``failed``; ``image`` must be an http(s) URL (data URIs are rejected with a pointer to the upload
route); ``duration`` must be 5 or 10 as on the upstream Replicate model; records never expire
unless ``ttl_s`` is set.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from .base import (
    ApiError,
    Emulator,
    Job,
    Phase,
    Request,
    Response,
    Route,
    UploadedFile,
    bad,
    expect_bool,
    expect_dict,
    expect_int,
    expect_str,
    is_http_url,
    json_response,
    reject_unknown_keys,
    require,
    same_key,
)

__all__ = ["MODEL", "CoretodayEmulator"]

MODEL = "wan-video/wan-2.5-i2v"
TOP_LEVEL_KEYS = ("model", "input", "is_public", "webhook", "webhook_events", "output_folder")
INPUT_KEYS = (
    "image",
    "prompt",
    "duration",
    "resolution",
    "negative_prompt",
    "audio",
    "seed",
    "enable_prompt_expansion",
)
RESOLUTIONS = ("480p", "720p", "1080p")
WEBHOOK_EVENTS = ("completed", "failed")
Shape = Literal["job_id", "id"]

STATUS = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "completed",  # "succeeded" in the "id" shape
    Phase.FAILED: "failed",
    Phase.TIMED_OUT: "failed",
    Phase.CANCELLED: "cancelled",
}


class CoretodayEmulator(Emulator):
    """core.today ``/v1/predictions`` for ``wan-video/wan-2.5-i2v``, in either documented shape."""

    fault_routes = frozenset({"submit", "upload", "status", "cancel", "download"})
    submit_routes = frozenset({"submit", "upload"})

    def __init__(self, *, api_key: str, shape: Shape = "job_id", result_as_list: bool = False, **options: Any) -> None:
        if shape not in ("job_id", "id"):
            raise ValueError("shape must be 'job_id' or 'id'")
        self.shape = shape
        self.result_as_list = result_as_list
        self._stored_files: dict[str, UploadedFile] = {}
        super().__init__(api_key=api_key, **options)

    def routes(self) -> list[Route]:
        return [
            self._route("submit", "POST", "/v1/predictions"),
            self._route("upload", "POST", "/v1/predictions/upload"),
            self._route("status", "GET", "/v1/predictions/(?P<job_id>[^/]+)"),
            self._route("cancel", "DELETE", "/v1/predictions/(?P<job_id>[^/]+)"),
            self._route("uploaded_file", "GET|HEAD", "/uploads/(?P<token>[^/]+)/(?P<name>[^/]+)", auth=False),
        ]

    def authenticate(self, headers: Mapping[str, str]) -> tuple[str, bool]:
        """``X-API-Key: <key>`` (recommended) or ``Authorization: Bearer <key>``."""
        if "x-api-key" in headers:
            return "x-api-key", same_key(headers["x-api-key"], self.api_key)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return "bearer", same_key(token.strip(), self.api_key)
        return ("other" if "authorization" in headers else "missing"), False

    @property
    def uploads(self) -> list[UploadedFile]:
        """Files received by ``/v1/predictions/upload`` (from the request log)."""
        return [file for record in self.requests_for("upload") for file in record.files]

    # -- handlers ---------------------------------------------------------------------------

    def _submit(self, request: Request) -> Response:
        return self._create(request, request.json_object())

    def _upload(self, request: Request) -> Response:
        if request.content_type != "multipart/form-data":
            raise bad("body", "Content-Type must be multipart/form-data")
        form: dict[str, str] = request.body or {}
        reject_unknown_keys(form, ("model", "input"), "")
        try:
            job_input = expect_dict(json.loads(require(form, "input", "")), "input")
        except ValueError as exc:
            raise bad("input", "must be a JSON object string") from exc
        urls: dict[str, list[str]] = {}
        for file in request.files:
            if not file.field.startswith("file:") or file.field == "file:":
                raise bad(file.field, "file fields must be named file:<input_key>")
            urls.setdefault(file.field.removeprefix("file:"), []).append(self._store(file))
        for key, values in urls.items():  # §2.1: a repeated key gives a list
            job_input[key] = values[0] if len(values) == 1 else values
        return self._create(request, {k: v for k, v in form.items() if k == "model"} | {"input": job_input})

    def _status(self, request: Request, job_id: str) -> Response:
        return json_response(200, self.render(self.find_job(job_id, "prediction not found")))

    def _cancel(self, request: Request, job_id: str) -> Response:
        job = self.cancel_job(self.find_job(job_id, "prediction not found"))
        return json_response(200, self.render(job))

    def _uploaded_file(self, request: Request, token: str, name: str) -> Response:
        file = self._stored_files.get(f"/uploads/{token}/{name}")
        if file is None:
            raise ApiError(404, "file not found")
        return Response(200, file.data, {"Content-Type": file.content_type})

    def _create(self, request: Request, body: dict[str, Any]) -> Response:
        job_input = validate_create_body(body)
        prefix = "job_" if self.shape == "job_id" else "pred_"
        job = self.create_job(request, job_input, id_prefix=prefix)
        return json_response(200, self.render(job, Phase.QUEUED))

    def _store(self, file: UploadedFile) -> str:
        """Keep an uploaded file in memory and return the absolute URL it is served at."""
        path = f"/uploads/{secrets.token_hex(8)}/{quote(file.filename.rsplit('/', 1)[-1] or 'upload', safe='')}"
        file.url = self.base_url + path
        self._stored_files[path] = file
        return file.url

    # -- prediction JSON ------------------------------------------------------------------------

    def render(self, job: Job, phase: Phase | None = None) -> dict[str, Any]:
        """The prediction object in the configured shape (§2.3)."""
        phase = phase or job.phase()
        url = self.video_url(job) if phase is Phase.SUCCEEDED else None
        error = {Phase.FAILED: self.fail_error, Phase.TIMED_OUT: "Prediction timed out"}.get(phase)
        if self.shape == "id":
            status = "succeeded" if phase is Phase.SUCCEEDED else STATUS[phase]
            body = {"id": job.id, "status": status, "model": MODEL, "input": job.input, "created_at": job.created_at}
            body |= {"output": [url] if url else None, "error": error}
            if url:
                body["metrics"] = {
                    "total_time": job.queue_s + job.run_s,
                    "queue_time": job.queue_s,
                    "run_time": job.run_s,
                }
            return body
        result = [url] if url and self.result_as_list else url
        return {
            "job_id": job.id,
            "status": STATUS[phase],
            "provider": "replicate",
            "model": MODEL,
            "created_at": job.created_at,
            "result": result,
            "error": error,
            "public_url": None,
        }


# -- validation (strict: any mapping bug in the app becomes a 400 naming the field) -----------


def validate_create_body(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create body (JSON or rebuilt from the upload form) and return its ``input``."""
    reject_unknown_keys(body, TOP_LEVEL_KEYS, "")
    model = expect_str(require(body, "model", ""), "model")
    if model != MODEL:
        raise ApiError(404, f"model: {model!r} not found")
    if "is_public" in body:
        expect_bool(body["is_public"], "is_public")
    if "webhook" in body and not is_http_url(expect_str(body["webhook"], "webhook")):
        raise bad("webhook", "must be an http(s) URL")
    if "webhook_events" in body:
        events = body["webhook_events"]
        if not isinstance(events, list) or not set(events) <= set(WEBHOOK_EVENTS):
            raise bad("webhook_events", f"must be a list drawn from {list(WEBHOOK_EVENTS)}")
    if "output_folder" in body:
        expect_str(body["output_folder"], "output_folder")
    job_input = expect_dict(require(body, "input", ""), "input")
    validate_input(job_input)
    return job_input


def validate_input(job_input: dict[str, Any]) -> None:
    reject_unknown_keys(job_input, INPUT_KEYS, "input")
    image = expect_str(require(job_input, "image", "input"), "input.image")
    if image.startswith("data:"):
        raise bad("input.image", "data URIs are not supported; upload the file with POST /v1/predictions/upload")
    if not is_http_url(image):
        raise bad("input.image", "must be an http(s) URL")
    expect_str(require(job_input, "prompt", "input"), "input.prompt", non_empty=True)
    if "duration" in job_input and expect_int(job_input["duration"], "input.duration") not in (5, 10):
        raise bad("input.duration", f"must be 5 or 10, got {job_input['duration']}")
    if "resolution" in job_input and expect_str(job_input["resolution"], "input.resolution") not in RESOLUTIONS:
        raise bad("input.resolution", f"must be one of {list(RESOLUTIONS)}")
    if "audio" in job_input and not is_http_url(expect_str(job_input["audio"], "input.audio")):
        raise bad("input.audio", "must be an http(s) URL")
    if "negative_prompt" in job_input:
        expect_str(job_input["negative_prompt"], "input.negative_prompt")
    if "seed" in job_input:
        expect_int(job_input["seed"], "input.seed")
    if "enable_prompt_expansion" in job_input:
        expect_bool(job_input["enable_prompt_expansion"], "input.enable_prompt_expansion")

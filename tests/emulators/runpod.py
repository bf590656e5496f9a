"""Emulator of Runpod's Public Endpoint ``wan-2-5`` (Serverless queue API).

Contract: shared/reference/providers.md §1 (endpoints §1.1, states §1.2, shapes §1.3, input §1.4,
pricing §1.5, errors §1.6).

Routes (``{eid}`` must equal ``endpoint_id``, else 404):

* ``POST /v2/{eid}/run``          submit → ``{"id", "status": "IN_QUEUE"}``; body over 10 MB → 413
* ``GET  /v2/{eid}/status/{id}``  IN_QUEUE → IN_PROGRESS → COMPLETED | FAILED | TIMED_OUT | CANCELLED
* ``POST /v2/{eid}/cancel/{id}``  ``{"id", "status": "CANCELLED"}``, or the current status if finished
* ``GET  /files/{id}.mp4``        the video (stands in for ``https://video.runpod.ai/...``)

Interpretations of the contract, all documented as uncertain there:

* ``output`` holds the URL under ``output_key`` ("video_url" per the model page, "result" per the
  tutorial) plus ``cost`` in USD: $0.05/$0.10/$0.15 per second for the 480/720/1080 tier nearest
  to the short side of ``size`` (default "1280*720"), times ``duration`` (default 5).
* ``duration`` 1..10 (Hub README), ``size`` any ``W*H``, ``image`` an http(s) URL or an image data
  URI, ``audio`` an http(s) URL or an audio data URI (third-party clients send it).
* Job records disappear ``ttl_s`` (default 1800 s, i.e. 30 min) after the job finished; ``policy.ttl``
  is validated but not honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import (
    ApiError,
    Emulator,
    Job,
    Phase,
    Request,
    Response,
    Route,
    bad,
    expect_bool,
    expect_dict,
    expect_int,
    expect_str,
    is_data_uri,
    is_http_url,
    json_response,
    reject_unknown_keys,
    require,
    same_key,
)

__all__ = ["RunpodEmulator"]

MAX_RUN_PAYLOAD = 10 * 1024 * 1024  # §1.1: /run accepts at most 10 MB
TOP_LEVEL_KEYS = ("input", "webhook", "policy", "s3Config")  # §1.1 optional top-level fields
POLICY_KEYS = ("executionTimeout", "lowPriority", "ttl")
INPUT_KEYS = (
    "prompt",
    "image",
    "negative_prompt",
    "size",
    "duration",
    "seed",
    "enable_prompt_expansion",
    "enable_safety_checker",
    "audio",
)
SIZE = re.compile(r"(\d+)\*(\d+)")
PRICE_PER_SECOND = {480: 0.05, 720: 0.10, 1080: 0.15}  # §1.5
WEEK_MS = 7 * 24 * 3600 * 1000

STATUS = {
    Phase.QUEUED: "IN_QUEUE",
    Phase.RUNNING: "IN_PROGRESS",
    Phase.SUCCEEDED: "COMPLETED",
    Phase.FAILED: "FAILED",
    Phase.TIMED_OUT: "TIMED_OUT",
    Phase.CANCELLED: "CANCELLED",
}


class RunpodEmulator(Emulator):
    """Runpod ``/v2/{endpoint_id}`` queue API for the ``wan-2-5`` public endpoint."""

    fault_routes = frozenset({"submit", "status", "cancel", "download"})

    def __init__(
        self,
        *,
        api_key: str,
        endpoint_id: str = "wan-2-5",
        output_key: str = "video_url",
        ttl_s: float | None = 1800.0,
        worker_id: str = "emu7ao1uomckye",
        **options: Any,
    ) -> None:
        if output_key not in ("video_url", "result"):
            raise ValueError("output_key must be 'video_url' or 'result'")
        self.endpoint_id = endpoint_id
        self.output_key = output_key
        self.worker_id = worker_id
        super().__init__(api_key=api_key, ttl_s=ttl_s, **options)

    def routes(self) -> list[Route]:
        base = r"/v2/(?P<endpoint_id>[^/]+)"
        return [
            self._route("submit", "POST", base + "/run"),
            self._route("status", "GET", base + r"/status/(?P<job_id>[^/]+)"),
            self._route("cancel", "POST", base + r"/cancel/(?P<job_id>[^/]+)"),
        ]

    def authenticate(self, headers: Mapping[str, str]) -> tuple[str, bool]:
        """``Authorization: Bearer <key>``; a bare key (the op-reference curl form) is accepted too."""
        value = headers.get("authorization")
        if value is None:
            return "missing", False
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer":
            return "bearer", same_key(token.strip(), self.api_key)
        return "bare", same_key(value.strip(), self.api_key)

    # -- handlers ---------------------------------------------------------------------------

    def _submit(self, request: Request, endpoint_id: str) -> Response:
        self._check_endpoint(endpoint_id)
        if len(request.raw) > MAX_RUN_PAYLOAD:
            raise ApiError(413, f"payload of {len(request.raw)} bytes exceeds the 10 MB limit of /run")
        job_input = validate_run_body(request.json_object())
        job = self.create_job(request, job_input)
        return json_response(200, {"id": job.id, "status": "IN_QUEUE"})

    def _status(self, request: Request, endpoint_id: str, job_id: str) -> Response:
        self._check_endpoint(endpoint_id)
        return json_response(200, self.render(self.find_job(job_id)))

    def _cancel(self, request: Request, endpoint_id: str, job_id: str) -> Response:
        self._check_endpoint(endpoint_id)
        job = self.cancel_job(self.find_job(job_id))
        return json_response(200, {"id": job.id, "status": STATUS[job.phase()]})

    def _check_endpoint(self, endpoint_id: str) -> None:
        if endpoint_id != self.endpoint_id:
            raise ApiError(404, f"endpoint {endpoint_id!r} not found")

    # -- job JSON -------------------------------------------------------------------------------

    def render(self, job: Job) -> dict[str, Any]:
        """The ``/status`` body for the job's current phase (§1.3)."""
        phase = job.phase()
        body: dict[str, Any] = {"id": job.id, "status": STATUS[phase]}
        if phase is Phase.RUNNING:
            body |= {"delayTime": job.queue_ms, "input": job.input}
        elif phase is Phase.SUCCEEDED:
            body |= {
                "delayTime": job.queue_ms,
                "executionTime": job.run_ms,
                "workerId": self.worker_id,
                "output": {self.output_key: self.video_url(job), "cost": cost_usd(job.input)},
            }
        elif phase is Phase.FAILED:
            body["error"] = self.fail_error
        return body


def cost_usd(job_input: Mapping[str, Any]) -> float:
    """§1.5: per-second price of the tier nearest the short side of ``size``, times ``duration``."""
    width, height = (int(n) for n in job_input.get("size", "1280*720").split("*"))
    tier = min(PRICE_PER_SECOND, key=lambda t: (abs(t - min(width, height)), t))
    return round(PRICE_PER_SECOND[tier] * job_input.get("duration", 5), 2)


# -- validation (strict: any mapping bug in the app becomes a 400 naming the field) -----------


def validate_run_body(body: dict[str, Any]) -> dict[str, Any]:
    """Check the ``/run`` body and return its ``input``."""
    reject_unknown_keys(body, TOP_LEVEL_KEYS, "")
    if "webhook" in body and not is_http_url(expect_str(body["webhook"], "webhook")):
        raise bad("webhook", "must be an http(s) URL")
    if "policy" in body:
        validate_policy(expect_dict(body["policy"], "policy"))
    if "s3Config" in body:
        expect_dict(body["s3Config"], "s3Config")
    job_input = expect_dict(require(body, "input", ""), "input")
    validate_input(job_input)
    return job_input


def validate_policy(policy: dict[str, Any]) -> None:
    reject_unknown_keys(policy, POLICY_KEYS, "policy")
    if "executionTimeout" in policy:
        expect_int(policy["executionTimeout"], "policy.executionTimeout", lo=5_000, hi=WEEK_MS)
    if "ttl" in policy:
        expect_int(policy["ttl"], "policy.ttl", lo=10_000, hi=WEEK_MS)
    if "lowPriority" in policy:
        expect_bool(policy["lowPriority"], "policy.lowPriority")


def validate_input(job_input: dict[str, Any]) -> None:
    reject_unknown_keys(job_input, INPUT_KEYS, "input")
    expect_str(require(job_input, "prompt", "input"), "input.prompt", non_empty=True)
    image = expect_str(require(job_input, "image", "input"), "input.image")
    if not (is_http_url(image) or is_data_uri(image, "image")):
        raise bad("input.image", "must be an http(s) URL or a data:image/...;base64, URI")
    if "audio" in job_input:
        audio = expect_str(job_input["audio"], "input.audio")
        if not (is_http_url(audio) or is_data_uri(audio, "audio")):
            raise bad("input.audio", "must be an http(s) URL or a data:audio/...;base64, URI")
    if "negative_prompt" in job_input:
        expect_str(job_input["negative_prompt"], "input.negative_prompt")
    if "size" in job_input:
        size = SIZE.fullmatch(expect_str(job_input["size"], "input.size"))
        if size is None or 0 in (int(size[1]), int(size[2])):
            raise bad("input.size", 'must look like "1280*720" (width*height)')
    if "duration" in job_input:
        expect_int(job_input["duration"], "input.duration", lo=1, hi=10)
    if "seed" in job_input:
        expect_int(job_input["seed"], "input.seed", lo=-1, hi=2_147_483_647)
    for flag in ("enable_prompt_expansion", "enable_safety_checker"):
        if flag in job_input:
            expect_bool(job_input[flag], f"input.{flag}")

"""Runpod Public Endpoint `wan-2-5`.

Contract: shared/reference/providers.md §1 (docs.runpod.io/public-endpoints/models/wan-2-5,
serverless operation reference, runpod-python). Raw statuses and field names stay in this module.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from errors import ProtocolError
from jobs.models import GenerationRequest, JobState, Orientation, ProviderStatus, Resolution
from net.http import request_json
from providers.base import Provider, Submission

__all__ = ["RunpodProvider", "build_input", "parse_status", "runpod_size"]

NAME = "runpod"

# Documented tier sizes (Hub README copy, providers.md §1.4); portrait swaps them.
_LANDSCAPE_SIZES = {Resolution.P480: (854, 480), Resolution.P720: (1280, 720), Resolution.P1080: (1920, 1080)}

_RAW_STATES = {
    "IN_QUEUE": JobState.QUEUED,
    "IN_PROGRESS": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "TIMED_OUT": JobState.TIMED_OUT,
}


def runpod_size(orientation: Orientation, resolution: Resolution) -> str:
    """The `size` field, "W*H": 720p landscape is 1280*720, portrait 720*1280, square 720*720."""
    width, height = _LANDSCAPE_SIZES[resolution]
    if orientation is Orientation.PORTRAIT:
        width, height = height, width
    elif orientation is Orientation.SQUARE:
        width = height = resolution.short_side
    return f"{width}*{height}"


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _reference(mime: str, size: int, sha256: str) -> str:
    return f"data:{mime};base64,… ({size} bytes, sha256:{sha256})"


def build_input(request: GenerationRequest, *, for_record: bool = False) -> dict[str, Any]:
    """The `input` object. With `for_record`, media appear as references instead of bytes."""
    image = request.image
    if image.source_url:
        image_value = image.source_url
    elif for_record:
        image_value = _reference(image.mime, image.size_bytes, image.sha256)
    else:
        image_value = _data_uri(image.mime, image.path.read_bytes())
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "image": image_value,
        "negative_prompt": request.negative_prompt,
        "size": runpod_size(request.orientation, request.resolution),
        "duration": request.duration_s,
        "seed": request.seed,
        "enable_prompt_expansion": request.enable_prompt_expansion,
        "enable_safety_checker": request.enable_safety_checker,
    }
    if request.audio is not None:
        audio = request.audio
        body["audio"] = (
            _reference(audio.mime, audio.size_bytes, audio.sha256)
            if for_record
            else _data_uri(audio.mime, audio.path.read_bytes())
        )
    return body


def _video_url(output: Any) -> str | None:
    """The docs disagree: `output.video_url` (model page) or `output.result` (tutorial)."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("video_url", "result", "video"):
            value = output.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value and isinstance(value[0], str):
                return value[0]
    return None


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_status(data: Any) -> ProviderStatus:
    """Map a /status body onto ProviderStatus."""
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ProtocolError(NAME, "status reply has no status field")
    raw = data["status"]
    state = _RAW_STATES.get(raw, JobState.UNKNOWN)
    output = data.get("output")
    cost = output.get("cost") if isinstance(output, dict) else None
    common = {
        "raw_status": raw,
        "queue_ms": _as_int(data.get("delayTime")),
        "run_ms": _as_int(data.get("executionTime")),
        "cost_usd": float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    }
    if state is JobState.SUCCEEDED:
        url = _video_url(output)
        if url is None:
            return ProviderStatus(JobState.FAILED, error="completed without a video URL", **common)
        return ProviderStatus(state, video_url=url, **common)
    if state in (JobState.FAILED, JobState.TIMED_OUT):
        error = data.get("error") or ("the job timed out at Runpod" if state is JobState.TIMED_OUT else None)
        return ProviderStatus(state, error=str(error or "Runpod reported FAILED"), **common)
    return ProviderStatus(state, **common)


class RunpodProvider(Provider):
    """Runpod's queue API: /run, /status/{id}, /cancel/{id}, Bearer auth."""

    name: ClassVar[str] = NAME

    @property
    def endpoint(self) -> str:
        return f"{self._settings.runpod_base_url}/{self._settings.runpod_endpoint_id}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    async def submit(self, request: GenerationRequest) -> Submission:
        body = {"input": build_input(request)}
        data = await request_json(self._http, NAME, "POST", f"{self.endpoint}/run", json=body, headers=self._headers())
        job_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise ProtocolError(NAME, "the submit reply carried no job id")
        raw = data.get("status")
        return Submission(
            job_id=job_id,
            state=_RAW_STATES.get(raw, JobState.QUEUED),
            endpoint=self.endpoint,
            request_body={"input": build_input(request, for_record=True)},
            media_transport={
                "image": "url" if request.image.source_url else "data_uri",
                **({"audio": "data_uri"} if request.audio else {}),
            },
        )

    async def status(self, job_id: str) -> ProviderStatus:
        url = f"{self.endpoint}/status/{job_id}"
        return parse_status(await request_json(self._http, NAME, "GET", url, headers=self._headers(), retry=True))

    async def cancel(self, job_id: str) -> bool:
        url = f"{self.endpoint}/cancel/{job_id}"
        data = await request_json(self._http, NAME, "POST", url, headers=self._headers())
        return isinstance(data, dict) and data.get("status") == "CANCELLED"

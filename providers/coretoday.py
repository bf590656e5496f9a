"""core.today `wan-video/wan-2.5-i2v`.

Contract: shared/reference/providers.md §2 (console.core.today/docs, the API reference, the model's
llms.txt and the file-upload page). Its pages document two response shapes (`job_id`/`result` and
`id`/`output`); both are accepted. Local files go through the multipart `/predictions/upload`
route, since data URIs are not documented for `/predictions`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from errors import ProtocolError
from jobs.models import GenerationRequest, JobState, ProviderStatus
from net.http import request_json
from providers.base import Provider, Submission

__all__ = ["CoretodayProvider", "build_input", "parse_status"]

NAME = "coretoday"
MODEL = "wan-video/wan-2.5-i2v"

_RAW_STATES = {
    "pending": JobState.QUEUED,
    "starting": JobState.QUEUED,
    "queued": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "running": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
}


def build_input(request: GenerationRequest) -> dict[str, Any]:
    """The `input` object, without media that will travel as upload parts."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": request.duration_s,
        "resolution": request.resolution.value,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "enable_prompt_expansion": request.enable_prompt_expansion,
    }
    if request.image.source_url:
        body["image"] = request.image.source_url
    return body


def _first_url(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    if isinstance(value, dict):
        return _first_url(value.get("video") or value.get("url"))
    return None


def _job_id(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get("job_id") or data.get("id")
    return value if isinstance(value, str) and value else None


def _seconds_to_ms(metrics: Any, key: str) -> int | None:
    value = metrics.get(key) if isinstance(metrics, dict) else None
    return int(value * 1000) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_status(data: Any) -> ProviderStatus:
    """Map either documented shape onto ProviderStatus."""
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ProtocolError(NAME, "prediction reply has no status field")
    raw = data["status"]
    state = _RAW_STATES.get(raw.lower(), JobState.UNKNOWN)
    metrics = data.get("metrics")
    common = {
        "raw_status": raw,
        "queue_ms": _seconds_to_ms(metrics, "queue_time"),
        "run_ms": _seconds_to_ms(metrics, "run_time"),
    }
    if state is JobState.SUCCEEDED:
        url = _first_url(data.get("result")) or _first_url(data.get("output")) or _first_url(data.get("public_url"))
        if url is None:
            return ProviderStatus(JobState.FAILED, error="completed without a video URL", **common)
        return ProviderStatus(state, video_url=url, **common)
    if state is JobState.FAILED:
        return ProviderStatus(state, error=str(data.get("error") or "core.today reported failed"), **common)
    return ProviderStatus(state, **common)


class CoretodayProvider(Provider):
    """core.today predictions API with X-API-Key auth."""

    name: ClassVar[str] = NAME

    @property
    def endpoint(self) -> str:
        return f"{self._settings.coretoday_base_url}/predictions"

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key or ""}

    def _upload_parts(self, request: GenerationRequest) -> dict[str, tuple[str, bytes, str]]:
        parts = {}
        if not request.image.source_url:
            image = request.image
            parts["file:image"] = (f"image{image.path.suffix}", image.path.read_bytes(), image.mime)
        if request.audio is not None:
            audio = request.audio
            parts["file:audio"] = (f"audio.{audio.format}", audio.path.read_bytes(), audio.mime)
        return parts

    async def submit(self, request: GenerationRequest) -> Submission:
        payload = build_input(request)
        parts = self._upload_parts(request)
        if parts:
            url = f"{self.endpoint}/upload"
            form = {"model": MODEL, "input": json.dumps(payload)}
            data = await request_json(self._http, NAME, "POST", url, data=form, files=parts, headers=self._headers())
        else:
            url = self.endpoint
            data = await request_json(
                self._http, NAME, "POST", url, json={"model": MODEL, "input": payload}, headers=self._headers()
            )
        job_id = _job_id(data)
        if job_id is None:
            raise ProtocolError(NAME, "the submit reply carried no job id")
        recorded = dict(payload)
        transport = {}
        for part, (_, content, mime) in parts.items():
            key = part.removeprefix("file:")
            media = request.image if key == "image" else request.audio
            recorded[key] = f"multipart {part} ({mime}, {len(content)} bytes, sha256:{media.sha256})"
            transport[key] = "upload"
        if request.image.source_url:
            transport["image"] = "url"
        return Submission(
            job_id=job_id,
            state=_RAW_STATES.get(str(data.get("status", "pending")).lower(), JobState.QUEUED),
            endpoint=f"{url} · {MODEL}",
            request_body={"model": MODEL, "input": recorded},
            media_transport=transport,
        )

    async def status(self, job_id: str) -> ProviderStatus:
        url = f"{self.endpoint}/{job_id}"
        return parse_status(await request_json(self._http, NAME, "GET", url, headers=self._headers(), retry=True))

    async def cancel(self, job_id: str) -> bool:
        url = f"{self.endpoint}/{job_id}"
        data = await request_json(self._http, NAME, "DELETE", url, headers=self._headers())
        status = str(data.get("status", "")).lower() if isinstance(data, dict) else ""
        return status in ("cancelled", "canceled")

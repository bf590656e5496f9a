"""The job record: everything needed to explain and reproduce a run. It never holds a key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from jobs.models import JobState, utc_now

__all__ = ["APP_VERSION", "JobRecord", "request_hash"]

APP_VERSION = "0.1.0"


def request_hash(summary: dict[str, Any]) -> str:
    """A stable hash of the provider-neutral request (media by sha256)."""
    return hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()


@dataclass
class JobRecord:
    """Mutable while the job runs; the engine is its only writer."""

    id: str
    owner: str
    provider: str
    state: JobState
    request: dict[str, Any]
    request_hash: str
    created_at: str = field(default_factory=utc_now)
    endpoint: str | None = None
    provider_job_id: str | None = None
    request_body: dict[str, Any] | None = None
    media_transport: dict[str, str] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    raw_status: str | None = None
    progress: tuple[int, int] | None = None
    queue_position: int | None = None
    provider_timings: dict[str, int] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    remote_url: str | None = None
    video: dict[str, Any] | None = None
    error: str | None = None
    cancel: dict[str, Any] | None = None
    app_version: str = APP_VERSION
    inputs: dict[str, str] = field(default_factory=dict)  # local paths of prepared media; not in params()
    client_key: str | None = None  # the caller's idempotency key: one job per (owner, key)
    submit_sent_at: str | None = None  # written *before* the submit goes out
    remote_expires_at: str | None = None  # when the provider's copy of the video expires, where known
    thumbnail: str | None = None  # file name under the videos folder
    actual_prompt: str | None = None  # the provider's rewritten prompt, where it reports one
    key_source: str = "none"  # whose key ran the job: "visitor", "server" or "none" (never the key)
    visitor: str | None = None  # quota identity (a username or a salted hash), never a raw address

    def mark(self, state: JobState, note: str = "") -> None:
        """Move to `state` and add it to the timeline (repeated states are not re-added)."""
        if self.timeline and self.timeline[-1]["state"] == state.value and not note:
            return
        self.state = state
        entry: dict[str, Any] = {"state": state.value, "at": utc_now()}
        if note:
            entry["note"] = note
        self.timeline.append(entry)

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        data["state"] = JobState(data["state"])
        if data.get("progress") is not None:
            data["progress"] = tuple(data["progress"])
        return cls(**data)

    def params(self) -> dict[str, Any]:
        """The reproducible-parameters panel: what ran, where, with what seed, at what cost."""
        video = self.video or {}
        return {
            "app_version": self.app_version,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "job_id": self.provider_job_id,
            "studio_job_id": self.id,
            "state": self.state.value,
            "seed": self.request.get("seed"),
            "actual_prompt": self.actual_prompt,
            "request": self.request,
            "request_body": self.request_body,
            "media_transport": self.media_transport,
            "timeline": self.timeline,
            "provider_timings_ms": self.provider_timings,
            "cost": self.cost,
            "output": {k: v for k, v in video.items() if k != "path"} or None,
            "remote_url": self.remote_url,
            "remote_expires_at": self.remote_expires_at,
            "error": self.error,
            "cancel": self.cancel,
            "key_source": self.key_source,
        }

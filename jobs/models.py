"""The job's vocabulary: states, the validated common request, and what a provider reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media.images import PreparedImage

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "GenerationRequest",
    "JobState",
    "Orientation",
    "PreparedAudio",
    "ProviderStatus",
    "Resolution",
    "utc_now",
]


def utc_now() -> str:
    """Current UTC time as ISO-8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Resolution(enum.StrEnum):
    """Output tiers; the value is what the UI and most providers call it."""

    P480 = "480p"
    P720 = "720p"
    P1080 = "1080p"

    @property
    def short_side(self) -> int:
        return int(self.value[:-1])


class Orientation(enum.StrEnum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"
    SQUARE = "square"


class JobState(enum.StrEnum):
    """Our normalized job states. Providers' raw strings never leave their modules."""

    CREATED = "created"  # row written, submit not yet sent
    SUBMITTED = "submitted"  # submit sent; id known (or, after a crash, unknown)
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # provider finished; video not yet stored locally
    DELIVERED = "delivered"  # video downloaded, hashed and playable from our disk
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"  # our deadline, or the provider's TIMED_OUT
    EXPIRED = "expired"  # the provider no longer knows the job or its result
    UNKNOWN = "unknown"  # the provider reported a state we cannot interpret
    NEEDS_KEY = "needs_key"  # resumed after a restart; waits for its owner's session key

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT, JobState.EXPIRED}
)
ACTIVE_STATES = frozenset({JobState.CREATED, JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED})


@dataclass(frozen=True)
class PreparedAudio:
    """Audio as it will be sent: already cut to the part that lands in the video."""

    path: Path
    format: str  # "wav" or "mp3"
    mime: str
    duration_s: float  # of the prepared file
    size_bytes: int
    sha256: str
    source_duration_s: float
    start_s: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationRequest:
    """One validated generation, provider-neutral. The seed is always concrete."""

    provider: str
    prompt: str
    image: PreparedImage
    resolution: Resolution
    duration_s: int
    seed: int
    negative_prompt: str = ""
    audio: PreparedAudio | None = None
    enable_prompt_expansion: bool = False
    enable_safety_checker: bool = True
    seed_was_random: bool = False

    @property
    def orientation(self) -> Orientation:
        return Orientation(self.image.orientation)

    def summary(self) -> dict:
        """The request in provider-neutral terms, media by reference and hash."""
        return {
            "provider": self.provider,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "resolution": self.resolution.value,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "seed_was_random": self.seed_was_random,
            "enable_prompt_expansion": self.enable_prompt_expansion,
            "enable_safety_checker": self.enable_safety_checker,
            "image": {
                "sha256": self.image.sha256,
                "width": self.image.width,
                "height": self.image.height,
                "mime": self.image.mime,
                "bytes": self.image.size_bytes,
                "orientation": self.image.orientation,
                "source_url": self.image.source_url,
                "notes": list(getattr(self.image, "notes", ())),
            },
            "audio": None
            if self.audio is None
            else {
                "sha256": self.audio.sha256,
                "format": self.audio.format,
                "duration_s": round(self.audio.duration_s, 3),
                "start_s": self.audio.start_s,
                "source_duration_s": round(self.audio.source_duration_s, 3),
                "bytes": self.audio.size_bytes,
                "notes": list(self.audio.notes),
            },
        }


@dataclass(frozen=True)
class ProviderStatus:
    """One poll's answer, already mapped onto our states by the provider module."""

    state: JobState
    raw_status: str
    video_url: str | None = None
    video_path: Path | None = None  # the preview provider renders locally
    error: str | None = None
    cost_usd: float | None = None
    queue_ms: int | None = None
    run_ms: int | None = None
    progress: tuple[int, int] | None = None  # (done, total) where the provider reports it
    queue_position: int | None = None
    actual_prompt: str | None = None

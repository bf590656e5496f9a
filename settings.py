"""Settings read once from the environment. Secrets are read on demand, never stored here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = ["Settings", "env_flag"]


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its environment variable beside it."""

    data_dir: Path
    """I2V_DATA_DIR: ledger, prepared inputs and delivered videos."""
    runpod_base_url: str = "https://api.runpod.ai/v2"
    """RUNPOD_ENDPOINT_BASE_URL (the same variable runpod-python reads)."""
    runpod_endpoint_id: str = "wan-2-5"
    """RUNPOD_WAN_ENDPOINT_ID."""
    coretoday_base_url: str = "https://api.core.today/v1"
    """CORETODAY_BASE_URL."""
    allow_private_urls: bool = False
    """I2V_ALLOW_PRIVATE_URLS=1 lifts the private-address check (local testing only)."""
    job_timeout_s: float = 20 * 60
    """I2V_JOB_TIMEOUT_S: our deadline for a job, from submit to video."""
    poll_initial_s: float = 0.5
    """I2V_POLL_INITIAL_S: first poll interval; it grows ×1.5 per poll."""
    poll_max_s: float = 3.0
    """I2V_POLL_MAX_S: the cap on the poll interval."""
    max_video_bytes: int = 500 * 1024 * 1024
    """I2V_MAX_VIDEO_MB: the largest result we download."""
    http_timeout_s: float = 30.0
    """I2V_HTTP_TIMEOUT_S: connect/read timeout of one provider API call."""
    download_timeout_s: float = 300.0
    """I2V_DOWNLOAD_TIMEOUT_S: total time allowed for a result download."""
    preview_workers: int = 2
    """I2V_PREVIEW_WORKERS: preview renders that run at once (they use the CPU)."""
    preview_delay_s: float = 0.0
    """I2V_PREVIEW_DELAY_S: extra queue time for preview jobs (demos and tests of cancel)."""
    public: bool = False
    """Public mode: on a Space (SPACE_ID), with --share or --public, or I2V_PUBLIC=1."""
    shared_keys: bool = False
    """I2V_SHARED_KEYS=1: in public mode, let visitors without a key spend the server's key."""
    quota_jobs_per_day: int = 5
    """I2V_QUOTA_JOBS_PER_DAY: shared-key jobs one visitor may start per UTC day."""
    quota_running_per_visitor: int = 1
    """I2V_QUOTA_RUNNING_PER_VISITOR: shared-key jobs one visitor may have running at once."""
    quota_running_total: int = 10
    """I2V_QUOTA_RUNNING_TOTAL: shared-key jobs running at once, all visitors together."""

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get("I2V_DATA_DIR") or platformdirs.user_data_dir("wan-i2v-studio")
        return cls(
            data_dir=Path(data_dir).expanduser().resolve(),
            runpod_base_url=os.environ.get("RUNPOD_ENDPOINT_BASE_URL", cls.runpod_base_url).rstrip("/"),
            runpod_endpoint_id=os.environ.get("RUNPOD_WAN_ENDPOINT_ID", cls.runpod_endpoint_id),
            coretoday_base_url=os.environ.get("CORETODAY_BASE_URL", cls.coretoday_base_url).rstrip("/"),
            allow_private_urls=env_flag("I2V_ALLOW_PRIVATE_URLS"),
            job_timeout_s=_env_float("I2V_JOB_TIMEOUT_S", cls.job_timeout_s),
            poll_initial_s=_env_float("I2V_POLL_INITIAL_S", cls.poll_initial_s),
            poll_max_s=_env_float("I2V_POLL_MAX_S", cls.poll_max_s),
            max_video_bytes=int(_env_float("I2V_MAX_VIDEO_MB", 500) * 1024 * 1024),
            http_timeout_s=_env_float("I2V_HTTP_TIMEOUT_S", cls.http_timeout_s),
            download_timeout_s=_env_float("I2V_DOWNLOAD_TIMEOUT_S", cls.download_timeout_s),
            preview_workers=int(_env_float("I2V_PREVIEW_WORKERS", cls.preview_workers)),
            preview_delay_s=_env_float("I2V_PREVIEW_DELAY_S", cls.preview_delay_s),
            public=bool(os.environ.get("SPACE_ID")) or env_flag("I2V_PUBLIC"),
            shared_keys=env_flag("I2V_SHARED_KEYS"),
            quota_jobs_per_day=int(_env_float("I2V_QUOTA_JOBS_PER_DAY", cls.quota_jobs_per_day)),
            quota_running_per_visitor=int(_env_float("I2V_QUOTA_RUNNING_PER_VISITOR", cls.quota_running_per_visitor)),
            quota_running_total=int(_env_float("I2V_QUOTA_RUNNING_TOTAL", cls.quota_running_total)),
        )

    @property
    def provider_base_urls(self) -> list[str]:
        """The provider origins the operator configured; they may be local (emulators)."""
        return [self.runpod_base_url, self.coretoday_base_url]

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def inputs_dir(self) -> Path:
        return self.data_dir / "inputs"

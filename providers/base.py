"""The contract every provider module fulfils: translate a GenerationRequest, map states back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from errors import AuthError, InvalidRequestError
from jobs.models import GenerationRequest, JobState, ProviderStatus
from providers.capabilities import CAPABILITIES, Capabilities
from settings import Settings

__all__ = ["Provider", "Submission"]


@dataclass(frozen=True)
class Submission:
    """What a submit produced. `request_body` is the body sent, with media by reference."""

    job_id: str
    state: JobState
    endpoint: str
    request_body: dict[str, Any]
    media_transport: dict[str, str] = field(default_factory=dict)


class Provider(ABC):
    """One hosted (or local) Wan 2.5 I2V backend. Instances are cheap: one per job."""

    name: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient, settings: Settings, api_key: str | None) -> None:
        self._http = http
        self._settings = settings
        self._api_key = api_key

    def __repr__(self) -> str:  # never show the key
        return f"<{type(self).__name__}>"

    @property
    def secret(self) -> str | None:
        """The key, for redaction only. Never log or store it."""
        return self._api_key

    async def check_key(self) -> bool:
        """The cheapest authenticated call: poll a job id that cannot exist.

        A 401/403 means the key is refused; a 404 (or any answer past auth) means it was accepted.
        """
        try:
            await self.status("i2v-studio-key-check")
        except AuthError:
            return False
        except InvalidRequestError:
            return True
        return True

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES[self.name]

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The endpoint or model the job runs on, for the record."""

    @abstractmethod
    async def submit(self, request: GenerationRequest) -> Submission:
        """Create the job. Sent exactly once; never retried."""

    @abstractmethod
    async def status(self, job_id: str) -> ProviderStatus:
        """Poll the job (idempotent; transient errors are retried)."""

    @abstractmethod
    async def cancel(self, job_id: str) -> bool:
        """Ask the provider to cancel; True when it confirmed."""

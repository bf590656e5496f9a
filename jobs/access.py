"""Whose key a job uses, who the visitor is, and the quotas that protect a shared key.

Public mode (a Space, --share, --public, I2V_PUBLIC=1) never lends the server's keys to visitors
unless the owner opts in with I2V_SHARED_KEYS=1; then quotas apply to jobs on the shared key.
"""

from __future__ import annotations

import enum
import hashlib
import os
import secrets
from dataclasses import dataclass, field

from errors import ConfigError, MissingApiKeyError, StudioError
from providers.capabilities import Capabilities
from settings import Settings

__all__ = ["AccessPolicy", "KeyChoice", "KeySource", "QuotaError", "Visitor"]

_SALT = secrets.token_bytes(16)  # per process: visitor ids are handles, not stored IP addresses


class KeySource(enum.StrEnum):
    VISITOR = "visitor"  # pasted in the form, or sent by an API caller
    SERVER = "server"  # the operator's environment variable
    NONE = "none"  # the provider needs no key (preview)


class QuotaError(StudioError):
    """A shared-key quota refused the job; the message says which and when it frees up."""


@dataclass(frozen=True)
class KeyChoice:
    source: KeySource
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Visitor:
    """Who is asking. `id` is the quota identity; `session` narrows running-job checks."""

    id: str
    session: str | None = None
    username: str | None = None

    @classmethod
    def from_request(cls, username: str | None, session: str | None, headers: dict[str, str], host: str | None):
        """The auth/OAuth user first, else the first X-Forwarded-For hop (weak: see SECURITY.md)."""
        if username:
            return cls(id=f"user:{username}", session=session, username=username)
        forwarded = (headers.get("x-forwarded-for") or "").split(",")[0].strip()
        address = forwarded or host or "unknown"
        digest = hashlib.sha256(_SALT + address.encode()).hexdigest()[:16]
        return cls(id=f"ip:{digest}", session=session)


class AccessPolicy:
    """Decides the key for a job and admits or refuses shared-key jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def server_key(self, caps: Capabilities) -> str | None:
        return os.environ.get(caps.env_api_key or "", "").strip() or None

    def lends_server_key(self, caps: Capabilities) -> bool:
        return self.server_key(caps) is not None and (not self.settings.public or self.settings.shared_keys)

    def choose_key(self, caps: Capabilities, visitor_key: str | None) -> KeyChoice:
        """The visitor's key if given, else the server's where policy allows it."""
        if caps.env_api_key is None:
            return KeyChoice(KeySource.NONE)
        if visitor_key and visitor_key.strip():
            return KeyChoice(KeySource.VISITOR, visitor_key.strip())
        if self.lends_server_key(caps):
            return KeyChoice(KeySource.SERVER, self.server_key(caps))
        if self.server_key(caps):
            raise ConfigError(
                f"This public app does not lend its own {caps.name} key to visitors. Paste your "
                f"{caps.name} API key to run on {caps.name}, or use the free preview."
            )
        raise MissingApiKeyError(caps.name, caps.env_api_key)

    def admit(self, choice: KeyChoice, visitor: Visitor, *, today_count: int, running_mine: int, running_all: int):
        """Raise QuotaError when a shared-key job would exceed a quota (public mode only)."""
        if not (self.settings.public and choice.source is KeySource.SERVER):
            return
        limits = self.settings
        if running_all >= limits.quota_running_total:
            raise QuotaError(
                f"The shared key is busy: {running_all} shared runs are in progress (limit "
                f"{limits.quota_running_total}). Try again in a few minutes, or use your own key."
            )
        if running_mine >= limits.quota_running_per_visitor:
            raise QuotaError(
                f"You already have {running_mine} run on the shared key in progress (limit "
                f"{limits.quota_running_per_visitor}). Wait for it to finish, or use your own key."
            )
        if today_count >= limits.quota_jobs_per_day:
            raise QuotaError(
                f"Daily quota reached: {limits.quota_jobs_per_day} runs per visitor per day on the shared key "
                "(resets at 00:00 UTC). Paste your own key to keep going."
            )

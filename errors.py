"""One exception tree for the whole studio.

StudioError
├── ConfigError              unknown provider, missing key, bad setting
│   └── MissingApiKeyError   .provider .env_var
├── InputError               user-fixable input problem; .field names the input
├── ProviderError            .provider .status_code ; str -> "[runpod] ..."
│   ├── AuthError            401/403: never retried
│   ├── RateLimitError       429: .retry_after_s
│   ├── InvalidRequestError  400/404/422: never retried
│   ├── ProviderUnavailable  5xx, timeouts, connection errors: transient
│   └── ProtocolError        unexpected payload or unknown status
├── JobError                 .job_id (ours) and .provider_job_id (theirs)
└── DownloadError            result could not be fetched safely
    └── BlockedAddressError  URL points at a private/loopback/reserved address

Every message is written for the person using the app: it says what went wrong and what to do.
Nothing here ever holds an API key.
"""

from __future__ import annotations

import re

__all__ = [
    "AuthError",
    "BlockedAddressError",
    "ConfigError",
    "DownloadError",
    "InputError",
    "InvalidRequestError",
    "JobError",
    "MissingApiKeyError",
    "ProtocolError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitError",
    "StudioError",
    "redact",
]


class StudioError(Exception):
    """Base of every error the studio raises on purpose; its message is safe to show."""


class ConfigError(StudioError):
    """The app or a provider is not configured for what was asked."""


class MissingApiKeyError(ConfigError):
    """No key in the form and none in the environment."""

    def __init__(self, provider: str, env_var: str) -> None:
        self.provider = provider
        self.env_var = env_var
        super().__init__(
            f"{provider} needs an API key: paste yours into the API key field, or set {env_var} on the server."
        )


class InputError(StudioError):
    """An input the user can fix. `field` is the form field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class ProviderError(StudioError):
    """The provider answered with an error or could not be reached."""

    def __init__(self, provider: str, message: str, *, status_code: int | None = None) -> None:
        self.provider = provider
        self.status_code = status_code
        super().__init__(f"[{provider}] {message}")


class AuthError(ProviderError):
    """The provider refused the key (401/403)."""


class RateLimitError(ProviderError):
    """The provider asked us to slow down (429)."""

    def __init__(self, provider: str, message: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(provider, message, status_code=429)


class InvalidRequestError(ProviderError):
    """The provider rejected the request itself (400/404/422)."""


class ProviderUnavailable(ProviderError):
    """A transient failure: 5xx, timeout or connection error."""


class ProtocolError(ProviderError):
    """The provider answered with something its documented contract does not allow."""


class JobError(StudioError):
    """A job ended without a video. Keeps both ids so the run can be followed up."""

    def __init__(self, message: str, *, job_id: str, provider_job_id: str | None = None) -> None:
        self.job_id = job_id
        self.provider_job_id = provider_job_id
        super().__init__(message)


class DownloadError(StudioError):
    """The result could not be downloaded within the size, time or address rules."""


class BlockedAddressError(DownloadError):
    """A URL resolved to an address we refuse to connect to."""


_PREFIXED_KEY = re.compile(r"\b(?:sk|rpa|cdt|r8|fal|key)[-_][A-Za-z0-9_\-]{12,}")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-]{24,}")


def _looks_like_key(token: str) -> bool:
    """Mixed-case base62-ish tokens are keys; hex hashes and UUIDs are ids we must keep."""
    return any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)


def redact(text: str, secrets: tuple[str | None, ...] = (), *, keep: tuple[str | None, ...] = ()) -> str:
    """Remove known secrets and anything that looks like an API key from a message.

    `keep` lists tokens that must survive even if they look key-like (e.g. the provider's job id).
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    kept = {token for token in keep if token}
    text = _PREFIXED_KEY.sub(lambda m: m.group() if m.group() in kept else "[redacted]", text)
    return _LONG_TOKEN.sub(
        lambda m: m.group() if m.group() in kept or not _looks_like_key(m.group()) else "[redacted]", text
    )

"""The one shared HTTP client, and the single place where HTTP failures become studio errors.

Retries: only idempotent requests (GET, and DELETE/cancel where the caller says so) are retried,
on 429, 5xx, timeouts and connection errors, honouring Retry-After. A submit POST is sent once:
a second one would be a second charge (see docs/decisions/no-submit-retry.md).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import stamina

from errors import (
    AuthError,
    BlockedAddressError,
    InvalidRequestError,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)
from net.guard import AddressPolicy, guarded_transport

__all__ = ["ambiguous_submit_failure", "make_client", "parse_retry_after", "request_json"]


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
RETRY_ATTEMPTS = 5
RETRY_BUDGET_S = 60.0
MAX_RETRY_AFTER_S = 60.0

_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    400: InvalidRequestError,
    401: AuthError,
    403: AuthError,
    404: InvalidRequestError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
}


def make_client(policy: AddressPolicy, timeout_s: float | None = None) -> httpx.AsyncClient:
    """The process-wide client: guarded transport, bounded timeouts, no proxies from the env."""
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)) if timeout_s else DEFAULT_TIMEOUT
    return httpx.AsyncClient(
        transport=guarded_transport(policy),
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": "wan-i2v-studio"},
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), capped."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


def _error_text(response: httpx.Response) -> str:
    """A short, safe description of an error body (JSON message or first line of text)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
        return text[:200] if not text.lstrip().startswith("<") else f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "title"):
            value = body.get(key)
            if value:
                return str(value if not isinstance(value, dict) else value.get("message", value))[:300]
    return f"HTTP {response.status_code}"


def error_for_response(provider: str, response: httpx.Response) -> ProviderError:
    """Map an HTTP error response to the most specific studio error."""
    code = response.status_code
    detail = _error_text(response)
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitError(provider, f"rate limited (429): {detail}", retry_after_s=retry_after)
    if code >= 500:
        return ProviderUnavailable(provider, f"server error {code}: {detail}", status_code=code)
    cls = _STATUS_ERRORS.get(code, InvalidRequestError)
    hint = " Check that the API key is correct and active." if cls is AuthError else ""
    return cls(provider, f"HTTP {code}: {detail}.{hint}", status_code=code)


def _retry_hook(exc: Exception) -> bool | float:
    """stamina hook: retry transient errors; a number is the wait Retry-After asked for."""
    if isinstance(exc, RateLimitError):
        return exc.retry_after_s if exc.retry_after_s is not None else True
    return isinstance(exc, ProviderUnavailable | ProtocolError)


async def _send_once(client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = await client.request(method, url, **kwargs)
    except BlockedAddressError:
        raise
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(provider, f"no answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(provider, f"connection failed ({type(exc).__name__})") from exc
    if response.status_code >= 400:
        raise error_for_response(provider, response)
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise ProtocolError(provider, f"answered HTTP {response.status_code} with a body that is not JSON") from exc


async def request_json(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    retry: bool = False,
    **kwargs: Any,
) -> Any:
    """Send one request and return its JSON, raising a ProviderError subclass on failure.

    With `retry=True` transient failures are retried with jittered backoff, bounded in attempts
    and total time. Never pass `retry=True` for a request that creates a paid job.
    """
    if not retry:
        return await _send_once(client, provider, method, url, **kwargs)
    async for attempt in stamina.retry_context(
        on=_retry_hook, attempts=RETRY_ATTEMPTS, timeout=RETRY_BUDGET_S, wait_initial=0.2, wait_max=5.0
    ):
        with attempt:
            return await _send_once(client, provider, method, url, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def ambiguous_submit_failure(exc: ProviderError) -> bool:
    """True when a failed submit may still have created a job (so it must not be resent).

    A refused connection sent nothing; a timeout, reset or 5xx after sending may have. A
    ProtocolError means the provider *accepted* (status < 400) but we could not read the id.
    """
    if isinstance(exc, ProtocolError):
        return True
    if not isinstance(exc, ProviderUnavailable):
        return False
    cause = exc.__cause__
    return not isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout)

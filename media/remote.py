"""Fetch an input image from an http(s) URL without letting the URL reach our own network.

The caller's client must be built on `net.guard.guarded_transport`: the guard checks the address
of every TCP connection at the moment it is opened. Redirects are followed here, one hop at a
time, so each hop's scheme and credentials are checked before its connection is made. Messages
name the host only, never the path or query string, which may carry access tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from errors import BlockedAddressError, InputError

__all__ = ["FetchedImage", "fetch_image"]

_ALLOWED_SCHEMES = ("http", "https")
# Never forward credentials the shared client may carry to a user-supplied URL.
_PRIVATE_HEADERS = ("authorization", "proxy-authorization", "cookie")
_REQUEST_HEADERS = {"Accept": "image/*", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class FetchedImage:
    """The bytes behind an image URL, with the type the server declared."""

    data: bytes = field(repr=False)
    content_type: str  # e.g. "image/png", parameters stripped
    final_url: str  # after redirects
    url: str  # as given


async def fetch_image(
    url: str,
    client: httpx.AsyncClient,
    *,
    max_bytes: int,
    timeout_s: float = 20.0,
    max_redirects: int = 5,
) -> FetchedImage:
    """Download the image at `url`: http(s) only, public addresses only, at most `max_bytes`.

    `timeout_s` bounds each connect and read and also the whole download, redirects included.
    """
    start = _checked_url(url)
    try:
        async with asyncio.timeout(timeout_s):
            return await _follow(client, start, max_bytes, timeout_s, max_redirects)
    except TimeoutError as exc:
        raise _timeout_error(start, timeout_s) from exc


async def _follow(
    client: httpx.AsyncClient,
    start: httpx.URL,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int,
) -> FetchedImage:
    """Request `start`, following redirects ourselves so that every hop is checked."""
    current = start
    for _ in range(max_redirects + 1):
        with _errors_named(current, timeout_s):
            request = _build_request(client, current, timeout_s)
            # follow_redirects=False even if the client was built to follow them: each hop
            # must pass _checked_url before it is requested.
            response = await client.send(request, stream=True, auth=None, follow_redirects=False)
            try:
                if not response.is_redirect:
                    media_type, data = await _read_image(response, current, max_bytes)
                    return FetchedImage(data, media_type, str(current), str(start))
                location = response.headers["location"]
            finally:
                await response.aclose()
        current = _checked_url(location, base=current)
    raise InputError(
        "image",
        f"the link redirected more than {max_redirects} times; use a direct link to the image.",
    )


def _checked_url(url: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Parse `url` (relative to `base` for a redirect), refusing non-http(s) and credentials."""
    via = "the link redirected to an address that" if base is not None else "the link"
    try:
        parsed = base.join(url.strip()) if base is not None else httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise InputError("image", f"{via} is not a valid web address.") from exc
    if parsed.scheme not in _ALLOWED_SCHEMES:
        scheme = f"'{parsed.scheme}:'" if parsed.scheme else "no scheme"
        raise InputError(
            "image",
            f"{via} uses {scheme}; only http:// and https:// links can be fetched. Upload the file instead.",
        )
    if not parsed.host:
        raise InputError("image", f"{via} has no host name.")
    if parsed.userinfo:
        raise InputError(
            "image",
            f"{via} contains a user name or password; remove the 'user:password@' part or upload the file instead.",
        )
    return parsed


def _build_request(client: httpx.AsyncClient, url: httpx.URL, timeout_s: float) -> httpx.Request:
    """A plain GET with per-phase timeouts and none of the client's credentials."""
    request = client.build_request("GET", url, headers=_REQUEST_HEADERS, timeout=httpx.Timeout(timeout_s))
    for name in _PRIVATE_HEADERS:
        request.headers.pop(name, None)
    return request


@contextlib.contextmanager
def _errors_named(url: httpx.URL, timeout_s: float) -> Iterator[None]:
    """Translate connection failures for one hop into InputErrors naming its host."""
    try:
        yield
    except BlockedAddressError as exc:
        raise InputError(
            "image",
            f"{url.host} refers to a private or local network address; only public web "
            "addresses can be fetched. Upload the file instead.",
        ) from exc
    except httpx.TimeoutException as exc:
        raise _timeout_error(url, timeout_s) from exc
    except httpx.TransportError as exc:
        raise InputError(
            "image",
            f"could not download from {url.host} ({type(exc).__name__}). Check the link or upload the file instead.",
        ) from exc


async def _read_image(response: httpx.Response, url: httpx.URL, max_bytes: int) -> tuple[str, bytes]:
    """Media type and body, once status and type are acceptable; stops at `max_bytes`."""
    if not response.is_success:
        raise InputError(
            "image",
            f"{url.host} answered HTTP {response.status_code} for that link; check that it opens the image itself.",
        )
    media_type = _image_type(response)
    _check_declared_length(response, url, max_bytes)
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large_error(url, f"more than {_mb(max_bytes)}", max_bytes)
        chunks.append(chunk)
    if not received:
        raise InputError("image", f"{url.host} returned an empty file for that link.")
    return media_type, b"".join(chunks)


def _image_type(response: httpx.Response) -> str:
    """The declared media type without parameters; refuses anything but image/*."""
    declared = response.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if not media_type.startswith("image/"):
        shown = media_type or "no content type"
        raise InputError(
            "image",
            f"the link returned {shown[:60]}, not an image; use a direct link to a JPEG, PNG or WebP file.",
        )
    return media_type


def _check_declared_length(response: httpx.Response, url: httpx.URL, max_bytes: int) -> None:
    """Refuse before reading when the server announces a body over the cap."""
    try:
        declared = int(response.headers.get("content-length", ""))
    except ValueError:
        return  # absent or malformed: the streamed count still enforces the cap
    if declared > max_bytes:
        raise _too_large_error(url, _mb(declared), max_bytes)


def _too_large_error(url: httpx.URL, size: str, max_bytes: int) -> InputError:
    """The size refusal."""
    return InputError(
        "image",
        f"the image at {url.host} is {size}; the limit is {_mb(max_bytes)}. "
        "Use a smaller image or upload a compressed copy.",
    )


def _timeout_error(url: httpx.URL, timeout_s: float) -> InputError:
    """The time-limit refusal."""
    return InputError(
        "image",
        f"{url.host} did not answer within {timeout_s:g} s. Try again later or upload the file instead.",
    )


def _mb(size: int) -> str:
    """Bytes as megabytes for messages: 10 MB, 63.2 MB."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"

"""Stream a result video to our disk: size-capped, time-limited, hashed, checked to be an MP4."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from errors import BlockedAddressError, DownloadError

__all__ = ["DownloadResult", "download_video"]

_CHUNK = 1 << 16


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size_bytes: int
    content_type: str


def _looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp"


async def _stream(client: httpx.AsyncClient, url: str, part: Path, max_bytes: int) -> DownloadResult:
    digest, size, head = hashlib.sha256(), 0, b""
    async with client.stream("GET", url, follow_redirects=True) as response:
        if response.status_code != 200:
            raise DownloadError(f"the result URL answered HTTP {response.status_code}")
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            raise DownloadError(f"the result is {declared} bytes, over the {max_bytes}-byte cap")
        with part.open("wb") as out:
            async for chunk in response.aiter_bytes(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(f"the result exceeded the {max_bytes}-byte cap")
                if len(head) < 12:
                    head += chunk[:12]
                digest.update(chunk)
                out.write(chunk)
        if declared and size != declared:
            raise DownloadError(f"the download was cut short ({size} of {declared} bytes)")
        content_type = response.headers.get("Content-Type", "")
    if not _looks_like_mp4(head):
        raise DownloadError("the result is not an MP4 file")
    return DownloadResult(part, digest.hexdigest(), size, content_type)


async def download_video(
    client: httpx.AsyncClient, url: str, dest: Path, *, max_bytes: int, timeout_s: float
) -> DownloadResult:
    """Download `url` to `dest` atomically (via a .part file). Raises DownloadError."""
    if not url.startswith(("http://", "https://")):
        raise BlockedAddressError("the result URL is not http(s)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        async with asyncio.timeout(timeout_s):
            result = await _stream(client, url, part, max_bytes)
    except TimeoutError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the download took longer than {timeout_s:.0f} s") from exc
    except BlockedAddressError as exc:
        part.unlink(missing_ok=True)
        raise BlockedAddressError(f"the result URL was refused: {exc}") from exc
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the download failed ({type(exc).__name__})") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return DownloadResult(dest, result.sha256, result.size_bytes, result.content_type)

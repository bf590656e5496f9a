"""Getting a finished video onto our disk and making it self-describing.

Provider URLs expire (Runpod: 7 days; Replicate: 1 hour; DashScope: 24 hours), so the download starts
the moment a job succeeds and is retried with backoff while the URL lives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from errors import BlockedAddressError, DownloadError
from jobs.download import download_video
from jobs.record import JobRecord

__all__ = [
    "expiry_after",
    "fetch_with_retries",
    "finish_video",
    "make_thumbnail",
    "poster_thumbnail",
    "seconds_left",
]

RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 60.0
THUMB_PX = 256


def expiry_after(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def seconds_left(expires_at: str | None) -> float | None:
    if not expires_at:
        return None
    return (datetime.fromisoformat(expires_at.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()


async def fetch_with_retries(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    give_up_at: float,
    on_retry: Callable[[str, float], None],
) -> None:
    """Download until it works or `give_up_at` (loop time) passes. Raises the last DownloadError."""
    loop = asyncio.get_running_loop()
    delay = RETRY_INITIAL_S
    while True:
        try:
            await download_video(client, url, dest, max_bytes=max_bytes, timeout_s=timeout_s)
            return
        except BlockedAddressError:
            raise  # a refused address will not become allowed: no point retrying
        except DownloadError as exc:
            if loop.time() + delay > give_up_at:
                raise
            on_retry(str(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def finish_video(record: JobRecord, source: Path, dest: Path) -> dict:
    """Move the result into place, embed the params JSON as the MP4 comment, probe and hash it."""
    from media.video import probe_video, write_comment

    if source != dest:
        shutil.move(source, dest)
    original_sha = _sha256_file(dest)
    params = record.params()
    params["output"] = {"source_sha256": original_sha}
    try:
        write_comment(dest, dest, json.dumps(params, ensure_ascii=False, sort_keys=True))
        embedded = True
    except Exception:  # a provider file PyAV cannot remux: keep it as delivered
        embedded = False
    info = probe_video(dest)
    return {
        "file": dest.name,
        "path": str(dest),
        "sha256": _sha256_file(dest),
        "source_sha256": original_sha,
        "params_embedded": embedded,
        "bytes": dest.stat().st_size,
        "codec": info.video_codec,
        "pix_fmt": info.pix_fmt,
        "width": info.width,
        "height": info.height,
        "duration_s": round(info.duration_s, 3),
        "has_audio": info.has_audio,
    }


def poster_thumbnail(video: Path, dest: Path) -> str | None:
    """A thumbnail from the video's first frame (for recovered jobs, whose input image we lack)."""
    import av

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            image = frame.to_image()
    except (av.FFmpegError, StopIteration, OSError):
        return None
    image.thumbnail((THUMB_PX, THUMB_PX))
    dest.parent.mkdir(parents=True, exist_ok=True)
    image.save(dest, "JPEG", quality=80)
    return dest.name


def make_thumbnail(image_path: Path, dest: Path) -> str | None:
    """A small JPEG of the input image for the history panel."""
    from PIL import Image

    try:
        with Image.open(image_path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMB_PX, THUMB_PX))
            dest.parent.mkdir(parents=True, exist_ok=True)
            image.save(dest, "JPEG", quality=80)
    except OSError:
        return None
    return dest.name

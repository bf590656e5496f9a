"""Turn raw form/API values into a validated GenerationRequest, before any provider is called.

Every limit comes from the capability table (providers/capabilities.py). Every failure is an
InputError that names the field, the limit and the fix.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import math
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from errors import InputError
from jobs.models import GenerationRequest, PreparedAudio, Resolution
from providers.capabilities import CAPABILITIES, SEED_MAX, Capabilities

__all__ = ["FormInputs", "clean_text", "prepare_request", "resolve_seed"]

_SAFE_SOURCE_FORMATS = {"JPEG", "PNG", "WEBP", "BMP"}
_PAYLOAD_OVERHEAD = 4096
MAX_AUDIO_SOURCE_S = 600.0
MAX_AUDIO_RATE = 48_000


@dataclass(frozen=True)
class FormInputs:
    """Raw values as they arrive from the UI or the API; nothing checked yet."""

    provider: str
    prompt: str | None
    image: str | None = None  # path of an uploaded file
    image_url: str | None = None
    negative_prompt: str | None = ""
    audio: str | None = None  # path of an uploaded file
    audio_start_s: float | None = 0.0
    resolution: str | None = None
    duration: float | int | None = None
    seed: float | int | None = -1
    enable_prompt_expansion: bool | None = None
    enable_safety_checker: bool | None = None


def clean_text(text: str | None) -> str:
    """Strip control characters (keeping newlines and tabs) and surrounding space."""
    text = unicodedata.normalize("NFC", text or "")
    kept = (ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return "".join(kept).strip()


def _check_text(value: str | None, field: str, limit: int, *, required: bool, provider: str) -> str:
    text = clean_text(value)
    if required and not text:
        raise InputError(field, "is required. Describe the motion you want, e.g. “slow zoom in, gentle wind”.")
    if len(text) > limit:
        raise InputError(
            field, f"is {len(text)} characters; {provider} accepts at most {limit}. Shorten it by {len(text) - limit}."
        )
    return text


def resolve_seed(value: float | int | None) -> tuple[int, bool]:
    """(concrete seed, drawn at random). -1 or empty means: draw one now and record it."""
    if value is None or value == -1:
        return secrets.randbelow(SEED_MAX + 1), True
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError("seed", "must be a whole number: -1 for random, or 0 to 2147483647.")
    if value != int(value) or not 0 <= value <= SEED_MAX:
        raise InputError("seed", f"{value} is out of range: use -1 for random, or a whole number 0 to {SEED_MAX}.")
    return int(value), False


def _check_choice(caps: Capabilities, resolution: str | None, duration: float | int | None) -> tuple[Resolution, int]:
    tiers = ", ".join(r.value for r in caps.resolutions)
    try:
        tier = Resolution(resolution or caps.default_resolution.value)
    except ValueError:
        raise InputError("resolution", f"{resolution!r} is not offered; {caps.name} takes {tiers}.") from None
    if tier not in caps.resolutions:
        raise InputError("resolution", f"{tier} is not offered by {caps.name}; choose one of {tiers}.")
    seconds = caps.default_duration_s if duration is None else duration
    allowed = ", ".join(str(d) for d in caps.durations_s)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != int(seconds):
        raise InputError("duration", f"must be a whole number of seconds; {caps.name} takes {allowed}.")
    if int(seconds) not in caps.durations_s:
        raise InputError("duration", f"{int(seconds)} s is not accepted by {caps.name}; choose one of {allowed} s.")
    return tier, int(seconds)


def _check_switch(caps: Capabilities, value: bool | None, default: bool | None, field: str) -> bool:
    if default is None:  # the provider has no such switch
        if value is False and field == "enable_safety_checker" and not caps.is_draft:
            raise InputError(field, f"{caps.name} has no switch for the safety checker; leave it on.")
        return bool(value) if value is not None else False
    return default if value is None else bool(value)


async def _prepare_image(form: FormInputs, out_dir: Path, http: httpx.AsyncClient | None):
    from media.images import ImageLimits, prepare_image

    limits = ImageLimits()
    url = clean_text(form.image_url)
    if form.image and url:
        raise InputError("image", "give either an uploaded image or an image URL, not both.")
    if url:
        from media.remote import fetch_image

        if http is None:
            raise InputError("image", "image URLs are not available here; upload the file instead.")
        fetched = await fetch_image(url, http, max_bytes=limits.max_source_bytes)
        prepared = await asyncio.to_thread(prepare_image, fetched.data, limits=limits, out_dir=out_dir)
        untouched = (
            prepared.source_width == prepared.width
            and prepared.source_height == prepared.height
            and prepared.source_format in _SAFE_SOURCE_FORMATS
            and not prepared.notes
            and len(fetched.data) <= limits.max_bytes
        )
        # Providers fetch URLs themselves; only hand them the original when it already fits.
        return dataclasses.replace(prepared, source_url=url) if untouched else prepared
    if not form.image:
        raise InputError("image", "is required. Upload, paste or capture an image, or give an http(s) URL.")
    return await asyncio.to_thread(prepare_image, form.image, limits=limits, out_dir=out_dir)


def _prepare_audio_sync(path: str, start_s: float, duration_s: int, caps: Capabilities, out_dir: Path) -> PreparedAudio:
    from media.audio import cut_audio, decode_audio, export_audio, is_silent, probe_audio

    size = Path(path).stat().st_size if Path(path).exists() else 0
    limit_mb = caps.audio_max_bytes / 1024 / 1024
    if size > caps.audio_max_bytes:
        raise InputError(
            "audio", f"is {size / 1024 / 1024:.1f} MB; the limit is {limit_mb:.0f} MB. Trim or compress it."
        )
    info = probe_audio(path)
    if info.duration_s > MAX_AUDIO_SOURCE_S:
        raise InputError("audio", f"is {info.duration_s:.0f} s long; upload at most {MAX_AUDIO_SOURCE_S / 60:.0f} min.")
    if start_s < 0 or start_s >= info.duration_s:
        raise InputError("audio_start", f"{start_s:g} s is outside the audio, which is {info.duration_s:.1f} s long.")
    available = info.duration_s - start_s
    if available < caps.audio_min_s:
        raise InputError(
            "audio",
            f"from {start_s:g} s there are only {available:.1f} s of audio; {caps.name} needs at least "
            f"{caps.audio_min_s:g} s. Choose an earlier start or a longer clip.",
        )
    length = min(max(float(duration_s), caps.audio_min_s), available, caps.audio_max_s)
    notes = []
    if available < duration_s:
        notes.append(f"The audio gives {available:.1f} s for a {duration_s} s video: the rest will be silent.")
    if info.duration_s > start_s + duration_s:
        notes.append(f"Only {start_s:g}–{start_s + length:g} s of the {info.duration_s:.1f} s audio is used.")
    segment = cut_audio(decode_audio(path, until_s=start_s + length), start_s=start_s, length_s=length)
    if segment.frame_rate > MAX_AUDIO_RATE:
        # Lip-sync needs no more; it keeps a 10 s clip small enough for Runpod's 10 MB request.
        segment = segment.set_frame_rate(MAX_AUDIO_RATE)
        notes.append(f"Resampled from {info.sample_rate} Hz to {MAX_AUDIO_RATE} Hz.")
    if is_silent(segment):
        notes.append("The chosen part of the audio is silent.")
    exported = export_audio(segment, out_dir / f"audio-{secrets.token_hex(8)}.wav", "wav")
    # Content-addressed, like prepared images, so "Load settings" can find the exact audio again.
    final = out_dir / f"{exported.sha256}.wav"
    Path(exported.path).replace(final)
    return PreparedAudio(
        path=final,
        format=exported.format,
        mime="audio/wav",
        duration_s=exported.duration_s,
        size_bytes=exported.size_bytes,
        sha256=exported.sha256,
        source_duration_s=info.duration_s,
        start_s=float(start_s),
        notes=tuple(notes),
    )


def _check_payload(caps: Capabilities, image: Any, audio: PreparedAudio | None) -> None:
    if caps.max_payload_bytes is None:
        return
    size = _PAYLOAD_OVERHEAD + (0 if image.source_url else len(base64.b64encode(b"x" * image.size_bytes)))
    if audio is not None:
        size += math.ceil(audio.size_bytes / 3) * 4
    if size > caps.max_payload_bytes:
        total, limit = size / 1024 / 1024, caps.max_payload_bytes / 1024 / 1024
        if audio is None:
            raise InputError(
                "image",
                f"the image makes a {total:.1f} MB request; {caps.name} accepts {limit:.0f} MB. "
                "Upload a smaller or less detailed image.",
            )
        # The audio is already cut to the video's length, so a shorter clip would not help;
        # its sample rate and channels decide its size.
        raise InputError(
            "audio",
            f"image and audio make a {total:.1f} MB request; {caps.name} accepts {limit:.0f} MB. The audio "
            f"part is {audio.duration_s:g} s of WAV ({audio.size_bytes / 1024 / 1024:.1f} MB): choose a "
            "shorter duration, upload the audio as mono or at 48 kHz or less, or use a smaller image.",
        )


async def prepare_request(
    form: FormInputs, *, out_dir: Path, http: httpx.AsyncClient | None = None
) -> GenerationRequest:
    """Check everything cheap first, then decode media. Raises InputError."""
    caps = CAPABILITIES.get(form.provider or "")
    if caps is None:
        raise InputError(
            "provider", f"{form.provider!r} is not a provider here; choose one of {', '.join(CAPABILITIES)}."
        )
    prompt = _check_text(form.prompt, "prompt", caps.max_prompt_chars, required=True, provider=caps.name)
    negative = _check_text(
        form.negative_prompt, "negative_prompt", caps.max_negative_chars, required=False, provider=caps.name
    )
    tier, duration = _check_choice(caps, form.resolution, form.duration)
    seed, seed_was_random = resolve_seed(form.seed)
    expansion = _check_switch(
        caps, form.enable_prompt_expansion, caps.prompt_expansion_default, "enable_prompt_expansion"
    )
    safety = _check_switch(caps, form.enable_safety_checker, caps.safety_checker_default, "enable_safety_checker")
    if form.audio and not caps.accepts_audio:
        raise InputError("audio", f"{caps.name} takes no audio. Remove it, or choose a provider that does.")
    start = float(form.audio_start_s or 0)
    out_dir.mkdir(parents=True, exist_ok=True)
    image = await _prepare_image(form, out_dir, http)
    audio = None
    if form.audio:
        audio = await asyncio.to_thread(_prepare_audio_sync, form.audio, start, duration, caps, out_dir)
    _check_payload(caps, image, audio)
    return GenerationRequest(
        provider=caps.name,
        prompt=prompt,
        image=image,
        resolution=tier,
        duration_s=duration,
        seed=seed,
        negative_prompt=negative,
        audio=audio,
        enable_prompt_expansion=expansion,
        enable_safety_checker=safety,
        seed_was_random=seed_was_random,
    )

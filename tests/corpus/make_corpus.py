"""Generate the input-validation corpus: bad and odd inputs for the public /generate API.

    python -m tests.corpus.make_corpus OUT_DIR

writes every input file under OUT_DIR (images/, audio/, url/) and OUT_DIR/cases.json, the
manifest. Nothing is downloaded and nothing binary is committed: every file is synthesised here
with Pillow, numpy and PyAV from fixed seeds, so two runs give the same bytes.

A case is the keyword arguments of one `/generate` call and the outcome it must have:

* ``error``: the call fails with a message that starts with ``<field>:`` (the app's InputError
  format) and contains every string in ``contains``; no provider emulator sees a request.
* ``ok``: the call succeeds (cases use the offline ``preview`` provider, 1 s at 480p) and every
  check on the returned params dict holds.

In `kwargs`, ``{"file": "images/x.png"}`` is a corpus file to upload, and ``${name}`` inside a
string is filled in by the test from live servers: ``${api_key}`` (the emulators' key),
``${trusted}`` (origin of `UrlFixtures`' scripted server, which the app trusts because it is a
configured provider base URL), ``${trusted_hostport}``, ``${private_port}`` and
``${private6_port}`` (untrusted counting servers on 127.0.0.1 and [::1] that must never be reached).

``known_gap`` records a case where the app does not (yet) give the expected message; the test
still demands an error and zero provider requests, and marks only the message check as an
expected failure. ``remark`` documents what the app or Gradio actually answers where that is
worth knowing. ``notes`` are preparation notes the user should be shown (see test_corpus.py).
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import sys
import threading
import wave
import zlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from PIL import Image

__all__ = [
    "Case",
    "Check",
    "UrlFixtures",
    "build_corpus",
    "check_failures",
    "corpus_cases",
    "load_cases",
    "marked_photo",
    "stepped_tone",
    "write_audio",
]

MB = 1024 * 1024
SEED_MAX = 2_147_483_647
PROMPT = "slow zoom in, gentle wind"
GRADIO_UPLOAD_LIMIT_MB = 20  # app.MAX_UPLOAD

# --------------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class Check:
    """One check on the returned params dict: `path` is dotted (e.g. "request.image.width")."""

    path: str
    op: Literal["==", "!=", "<=", ">=", "no_control_chars", "is_int"]
    value: Any = None


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    description: str
    kwargs: dict[str, Any]
    outcome: Literal["error", "ok"]
    field: str | None = None  # error: the message must start with "<field>:"
    contains: tuple[str, ...] = ()  # error: substrings the message must also contain
    checks: tuple[Check, ...] = ()  # ok: checks on the params dict
    notes: tuple[str, ...] = ()  # ok: preparation notes the user should be shown
    known_gap: str | None = None
    remark: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [asdict(c) for c in self.checks]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        data = dict(data)
        data["checks"] = tuple(Check(**c) for c in data["checks"])
        data["contains"] = tuple(data["contains"])
        data["notes"] = tuple(data["notes"])
        return cls(**data)


def _lookup(params: Any, path: str) -> Any:
    value = params
    for key in path.split("."):
        value = value[key]
    return value


def check_failures(case: Case, params: dict[str, Any]) -> list[str]:
    """The checks of an ok case that do not hold on `params` (empty when all hold)."""
    failures = []
    for check in case.checks:
        try:
            value = _lookup(params, check.path)
        except (KeyError, TypeError, IndexError):
            failures.append(f"{check.path}: missing from params")
            continue
        ok = {
            "==": lambda v, c=check: v == c.value,
            "!=": lambda v, c=check: v != c.value,
            "<=": lambda v, c=check: v <= c.value,
            ">=": lambda v, c=check: v >= c.value,
            "no_control_chars": lambda v: not any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in v),
            "is_int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        }[check.op](value)
        if not ok:
            failures.append(f"{check.path} {check.op} {check.value!r} failed: got {value!r}")
    return failures


# ------------------------------------------------------------------------------- case builders

_PHOTO = {"file": "images/photo_640x480.png"}


def _error(cid: str, group: str, description: str, field: str | None, *contains: str, **kw: Any) -> Case:
    """A case that must be refused; run against the paid runpod provider so a leak would show."""
    known_gap, remark = kw.pop("known_gap", None), kw.pop("remark", "")
    kwargs = {
        "image": _PHOTO,
        "prompt": PROMPT,
        "provider": "runpod",
        "resolution": "480p",
        "duration": 5,
        "seed": 1,
        "api_key": "${api_key}",
    }
    kwargs.update(kw)
    return Case(cid, group, description, kwargs, "error", field, contains, known_gap=known_gap, remark=remark)


def _ok(cid: str, group: str, description: str, *checks: Check, notes: tuple[str, ...] = (), **kw: Any) -> Case:
    """A case that must succeed; run on the offline preview (1 s, 480p), which never calls out."""
    remark = kw.pop("remark", "")
    kwargs = {"image": _PHOTO, "prompt": PROMPT, "provider": "preview", "resolution": "480p", "duration": 1, "seed": 1}
    kwargs.update(kw)
    return Case(cid, group, description, kwargs, "ok", checks=checks, notes=notes, remark=remark)


def _img(name: str) -> dict[str, str]:
    return {"file": f"images/{name}"}


def _aud(name: str) -> dict[str, str]:
    return {"file": f"audio/{name}"}


def _size(width: int, height: int, orientation: str | None = None) -> tuple[Check, ...]:
    checks = [Check("request.image.width", "==", width), Check("request.image.height", "==", height)]
    if orientation:
        checks.append(Check("request.image.orientation", "==", orientation))
    return tuple(checks)


def _prompt_is(text: str) -> Check:
    return Check("request.prompt", "==", text)


def corpus_cases() -> list[Case]:
    """The cases (without writing any file); build_corpus writes the files they name."""
    g = "image"
    cases = [
        # ---- images: not images, damaged, dangerous --------------------------------------------
        _error(
            "img_zero_bytes",
            g,
            "0-byte file named .png",
            "image",
            "empty",
            image=_img("zero.png"),
        ),
        _error("img_truncated_jpeg", g, "JPEG cut at 40 %", "image", "damaged", image=_img("truncated.jpg")),
        _error(
            "img_truncated_png", g, "PNG cut at 50 % (IHDR intact)", "image", "damaged", image=_img("truncated.png")
        ),
        _error(
            "img_random_bytes_png",
            g,
            "4 KB of random bytes named .png",
            "image",
            "not an image",
            image=_img("random.png"),
        ),
        _error(
            "img_text_as_jpg",
            g,
            "a text file named .jpg",
            "image",
            "text",
            image=_img("notes.jpg"),
        ),
        _error(
            "img_mp4_as_jpg",
            g,
            "an H.264 MP4 named .jpg",
            "image",
            "video",
            image=_img("clip.jpg"),
        ),
        _error("img_svg", g, "an SVG drawing (.svg)", "image", "SVG", image=_img("drawing.svg")),
        _error(
            "img_svg_as_png",
            g,
            "an SVG drawing named .png",
            "image",
            "SVG",
            image=_img("drawing_svg.png"),
        ),
        _error(
            "img_bomb_400mp",
            g,
            "decompression bomb: 1-bit PNG declaring 20000×20000 (about 50 KB)",
            "image",
            "decompression",
            image=_img("bomb_20000x20000.png"),
        ),
        _error(
            "img_bomb_100mp",
            g,
            "1-bit PNG declaring 10000×10000: over our 64 MP guard, under Pillow's",
            "image",
            "decompression",
            "64 MP",
            image=_img("bomb_10000x10000.png"),
        ),
        _error("img_tiff", g, "a TIFF image (not a format we decode)", "image", "TIFF", image=_img("photo.tiff")),
        _error(
            "img_heic_like",
            g,
            "a file with a HEIC ftyp header",
            "image",
            "HEIC",
            image=_img("photo.heic"),
        ),
        _error(
            "img_pdf",
            g,
            "a PDF document",
            "image",
            "PDF",
            image=_img("document.pdf"),
        ),
        # ---- images: size and shape ----------------------------------------------------------
        _error(
            "img_300x300",
            g,
            "300×300: below the 360 px minimum",
            "image",
            "300×300",
            "360 px",
            image=_img("300x300.png"),
        ),
        _error(
            "img_359x1000",
            g,
            "359×1000: one px short of the minimum",
            "image",
            "359×1000",
            "360",
            image=_img("359x1000.png"),
        ),
        _error("img_1x1", g, "a 1×1 PNG", "image", "360", image=_img("1x1.png")),
        _error(
            "img_aspect_3000x400",
            g,
            "3000×400 (7.5:1): beyond the widest aspect ratio",
            "image",
            "aspect ratio",
            "5.556:1",
            image=_img("3000x400.png"),
        ),
        _error(
            "img_aspect_2001x360",
            g,
            "2001×360: one pixel past the widest ratio",
            "image",
            "aspect ratio",
            "5.558:1",
            "5.556:1",
            image=_img("2001x360.png"),
        ),
        _ok(
            "img_aspect_2000x360",
            g,
            "2000×360: exactly the widest ratio",
            *_size(2000, 360, "landscape"),
            image=_img("2000x360.png"),
        ),
        _ok("img_360x360", g, "360×360: exactly the minimum", *_size(360, 360, "square"), image=_img("360x360.png")),
        _ok(
            "img_photo_6000x4000",
            g,
            "a 24 MP 6000×4000 JPEG photo: downscaled to 2000 on the long side",
            *_size(2000, 1333, "landscape"),
            Check("request.image.bytes", "<=", 10 * MB),
            notes=("downscaled from 6000×4000 to 2000×1333",),
            image=_img("photo_6000x4000.jpg"),
        ),
        _ok(
            "img_portrait_4000x6000",
            g,
            "a 4000×6000 portrait JPEG",
            *_size(1333, 2000, "portrait"),
            notes=("downscaled from 4000×6000 to 1333×2000",),
            image=_img("portrait_4000x6000.jpg"),
        ),
        _ok(
            "img_exif_orientation_6",
            g,
            "stored 800×600 with EXIF orientation 6: upright it is 600×800",
            *_size(600, 800, "portrait"),
            notes=("EXIF orientation (6)",),
            image=_img("exif6_800x600.jpg"),
        ),
        _ok(
            "img_rgba_transparent",
            g,
            "RGBA PNG with a transparent half",
            *_size(640, 480),
            notes=("transparency flattened onto white",),
            image=_img("rgba.png"),
        ),
        _ok(
            "img_la_transparent",
            g,
            "LA (grayscale + alpha) PNG with transparency",
            *_size(640, 480),
            notes=("transparency flattened onto white",),
            image=_img("la.png"),
        ),
        _ok(
            "img_palette_transparency",
            g,
            "palette PNG with a transparent colour",
            *_size(640, 480),
            notes=("transparency flattened onto white",),
            image=_img("palette_transparent.png"),
        ),
        _ok(
            "img_cmyk_jpeg",
            g,
            "CMYK JPEG",
            *_size(640, 480),
            Check("request.image.mime", "==", "image/jpeg"),
            notes=("CMYK",),
            image=_img("cmyk.jpg"),
        ),
        _ok("img_16bit_png", g, "16-bit grayscale PNG (I;16)", *_size(640, 480), image=_img("gray16.png")),
        _ok("img_grayscale_jpeg", g, "8-bit grayscale JPEG", *_size(640, 480), image=_img("gray.jpg")),
        _ok(
            "img_animated_gif",
            g,
            "3-frame animated GIF",
            *_size(480, 400),
            notes=("first frame",),
            image=_img("animated.gif"),
        ),
        _ok("img_webp", g, "WebP", *_size(640, 480), image=_img("photo.webp")),
        _ok("img_bmp", g, "BMP", *_size(640, 480), image=_img("photo.bmp")),
        _ok("img_png_named_jpg", g, "a PNG whose name says .jpg", *_size(640, 480), image=_img("png_named.jpg")),
        _error("img_missing", g, "no image and no URL", "image", "required", image=None),
        _error(
            "img_upload_and_url",
            g,
            "an upload and an image URL at once",
            "image",
            "not both",
            image_url="${trusted}/corpus/photo.png",
        ),
    ]

    g = "audio"
    cases += [
        _error(
            "aud_corrupt_mp3",
            g,
            "8 KB of random bytes named .mp3",
            "audio",
            "damaged or not an audio file",
            audio=_aud("corrupt.mp3"),
        ),
        _error("aud_zero_bytes", g, "0-byte .wav", "audio", "empty", audio=_aud("zero.wav")),
        _error("aud_text_as_wav", g, "a text file named .wav", "audio", "not an audio file", audio=_aud("notes.wav")),
        _error(
            "aud_png_as_wav",
            g,
            "a PNG picture named .wav",
            "audio",
            remark="FFmpeg probes the content as an image stream, so the message says 'looks like a video file'",
            audio=_aud("picture.wav"),
        ),
        _error(
            "aud_video_mp4",
            g,
            "an MP4 with a video and an audio stream",
            "audio",
            "video",
            audio=_aud("clip.mp4"),
        ),
        _error("aud_1s_wav", g, "1 s of audio for runpod (needs 3 s)", "audio", "3 s", audio=_aud("tone_1s.wav")),
        _error(
            "aud_16mb_wav",
            g,
            "a 16 MB wav (95 s): over the 15 MB limit, under the 20 MB upload limit",
            "audio",
            "15 MB",
            audio=_aud("big_16mb.wav"),
        ),
        _error(
            "aud_21mb_wav",
            g,
            "a 21 MB wav: over the app's 20 MB upload limit (Gradio's max_file_size)",
            None,
            "20",
            remark="Gradio refuses the upload itself; its message is checked for the limit only",
            audio=_aud("big_21mb.wav"),
        ),
        _error(
            "aud_over_10_min",
            g,
            "a 601 s wav (8 kHz mono, 9.6 MB): longer than the 10 min we decode",
            "audio",
            "10 min",
            audio=_aud("long_601s.wav"),
        ),
        _error(
            "aud_start_beyond_end",
            g,
            "audio_start 20 s on a 10 s clip",
            "audio_start",
            "20 s",
            "10.0 s",
            audio=_aud("tone_10s.wav"),
            audio_start=20,
        ),
        _error(
            "aud_start_at_end",
            g,
            "audio_start exactly at the end of a 10 s clip",
            "audio_start",
            "10 s",
            audio=_aud("tone_10s.wav"),
            audio_start=10,
        ),
        _error(
            "aud_start_leaves_2s",
            g,
            "audio_start 8 s on a 10 s clip leaves 2 s; runpod needs 3 s",
            "audio",
            "3 s",
            "earlier start",
            audio=_aud("tone_10s.wav"),
            audio_start=8,
        ),
        _error(
            "aud_start_negative",
            g,
            "audio_start -1",
            "audio_start",
            audio=_aud("tone_10s.wav"),
            audio_start=-1,
        ),
        _ok(
            "aud_192khz_resampled",
            g,
            "10 s of 192 kHz stereo wav: resampled to 48 kHz (keeps a 10 s clip inside runpod's 10 MB request)",
            Check("request.audio.format", "==", "wav"),
            notes=("Resampled from 192000 Hz to 48000 Hz",),
            audio=_aud("hires_192khz_10s.wav"),
        ),
        _ok(
            "aud_60s_wav",
            g,
            "60 s wav for a 1 s preview: only the first second is used",
            Check("request.audio.duration_s", "==", 1.0),
            Check("request.audio.source_duration_s", "==", 60.0),
            Check("request.audio.start_s", "==", 0.0),
            notes=("Only 0–1 s of the 60.0 s audio is used",),
            audio=_aud("tone_60s.wav"),
        ),
        _ok(
            "aud_silence_5s",
            g,
            "5 s of digital silence: valid, worth a note",
            Check("request.audio.format", "==", "wav"),
            notes=("silent",),
            audio=_aud("silence_5s.wav"),
        ),
        _ok(
            "aud_start_fraction",
            g,
            "audio_start 0.5 s",
            Check("request.audio.start_s", "==", 0.5),
            Check("request.audio.duration_s", "==", 1.0),
            audio=_aud("tone_10s.wav"),
            audio_start=0.5,
        ),
    ]
    for name, label in (
        ("tone_5s.m4a", "AAC in M4A"),
        ("tone_5s.ogg", "Vorbis in Ogg"),
        ("tone_5s.opus.ogg", "Opus in Ogg (48 kHz)"),
        ("tone_5s.flac", "FLAC"),
        ("tone_5s.mp3", "MP3"),
    ):
        cases.append(
            _ok(
                "aud_" + name.removeprefix("tone_5s.").replace(".", "_"),
                g,
                f"5 s {label}",
                Check("request.audio.format", "==", "wav"),
                Check("request.audio.duration_s", "==", 1.0),
                Check("request.audio.source_duration_s", ">=", 4.9),
                audio=_aud(name),
            )
        )

    g = "text"
    long_800 = ("a slow dolly shot along a quiet harbour at dawn, " * 20)[:800]
    cases += [
        _error("txt_empty_prompt", g, "empty prompt", "prompt", "required", prompt=""),
        _error("txt_none_prompt", g, "prompt null", "prompt", "required", prompt=None),
        _error(
            "txt_whitespace_prompt", g, "prompt of spaces, tabs and newlines", "prompt", "required", prompt=" \t\n  \n"
        ),
        _error(
            "txt_control_only_prompt",
            g,
            "prompt of control characters only",
            "prompt",
            "required",
            prompt="\x00\x07\x1b\x7f",
        ),
        _error("txt_prompt_5000", g, "5,000-character prompt", "prompt", "5000 characters", "800", prompt="x" * 5000),
        _error("txt_prompt_801", g, "801-character prompt", "prompt", "801", "800", "by 1", prompt=long_800 + "!"),
        _ok("txt_prompt_800", g, "exactly 800 characters", _prompt_is(long_800), prompt=long_800),
        _ok(
            "txt_prompt_800_padded",
            g,
            "800 characters plus 50 surrounding spaces (stripped before counting)",
            _prompt_is(long_800),
            prompt="   " + long_800 + " " * 47,
        ),
        _ok(
            "txt_prompt_combining_800",
            g,
            "800 × 'e' + combining acute (1600 code points, 800 after NFC)",
            _prompt_is("\u00e9" * 800),
            prompt="e\u0301" * 800,
        ),
        _ok(
            "txt_control_chars",
            g,
            "BEL, ESC, CR and DEL inside the prompt are stripped",
            _prompt_is("zoom in[31m slowly\nthen stop"),
            Check("request.prompt", "no_control_chars"),
            prompt="zoom\x07 in\x1b[31m slowly\r\nthen\x7f stop\r\n",
        ),
        _ok(
            "txt_nul_bytes",
            g,
            "NUL bytes inside the prompt are stripped",
            _prompt_is("slow zoom in"),
            Check("request.prompt", "no_control_chars"),
            prompt="slow\x00 zoom\x00 in\x00",
        ),
        _ok(
            "txt_emoji",
            g,
            "emoji, including a ZWJ family sequence, are preserved",
            _prompt_is("🌊 waves crash 🎬 👨\u200d👩\u200d👧 on the pier"),
            prompt="🌊 waves crash 🎬 👨\u200d👩\u200d👧 on the pier",
        ),
        _ok("txt_arabic", g, "right-to-left Arabic", _prompt_is("الأمواج تتحرك ببطء"), prompt="الأمواج تتحرك ببطء"),
        _ok("txt_hebrew", g, "right-to-left Hebrew", _prompt_is("הגלים נעים לאט"), prompt="הגלים נעים לאט"),
        _error(
            "txt_negative_501",
            g,
            "501-character negative prompt",
            "negative_prompt",
            "501",
            "500",
            negative_prompt="b" * 501,
        ),
        _ok(
            "txt_negative_500",
            g,
            "exactly 500-character negative prompt",
            Check("request.negative_prompt", "==", "b" * 500),
            negative_prompt="b" * 500,
        ),
    ]

    g = "choice"
    cases += [
        _error(
            "num_seed_minus2",
            g,
            "seed -2",
            "seed",
            seed=-2,
        ),
        _error(
            "num_seed_2147483648",
            g,
            "seed 2^31",
            "seed",
            seed=2_147_483_648,
        ),
        _error("num_seed_text", g, "seed 'abc'", "seed", seed="abc"),
        _ok(
            "num_seed_max",
            g,
            "seed 2147483647",
            Check("seed", "==", SEED_MAX),
            Check("request.seed_was_random", "==", False),
            seed=SEED_MAX,
        ),
        _ok(
            "num_seed_random",
            g,
            "seed -1: a concrete seed is drawn and recorded",
            Check("seed", "is_int"),
            Check("seed", ">=", 0),
            Check("seed", "<=", SEED_MAX),
            Check("request.seed_was_random", "==", True),
            seed=-1,
        ),
        _ok(
            "num_seed_null",
            g,
            "seed null: treated as random and recorded",
            Check("seed", "is_int"),
            Check("request.seed_was_random", "==", True),
            seed=None,
        ),
        _ok(
            "num_seed_fraction",
            g,
            "seed 1.5",
            Check("seed", "==", 2),
            remark="gr.Number(precision=0) rounds 1.5 to 2 before our check; the recorded seed is the one used",
            seed=1.5,
        ),
        _error(
            "num_duration_7_coretoday",
            g,
            "duration 7 on coretoday (5 or 10 only)",
            "duration",
            "5, 10",
            provider="coretoday",
            duration=7,
        ),
        _error(
            "num_duration_11",
            g,
            "duration 11 (no provider offers it)",
            None,
            "11",
            duration=11,
            remark="Gradio's Dropdown answers 'Value: 11 is not in the list of choices: [1, …, 10]'",
        ),
        _error(
            "num_duration_0",
            g,
            "duration 0",
            None,
            "0",
            "not in the list of choices",
            duration=0,
            remark="Gradio's Dropdown answers 'Value: 0 is not in the list of choices: [1, …, 10]'",
        ),
        _error(
            "num_duration_true",
            g,
            "duration true (equal to 1 in Python, so Gradio's choice check lets it through)",
            "duration",
            "whole number",
            duration=True,
        ),
        _ok("num_duration_float", g, "duration 1.0", Check("request.duration_s", "==", 1), duration=1.0),
        _error(
            "num_resolution_4k",
            g,
            "resolution '4k'",
            "resolution",
            resolution="4k",
        ),
        _ok(
            "num_resolution_null",
            g,
            "resolution null: the provider default",
            Check("request.resolution", "==", "480p"),
            resolution=None,
        ),
        _error(
            "num_provider_foo",
            g,
            "provider 'foo'",
            "provider",
            provider="foo",
        ),
        _error(
            "num_safety_off_coretoday",
            g,
            "enable_safety_checker false on coretoday (it has no switch)",
            "enable_safety_checker",
            "leave it on",
            provider="coretoday",
            enable_safety_checker=False,
        ),
        _error(
            "num_runpod_no_key",
            g,
            "runpod with no key in the form or the environment",
            None,
            "RUNPOD_API_KEY",
            "API key field",
            api_key="",
        ),
        _error(
            "num_runpod_blank_key",
            g,
            "runpod with a key of spaces",
            None,
            "RUNPOD_API_KEY",
            api_key="   ",
        ),
        _error(
            "num_coretoday_no_key",
            g,
            "coretoday with no key",
            None,
            "CORETODAY_API_KEY",
            provider="coretoday",
            api_key="",
        ),
    ]

    g = "url"
    private_png = "http://127.0.0.1:${private_port}/x.png"
    cases += [
        _error("url_file", g, "file:///etc/passwd", "image", "'file:'", image=None, image_url="file:///etc/passwd"),
        _error("url_ftp", g, "ftp:// link", "image", "'ftp:'", image=None, image_url="ftp://example.com/x.png"),
        _error(
            "url_data_uri",
            g,
            "a data: URI in the URL field",
            "image",
            "'data:'",
            image=None,
            image_url="data:image/png;base64,iVBORw0KGgo=",
        ),
        _error(
            "url_javascript",
            g,
            "javascript: URL",
            "image",
            "'javascript:'",
            image=None,
            image_url="javascript:alert(1)",
        ),
        _error("url_no_host", g, "http:// with no host", "image", image=None, image_url="http://"),
        _error(
            "url_credentials",
            g,
            "user:password@ in the URL",
            "image",
            "user name or password",
            image=None,
            image_url="http://user:secret@${trusted_hostport}/corpus/photo.png",
        ),
        _error(
            "url_metadata",
            g,
            "cloud metadata address 169.254.169.254",
            "image",
            "private",
            image=None,
            image_url="http://169.254.169.254/latest/meta-data/",
        ),
        _error(
            "url_private_10",
            g,
            "RFC 1918 address 10.0.0.1",
            "image",
            "private",
            image=None,
            image_url="http://10.0.0.1/x.png",
        ),
        _error(
            "url_loopback",
            g,
            "http://127.0.0.1 on an untrusted port",
            "image",
            "private",
            image=None,
            image_url=private_png,
        ),
        _error(
            "url_ipv6_loopback",
            g,
            "http://[::1] on an untrusted port",
            "image",
            "private",
            image=None,
            image_url="http://[::1]:${private6_port}/x.png",
        ),
        _error(
            "url_localhost",
            g,
            "http://localhost on an untrusted port",
            "image",
            "private",
            image=None,
            image_url="http://localhost:${private_port}/",
        ),
        _error(
            "url_unspecified",
            g,
            "http://0.0.0.0",
            "image",
            "private",
            image=None,
            image_url="http://0.0.0.0:${private_port}/x.png",
        ),
        _error(
            "url_ipv4_mapped",
            g,
            "IPv4-mapped IPv6 loopback [::ffff:127.0.0.1]",
            "image",
            "private",
            image=None,
            image_url="http://[::ffff:127.0.0.1]:${private_port}/x.png",
        ),
    ]
    for route, description, contains in (
        ("redirect-private", "redirect to 127.0.0.1 on an untrusted port", ("private",)),
        ("redirect-private6", "redirect to [::1] on an untrusted port", ("private",)),
        ("redirect-metadata", "redirect to 169.254.169.254", ("private",)),
        ("redirect-file", "redirect to file:///etc/passwd", ("'file:'",)),
        ("redirect-loop", "a redirect that points at itself", ("more than 5 times",)),
        ("huge.png", "Content-Length of 60 MB (the body never comes)", ("60 MB", "50 MB")),
        ("endless.png", "no Content-Length, a body that does not stop", ("more than 50 MB",)),
        ("page.html", "an HTML page", ("text/html", "not an image")),
        ("missing.png", "HTTP 404", ("HTTP 404",)),
        ("empty.png", "an empty body", ("empty",)),
        ("text.png", "image/png type, text body", ("text",)),
        ("clip.jpg", "image/jpeg type, MP4 body", ("video",)),
        ("drawing.svg", "image/svg+xml", ("SVG",)),
        ("bomb.png", "a 20000×20000 decompression-bomb PNG", ("decompression",)),
        ("small.png", "a 300×300 PNG", ("360",)),
    ):
        cid = "url_" + route.replace("-", "_").replace(".", "_")
        cases.append(
            _error(cid, g, description, "image", *contains, image=None, image_url=f"${{trusted}}/corpus/{route}")
        )
    cases += [
        _ok(
            "url_photo",
            g,
            "a PNG from the trusted fixture origin: used as given",
            *_size(640, 480),
            Check("request.image.source_url", "==", "${trusted}/corpus/photo.png"),
            image=None,
            image_url="${trusted}/corpus/photo.png",
        ),
        _ok(
            "url_redirect_same_origin",
            g,
            "a redirect to a PNG on the same origin",
            *_size(640, 480),
            image=None,
            image_url="  ${trusted}/corpus/redirect-photo  ",
        ),
    ]
    return cases


# ------------------------------------------------------------------------------- file builders


def marked_photo(width: int, height: int, *, detail: float = 1.0, noise: float = 0.0, seed: int = 0) -> Image.Image:
    """A smooth photo-like RGB image with orientation markers.

    Top-left is a red square and top-right a green one (each a tenth of the short side), so
    rotation and mirroring are visible after any resize. Large pictures are drawn at a quarter
    of the size and scaled up (fast, and still smooth like a photo).
    """
    if max(width, height) > 2000 and not noise:
        small = marked_photo(width // 4, height // 4, detail=detail, seed=seed)
        rgb = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC)).copy()
        return _with_markers(rgb)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    waves = np.sin(x * 37.0 * detail + y * 11.0) * np.cos(y * 29.0 * detail - x * 5.0)
    r = 90 + 80 * x + 40 * waves
    gch = 70 + 100 * y - 30 * waves
    b = 150 - 60 * x * y + 50 * np.sin((x + y) * 23.0 * detail)
    rgb = np.stack(np.broadcast_arrays(r, gch, b), axis=-1)
    if noise:
        rgb = rgb + np.random.default_rng(seed).normal(0.0, noise, rgb.shape).astype(np.float32)
    return _with_markers(np.clip(rgb, 0, 255).astype(np.uint8))


def _with_markers(rgb: np.ndarray) -> Image.Image:
    side = max(1, min(rgb.shape[:2]) // 10)
    rgb[:side, :side] = (255, 0, 0)
    rgb[:side, -side:] = (0, 255, 0)
    return Image.fromarray(rgb)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of `width`×`height` zeros: huge when decoded, tiny on disk."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then all-black pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def tiny_mp4(*, audio: bool = True) -> bytes:
    """A 0.5 s 64×64 H.264 MP4, with an AAC track when `audio`."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        sound = container.add_stream("aac", rate=44_100, layout="mono") if audio else None
        for i in range(12):
            frame = np.full((64, 64, 3), (i * 20) % 256, dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        if sound is not None:
            samples = tone(0.5, 440.0, 44_100, 1)
            container.mux(sound.encode(_audio_frame(samples, 44_100)))
            container.mux(sound.encode(None))
    return buffer.getvalue()


def tone(seconds: float, freq: float, rate: int, channels: int, dbfs: float = -12.0) -> np.ndarray:
    """(samples, channels) int16 sine."""
    t = np.arange(round(seconds * rate)) / rate
    wave_ = np.sin(2 * np.pi * freq * t) * 32767 * 10 ** (dbfs / 20)
    return np.repeat(wave_.astype(np.int16)[:, None], channels, axis=1)


def step_freq(second: int) -> float:
    """The frequency that identifies second `second` of a stepped tone (200, 250, 300 … Hz)."""
    return 200.0 + 50.0 * second


def stepped_tone(seconds: int, rate: int = 44_100, channels: int = 2) -> np.ndarray:
    """A tone whose frequency changes every second, so its content tells the time."""
    return np.concatenate([tone(1.0, step_freq(k), rate, channels) for k in range(seconds)])


def _audio_frame(samples: np.ndarray, rate: int) -> av.AudioFrame:
    layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    return frame


def write_audio(path: Path, samples: np.ndarray, *, fmt: str, codec: str, rate: int, **options: str) -> Path:
    """Encode int16 (samples, channels) with PyAV."""
    layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options=options)
        container.mux(stream.encode(_audio_frame(samples, rate)))
        container.mux(stream.encode(None))
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit PCM wav with the stdlib (fast even for large files)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(samples).tobytes())
    return path


def wav_of_size(path: Path, data_bytes: int, rate: int = 44_100) -> Path:
    """A stereo tone wav whose sample data is `data_bytes` long."""
    frames = data_bytes // 4
    return write_wav(path, tone(frames / rate, 330.0, rate, 2), rate)


def _save(image: Image.Image, path: Path, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _write_images(d: Path) -> None:
    rng = np.random.default_rng(20261)
    base = marked_photo(640, 480)
    png = _save(base, d / "photo_640x480.png", "PNG")
    jpeg = _save(base, d / "photo_640x480.jpg", "JPEG", quality=90)
    (d / "zero.png").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 4 // 10])
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    random = rng.bytes(4096)
    (d / "random.png").write_bytes(b"\x00" + random[1:])  # no accidental magic number
    (d / "notes.jpg").write_text("Shopping list:\n- eggs\n- milk\n", encoding="utf-8")
    (d / "clip.jpg").write_bytes(tiny_mp4())
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">'
        '<rect width="640" height="480" fill="red"/></svg>\n'
    )
    (d / "drawing.svg").write_text(svg, encoding="utf-8")
    (d / "drawing_svg.png").write_text(svg, encoding="utf-8")
    (d / "bomb_20000x20000.png").write_bytes(bomb_png(20_000, 20_000))
    (d / "bomb_10000x10000.png").write_bytes(bomb_png(10_000, 10_000))
    _save(base, d / "photo.tiff", "TIFF")
    (d / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.bytes(2048))
    (d / "document.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    for w, h in ((300, 300), (359, 1000), (3000, 400), (2001, 360), (2000, 360), (360, 360)):
        _save(marked_photo(w, h), d / f"{w}x{h}.png", "PNG")
    _save(Image.new("RGB", (1, 1), (10, 20, 30)), d / "1x1.png", "PNG")
    _save(marked_photo(6000, 4000, detail=8.0), d / "photo_6000x4000.jpg", "JPEG", quality=90)
    _save(marked_photo(4000, 6000, detail=8.0), d / "portrait_4000x6000.jpg", "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    upright = marked_photo(600, 800)
    _save(
        upright.transpose(Image.Transpose.ROTATE_90), d / "exif6_800x600.jpg", "JPEG", quality=90, exif=exif.tobytes()
    )
    rgba = base.convert("RGBA")
    alpha = np.full((480, 640), 255, dtype=np.uint8)
    alpha[:, 320:] = 0
    rgba.putalpha(Image.fromarray(alpha, "L"))
    _save(rgba, d / "rgba.png", "PNG")
    la = base.convert("L").convert("LA")
    la.putalpha(Image.fromarray(alpha, "L"))
    _save(la, d / "la.png", "PNG")
    palette = base.quantize(colors=16)
    _save(palette, d / "palette_transparent.png", "PNG", transparency=0)
    _save(base.convert("CMYK"), d / "cmyk.jpg", "JPEG", quality=90)
    gray16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    _save(Image.fromarray(gray16), d / "gray16.png", "PNG")
    _save(base.convert("L"), d / "gray.jpg", "JPEG", quality=90)
    frames = [marked_photo(480, 400, detail=1.0 + i).quantize(colors=64) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (d / "animated.gif").write_bytes(buffer.getvalue())
    _save(base, d / "photo.webp", "WEBP", quality=90)
    _save(base, d / "photo.bmp", "BMP")
    (d / "png_named.jpg").write_bytes(png)
    _save(marked_photo(2000, 1500, noise=40.0, seed=7), d / "noisy_2000x1500.jpg", "JPEG", quality=95)


def _write_audio(d: Path, images: Path) -> None:
    rng = np.random.default_rng(20262)
    (d / "corrupt.mp3").write_bytes(b"\x00" + rng.bytes(8191))
    (d / "zero.wav").write_bytes(b"")
    (d / "notes.wav").write_text("not audio at all\n" * 20, encoding="utf-8")
    (d / "picture.wav").write_bytes((images / "photo_640x480.png").read_bytes())
    (d / "clip.mp4").write_bytes(tiny_mp4(audio=True))
    write_wav(d / "tone_1s.wav", tone(1.0, 440.0, 44_100, 2), 44_100)
    write_wav(d / "tone_10s.wav", stepped_tone(10, 22_050, 1), 22_050)
    write_wav(d / "tone_60s.wav", tone(60.0, 440.0, 16_000, 1), 16_000)
    write_wav(d / "silence_5s.wav", np.zeros((5 * 44_100, 2), dtype=np.int16), 44_100)
    wav_of_size(d / "big_16mb.wav", 16 * MB)
    wav_of_size(d / "big_21mb.wav", (GRADIO_UPLOAD_LIMIT_MB + 1) * MB)
    write_wav(d / "long_601s.wav", tone(601.0, 300.0, 8_000, 1), 8_000)
    write_wav(d / "hires_192khz_10s.wav", tone(10.0, 1000.0, 192_000, 2), 192_000)
    five = stepped_tone(5)
    write_audio(d / "tone_5s.m4a", five, fmt="ipod", codec="aac", rate=44_100)
    write_audio(d / "tone_5s.ogg", five, fmt="ogg", codec="vorbis", rate=44_100, strict="experimental")
    write_audio(d / "tone_5s.opus.ogg", stepped_tone(5, 48_000), fmt="ogg", codec="libopus", rate=48_000)
    write_audio(d / "tone_5s.flac", five, fmt="flac", codec="flac", rate=44_100)
    write_audio(d / "tone_5s.mp3", five, fmt="mp3", codec="libmp3lame", rate=44_100)


def _write_url_bodies(d: Path, images: Path) -> None:
    """What the scripted URL server answers with (it reads these files)."""
    (d / "photo.png").write_bytes((images / "photo_640x480.png").read_bytes())
    (d / "small.png").write_bytes((images / "300x300.png").read_bytes())
    (d / "bomb.png").write_bytes((images / "bomb_20000x20000.png").read_bytes())
    (d / "clip.jpg").write_bytes((images / "clip.jpg").read_bytes())
    (d / "drawing.svg").write_bytes((images / "drawing.svg").read_bytes())
    (d / "text.png").write_text("this is text, not a PNG\n", encoding="utf-8")
    (d / "page.html").write_text("<!doctype html><html><body><img src=x.png></body></html>\n", encoding="utf-8")


def build_corpus(out_dir: str | Path) -> list[Case]:
    """Write every corpus file under `out_dir`, and `out_dir/cases.json`; return the cases."""
    out = Path(out_dir)
    images, audio, url = out / "images", out / "audio", out / "url"
    for d in (images, audio, url):
        d.mkdir(parents=True, exist_ok=True)
    _write_images(images)
    _write_audio(audio, images)
    _write_url_bodies(url, images)
    cases = corpus_cases()
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise AssertionError("duplicate case ids")
    for case in cases:
        for value in case.kwargs.values():
            if isinstance(value, dict) and not (out / value["file"]).is_file():
                raise AssertionError(f"{case.id}: {value['file']} was not generated")
    (out / "cases.json").write_text(
        json.dumps([c.to_json() for c in cases], indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return cases


def load_cases(out_dir: str | Path) -> list[Case]:
    """The cases from a manifest written by build_corpus."""
    data = json.loads((Path(out_dir) / "cases.json").read_text(encoding="utf-8"))
    return [Case.from_json(item) for item in data]


# ------------------------------------------------------------------------- the live URL servers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, family: int = socket.AF_INET) -> None:
        self.address_family = family
        super().__init__(address, handler)
        self.connections = 0
        self.paths: list[str] = []
        self.release = threading.Event()

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True

    @property
    def port(self) -> int:
        return self.server_address[1]


class _CountingHandler(BaseHTTPRequestHandler):
    """An untrusted server: it serves a valid PNG, so a guard failure would turn into a success."""

    protocol_version = "HTTP/1.1"
    server: _Server
    body = b""

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


class _FixtureHandler(BaseHTTPRequestHandler):
    """The trusted origin: /corpus/<route> answers as the URL cases script; anything else is
    forwarded to `forward_to` (the coretoday emulator), so provider calls still reach it."""

    protocol_version = "HTTP/1.1"
    server: _Server
    fixtures: UrlFixtures

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        self.server.paths.append(self.path)
        route = self.path.split("?", 1)[0]
        if not route.startswith("/corpus/"):
            self._forward()
            return
        name = route.removeprefix("/corpus/")
        f = self.fixtures
        redirects = {
            "redirect-private": f"http://127.0.0.1:{f.private.port}/x.png",
            "redirect-private6": f"http://[::1]:{f.private6.port}/x.png",
            "redirect-metadata": "http://169.254.169.254/latest/meta-data/",
            "redirect-file": "file:///etc/passwd",
            "redirect-loop": "/corpus/redirect-loop",
            "redirect-photo": "/corpus/photo.png",
        }
        if name in redirects:
            self._reply(302, b"", {"Location": redirects[name]})
        elif name == "huge.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(60 * MB))
            self.end_headers()
            self.wfile.flush()
            self.server.release.wait(30)  # the body never comes: refusing must not wait for it
            self.close_connection = True
        elif name == "endless.png":
            self._endless()
        elif name == "missing.png":
            self._reply(404, b"not found\n", {"Content-Type": "text/plain"})
        elif name == "empty.png":
            self._reply(200, b"", {"Content-Type": "image/png"})
        else:
            path = f.out_dir / "url" / name
            if not path.is_file():
                self._reply(404, b"no such fixture\n", {"Content-Type": "text/plain"})
                return
            types = {".png": "image/png", ".jpg": "image/jpeg", ".svg": "image/svg+xml", ".html": "text/html"}
            self._reply(200, path.read_bytes(), {"Content-Type": types[path.suffix]})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\x89PNG\r\n\x1a\n" + bytes(256 * 1024 - 8)
        try:
            for _ in range(60 * 4):  # 60 MB, more than the 50 MB we agree to read
                self.wfile.write(chunk)
                if self.server.release.is_set():
                    return
        except OSError:
            pass  # the client stopped reading, as it should

    def _forward(self) -> None:
        target = self.fixtures.forward_to
        if target is None:
            self._reply(404, b"", {})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        host, port = target.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            skip = ("transfer-encoding", "connection", "content-length")
            self._reply(response.status, data, {k: v for k, v in response.getheaders() if k.lower() not in skip})
        finally:
            conn.close()


class UrlFixtures:
    """The live servers the URL cases name.

    * `trusted`: scripted answers under /corpus/. The app trusts it only because the test makes
      it the coretoday base URL's origin (an operator-configured origin may be private); all
      other paths are forwarded to `forward_to` so coretoday calls still reach its emulator.
    * `private` (127.0.0.1) and `private6` ([::1]): untrusted servers that count connections.
      Every case that names them must leave their count at zero.
    """

    def __init__(self, out_dir: str | Path, *, forward_to: str | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.forward_to = forward_to
        self.private = _Server(("127.0.0.1", 0), type("Counting", (_CountingHandler,), {"body": self._png()}))
        self.private6 = _Server(
            ("::1", 0), type("Counting6", (_CountingHandler,), {"body": self._png()}), socket.AF_INET6
        )
        self.trusted = _Server(("127.0.0.1", 0), type("Fixture", (_FixtureHandler,), {"fixtures": self}))
        self._threads: list[threading.Thread] = []

    def _png(self) -> bytes:
        return (self.out_dir / "url" / "photo.png").read_bytes()

    def __enter__(self) -> UrlFixtures:
        for server in (self.private, self.private6, self.trusted):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in (self.private, self.private6, self.trusted):
            server.release.set()
            server.shutdown()
            server.server_close()

    @property
    def trusted_origin(self) -> str:
        return f"http://127.0.0.1:{self.trusted.port}"

    @property
    def private_connections(self) -> int:
        return self.private.connections + self.private6.connections

    def placeholders(self, api_key: str) -> dict[str, str]:
        return {
            "api_key": api_key,
            "trusted": self.trusted_origin,
            "trusted_hostport": f"127.0.0.1:{self.trusted.port}",
            "private_port": str(self.private.port),
            "private6_port": str(self.private6.port),
        }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.corpus.make_corpus OUT_DIR", file=sys.stderr)
        return 2
    cases = build_corpus(argv[0])
    by_group: dict[str, int] = {}
    for case in cases:
        by_group[case.group] = by_group.get(case.group, 0) + 1
    groups = ", ".join(f"{n} {g}" for g, n in by_group.items())
    print(f"wrote {len(cases)} cases ({groups}) to {Path(argv[0]) / 'cases.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Small builders shared by tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from jobs.models import GenerationRequest, PreparedAudio, Resolution


@dataclass(frozen=True)
class StubImage:
    """Duck-types media.images.PreparedImage for provider-mapping tests."""

    path: Path
    width: int
    height: int
    mime: str
    size_bytes: int
    sha256: str
    orientation: str
    source_url: str | None = None


def make_photo(path: Path, width: int = 900, height: int = 600, fmt: str = "PNG") -> Path:
    """A deterministic test picture with visible structure (so motion shows)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), ((x // 40 + y // 40) % 2) * 200], -1
    )
    Image.fromarray(rgb.astype(np.uint8)).save(path, fmt)
    return path


def stub_image(tmp: Path, width: int = 1280, height: int = 720, source_url: str | None = None) -> StubImage:
    path = tmp / "stub.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0jpeg-bytes")
    orientation = "landscape" if width > height else "portrait" if height > width else "square"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return StubImage(path, width, height, "image/jpeg", path.stat().st_size, digest, orientation, source_url)


def stub_audio(tmp: Path) -> PreparedAudio:
    path = tmp / "stub.wav"
    path.write_bytes(b"RIFF....WAVEfmt ")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return PreparedAudio(path, "wav", "audio/wav", 5.0, path.stat().st_size, digest, 12.0, 2.0)


def make_request(tmp: Path, **overrides) -> GenerationRequest:
    fields = dict(
        provider="runpod",
        prompt="a lighthouse in a storm, slow push in",
        image=stub_image(tmp),
        resolution=Resolution.P720,
        duration_s=5,
        seed=1234,
        negative_prompt="blurry",
        enable_prompt_expansion=False,
        enable_safety_checker=True,
    )
    fields.update(overrides)
    return GenerationRequest(**fields)

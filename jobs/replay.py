"""Turn a recorded run (params dict, params.json or an MP4 made by the app) back into form values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errors import InputError

__all__ = ["ReplaySettings", "read_params", "settings_from_params"]


@dataclass(frozen=True)
class ReplaySettings:
    """Every input of the form, as recorded. Media are local files found by their sha256."""

    provider: str
    prompt: str
    negative_prompt: str
    resolution: str
    duration: int
    seed: int
    enable_prompt_expansion: bool
    enable_safety_checker: bool
    image_path: str | None = None
    audio_path: str | None = None
    audio_start: float = 0.0
    actual_prompt: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def read_params(path: str | Path) -> dict[str, Any]:
    """The params dict from a `params.json` or from an MP4's embedded comment tag."""
    path = Path(path)
    if path.suffix.lower() in (".mp4", ".m4v", ".mov"):
        from media.video import InvalidVideoError, read_comment

        try:
            text = read_comment(path)
        except InvalidVideoError as exc:
            raise InputError("load_settings", f"this video could not be read ({exc}).") from exc
        if not text:
            raise InputError("load_settings", "this video carries no Wan I2V Studio settings (no comment tag).")
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("load_settings", "the settings are not valid JSON.") from exc
    if not isinstance(params, dict) or not isinstance(params.get("request"), dict):
        raise InputError("load_settings", "this is not a Wan I2V Studio params file.")
    return params


def _find(inputs_dir: Path, sha256: str | None, suffixes: tuple[str, ...]) -> Path | None:
    if not sha256:
        return None
    for suffix in suffixes:
        candidate = inputs_dir / f"{sha256}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def settings_from_params(params: dict[str, Any], inputs_dir: Path, *, exact: bool = False) -> ReplaySettings:
    """Form values that reproduce the run. With `exact`, use the provider's rewritten prompt, expansion off."""
    request = params["request"]
    if request.get("adopted"):
        raise InputError("load_settings", "this job was recovered by id; its original request is unknown.")
    notes: list[str] = []
    image = request.get("image") or {}
    image_path = _find(inputs_dir, image.get("sha256"), (".jpg", ".png"))
    if image_path is None:
        notes.append(f"The image (sha256 {str(image.get('sha256'))[:12]}…) is not on this server: upload it again.")
    audio = request.get("audio")
    audio_path = _find(inputs_dir, audio.get("sha256"), (".wav", ".mp3")) if audio else None
    if audio and audio_path is None:
        notes.append("The audio used is not on this server: upload it again and set the same start.")
    elif audio_path is not None:
        notes.append("Restored the exact part of the audio that was used (so the start is now 0).")
    prompt, expansion = request.get("prompt", ""), bool(request.get("enable_prompt_expansion"))
    actual = params.get("actual_prompt")
    if exact and actual:
        prompt, expansion = actual, False
        notes.append("Using the provider's rewritten prompt with expansion off, to reproduce exactly.")
    elif actual:
        notes.append("The provider rewrote the prompt; choose “reproduce exactly” to use its version.")
    return ReplaySettings(
        provider=request.get("provider", "preview"),
        prompt=prompt,
        negative_prompt=request.get("negative_prompt", ""),
        resolution=request.get("resolution", "480p"),
        duration=int(request.get("duration_s", 5)),
        seed=int(params.get("seed", request.get("seed", -1))),
        enable_prompt_expansion=expansion,
        enable_safety_checker=bool(request.get("enable_safety_checker", True)),
        image_path=str(image_path) if image_path else None,
        audio_path=str(audio_path) if audio_path else None,
        audio_start=0.0 if audio_path else float((audio or {}).get("start_s", 0.0)),
        actual_prompt=actual,
        notes=tuple(notes),
    )

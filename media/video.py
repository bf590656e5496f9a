"""Video side of the media layer: the offline preview renderer, probing, frame hashes, MP4 tags.

The preview turns a still image into a short H.264/AAC MP4 with a seeded camera move.
Everything runs through PyAV's bundled FFmpeg; no ffmpeg binary is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import re
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from errors import StudioError
from media.audio import AudioSegment, cut_audio, decode_audio

__all__ = [
    "InvalidVideoError",
    "Motion",
    "PreviewResult",
    "RenderCancelled",
    "VideoInfo",
    "frame_hashes",
    "motion_from_prompt",
    "output_size",
    "probe_video",
    "read_comment",
    "render_preview",
    "write_comment",
]

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]

# libx264 settings. A fixed thread count keeps the bitstream identical on any machine
# (x264 is deterministic for a given thread count; "auto" depends on the CPU count).
_X264_THREADS = 2
_X264_OPTIONS = {"preset": "veryfast", "crf": "20", "profile": "high"}
_MP4_OPTIONS = {"movflags": "+faststart"}
_AUDIO_RATE = 48_000
_AUDIO_BITRATE = 128_000
_AAC_FRAME = 1024
# swscale flags that make RGB <-> YUV conversion identical regardless of CPU features.
_SWS_FLAGS = (
    av.video.reformatter.Interpolation.BICUBIC
    | av.video.reformatter.Interpolation.ACCURATE_RND
    | av.video.reformatter.Interpolation.BITEXACT
)
_BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709
_MPEG_RANGE = 1  # AVCOL_RANGE_MPEG (limited range)
_MAX_ASPECT = 3.0  # wider images are centre-cropped to 3:1 so the frame stays playable
# The working image is this much larger than the output, so every crop (zoom <= this)
# is a downscale and no crop box ever reaches past the picture: no borders.
_OVERSCAN = 1.3
_FRAMES_AHEAD = 4  # frames drawn ahead of the encoder; bounds memory


class RenderCancelled(StudioError):
    """The caller asked the preview render to stop; nothing was written."""

    def __init__(self) -> None:
        super().__init__("The preview render was cancelled; no video was saved.")


class InvalidVideoError(StudioError):
    """A file that should be a video could not be read as one."""


class Motion(StrEnum):
    """The camera moves the preview can make."""

    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    ORBIT = "orbit"


@dataclass(frozen=True)
class PreviewResult:
    """What render_preview wrote."""

    width: int
    height: int
    frames: int
    fps: int
    duration_s: float
    motion: str
    has_audio: bool


@dataclass(frozen=True)
class VideoInfo:
    """What probe_video found out about a video file."""

    container: str
    video_codec: str
    video_profile: str | None
    pix_fmt: str
    width: int
    height: int
    fps: float
    duration_s: float
    frames: int | None
    has_audio: bool
    audio_codec: str | None
    faststart: bool


# ------------------------------------------------------------------ motion choice


def _verb(word: str) -> str:
    """Regex for a verb's common forms: zoom/zooms/zoomed/zooming, move/moving, pan/panning."""
    if word.endswith("e"):
        return rf"{word[:-1]}(?:e|es|ed|ing)"
    if word == "pan":
        return r"pan(?:s|ned|ning)?"
    return rf"{word}(?:s|es|ed|ing)?"


def _any_verb(*words: str) -> str:
    return "(?:" + "|".join(_verb(w) for w in words) + ")"


_PROMPT_CUES: tuple[tuple[Motion, str], ...] = (
    (Motion.ZOOM_IN, rf"\b{_any_verb('zoom', 'push', 'move', 'close')} (?:in|into|closer)\b"),
    (Motion.ZOOM_IN, r"\bdoll(?:y|ies|ied|ying) (?:in|into|forward)\b"),
    (Motion.ZOOM_OUT, rf"\b{_any_verb('zoom')} out\b|\b{_any_verb('pull', 'move')} (?:back|out|away)\b"),
    (Motion.ZOOM_OUT, r"\bdoll(?:y|ies|ied|ying) (?:out|back)\b"),
    (Motion.PAN_LEFT, rf"\b{_any_verb('pan', 'truck')} (?:to the )?left\b"),
    (Motion.PAN_RIGHT, rf"\b{_any_verb('pan', 'truck')} (?:to the )?right\b"),
    (Motion.PAN_UP, rf"\b{_any_verb('tilt', 'pan', 'crane')} up(?:wards?)?\b"),
    (Motion.PAN_DOWN, rf"\b{_any_verb('tilt', 'pan', 'crane')} down(?:wards?)?\b"),
    (Motion.ORBIT, rf"\borbit(?:s|ed|ing|al)?\b|\b{_any_verb('circle', 'rotate', 'revolve', 'arc')} around\b"),
)


def motion_from_prompt(prompt: str) -> Motion | None:
    """The camera move the prompt asks for (the earliest mentioned), or None."""
    text = " ".join(prompt.lower().split())
    hits = [
        (match.start(), motion) for motion, pattern in _PROMPT_CUES if (match := re.search(pattern, text)) is not None
    ]
    return min(hits, key=lambda hit: hit[0])[1] if hits else None


@dataclass(frozen=True)
class _CameraPlan:
    """A seeded camera move; zoom >= 1 is relative to the full frame."""

    motion: Motion
    amount: float  # zoom change, or fraction of the free travel for pans/orbit
    focus_x: float  # -1..1: where a zoom heads, as a fraction of the free travel
    focus_y: float
    base_zoom: float
    turns: float  # orbit: fraction of a full circle
    phase: float  # orbit: starting angle
    direction: int  # orbit: +1 counter-clockwise, -1 clockwise


def _plan_camera(prompt: str, seed: int) -> _CameraPlan:
    """Pick the move (prompt first, else seed) and let the seed vary its size and speed."""
    rng = random.Random(seed)
    seeded_motion = rng.choice(list(Motion))
    return _CameraPlan(
        motion=motion_from_prompt(prompt) or seeded_motion,
        amount=rng.uniform(0.75, 1.0),
        focus_x=rng.uniform(-0.35, 0.35),
        focus_y=rng.uniform(-0.35, 0.35),
        base_zoom=rng.uniform(1.12, 1.18),
        turns=rng.uniform(0.35, 0.6),
        phase=rng.uniform(0.0, 2 * math.pi),
        direction=rng.choice((1, -1)),
    )


def _ease(u: float) -> float:
    """Cosine ease-in-out: the camera starts and stops gently."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(u, 0.0), 1.0))


def _camera_at(plan: _CameraPlan, u: float) -> tuple[float, float, float]:
    """(zoom, x, y) at progress u in [0, 1]; x, y in -1..1 of the free travel at that zoom."""
    e = _ease(u)
    z_max = _OVERSCAN - 0.02
    match plan.motion:
        case Motion.ZOOM_IN | Motion.ZOOM_OUT:
            span = (z_max - 1.02) * plan.amount
            z = 1.02 + span * (e if plan.motion is Motion.ZOOM_IN else 1 - e)
            return z, plan.focus_x * e, plan.focus_y * e
        case Motion.PAN_LEFT | Motion.PAN_RIGHT | Motion.PAN_UP | Motion.PAN_DOWN:
            travel = plan.amount * (2 * e - 1)  # from one side to the other
            dx, dy = _PAN_DIRECTIONS[plan.motion]
            return plan.base_zoom, dx * travel, dy * travel
        case Motion.ORBIT:
            angle = plan.phase + plan.direction * 2 * math.pi * plan.turns * e
            z = plan.base_zoom + 0.04 * math.sin(math.pi * e)
            radius = 0.8 * plan.amount
            return z, radius * math.cos(angle), radius * math.sin(angle)
    raise AssertionError(plan.motion)


# Camera pans left = the view travels left across the picture (image y grows downwards).
_PAN_DIRECTIONS = {
    Motion.PAN_LEFT: (-1.0, 0.0),
    Motion.PAN_RIGHT: (1.0, 0.0),
    Motion.PAN_UP: (0.0, -1.0),
    Motion.PAN_DOWN: (0.0, 1.0),
}


# ------------------------------------------------------------------ geometry


def output_size(image_size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """(width, height): short side exact, orientation kept, both even, aspect capped at 3:1."""
    width, height = image_size
    if width == height:
        return short_side, short_side
    aspect = min(max(width, height) / min(width, height), _MAX_ASPECT)
    long_side = max(2 * round(short_side * aspect / 2), short_side + 2)
    return (long_side, short_side) if width > height else (short_side, long_side)


def _working_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the output aspect and scale to the output size times the overscan."""
    width, height = size
    work = (round(width * _OVERSCAN), round(height * _OVERSCAN))
    return ImageOps.fit(image, work, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _crop_box(
    work_size: tuple[int, int], out_size: tuple[int, int], zoom: float, x: float, y: float
) -> tuple[float, float, float, float]:
    """The sub-pixel box of the working image shown at this camera state, always inside it."""
    work_w, work_h = work_size
    box_w = out_size[0] * _OVERSCAN / zoom
    box_h = out_size[1] * _OVERSCAN / zoom
    free_w, free_h = work_w - box_w, work_h - box_h
    left = min(max(free_w / 2 * (1 + x), 0.0), free_w)
    top = min(max(free_h / 2 * (1 + y), 0.0), free_h)
    return left, top, left + box_w, top + box_h


def _frames(
    image: Image.Image, size: tuple[int, int], plan: _CameraPlan, count: int, fps: int
) -> Iterator[av.VideoFrame]:
    """The encoder-ready preview frames, in order, drawn a few frames ahead on a worker thread.

    Pillow and swscale release the GIL, so drawing overlaps with x264 on a second core.
    """
    work = _working_image(image, size)

    def draw(index: int) -> av.VideoFrame:
        u = index / (count - 1) if count > 1 else 0.0
        box = _crop_box(work.size, size, *_camera_at(plan, u))
        return _video_frame(work.resize(size, Image.Resampling.BICUBIC, box=box), index, fps)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preview-frames")
    try:
        ahead = deque(pool.submit(draw, i) for i in range(min(_FRAMES_AHEAD, count)))
        for index in range(count):
            frame = ahead.popleft().result()
            if index + _FRAMES_AHEAD < count:
                ahead.append(pool.submit(draw, index + _FRAMES_AHEAD))
            yield frame
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------ rendering


def render_preview(
    image: Image.Image | str | Path,
    out_path: str | Path,
    *,
    short_side: int,
    duration_s: float,
    seed: int,
    prompt: str = "",
    audio_path: str | Path | None = None,
    fps: int = 24,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> PreviewResult:
    """Animate `image` with a seeded camera move and write an H.264/AAC MP4 to `out_path`.

    The file appears only when complete. Raises RenderCancelled (leaving no file)
    when `should_stop()` turns true, and InputError("audio", ...) for unusable audio.
    """
    _check_render_args(short_side, duration_s, fps)
    picture = _load_image(image)
    size = output_size(picture.size, short_side)
    total = round(duration_s * fps)
    plan = _plan_camera(prompt, seed)
    audio = _prepared_audio(audio_path, total / fps) if audio_path is not None else None

    out = Path(out_path)
    with _partial_file(out) as tmp:
        frames = _frames(picture, size, plan, total, fps)
        try:
            _encode(tmp, frames, size, fps, total, audio, on_progress, should_stop)
        finally:
            frames.close()
    return PreviewResult(
        width=size[0],
        height=size[1],
        frames=total,
        fps=fps,
        duration_s=total / fps,
        motion=plan.motion.value,
        has_audio=audio is not None,
    )


def _check_render_args(short_side: int, duration_s: float, fps: int) -> None:
    """Reject arguments no caller should send (these are programming errors)."""
    if short_side % 2 or not 16 <= short_side <= 2160:
        raise ValueError(f"short_side must be even and within 16..2160, not {short_side}")
    if not (math.isfinite(duration_s) and 0 < duration_s <= 60):
        raise ValueError(f"duration_s must be within (0, 60], not {duration_s}")
    if not 1 <= fps <= 60:
        raise ValueError(f"fps must be within 1..60, not {fps}")
    if round(duration_s * fps) < 1:
        raise ValueError(f"duration_s={duration_s} at fps={fps} gives no frames")


def _load_image(image: Image.Image | str | Path) -> Image.Image:
    """An RGB image; paths are opened and EXIF-transposed here, PIL images are trusted."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    with Image.open(image) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def _prepared_audio(audio_path: str | Path, seconds: float) -> np.ndarray:
    """The soundtrack as float32 stereo planes at 48 kHz, exactly `seconds` long."""
    segment = cut_audio(decode_audio(audio_path, until_s=seconds), start_s=0.0, length_s=seconds)
    return _resample_planar(segment, round(seconds * _AUDIO_RATE))


def _resample_planar(segment: AudioSegment, samples: int) -> np.ndarray:
    """Convert a pydub segment to (2, samples) float32 at 48 kHz with swresample."""
    layout = "mono" if segment.channels == 1 else "stereo"
    pcm = np.frombuffer(segment.raw_data, dtype=np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
    frame.sample_rate = segment.frame_rate
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=_AUDIO_RATE)
    planes = [f.to_ndarray() for f in [*resampler.resample(frame), *resampler.resample(None)]]
    data = np.concatenate(planes, axis=1) if planes else np.zeros((2, 0), np.float32)
    if data.shape[1] < samples:  # resampling can round a few samples short
        data = np.pad(data, ((0, 0), (0, samples - data.shape[1])))
    return np.ascontiguousarray(data[:, :samples], dtype=np.float32)


@contextlib.contextmanager
def _partial_file(final: Path) -> Iterator[Path]:
    """A temporary path beside `final`, moved into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".part.mp4", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(
    path: Path,
    frames: Iterator[av.VideoFrame],
    size: tuple[int, int],
    fps: int,
    total: int,
    audio: np.ndarray | None,
    on_progress: ProgressCallback | None,
    should_stop: StopCheck | None,
) -> None:
    """Encode frames (and interleaved audio) into a faststart MP4 at `path`."""
    with av.open(str(path), mode="w", format="mp4", options=_MP4_OPTIONS) as container:
        video = _add_video_stream(container, size, fps)
        sound = _add_audio_stream(container) if audio is not None else None
        audio_frames = _audio_frames(audio) if audio is not None else iter(())
        pending = next(audio_frames, None)
        for index, frame in enumerate(frames):
            if should_stop is not None and should_stop():
                raise RenderCancelled()
            container.mux(video.encode(frame))
            # Keep audio up to this frame's end time so the muxer interleaves evenly.
            while pending is not None and pending.pts < (index + 1) * _AUDIO_RATE / fps:
                container.mux(sound.encode(pending))
                pending = next(audio_frames, None)
            if on_progress is not None:
                on_progress(index + 1, total)
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))


def _add_video_stream(container: av.container.OutputContainer, size: tuple[int, int], fps: int) -> av.VideoStream:
    """libx264 High profile, yuv420p, BT.709 limited range, deterministic threading."""
    stream = container.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, fps)
    stream.codec_context.thread_count = _X264_THREADS
    stream.codec_context.gop_size = 2 * fps  # a keyframe every 2 s keeps seeking snappy
    ctx = stream.codec_context
    ctx.color_primaries = ctx.color_trc = ctx.colorspace = _BT709
    ctx.color_range = _MPEG_RANGE
    return stream


def _add_audio_stream(container: av.container.OutputContainer) -> av.AudioStream:
    """AAC-LC, 48 kHz stereo, 128 kbps."""
    stream = container.add_stream("aac", rate=_AUDIO_RATE, layout="stereo")
    stream.bit_rate = _AUDIO_BITRATE
    return stream


def _video_frame(picture: Image.Image, index: int, fps: int) -> av.VideoFrame:
    """RGB picture -> BT.709 yuv420p frame with a pts in 1/fps units."""
    frame = av.VideoFrame.from_image(picture).reformat(
        format="yuv420p",
        dst_colorspace="itu709",
        dst_color_range=_MPEG_RANGE,
        interpolation=_SWS_FLAGS,
    )
    frame.pts = index
    frame.time_base = Fraction(1, fps)
    return frame


def _audio_frames(audio: np.ndarray) -> Iterator[av.AudioFrame]:
    """AAC-sized planar frames with explicit pts, so the encoder writes priming and end trim."""
    for start in range(0, audio.shape[1], _AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio[:, start : start + _AAC_FRAME]), format="fltp", layout="stereo"
        )
        frame.sample_rate = _AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, _AUDIO_RATE)
        yield frame


# ------------------------------------------------------------------ probing


def probe_video(path: str | Path) -> VideoInfo:
    """Describe a video file; raises InvalidVideoError if it has no readable video stream."""
    path = Path(path)
    try:
        with av.open(str(path), mode="r") as container:
            return _describe(container, _is_faststart(path))
    except av.error.FFmpegError as exc:
        raise InvalidVideoError(f"{path.name!r} could not be read as a video ({exc}).") from exc


def _describe(container: av.container.InputContainer, faststart: bool) -> VideoInfo:
    """Build a VideoInfo from an open container."""
    if not container.streams.video:
        raise InvalidVideoError(f"{Path(container.name).name!r} has no video stream.")
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    ctx = video.codec_context
    rate = video.average_rate or video.guessed_rate
    return VideoInfo(
        container=container.format.name,
        video_codec=ctx.codec.canonical_name,
        video_profile=ctx.profile,
        pix_fmt=ctx.pix_fmt or "",
        width=ctx.width,
        height=ctx.height,
        fps=float(rate) if rate else 0.0,
        duration_s=(container.duration or 0) / av.time_base,
        frames=video.frames or None,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
        faststart=faststart,
    )


def _is_faststart(path: Path) -> bool:
    """True when the MP4 index (moov) comes before the media data (mdat)."""
    order = _top_level_boxes(path)
    if "moov" not in order or "mdat" not in order:
        return False
    return order.index("moov") < order.index("mdat")


def _top_level_boxes(path: Path) -> list[str]:
    """Types of the top-level ISO-BMFF boxes, in file order (empty for non-MP4 files)."""
    boxes: list[str] = []
    file_size = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= file_size:
            handle.seek(offset)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:  # 64-bit "largesize" follows the type
                (size,) = struct.unpack(">Q", handle.read(8))
            elif size == 0:  # box runs to the end of the file
                size = file_size - offset
            if size < 8:
                break
            boxes.append(kind.decode("latin-1"))
            offset += size
    return boxes


def frame_hashes(path: str | Path) -> list[str]:
    """sha256 of every decoded frame's RGB24 bytes, in presentation order."""
    with av.open(str(path), mode="r") as container:
        return [
            hashlib.sha256(frame.to_ndarray(format="rgb24", interpolation=_SWS_FLAGS).tobytes()).hexdigest()
            for frame in container.decode(video=0)
        ]


# ------------------------------------------------------------------ MP4 comment tag

# Written by the muxer, or describing the old file; never carried over by hand.
_DROPPED_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


def write_comment(src_path: str | Path, dst_path: str | Path, text: str) -> None:
    """Copy the MP4 without re-encoding, storing `text` as its "comment" tag (the ©cmt atom).

    `dst_path` may equal `src_path`. The copy keeps faststart.
    """
    src, dst = Path(src_path), Path(dst_path)
    with (
        av.open(str(src), mode="r") as source,
        _partial_file(dst) as tmp,
        av.open(str(tmp), mode="w", format="mp4", options=_MP4_OPTIONS) as target,
    ):
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        mapping = {s.index: target.add_stream_from_template(s) for s in streams}
        for key, value in source.metadata.items():
            if key not in _DROPPED_TAGS:
                target.metadata[key] = value
        target.metadata["comment"] = text
        for packet in source.demux(streams):
            if packet.dts is None:  # demuxer's end-of-stream marker
                continue
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)


def read_comment(path: str | Path) -> str | None:
    """The MP4 "comment" tag, or None when the file has none."""
    with av.open(str(path), mode="r") as container:
        return container.metadata.get("comment")

"""Audio preparation: probe, decode, cut and export user audio without an ffmpeg binary.

Decoding goes through PyAV (which bundles FFmpeg); editing goes through pydub on
16-bit PCM that PyAV decoded, so pydub never needs to shell out to ffmpeg.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from errors import ConfigError, InputError

with warnings.catch_warnings():
    # pydub warns at import that it cannot find ffmpeg (we never let it call ffmpeg)
    # and that audioop is deprecated; both are expected here.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    from pydub import AudioSegment

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioInfo",
    "AudioSegment",
    "ExportedAudio",
    "cut_audio",
    "decode_audio",
    "export_audio",
    "is_silent",
    "mp3_export_available",
    "probe_audio",
]

FIELD = "audio"
SUPPORTED_FORMATS = "WAV, MP3, M4A/AAC, OGG (Vorbis/Opus) or FLAC"
_SAMPLE_WIDTH = 2  # everything is decoded to signed 16-bit PCM
_MP3_BITRATE = 192_000
# The AAC decoder returns the encoder's padding at the end of the last 1024-sample
# frame. MP4 states the exact length (edit list), so there we trim up to this much.
_MAX_END_PADDING_SAMPLES = 4096
_EXACT_LENGTH_CONTAINERS = frozenset({"mp4"})
_CONTAINER_NAMES = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska"}

ExportFormat = Literal["wav", "mp3"]


@dataclass(frozen=True)
class AudioInfo:
    """What probe_audio found out about an audio file."""

    duration_s: float
    codec: str
    container: str
    sample_rate: int
    channels: int
    size_bytes: int


@dataclass(frozen=True)
class ExportedAudio:
    """A written audio file and its fingerprint."""

    path: str
    format: ExportFormat
    duration_s: float
    size_bytes: int
    sha256: str


# --------------------------------------------------------------------------- probing


def probe_audio(path: str | Path) -> AudioInfo:
    """Check that `path` is a decodable audio file and describe it.

    Raises InputError("audio", ...) for missing, empty, corrupt, non-audio and video files.
    """
    path = Path(path)
    size = _checked_size(path)
    with _open_audio(path) as container:
        stream = _audio_stream(container, path)
        rate, channels = _first_decoded_format(container, stream, path)
        return AudioInfo(
            duration_s=_stated_duration_s(container, stream),
            codec=stream.codec_context.codec.canonical_name,
            container=_CONTAINER_NAMES.get(container.format.name, container.format.name),
            sample_rate=rate,
            channels=channels,
            size_bytes=size,
        )


def _checked_size(path: Path) -> int:
    """The file size, or an InputError when the file is missing or empty."""
    if not path.is_file():
        raise InputError(FIELD, f"the file {path.name!r} was not found; upload it again.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(FIELD, f"the file {path.name!r} is empty (0 bytes); upload it again or choose another file.")
    return size


def _unreadable(path: Path) -> InputError:
    return InputError(
        FIELD,
        f"could not read {path.name!r} as audio: the file is damaged or not an audio file. "
        f"Upload a {SUPPORTED_FORMATS} file.",
    )


def _open_audio(path: Path) -> av.container.InputContainer:
    """Open the file with PyAV, mapping FFmpeg failures to an InputError."""
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise _unreadable(path) from exc


_STILL_IMAGE_CODECS = frozenset({"png", "mjpeg", "bmp", "webp", "gif", "tiff", "jpeg2000", "jpegls", "qoi"})


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.AudioStream:
    """The first audio stream; refuses files with real video (cover art is fine)."""
    moving = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if moving and not container.streams.audio and all(s.codec_context.name in _STILL_IMAGE_CODECS for s in moving):
        raise InputError(FIELD, f"{path.name!r}: this is a picture, not audio. Upload a {SUPPORTED_FORMATS} file.")
    if moving:
        raise InputError(
            FIELD,
            f"{path.name!r}: this looks like a video file; extract its audio or upload an audio file.",
        )
    if not container.streams.audio:
        raise InputError(FIELD, f"{path.name!r} contains no audio track. Upload a {SUPPORTED_FORMATS} file.")
    return container.streams.audio[0]


def _first_decoded_format(
    container: av.container.InputContainer, stream: av.AudioStream, path: Path
) -> tuple[int, int]:
    """Decode until the first audio frame; its rate and channel count are the truth."""
    try:
        for frame in container.decode(stream):
            if frame.samples:
                return frame.sample_rate, frame.layout.nb_channels
    except (av.error.FFmpegError, ValueError) as exc:
        raise _unreadable(path) from exc
    raise InputError(FIELD, f"{path.name!r} contains no audio samples; upload a file with sound in it.")


def _stated_duration_s(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """Duration the file declares: the stream's if known, else the container's (may be estimated)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


# -------------------------------------------------------------------------- decoding


def decode_audio(path: str | Path, *, until_s: float | None = None) -> AudioSegment:
    """Decode a file to a 16-bit pydub segment, keeping its sample rate and up to 2 channels.

    `until_s` stops decoding at that time, so a long file costs only what is used.
    """
    path = Path(path)
    info = probe_audio(path)
    channels = min(info.channels, 2)
    limit = None if until_s is None else max(1, math.ceil(until_s * info.sample_rate))
    pcm = _decode_pcm(path, info.sample_rate, channels, limit)
    if info.container in _EXACT_LENGTH_CONTAINERS:
        pcm = _trim_end_padding(pcm, channels, round(info.duration_s * info.sample_rate))
    if pcm.size == 0:
        raise InputError(FIELD, f"{path.name!r} contains no audio samples; upload a file with sound in it.")
    return AudioSegment(data=pcm.tobytes(), sample_width=_SAMPLE_WIDTH, frame_rate=info.sample_rate, channels=channels)


def _decode_pcm(path: Path, rate: int, channels: int, limit: int | None) -> np.ndarray:
    """Interleaved int16 samples at `rate` Hz and `channels` channels, at most `limit` per channel."""
    resampler = av.AudioResampler(format="s16", layout="mono" if channels == 1 else "stereo", rate=rate)
    chunks: list[np.ndarray] = []
    decoded = 0
    with _open_audio(path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler count samples; odd timestamps can't upset it
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
                decoded += frame.samples
                if limit is not None and decoded >= limit:
                    break
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
        except (av.error.FFmpegError, ValueError) as exc:
            raise _unreadable(path) from exc
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm if limit is None else pcm[: limit * channels]


def _trim_end_padding(pcm: np.ndarray, channels: int, stated_samples: int) -> np.ndarray:
    """Drop the codec's end padding, never more than a few frames of it."""
    extra = pcm.size // channels - stated_samples
    if stated_samples > 0 and 0 < extra <= _MAX_END_PADDING_SAMPLES:
        return pcm[: stated_samples * channels]
    return pcm


# --------------------------------------------------------------------------- editing


def cut_audio(segment: AudioSegment, *, start_s: float, length_s: float) -> AudioSegment:
    """Exactly `length_s` seconds from `start_s` on, padded with silence if the source runs out."""
    if not (math.isfinite(start_s) and start_s >= 0):
        raise InputError(FIELD, f"the start offset must be 0 s or more, not {start_s} s.")
    if not (math.isfinite(length_s) and length_s > 0):
        raise InputError(FIELD, f"the length must be more than 0 s, not {length_s} s.")
    rate = segment.frame_rate
    total = int(segment.frame_count())
    first = round(start_s * rate)
    if first >= total:
        duration = total / rate
        raise InputError(
            FIELD,
            f"the start offset {start_s:g} s is at or past the end of the audio, which is "
            f"{duration:.2f} s long; choose a start below {duration:.2f} s.",
        )
    wanted = round(length_s * rate)
    piece = segment.get_sample_slice(first, min(first + wanted, total))
    missing = wanted - int(piece.frame_count())
    return piece + _silence_like(segment, missing) if missing > 0 else piece


def _silence_like(segment: AudioSegment, samples: int) -> AudioSegment:
    """`samples` of digital silence in the same format as `segment`."""
    return segment._spawn(b"\x00" * (samples * segment.frame_width))


def is_silent(segment: AudioSegment, *, threshold_dbfs: float = -60.0) -> bool:
    """True when no sample rises above `threshold_dbfs` (silence is valid, just worth telling)."""
    samples = np.asarray(segment.get_array_of_samples())
    if samples.size == 0:
        return True
    peak = int(np.abs(samples.astype(np.int64)).max())
    return peak <= segment.max_possible_amplitude * 10 ** (threshold_dbfs / 20)


# --------------------------------------------------------------------------- export


def mp3_export_available() -> bool:
    """Whether the bundled FFmpeg has the libmp3lame encoder."""
    try:
        av.codec.Codec("libmp3lame", "w")
    except (av.error.FFmpegError, ValueError):  # PyAV's UnknownCodecError is a ValueError
        return False
    return True


def export_audio(segment: AudioSegment, out_path: str | Path, fmt: ExportFormat) -> ExportedAudio:
    """Write `segment` as wav (pydub, no ffmpeg) or mp3 (PyAV libmp3lame) and fingerprint it."""
    out = Path(out_path)
    if fmt == "wav":
        with out.open("wb") as handle:
            segment.export(handle, format="wav")
    elif fmt == "mp3":
        _export_mp3(segment, out)
    else:
        raise ValueError(f"unsupported export format {fmt!r}; use 'wav' or 'mp3'")
    data = out.read_bytes()
    return ExportedAudio(
        path=str(out),
        format=fmt,
        duration_s=segment.frame_count() / segment.frame_rate,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _export_mp3(segment: AudioSegment, out: Path) -> None:
    """Encode with libmp3lame at 192 kbps, resampling only if MP3 cannot carry the rate."""
    if not mp3_export_available():
        raise ConfigError(
            "MP3 export needs FFmpeg's libmp3lame encoder, which this PyAV build lacks; export WAV instead."
        )
    segment = segment.set_sample_width(_SAMPLE_WIDTH)
    layout = "mono" if segment.channels == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(segment.raw_data, dtype=np.int16).reshape(1, -1), format="s16", layout=layout
    )
    frame.sample_rate = segment.frame_rate
    frame.pts = 0
    frame.time_base = Fraction(1, segment.frame_rate)
    rate = _mp3_rate(segment.frame_rate)
    with av.open(str(out), mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout=layout)
        stream.bit_rate = _MP3_BITRATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _mp3_rate(rate: int) -> int:
    """`rate` if MP3 supports it, else the nearest supported rate."""
    supported = av.codec.Codec("libmp3lame", "w").audio_rates or (44100, 48000)
    return rate if rate in supported else min(supported, key=lambda r: abs(r - rate))

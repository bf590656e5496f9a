"""Tests for media.audio; every fixture is synthesised here with PyAV and numpy."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from errors import InputError
from media.audio import (
    AudioSegment,
    cut_audio,
    decode_audio,
    export_audio,
    is_silent,
    mp3_export_available,
    probe_audio,
)

RATE = 44_100


# ------------------------------------------------------------------ fixture makers


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, channels: int = 2, dbfs: float = -12.0) -> np.ndarray:
    """(samples, channels) int16 sine."""
    t = np.arange(round(seconds * rate)) / rate
    wave = np.sin(2 * np.pi * freq * t) * 32767 * 10 ** (dbfs / 20)
    return np.repeat(wave.astype(np.int16)[:, None], channels, axis=1)


def step_freq(second: int) -> float:
    """The frequency that identifies second `second` of a stepped tone."""
    return 200.0 + 50.0 * second


def stepped_tone(seconds: int, rate: int = RATE) -> np.ndarray:
    """A stereo tone whose frequency changes every second, so content tells time."""
    return np.concatenate([tone(1.0, step_freq(k), rate) for k in range(seconds)])


def write_audio(
    path: Path,
    samples: np.ndarray,
    *,
    fmt: str,
    codec: str,
    rate: int = RATE,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode int16 (samples, channels) with PyAV into `path`."""
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[samples.shape[1]]
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options=options or {})
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def dominant_freq(segment: AudioSegment, start_s: float, length_s: float) -> float:
    """The strongest frequency in a window of the first channel."""
    rate = segment.frame_rate
    data = np.asarray(segment.get_array_of_samples()).reshape(-1, segment.channels)[:, 0]
    window = data[round(start_s * rate) : round((start_s + length_s) * rate)].astype(float)
    spectrum = np.abs(np.fft.rfft(window * np.hanning(window.size)))
    return float(np.fft.rfftfreq(window.size, 1 / rate)[spectrum.argmax()])


FORMATS = {
    # name: (suffix, muxer, encoder, rate, encoder options)
    "wav": (".wav", "wav", "pcm_s16le", RATE, None),
    "mp3": (".mp3", "mp3", "libmp3lame", RATE, None),
    "m4a": (".m4a", "ipod", "aac", RATE, None),
    "aac": (".aac", "adts", "aac", RATE, None),
    "ogg-vorbis": (".ogg", "ogg", "vorbis", RATE, {"strict": "experimental"}),
    "ogg-opus": (".ogg", "ogg", "libopus", 48_000, None),
    "flac": (".flac", "flac", "flac", RATE, None),
}
EXPECTED_CODEC = {"wav": "pcm_s16le", "mp3": "mp3", "m4a": "aac", "aac": "aac"}
EXPECTED_CODEC |= {"ogg-vorbis": "vorbis", "ogg-opus": "opus", "flac": "flac"}


def make_format(tmp_path: Path, name: str, samples: np.ndarray | None = None) -> Path:
    suffix, fmt, codec, rate, options = FORMATS[name]
    samples = tone(2.0, rate=rate) if samples is None else samples
    return write_audio(tmp_path / f"{name}{suffix}", samples, fmt=fmt, codec=codec, rate=rate, options=options)


# ------------------------------------------------------------------ probing and decoding


def test_encoders_needed_for_fixtures_exist() -> None:
    for name in ("libmp3lame", "aac", "libopus", "vorbis", "flac", "pcm_s16le"):
        av.codec.Codec(name, "w")  # raises if the bundled FFmpeg lacks it


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_probes_and_decodes(tmp_path: Path, name: str) -> None:
    path = make_format(tmp_path, name)
    rate = FORMATS[name][3]

    info = probe_audio(path)
    segment = decode_audio(path)

    assert info.codec == EXPECTED_CODEC[name]
    assert (info.sample_rate, info.channels) == (rate, 2)
    assert info.size_bytes == path.stat().st_size
    # Raw ADTS has no length field: FFmpeg estimates it and keeps the encoder delay.
    slack = 0.1 if name == "aac" else 0.03
    assert info.duration_s == pytest.approx(2.0, abs=slack)
    assert (segment.frame_rate, segment.channels, segment.sample_width) == (rate, 2, 2)
    assert segment.frame_count() / rate == pytest.approx(2.0, abs=slack)
    assert dominant_freq(segment, 0.5, 1.0) == pytest.approx(440, abs=2)


def test_m4a_decodes_to_exact_length(tmp_path: Path) -> None:
    """AAC priming and end padding are removed, so cuts line up with the original."""
    segment = decode_audio(make_format(tmp_path, "m4a"))
    assert segment.frame_count() == 2 * RATE


def test_container_names(tmp_path: Path) -> None:
    assert probe_audio(make_format(tmp_path, "m4a")).container == "mp4"
    assert probe_audio(make_format(tmp_path, "ogg-opus")).container == "ogg"
    assert probe_audio(make_format(tmp_path, "flac")).container == "flac"


def test_mono_stays_mono_and_surround_is_downmixed(tmp_path: Path) -> None:
    mono = write_audio(tmp_path / "mono.wav", tone(1.0, channels=1), fmt="wav", codec="pcm_s16le")
    surround = write_audio(tmp_path / "six.flac", tone(1.0, channels=6), fmt="flac", codec="flac")
    assert decode_audio(mono).channels == 1
    assert probe_audio(surround).channels == 6
    assert decode_audio(surround).channels == 2


def test_sample_rate_is_kept(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "low.wav", tone(1.0, rate=22_050), fmt="wav", codec="pcm_s16le", rate=22_050)
    assert decode_audio(path).frame_rate == 22_050


# ------------------------------------------------------------------ bad inputs


def assert_audio_error(path: Path, *needles: str) -> InputError:
    with pytest.raises(InputError) as caught:
        probe_audio(path)
    assert caught.value.field == "audio"
    for needle in needles:
        assert needle in str(caught.value)
    with pytest.raises(InputError):
        decode_audio(path)
    return caught.value


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert_audio_error(path, "empty", "0 bytes")


def test_missing_file(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "nowhere.mp3", "not found")


def test_text_renamed_to_mp3(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("Remember to buy milk.\nThis is not a song.\n" * 20)
    assert_audio_error(path, "could not read", "not an audio file", "MP3")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    assert_audio_error(path, "damaged")


def test_truncated_m4a(tmp_path: Path) -> None:
    whole = make_format(tmp_path, "m4a")
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])  # index (moov) is at the end
    assert_audio_error(cut, "damaged")


def test_video_given_as_audio(tmp_path: Path) -> None:
    from PIL import Image

    from media.video import render_preview

    sound = make_format(tmp_path, "wav")
    clip = tmp_path / "clip.mp4"
    render_preview(
        Image.new("RGB", (64, 48), (200, 50, 50)), clip, short_side=48, duration_s=0.5, seed=1, audio_path=sound
    )
    renamed = tmp_path / "clip.m4a"
    renamed.write_bytes(clip.read_bytes())
    for path in (clip, renamed):
        assert_audio_error(path, "this looks like a video file; extract its audio or upload an audio file")


# ------------------------------------------------------------------ cutting


def test_cut_returns_exact_seconds_of_source(tmp_path: Path) -> None:
    """45 s source, start 10, length 5 -> the export equals seconds 10-15 of the source."""
    source = stepped_tone(45)
    path = write_audio(tmp_path / "steps.wav", source, fmt="wav", codec="pcm_s16le")

    piece = cut_audio(decode_audio(path), start_s=10, length_s=5)
    exported = export_audio(piece, tmp_path / "piece.wav", "wav")
    back = decode_audio(exported.path)

    expected = source[10 * RATE : 15 * RATE]
    got = np.asarray(back.get_array_of_samples()).reshape(-1, 2)
    assert np.array_equal(got, expected)
    assert [round(dominant_freq(back, k + 0.25, 0.5)) for k in range(5)] == [step_freq(10 + k) for k in range(5)]


def test_cut_from_lossy_m4a_keeps_timing(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "steps.m4a", stepped_tone(20), fmt="ipod", codec="aac")
    piece = cut_audio(decode_audio(path), start_s=7, length_s=4)
    assert piece.frame_count() == 4 * RATE
    assert [round(dominant_freq(piece, k + 0.25, 0.5)) for k in range(4)] == [step_freq(7 + k) for k in range(4)]
    # The seam between seconds 7 and 8 sits at exactly 1.0 s (no codec delay left).
    assert dominant_freq(piece, 0.9, 0.09) == pytest.approx(step_freq(7), abs=25)
    assert dominant_freq(piece, 1.01, 0.09) == pytest.approx(step_freq(8), abs=25)


def test_decode_until_stops_early(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "steps.m4a", stepped_tone(12), fmt="ipod", codec="aac")
    head = decode_audio(path, until_s=3.5)
    assert head.frame_count() == round(3.5 * RATE)
    assert round(dominant_freq(head, 3.1, 0.3)) == step_freq(3)
    assert decode_audio(path, until_s=60).frame_count() == 12 * RATE  # past the end: everything


def test_cut_pads_with_silence(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "short.wav", tone(3.0), fmt="wav", codec="pcm_s16le")
    piece = cut_audio(decode_audio(path), start_s=1, length_s=5)
    assert piece.frame_count() == 5 * RATE
    assert not is_silent(piece.get_sample_slice(0, 2 * RATE))
    assert is_silent(piece.get_sample_slice(2 * RATE, 5 * RATE))


def test_cut_start_beyond_end(tmp_path: Path) -> None:
    segment = decode_audio(write_audio(tmp_path / "t.wav", tone(45.0, channels=1), fmt="wav", codec="pcm_s16le"))
    with pytest.raises(InputError) as caught:
        cut_audio(segment, start_s=50, length_s=5)
    assert caught.value.field == "audio"
    assert "50 s" in str(caught.value) and "45.00 s" in str(caught.value)


@pytest.mark.parametrize(("start", "length"), [(-1.0, 5.0), (0.0, 0.0), (float("nan"), 1.0)])
def test_cut_rejects_bad_numbers(start: float, length: float) -> None:
    segment = AudioSegment(data=b"\x00\x00" * RATE, sample_width=2, frame_rate=RATE, channels=1)
    with pytest.raises(InputError):
        cut_audio(segment, start_s=start, length_s=length)


# ------------------------------------------------------------------ export and silence


def test_export_wav_fingerprint(tmp_path: Path) -> None:
    segment = decode_audio(make_format(tmp_path, "flac"))
    result = export_audio(segment, tmp_path / "out.wav", "wav")
    data = Path(result.path).read_bytes()
    assert result.format == "wav"
    assert result.size_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.duration_s == pytest.approx(2.0)
    assert probe_audio(result.path).codec == "pcm_s16le"


def test_export_mp3(tmp_path: Path) -> None:
    assert mp3_export_available()
    segment = decode_audio(make_format(tmp_path, "wav"))
    result = export_audio(segment, tmp_path / "out.mp3", "mp3")
    info = probe_audio(result.path)
    assert (info.codec, info.container) == ("mp3", "mp3")
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert dominant_freq(decode_audio(result.path), 0.5, 1.0) == pytest.approx(440, abs=2)


def test_export_rejects_unknown_format(tmp_path: Path) -> None:
    segment = AudioSegment(data=b"\x00\x00" * 100, sample_width=2, frame_rate=RATE, channels=1)
    with pytest.raises(ValueError):
        export_audio(segment, tmp_path / "x.ogg", "ogg")  # type: ignore[arg-type]


def test_is_silent(tmp_path: Path) -> None:
    silence = write_audio(tmp_path / "silence.wav", np.zeros((RATE, 2), np.int16), fmt="wav", codec="pcm_s16le")
    assert is_silent(decode_audio(silence))  # silence is valid input, just reported
    assert is_silent(decode_audio(write_audio(tmp_path / "q.wav", tone(1, dbfs=-70), fmt="wav", codec="pcm_s16le")))
    assert not is_silent(decode_audio(write_audio(tmp_path / "l.wav", tone(1, dbfs=-40), fmt="wav", codec="pcm_s16le")))


def test_import_emits_no_warnings() -> None:
    code = "import media.audio"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=root, check=True)

"""Tests for media.video; images and audio are synthesised here."""

from __future__ import annotations

import itertools
import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from media.video import (
    InvalidVideoError,
    Motion,
    RenderCancelled,
    frame_hashes,
    motion_from_prompt,
    probe_video,
    read_comment,
    render_preview,
    write_comment,
)

RATE = 44_100


# ------------------------------------------------------------------ fixture makers


def picture(width: int, height: int) -> Image.Image:
    """A bright gradient with shapes, so motion shows and borders would be obvious."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([60 + xx * 180 // width, 60 + yy * 180 // height, 60 + (xx + yy) * 120 // (width + height)], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for k in range(8):
        x, y = k * width // 8, (k * height // 9 + height // 5) % height
        draw.ellipse([x, y, x + width // 10, y + height // 10], fill=(250, 220 - 20 * k, 30 * k))
    return image


def dot_picture(size: int = 400) -> Image.Image:
    """White with one dark disc in the centre: easy to measure where the camera went."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    r = size // 10
    ImageDraw.Draw(image).ellipse([size // 2 - r, size // 2 - r, size // 2 + r, size // 2 + r], fill=(0, 0, 0))
    return image


def write_tone(path: Path, seconds: float, freq: float = 440.0) -> Path:
    """A stereo 16-bit wav tone written with PyAV."""
    t = np.arange(round(seconds * RATE)) / RATE
    mono = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
    with av.open(str(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=RATE, layout="stereo")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def top_level_boxes(path: Path) -> list[str]:
    """Independent ISO-BMFF walker for the faststart check."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def decoded_audio(path: Path) -> np.ndarray:
    """(channels, samples) float audio of the first audio stream."""
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def dark_stats(frame: np.ndarray) -> tuple[float, float, float]:
    """(area, centroid x, centroid y) of the dark pixels."""
    ys, xs = np.nonzero(frame.mean(axis=2) < 100)
    return float(xs.size), float(xs.mean()), float(ys.mean())


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s 480p landscape preview with a 440 Hz soundtrack."""
    folder = tmp_path_factory.mktemp("clip")
    sound = write_tone(folder / "tone.wav", 3.0)
    out = folder / "clip.mp4"
    render_preview(picture(900, 600), out, short_side=480, duration_s=2.0, seed=5, audio_path=sound)
    return out


# ------------------------------------------------------------------ format and size


def test_encoders_exist() -> None:
    for name in ("libx264", "aac"):
        av.codec.Codec(name, "w")


def test_container_and_codecs(clip_with_audio: Path) -> None:
    info = probe_video(clip_with_audio)
    assert info.container.split(",")[:2] == ["mov", "mp4"]
    assert (info.video_codec, info.pix_fmt, info.video_profile) == ("h264", "yuv420p", "High")
    assert (info.width, info.height, info.fps, info.frames) == (720, 480, 24.0, 48)
    assert info.duration_s == pytest.approx(2.0, abs=0.3)
    assert (info.has_audio, info.audio_codec) == (True, "aac")


def test_faststart_moov_before_mdat(clip_with_audio: Path) -> None:
    boxes = top_level_boxes(clip_with_audio)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")
    assert probe_video(clip_with_audio).faststart


@pytest.mark.parametrize("short_side", [480, 720])
@pytest.mark.parametrize(
    ("image_size", "expected"),
    [
        ((1600, 900), {480: (854, 480), 720: (1280, 720)}),
        ((900, 1600), {480: (480, 854), 720: (720, 1280)}),
        ((500, 500), {480: (480, 480), 720: (720, 720)}),
    ],
    ids=["landscape", "portrait", "square"],
)
def test_size_keeps_orientation(tmp_path: Path, image_size: tuple[int, int], expected: dict, short_side: int) -> None:
    out = tmp_path / "v.mp4"
    result = render_preview(picture(*image_size), out, short_side=short_side, duration_s=0.25, seed=1)
    info = probe_video(out)
    assert (info.width, info.height) == (result.width, result.height) == expected[short_side]
    assert min(info.width, info.height) == short_side
    assert info.width % 2 == 0 and info.height % 2 == 0


def test_nearly_square_landscape_stays_landscape(tmp_path: Path) -> None:
    result = render_preview(picture(1001, 1000), tmp_path / "v.mp4", short_side=480, duration_s=0.1, seed=1)
    assert result.width > result.height == 480


@pytest.mark.parametrize("duration_s", [2.0, 1.3])
def test_duration_and_frame_count(tmp_path: Path, duration_s: float) -> None:
    out = tmp_path / "v.mp4"
    result = render_preview(picture(320, 240), out, short_side=240, duration_s=duration_s, seed=2)
    assert result.frames == round(duration_s * 24) == len(frame_hashes(out))
    assert probe_video(out).duration_s == pytest.approx(duration_s, abs=0.3)


def test_image_path_is_exif_transposed(tmp_path: Path) -> None:
    source = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    picture(400, 200).save(source, exif=exif)
    result = render_preview(source, tmp_path / "v.mp4", short_side=240, duration_s=0.2, seed=1)
    assert (result.width, result.height) == (240, 480)


# ------------------------------------------------------------------ audio


def test_no_audio_stream_without_audio(tmp_path: Path) -> None:
    out = tmp_path / "silent.mp4"
    result = render_preview(picture(320, 240), out, short_side=240, duration_s=0.5, seed=1)
    info = probe_video(out)
    assert not result.has_audio and not info.has_audio and info.audio_codec is None


def test_audio_is_cut_to_video_length(clip_with_audio: Path) -> None:
    with av.open(str(clip_with_audio)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (48_000, 2)
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.03)
    samples = decoded_audio(clip_with_audio)[0]
    spectrum = np.abs(np.fft.rfft(samples[24_000:72_000]))
    assert np.fft.rfftfreq(48_000, 1 / 48_000)[spectrum.argmax()] == pytest.approx(440, abs=2)


def test_short_audio_is_padded_with_silence(tmp_path: Path) -> None:
    out = tmp_path / "padded.mp4"
    sound = write_tone(tmp_path / "blip.wav", 0.5)
    render_preview(picture(320, 240), out, short_side=240, duration_s=2.0, seed=1, audio_path=sound)
    samples = decoded_audio(out)[0]
    assert samples.size / 48_000 == pytest.approx(2.0, abs=0.05)
    assert np.abs(samples[: 24_000 - 2400]).max() > 0.1
    assert np.abs(samples[24_000 + 2400 :]).max() < 0.01


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".flac"])
def test_compressed_audio_formats_are_muxed(tmp_path: Path, suffix: str) -> None:
    muxer, codec = {".mp3": ("mp3", "libmp3lame"), ".m4a": ("ipod", "aac"), ".flac": ("flac", "flac")}[suffix]
    pcm = write_tone(tmp_path / "src.wav", 1.0)
    with av.open(str(pcm)) as src, av.open(str(tmp_path / f"a{suffix}"), "w", format=muxer) as dst:
        stream = dst.add_stream(codec, rate=RATE, layout="stereo")
        for frame in src.decode(audio=0):
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    out = tmp_path / "v.mp4"
    assert render_preview(
        picture(320, 240), out, short_side=240, duration_s=1.0, seed=1, audio_path=tmp_path / f"a{suffix}"
    ).has_audio
    assert probe_video(out).audio_codec == "aac"


def test_mono_low_rate_audio_becomes_48k_stereo(tmp_path: Path) -> None:
    t = np.arange(22_050) / 22_050
    mono = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(mono, format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 22_050, 0, Fraction(1, 22_050)
    with av.open(str(tmp_path / "mono.wav"), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=22_050, layout="mono")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = tmp_path / "v.mp4"
    render_preview(picture(320, 240), out, short_side=240, duration_s=1.0, seed=1, audio_path=tmp_path / "mono.wav")
    samples = decoded_audio(out)
    assert samples.shape[0] == 2 and samples.shape[1] / 48_000 == pytest.approx(1.0, abs=0.03)
    spectrum = np.abs(np.fft.rfft(samples[1, 12_000:36_000]))
    assert np.fft.rfftfreq(24_000, 1 / 48_000)[spectrum.argmax()] == pytest.approx(440, abs=3)


def test_unusable_audio_is_an_input_error(tmp_path: Path) -> None:
    from errors import InputError

    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    out = tmp_path / "v.mp4"
    with pytest.raises(InputError) as caught:
        render_preview(picture(320, 240), out, short_side=240, duration_s=1.0, seed=1, audio_path=bad)
    assert caught.value.field == "audio"
    assert not out.exists()


# ------------------------------------------------------------------ determinism and motion


def test_same_inputs_give_identical_frames(tmp_path: Path) -> None:
    image = picture(640, 480)
    sound = write_tone(tmp_path / "tone.wav", 1.0)
    args = {"short_side": 240, "duration_s": 1.0, "seed": 42, "prompt": "a cat", "audio_path": sound}
    render_preview(image, tmp_path / "a.mp4", **args)
    render_preview(image.copy(), tmp_path / "b.mp4", **args)
    render_preview(image, tmp_path / "c.mp4", **(args | {"seed": 43}))
    first, second, other = (frame_hashes(tmp_path / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    assert first == second
    # Fixed x264 threads make even the file bytes repeatable, audio included.
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert len(set(first)) > 1  # the camera really moves
    assert first != other


@pytest.mark.parametrize(
    ("prompt", "motion"),
    [
        ("slow zoom in on the face", Motion.ZOOM_IN),
        ("camera pushes in", Motion.ZOOM_IN),
        ("Dolly in towards the door", Motion.ZOOM_IN),
        ("zoom out to reveal the city", Motion.ZOOM_OUT),
        ("the camera pulls back", Motion.ZOOM_OUT),
        ("pan left across the beach", Motion.PAN_LEFT),
        ("panning to the right", Motion.PAN_RIGHT),
        ("tilt up to the sky", Motion.PAN_UP),
        ("tilts down to the floor", Motion.PAN_DOWN),
        ("orbit around the statue", Motion.ORBIT),
        ("the camera circles around her", Motion.ORBIT),
        ("rotate around the car", Motion.ORBIT),
        ("pan left, then zoom in", Motion.PAN_LEFT),
        ("a quiet lake at dawn", None),
        ("a panorama of the leftovers", None),
    ],
)
def test_motion_from_prompt(prompt: str, motion: Motion | None) -> None:
    assert motion_from_prompt(prompt) is motion


def test_prompt_selects_motion_and_seed_does_otherwise(tmp_path: Path) -> None:
    tiny = picture(96, 64)
    out = tmp_path / "v.mp4"
    for seed in range(3):
        assert (
            render_preview(tiny, out, short_side=32, duration_s=0.1, seed=seed, prompt="Zoom in!").motion == "zoom_in"
        )
    seeded = {render_preview(tiny, out, short_side=32, duration_s=0.1, seed=s).motion for s in range(30)}
    assert seeded <= {m.value for m in Motion}
    assert len(seeded) >= 4


@pytest.mark.parametrize(
    ("prompt", "check"),
    [
        ("zoom in", lambda a, b: b[0] > a[0] * 1.1),  # the disc grows
        ("zoom out", lambda a, b: b[0] < a[0] / 1.1),
        ("pan left", lambda a, b: b[1] > a[1] + 10),  # view goes left: content moves right
        ("pan right", lambda a, b: b[1] < a[1] - 10),
        ("tilt up", lambda a, b: b[2] > a[2] + 10),
        ("tilt down", lambda a, b: b[2] < a[2] - 10),
    ],
)
def test_motion_direction(tmp_path: Path, prompt: str, check) -> None:
    out = tmp_path / "v.mp4"
    render_preview(dot_picture(), out, short_side=240, duration_s=1.0, seed=9, prompt=prompt)
    frames = rgb_frames(out)
    assert check(dark_stats(frames[0]), dark_stats(frames[-1]))


def test_motion_is_smooth_and_never_shows_borders(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    render_preview(picture(480, 320), out, short_side=240, duration_s=2.0, seed=3, prompt="orbit")
    frames = rgb_frames(out)
    for frame in frames:  # the picture is bright everywhere; a border would be dark
        edges = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        assert edges.max(axis=-1).min() > 40  # no black pixel on any edge
    steps = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in itertools.pairwise(frames)]
    assert max(steps) < 8  # no jumps between frames
    assert steps[0] < max(steps) and steps[-1] < max(steps)  # eases in and out


def test_crop_box_stays_inside_the_picture_for_every_move() -> None:
    """White-box check of the camera geometry: no seed or move may reach past the picture."""
    from dataclasses import replace

    from media.video import _camera_at, _crop_box, _plan_camera

    out_size, work_size = (854, 480), (1110, 624)  # output and overscanned working image
    for seed in range(200):
        for motion in Motion:
            plan = replace(_plan_camera("", seed), motion=motion)
            for step in range(25):
                left, top, right, bottom = _crop_box(work_size, out_size, *_camera_at(plan, step / 24))
                assert 0 <= left < right <= work_size[0] and 0 <= top < bottom <= work_size[1]
                assert (right - left) / (bottom - top) == pytest.approx(854 / 480)


# ------------------------------------------------------------------ progress and cancel


def test_progress_reaches_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    render_preview(
        picture(320, 240),
        tmp_path / "v.mp4",
        short_side=240,
        duration_s=1.0,
        seed=1,
        on_progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(n, 24) for n in range(1, 25)]


def test_should_stop_cancels_and_leaves_no_file(tmp_path: Path) -> None:
    calls: list[int] = []
    out = tmp_path / "out" / "v.mp4"
    with pytest.raises(RenderCancelled):
        render_preview(
            picture(320, 240),
            out,
            short_side=240,
            duration_s=2.0,
            seed=1,
            on_progress=lambda done, total: calls.append(done),
            should_stop=lambda: len(calls) >= 5,
        )
    assert calls == [1, 2, 3, 4, 5]
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("bad", [{"short_side": 481}, {"duration_s": 0.0}, {"fps": 0}])
def test_rejects_bad_arguments(tmp_path: Path, bad: dict) -> None:
    args = {"short_side": 240, "duration_s": 1.0, "seed": 1} | bad
    with pytest.raises(ValueError):
        render_preview(picture(64, 64), tmp_path / "v.mp4", **args)


# ------------------------------------------------------------------ probing errors


def test_probe_rejects_non_video(tmp_path: Path) -> None:
    text = tmp_path / "x.mp4"
    text.write_text("nope")
    with pytest.raises(InvalidVideoError):
        probe_video(text)
    with pytest.raises(InvalidVideoError):
        probe_video(write_tone(tmp_path / "t.wav", 0.2))


# ------------------------------------------------------------------ comment tag


def params_json() -> str:
    """About 10 KB of JSON with accents, CJK, emoji and escapes."""
    params = {
        "prompt": "Un café près de la fenêtre, 雨の夜, 🌧️☕ — «zoom in»",
        "seed": 123456789,
        "history": [{"step": i, "note": f'étape {i} 步骤 🎬 "quoted" \\ back'} for i in range(150)],
    }
    text = json.dumps(params, ensure_ascii=False)
    assert 9_000 < len(text.encode()) < 14_000
    return text


def test_comment_round_trip_keeps_streams(clip_with_audio: Path, tmp_path: Path) -> None:
    text = params_json()
    tagged = tmp_path / "tagged.mp4"
    write_comment(clip_with_audio, tagged, text)

    assert read_comment(tagged) == text
    assert json.loads(read_comment(tagged))["prompt"].endswith("«zoom in»")
    assert frame_hashes(tagged) == frame_hashes(clip_with_audio)
    assert np.array_equal(decoded_audio(tagged), decoded_audio(clip_with_audio))
    before, after = probe_video(clip_with_audio), probe_video(tagged)
    assert after.faststart and after.has_audio
    assert (after.width, after.height, after.frames, after.video_codec) == (
        before.width,
        before.height,
        before.frames,
        "h264",
    )
    assert after.duration_s == pytest.approx(before.duration_s, abs=0.01)


def test_comment_is_the_mp4_comment_atom(clip_with_audio: Path, tmp_path: Path) -> None:
    """Stored as moov/udta/meta/ilst/©cmt: what ffprobe reports as format tag "comment"."""
    tagged = tmp_path / "tagged.mp4"
    write_comment(clip_with_audio, tagged, "hello ✓")
    data = tagged.read_bytes()
    moov = data.index(b"moov")
    cmt = data.index(b"\xa9cmt")
    assert moov < cmt < data.index(b"mdat")
    assert "hello ✓".encode() in data[cmt : cmt + 64]
    with av.open(str(tagged)) as container:
        assert container.metadata["comment"] == "hello ✓"


def test_comment_in_place_and_replaced(clip_with_audio: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip_with_audio.read_bytes())
    assert read_comment(copy) is None
    write_comment(copy, copy, "first")
    write_comment(copy, copy, "second")
    assert read_comment(copy) == "second"
    assert frame_hashes(copy) == frame_hashes(clip_with_audio)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4"]

"""Benchmark the audio path (and, for information, the preview renderer).

Run from the repository root:  python bench/bench_audio.py [--runs N]
All test media is generated here with PyAV; nothing is downloaded.
Prints a Markdown table: case, median seconds, target seconds, pass/fail.
Only the audio case gates the exit status; the render rows are informative.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

from media.audio import cut_audio, decode_audio, export_audio, probe_audio
from media.video import render_preview

RATE = 44_100


@dataclass(frozen=True)
class Case:
    """One timed case. Only gating cases decide the exit status; the rest inform."""

    name: str
    run: Callable[[], object]
    target_s: float
    gating: bool = False
    runs: int | None = None  # overrides --runs for slow cases


def make_m4a(path: Path, seconds: float) -> Path:
    """A stereo 44.1 kHz AAC m4a of music-like chords with a little noise."""
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(0)
    left = sum(np.sin(2 * np.pi * f * t) for f in (220, 277.2, 329.6)) / 3
    right = sum(np.sin(2 * np.pi * f * t) for f in (246.9, 311.1, 370)) / 3
    stereo = np.stack([left, right], axis=1) * 0.5 + rng.normal(0, 0.01, (t.size, 2))
    pcm = (stereo * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
    with av.open(str(path), mode="w", format="ipod") as container:
        stream = container.add_stream("aac", rate=RATE, layout="stereo")
        stream.bit_rate = 192_000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_image(width: int, height: int) -> Image.Image:
    """A gradient photo stand-in with some shapes."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for k in range(12):
        x, y = k * width // 12, (k * height // 7) % height
        draw.rectangle([x, y, x + width // 15, y + height // 9], fill=(255, 200 - 15 * k, 20 * k))
    return image


def m4a_to_wav(source: Path, out: Path) -> None:
    """The studio's audio path: probe, decode, cut to length, export wav."""
    info = probe_audio(source)
    segment = cut_audio(decode_audio(source), start_s=0.0, length_s=info.duration_s)
    export_audio(segment, out, "wav")


def median_time(run: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls, after one warm-up when there are several."""
    if runs > 1:
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_cases(folder: Path) -> list[Case]:
    source = make_m4a(folder / "30s.m4a", 30.0)
    short_source = make_m4a(folder / "5s.m4a", 5.0)
    image = make_image(1600, 900)
    return [
        Case(
            "30 s m4a (AAC 44.1 kHz stereo) -> wav",
            lambda: m4a_to_wav(source, folder / "out.wav"),
            1.0,
            gating=True,
        ),
        Case(
            "480p 5 s preview render, no audio",
            lambda: render_preview(image, folder / "p.mp4", short_side=480, duration_s=5.0, seed=1),
            5.0,
        ),
        Case(
            "480p 5 s preview render, with m4a audio",
            lambda: render_preview(
                image, folder / "pa.mp4", short_side=480, duration_s=5.0, seed=1, audio_path=short_source
            ),
            5.0,
        ),
        Case(
            "1080p 10 s preview render, no audio (1 run)",
            lambda: render_preview(image, folder / "p1080.mp4", short_side=1080, duration_s=10.0, seed=1),
            40.0,
            runs=1,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()

    failed = False
    print("| case | median s | target s | result |")
    print("| --- | ---: | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for case in build_cases(Path(tmp)):
            median = median_time(case.run, case.runs or args.runs)
            ok = median <= case.target_s
            failed |= case.gating and not ok
            verdict = ("pass" if ok else "FAIL") if case.gating else ("ok (info)" if ok else "slow (info)")
            print(f"| {case.name} | {median:.3f} | {case.target_s:.2f} | {verdict} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Time prepare_image on large generated photos and print a Markdown table.

Run from the repository root: `python bench/bench_image.py [--runs N]`. Exits 0 even when a
target is missed; the table says FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

from media.images import PreparedImage, prepare_image


@dataclass(frozen=True)
class Case:
    """One benchmark row: how to make the source, and the target median (None: informative)."""

    name: str
    make: Callable[[Path], Path]
    target_s: float | None


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Photo-like content: gradients, a few soft shapes and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            x / width * 255,
            y / height * 255,
            128 + 100 * np.sin(x / 300) * np.cos(y / 200),
        ],
        -1,
    )
    noise = rng.normal(0, 14, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def jpeg_24mp(directory: Path) -> Path:
    """6000×4000 JPEG, quality 90."""
    path = directory / "photo_6000x4000.jpg"
    photo(6000, 4000).save(path, quality=90)
    return path


def png_12mp(directory: Path) -> Path:
    """4000×3000 PNG (no JPEG draft decoding possible)."""
    path = directory / "photo_4000x3000.png"
    photo(4000, 3000, seed=1).save(path)
    return path


CASES = (
    Case("6000×4000 JPEG q90 (24 MP)", jpeg_24mp, 0.5),
    Case("4000×3000 PNG (12 MP, informative)", png_12mp, None),
)


@dataclass(frozen=True)
class Timing:
    """Median wall-clock and CPU seconds of one case, and the last result."""

    wall_s: float
    cpu_s: float
    prepared: PreparedImage


def time_case(source: Path, work: Path, runs: int) -> Timing:
    """Time `runs` calls after one warm-up; each run writes to a fresh directory."""
    prepared = prepare_image(source, out_dir=work / "warmup")
    wall, cpu = [], []
    for run in range(runs):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        prepared = prepare_image(source, out_dir=work / f"run{run}")
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return Timing(statistics.median(wall), statistics.median(cpu), prepared)


def main() -> int:
    """Build the sources, time each case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (min 5)")
    runs = max(5, parser.parse_args().runs)
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"Pillow {Image.__version__}, {os.cpu_count()} CPUs{load}, median of {runs} runs")
    print("(pass/fail is judged on wall-clock time; CPU time shows the cost without contention)\n")
    print("| case | source MB | result | median s | CPU s | target s | pass/fail |")
    print("|---|---:|---|---:|---:|---:|---|")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for case in CASES:
            source = case.make(work)
            timing = time_case(source, work / source.stem, runs)
            verdict = "info" if case.target_s is None else "PASS"
            if case.target_s is not None and timing.wall_s > case.target_s:
                verdict, failed = "**FAIL**", True
            print(_row(case, source, timing, verdict))
    if failed:
        print("\nFAIL: at least one case missed its target.")
    return 0


def _row(case: Case, source: Path, timing: Timing, verdict: str) -> str:
    """One Markdown table row."""
    prepared = timing.prepared
    result = f"{prepared.width}×{prepared.height} {prepared.mime.removeprefix('image/')}"
    result += f" {prepared.size_bytes / 1e6:.2f} MB"
    target = "–" if case.target_s is None else f"{case.target_s:.2f}"
    return (
        f"| {case.name} | {source.stat().st_size / 1e6:.1f} | {result} | {timing.wall_s:.3f} "
        f"| {timing.cpu_s:.3f} | {target} | {verdict} |"
    )


if __name__ == "__main__":
    sys.exit(main())

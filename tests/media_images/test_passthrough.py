"""Preparing a prepared image again changes nothing: same bytes, same sha256 (reproducibility)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from media.images import prepare_image
from tests.helpers import make_photo


def test_prepared_jpeg_is_passed_through_byte_for_byte(tmp_path):
    first = prepare_image(make_photo(tmp_path / "big.jpg", 3000, 2000, fmt="JPEG"), out_dir=tmp_path / "a")
    again = prepare_image(first.path, out_dir=tmp_path / "b")
    assert again.sha256 == first.sha256 and again.path.read_bytes() == first.path.read_bytes()
    assert again.notes == ()


def test_prepared_png_graphic_is_stable(tmp_path):
    flat = np.zeros((600, 900, 3), np.uint8)
    flat[:, :450] = (200, 30, 30)
    Image.fromarray(flat).save(tmp_path / "flat.png")
    first = prepare_image(tmp_path / "flat.png", out_dir=tmp_path / "a")
    assert first.mime == "image/png"
    assert prepare_image(first.path, out_dir=tmp_path / "b").sha256 == first.sha256


def test_jpeg_with_exif_is_still_reencoded_so_metadata_is_stripped(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    Image.open(make_photo(tmp_path / "p.png", 800, 600)).save(tmp_path / "e.jpg", "JPEG", exif=exif)
    prepared = prepare_image(tmp_path / "e.jpg", out_dir=tmp_path / "a")
    assert b"CameraMaker" not in prepared.path.read_bytes()

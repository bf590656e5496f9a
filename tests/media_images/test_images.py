"""prepare_image and the size helpers, on fixtures generated in tmp_path (nothing downloaded)."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, features

from errors import InputError
from media.images import (
    ImageLimits,
    PreparedImage,
    output_geometry,
    prepare_image,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# --- fixture builders -----------------------------------------------------------------------


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    noise = rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def halves(width: int, height: int, left: tuple, right: tuple) -> Image.Image:
    """Left half one colour, right half another: shows which way an image was turned."""
    image = Image.new("RGB", (width, height), right)
    image.paste(left, (0, 0, width // 2, height))
    return image


def save(image: Image.Image, path: Path, fmt: str | None = None, **params) -> Path:
    """Save and return the path."""
    image.save(path, fmt, **params)
    return path


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    """The image encoded in memory."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any declared size; it compresses to almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pixel(prepared: PreparedImage, xy: tuple[int, int]) -> tuple[int, int, int]:
    """The RGB value of the prepared file at xy."""
    with Image.open(prepared.path) as image:
        return image.convert("RGB").getpixel(xy)


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    """Colours equal within JPEG tolerance."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def refused(source, tmp_path: Path, **kwargs) -> str:
    """The InputError message prepare_image raises for source."""
    with pytest.raises(InputError) as caught:
        prepare_image(source, out_dir=tmp_path / "out", **kwargs)
    assert caught.value.field == "image"
    return str(caught.value)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


# --- normal images --------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("BMP", ".bmp")])
def test_common_formats_pass_unchanged_in_size(tmp_path, out, fmt, suffix):
    source = save(photo(800, 600), tmp_path / f"in{suffix}", fmt)
    prepared = prepare_image(source, out_dir=out)
    assert (prepared.width, prepared.height) == (800, 600)
    assert (prepared.source_width, prepared.source_height) == (800, 600)
    assert prepared.source_format == fmt
    assert prepared.orientation == "landscape"
    assert prepared.mime == "image/jpeg"  # a photo: JPEG is far smaller than PNG
    assert prepared.path.parent == out and prepared.path.suffix == ".jpg"
    assert not any("downscaled" in note for note in prepared.notes)


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
def test_avif_is_accepted(out):
    prepared = prepare_image(encoded(photo(800, 600), "AVIF"), out_dir=out)
    assert prepared.source_format == "AVIF" and prepared.mime == "image/jpeg"


def test_path_as_str_and_raw_bytes_give_the_same_file(tmp_path, out):
    source = save(photo(640, 480), tmp_path / "in.jpg")
    from_str = prepare_image(str(source), out_dir=out)
    from_bytes = prepare_image(source.read_bytes(), out_dir=out, source_url="https://x.test/a")
    assert from_str.path == from_bytes.path
    assert from_str.source_url is None and from_bytes.source_url == "https://x.test/a"


def test_sha256_names_and_matches_the_written_bytes(tmp_path, out):
    prepared = prepare_image(save(photo(640, 480), tmp_path / "in.png"), out_dir=out)
    data = prepared.path.read_bytes()
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.path.name == f"{prepared.sha256}.jpg"
    assert prepared.size_bytes == len(data)
    assert [p.name for p in out.iterdir()] == [prepared.path.name]  # no temp files left


def test_data_uri_round_trips(tmp_path, out):
    prepared = prepare_image(save(photo(640, 480), tmp_path / "in.jpg"), out_dir=out)
    uri = prepared.data_uri()
    header, payload = uri.split(",", 1)
    assert header == "data:image/jpeg;base64"
    raw = base64.b64decode(payload, validate=True)
    assert raw == prepared.path.read_bytes()
    assert Image.open(io.BytesIO(raw)).size == (640, 480)


def test_output_carries_no_exif_or_colour_profile(tmp_path, out):
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    source = save(photo(640, 480), tmp_path / "in.jpg", exif=exif, icc_profile=_srgb_icc())
    prepared = prepare_image(source, out_dir=out)
    with Image.open(prepared.path) as result:
        assert not result.getexif()
        assert "exif" not in result.info and "icc_profile" not in result.info
    assert prepared.notes == ()  # an sRGB profile needs no conversion


def test_unreadable_colour_profile_is_noted_not_fatal(tmp_path, out):
    source = save(photo(640, 480), tmp_path / "in.jpg", icc_profile=b"not a profile" * 20)
    prepared = prepare_image(source, out_dir=out)
    assert "its colour profile could not be applied; colours used as stored" in prepared.notes


def test_non_srgb_colour_profile_is_converted_to_srgb(tmp_path, out):
    source = save(halves(640, 480, RED, BLUE), tmp_path / "in.png", icc_profile=_renamed_icc("Wide RGB test"))
    prepared = prepare_image(source, out_dir=out)
    assert "colours converted from the 'Wide RGB test' profile to sRGB" in prepared.notes
    assert near(pixel(prepared, (100, 240)), RED)  # the profile is sRGB in all but name


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _renamed_icc(name: str) -> bytes:
    """Pillow's sRGB profile with another description, standing in for a wide-gamut profile."""
    old = "sRGB built-in".encode("utf-16-be")
    new = name.ljust(len("sRGB built-in")).encode("utf-16-be")
    assert len(new) == len(old)
    return _srgb_icc().replace(old, new)


# --- orientation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "red_at"), [(6, "top"), (8, "bottom")])
def test_exif_orientation_turns_the_image_upright(tmp_path, out, tag, red_at):
    exif = Image.Exif()
    exif[0x0112] = tag
    source = save(halves(800, 600, RED, BLUE), tmp_path / "in.jpg", exif=exif)
    prepared = prepare_image(source, out_dir=out)
    assert (prepared.source_width, prepared.source_height) == (800, 600)
    assert (prepared.width, prepared.height) == (600, 800)
    assert prepared.orientation == "portrait"
    top, bottom = pixel(prepared, (300, 100)), pixel(prepared, (300, 700))
    assert near(top, RED if red_at == "top" else BLUE)
    assert near(bottom, BLUE if red_at == "top" else RED)
    assert f"turned upright using its EXIF orientation ({tag})" in prepared.notes
    with Image.open(prepared.path) as result:
        assert 0x0112 not in result.getexif()


def test_exif_orientation_with_reduced_decode_keeps_the_upright_aspect(tmp_path, out):
    exif = Image.Exif()
    exif[0x0112] = 6
    source = save(photo(4000, 3000), tmp_path / "in.jpg", exif=exif, quality=85)
    prepared = prepare_image(source, out_dir=out)
    assert (prepared.width, prepared.height) == (1500, 2000)
    assert prepared.orientation == "portrait"


# --- colour modes ---------------------------------------------------------------------------


def _transparent_with_red_square(mode: str) -> Image.Image:
    rgba = Image.new("RGBA", (640, 480), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((220, 140, 420, 340), fill=(*RED, 255))
    return rgba.convert(mode) if mode != "RGBA" else rgba


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_flattened_onto_white(tmp_path, out, mode):
    source = save(_transparent_with_red_square(mode), tmp_path / "in.png")
    prepared = prepare_image(source, out_dir=out)
    assert near(pixel(prepared, (10, 10)), WHITE, 10)
    expected_centre = RED if mode == "RGBA" else (76, 76, 76)  # L of pure red is 76
    assert near(pixel(prepared, (320, 240)), expected_centre)
    assert "transparency flattened onto white" in prepared.notes


def test_palette_with_transparency_is_flattened(tmp_path, out):
    image = Image.new("P", (640, 480), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    ImageDraw.Draw(image).rectangle((220, 140, 420, 340), fill=1)
    source = save(image, tmp_path / "in.png", transparency=0)
    prepared = prepare_image(source, out_dir=out)
    assert near(pixel(prepared, (10, 10)), WHITE, 10)
    assert near(pixel(prepared, (320, 240)), RED)
    assert "transparency flattened onto white" in prepared.notes


def test_opaque_alpha_channel_is_dropped_with_a_note(tmp_path, out):
    source = save(photo(640, 480).convert("RGBA"), tmp_path / "in.png")
    prepared = prepare_image(source, out_dir=out)
    assert prepared.notes == ("alpha channel removed (it was fully opaque)",)


def test_cmyk_is_converted_to_rgb(tmp_path, out):
    source = save(Image.new("CMYK", (640, 480), (0, 255, 255, 0)), tmp_path / "in.jpg")
    prepared = prepare_image(source, out_dir=out)
    assert near(pixel(prepared, (320, 240)), RED)
    assert "converted from CMYK to RGB" in prepared.notes


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path, out):
    values = np.full((480, 640), 32896, dtype=np.uint16)  # 128 * 257
    values[:, :320] = 65535
    source = save(Image.fromarray(values), tmp_path / "in.png")
    with Image.open(source) as written:
        assert written.mode == "I;16"
    prepared = prepare_image(source, out_dir=out)
    assert near(pixel(prepared, (500, 240)), (128, 128, 128), 3)
    assert near(pixel(prepared, (100, 240)), WHITE, 3)
    assert "converted from 16-bit (I;16) to 8-bit" in prepared.notes


def test_grayscale_is_converted_to_rgb(tmp_path, out):
    source = save(photo(640, 480).convert("L"), tmp_path / "in.jpg")
    prepared = prepare_image(source, out_dir=out)
    with Image.open(prepared.path) as result:
        assert result.mode == "RGB"
    assert "converted from grayscale to RGB" in prepared.notes


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png")])
def test_animated_image_uses_its_first_frame(tmp_path, out, fmt, suffix):
    frames = [Image.new("RGB", (640, 480), colour) for colour in (RED, GREEN, BLUE)]
    source = save(
        frames[0],
        tmp_path / f"in{suffix}",
        fmt,
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
    )
    prepared = prepare_image(source, out_dir=out)
    assert near(pixel(prepared, (320, 240)), RED)
    assert f"animated {fmt} (3 frames): used the first frame" in prepared.notes


# --- size rules -----------------------------------------------------------------------------


def test_24_megapixel_photo_is_downscaled_to_2000(tmp_path, out):
    source = save(photo(6000, 4000), tmp_path / "in.jpg", quality=90)
    prepared = prepare_image(source, out_dir=out)
    assert (prepared.width, prepared.height) == (2000, 1333)
    assert prepared.orientation == "landscape"
    assert prepared.size_bytes <= 10 * 1024 * 1024
    assert "downscaled from 6000×4000 to 2000×1333 px (longest side at most 2000 px)" in (prepared.notes)
    with Image.open(prepared.path) as result:
        assert result.size == (2000, 1333)


def test_portrait_is_downscaled_keeping_portrait(tmp_path, out):
    source = save(photo(4000, 6000), tmp_path / "in.jpg", quality=90)
    prepared = prepare_image(source, out_dir=out)
    assert (prepared.width, prepared.height) == (1333, 2000)
    assert prepared.orientation == "portrait"


@pytest.mark.parametrize("size", [(300, 300), (359, 1000), (1000, 359)])
def test_too_small_is_refused_never_upscaled(tmp_path, size):
    message = refused(encoded(photo(*size), "PNG"), tmp_path)
    assert f"{size[0]}×{size[1]} px is too small" in message
    assert "at least 360 px" in message and "never upscale" in message


@pytest.mark.parametrize(
    ("size", "expected"), [((2000, 360), (2000, 360)), ((2200, 396), (2000, 360)), ((396, 2200), (360, 2000))]
)
def test_widest_allowed_aspect_is_accepted(tmp_path, out, size, expected):
    prepared = prepare_image(encoded(photo(*size), "PNG"), out_dir=out)
    assert (prepared.width, prepared.height) == expected


@pytest.mark.parametrize("size", [(2100, 360), (3000, 400), (400, 3000)])
def test_too_wide_is_refused_with_the_reason(tmp_path, size):
    message = refused(encoded(photo(*size), "PNG"), tmp_path)
    assert "aspect ratio" in message and "the widest allowed is 5.556:1" in message
    assert "short side must still be at least 360 px" in message


def test_square_within_tolerance(tmp_path, out):
    assert prepare_image(encoded(photo(1000, 990), "PNG"), out_dir=out).orientation == "square"
    assert prepare_image(encoded(photo(1000, 900), "PNG"), out_dir=out).orientation == "landscape"


# --- bad input ------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert "empty (0 bytes)" in refused(empty, tmp_path)


def test_missing_file(tmp_path):
    assert "could not be read" in refused(tmp_path / "nope.jpg", tmp_path)


def test_url_string_is_not_a_path(tmp_path):
    assert "web address" in refused("https://example.com/a.png", tmp_path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_refused(tmp_path, fmt):
    data = encoded(photo(800, 600), fmt)
    message = refused(data[: len(data) // 2], tmp_path)
    assert "damaged or cut short" in message


def test_header_only_jpeg_is_damaged_not_foreign(tmp_path):
    assert "damaged or cut short" in refused(b"\xff\xd8\xff\xe0\x00\x10JF", tmp_path)


def test_random_bytes(tmp_path):
    data = np.random.default_rng(1).bytes(4096)
    assert "not an image we can read" in refused(data, tmp_path)


def test_text_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, this is not a picture\n" * 20)
    message = refused(path, tmp_path)
    assert "not an image we can read (it looks like text)" in message
    assert "JPEG, PNG, WebP, BMP or GIF" in message


def test_mp4_named_jpg(tmp_path):
    path = tmp_path / "clip.jpg"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(2000))
    assert "looks like an MP4 or MOV video" in refused(path, tmp_path)


def test_heic_is_named(tmp_path):
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(2000)
    assert "HEIC/HEIF photo" in refused(data, tmp_path)


def test_svg_is_refused(tmp_path):
    path = tmp_path / "logo.svg"
    path.write_text(
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="800" '
        'height="600"><rect width="800" height="600" fill="red"/></svg>\n'
    )
    assert "looks like an SVG drawing" in refused(path, tmp_path)


def test_tiff_is_not_accepted(tmp_path):
    assert "looks like a TIFF image" in refused(encoded(photo(640, 480), "TIFF"), tmp_path)


def test_oversized_upload_is_refused_before_decoding(tmp_path):
    source = save(photo(640, 480), tmp_path / "in.png")
    message = refused(source, tmp_path, limits=ImageLimits(max_source_bytes=1000))
    assert "the largest upload we read is" in message


# --- decompression bombs --------------------------------------------------------------------


def test_bomb_beyond_pillows_own_cap_is_refused(tmp_path):
    data = png_declaring(20000, 20000)
    assert len(data) < 100_000  # a tiny file declaring 400 MP
    message = refused(data, tmp_path)
    assert "400,000,000 pixels (400.0 MP)" in message and "limit is 64 MP" in message


def test_bomb_beyond_our_cap_is_refused_before_decoding(tmp_path):
    message = refused(png_declaring(9000, 8000), tmp_path)
    assert "72,000,000 pixels (72.0 MP)" in message and "decompression bombs" in message


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_bomb_warning_raised_as_error_is_refused_too(tmp_path):
    message = refused(png_declaring(10000, 10000), tmp_path)
    assert "100,000,000 pixels" in message


def test_pixel_cap_is_configurable(tmp_path):
    message = refused(encoded(photo(800, 600), "PNG"), tmp_path, limits=ImageLimits(max_pixels=400_000))
    assert "480,000 pixels" in message and "limit is 0.4 MP" in message


# --- encoding choice and transport size -----------------------------------------------------


def test_flat_graphic_is_sent_as_png(tmp_path, out):
    image = Image.new("RGB", (1200, 800), WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 600, 500), fill=RED)
    draw.ellipse((500, 300, 1100, 700), fill=BLUE)
    draw.text((50, 20), "Wan I2V Studio", fill=(0, 0, 0))
    prepared = prepare_image(encoded(image, "PNG"), out_dir=out)
    assert prepared.mime == "image/png" and prepared.path.suffix == ".png"
    assert prepared.data_uri().startswith("data:image/png;base64,")
    assert "saved as PNG, which is smaller than JPEG for this image" in prepared.notes
    with Image.open(prepared.path) as result:
        assert result.mode == "RGB"  # no alpha, no palette


def test_jpeg_quality_is_lowered_to_fit_the_transport_limit(tmp_path, out):
    source = encoded(photo(1200, 900), "PNG")
    first = prepare_image(source, out_dir=out)
    limits = ImageLimits(max_bytes=first.size_bytes * 3 // 4)
    prepared = prepare_image(source, out_dir=out, limits=limits)
    assert prepared.size_bytes <= limits.max_bytes
    assert any(note.startswith("JPEG quality lowered to") for note in prepared.notes)


def test_unfittable_transport_limit_is_refused(tmp_path):
    message = refused(encoded(photo(1200, 900), "PNG"), tmp_path, limits=ImageLimits(max_bytes=2000))
    assert "even at JPEG quality 35" in message


# --- geometry helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tier", "expected"),
    [
        ((6000, 4000), 720, (1080, 720)),
        ((4000, 6000), 720, (720, 1080)),
        ((1920, 1080), 480, (854, 480)),
        ((1000, 1000), 1080, (1080, 1080)),
        ((2000, 360), 480, (2666, 480)),
    ],
)
def test_output_geometry(size, tier, expected):
    assert output_geometry(*size, tier) == expected


def test_aspect_limit_is_max_over_min():
    assert ImageLimits().max_aspect_ratio == pytest.approx(2000 / 360)

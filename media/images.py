"""Check and prepare the input image before any paid provider call.

`prepare_image` decodes the upload with Pillow (refusing bombs, damaged files and non-images),
turns it upright, flattens it to 8-bit sRGB without alpha, enforces the provider size rules
(each side 360–2000 px, never upscaled) and writes a content-addressed JPEG or PNG of at most
10 MB. The limits are the lowest common denominator of the providers (DashScope's are the
strictest published ones), so an image that passes here should not fail a paid job.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import ExifTags, Image, ImageCms, ImageOps

from errors import InputError

__all__ = [
    "ImageLimits",
    "Orientation",
    "PreparedImage",
    "output_geometry",
    "prepare_image",
]

Orientation = Literal["landscape", "portrait", "square"]

# Decoders we let near user bytes; every other Pillow plugin stays unused (smaller attack surface).
_WANTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "AVIF", "BMP", "GIF")
_FORMATS_TEXT = "JPEG, PNG, WebP, BMP or GIF"
_JPEG_QUALITIES = (92, 85, 75, 65, 50, 35)
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error)
# Within 2 % of 1:1 counts as square, so a crop a few pixels off square still gets a square video.
_SQUARE_TOLERANCE = 0.02
_WHITE = (255, 255, 255)
_SRGB = ImageCms.createProfile("sRGB")
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_MODE_NAMES = {
    "CMYK": "CMYK",
    "L": "grayscale",
    "P": "palette colours",
    "1": "black and white",
}
# Above this many distinct colours an image is photographic and PNG cannot beat JPEG.
_PNG_MAX_COLOURS = 1 << 16
_PIXELS_IN_MESSAGE = re.compile(r"\((\d+) pixels\)")
_TEXT_BYTES = frozenset(b"\t\n\r") | frozenset(range(0x20, 0x100))
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
# Files that start like an image Pillow decodes but are not identified are damaged, not foreign.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"\x1aE\xdf\xa3", "a WebM or MKV video"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"8BPS", "a Photoshop document"),
)


@dataclass(frozen=True)
class ImageLimits:
    """What an input image must satisfy; sizes in pixels, sizes of files in bytes."""

    min_side_px: int = 360
    max_side_px: int = 2000
    max_bytes: int = 10 * 1024 * 1024  # the prepared file we send
    max_source_bytes: int = 50 * 1024 * 1024  # the upload we agree to read
    # Decompression-bomb guard, checked on the header before any pixel is decoded. 64 MP lets a
    # 24 MP (6000×4000) or 48 MP phone photo through. Pillow's own global guard (about 179 MP)
    # still refuses first above that, so raising this past it has no effect.
    max_pixels: int = 64_000_000

    @property
    def max_aspect_ratio(self) -> float:
        """Long side over short side: beyond it the fitted short side would drop below minimum."""
        return self.max_side_px / self.min_side_px


@dataclass(frozen=True)
class PreparedImage:
    """An image that passed every check, written to disk ready to send.

    `source_width`/`source_height` are the pixel size stored in the file, before the EXIF
    rotation; `width`/`height` are the upright size of the prepared image.
    """

    path: Path
    width: int
    height: int
    mime: Literal["image/jpeg", "image/png"]
    size_bytes: int
    sha256: str
    source_width: int
    source_height: int
    source_format: str
    orientation: Orientation
    notes: tuple[str, ...]
    source_url: str | None = None

    def data_uri(self) -> str:
        """The prepared bytes as a `data:` URI, for providers that take base64 images."""
        encoded = base64.b64encode(self.path.read_bytes()).decode("ascii")
        return f"data:{self.mime};base64,{encoded}"


def prepare_image(
    source: str | bytes | Path,
    *,
    limits: ImageLimits = ImageLimits(),
    out_dir: Path,
    source_url: str | None = None,
) -> PreparedImage:
    """Check, normalise and write `source` (a file path or the raw bytes) for transport."""
    data = _read_source(source, limits)
    notes: list[str] = []
    with _open_image(data, limits) as src:
        source_size, source_format = src.size, src.format or "unknown"
        upright = _upright_size(src)
        target = _target_size(upright, limits)
        if _already_prepared(src, data, target, limits):
            try:
                src.load()  # still decode every pixel: a truncated file must fail here
            except _DECODE_ERRORS as exc:
                raise _damaged_error(str(exc)) from exc
            encoded, mime = data, Image.MIME[src.format]
        else:
            image = _decode_upright(src, target, notes)
            image = _fit(_to_rgb(image, notes), upright, target, notes)
            encoded, mime = _encode(image, limits, notes)
    suffix = ".png" if mime == "image/png" else ".jpg"
    path, digest = _write_content_addressed(encoded, out_dir, suffix)
    return PreparedImage(
        path=path,
        width=target[0],
        height=target[1],
        mime=mime,
        size_bytes=len(encoded),
        sha256=digest,
        source_width=source_size[0],
        source_height=source_size[1],
        source_format=source_format,
        orientation=_orientation(*target),
        notes=tuple(notes),
        source_url=source_url,
    )


def _already_prepared(src: Image.Image, data: bytes, target: tuple[int, int], limits: ImageLimits) -> bool:
    """A plain RGB JPEG that already fits every rule is sent byte for byte.

    Re-encoding a JPEG loses quality each time and changes its bytes; passing it through means
    preparing our own output again gives the same bytes (and sha256), which "Load settings"
    relies on to reproduce a run exactly. (PNG re-encoding is lossless and deterministic, and
    a photo PNG should still become a smaller JPEG, so PNGs take the normal path.) Anything
    carrying metadata (EXIF, ICC) is re-encoded, which strips it.
    """
    plain = not any(key in src.info for key in ("exif", "icc_profile", "transparency", "dpi"))
    return (
        src.format == "JPEG"
        and src.mode == "RGB"
        and plain
        and not getattr(src, "text", None)
        and not getattr(src, "is_animated", False)
        and src.size == target
        and len(data) <= limits.max_bytes
    )


def output_geometry(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Video size for a tier: the short side is the tier, the long side follows the aspect."""
    if min(width, height, short_side) <= 0:
        raise ValueError("width, height and short_side must be positive")
    long_side = 2 * round(short_side * max(width, height) / min(width, height) / 2)
    if width > height:
        return long_side, short_side
    if height > width:
        return short_side, long_side
    return short_side, short_side


# --- reading and decoding -------------------------------------------------------------------


def _read_source(source: str | bytes | Path, limits: ImageLimits) -> bytes:
    """The raw bytes of the upload, refusing empty and oversized files."""
    data = bytes(source) if isinstance(source, bytes | bytearray | memoryview) else _read_file(source, limits)
    if not data:
        raise InputError("image", "the file is empty (0 bytes). Upload the image again.")
    _check_source_size(len(data), limits)
    return data


def _read_file(source: str | Path, limits: ImageLimits) -> bytes:
    """Read a path, checking its size before reading it."""
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        raise InputError("image", "a web address is not a file; fetch it with media.remote first.")
    path = Path(source)
    try:
        _check_source_size(path.stat().st_size, limits)
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            "image",
            f"the uploaded file could not be read ({exc.strerror or type(exc).__name__}). Upload it again.",
        ) from exc


def _check_source_size(size: int, limits: ImageLimits) -> None:
    """Refuse uploads larger than we are willing to read."""
    if size > limits.max_source_bytes:
        raise InputError(
            "image",
            f"the file is {_mb(size)}; the largest upload we read is {_mb(limits.max_source_bytes)}. "
            "Upload a smaller file, for example exported as JPEG.",
        )


def _open_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Identify the image from its header only, refusing non-images and decompression bombs."""
    try:
        image = Image.open(io.BytesIO(data), formats=_accepted_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's global guard fired first (above about 179 MP, or a warning turned into an error).
        raise _bomb_error(_pixels_in_message(str(exc)), limits) from exc
    except Image.UnidentifiedImageError as exc:
        if data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP":
            raise _damaged_error("its header cannot be read") from exc
        raise InputError("image", _not_an_image_message(data)) from exc
    except _DECODE_ERRORS as exc:
        raise _damaged_error(str(exc)) from exc
    pixels = image.width * image.height
    if pixels > limits.max_pixels:
        image.close()
        raise _bomb_error(pixels, limits)
    return image


def _accepted_formats() -> tuple[str, ...]:
    """The wanted formats this Pillow build can actually decode."""
    Image.init()
    return tuple(f for f in _WANTED_FORMATS if f in Image.OPEN)


def _decode_upright(src: Image.Image, target: tuple[int, int], notes: list[str]) -> Image.Image:
    """Decode the first frame's pixels (at reduced scale when allowed) and turn it upright."""
    orientation_tag = _orientation_tag(src)
    try:
        frame_note = _frame_note(src)
        # The JPEG decoder can scale by 1/2, 1/4 or 1/8 while decoding; it never goes below the
        # size asked for, so the final high-quality resize still has enough pixels.
        src.draft("RGB", _stored_size(target, orientation_tag))
        src.load()
        if orientation_tag != 1:
            ImageOps.exif_transpose(src, in_place=True)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError("image", f"a frame of this image is too large ({exc}).") from exc
    except _DECODE_ERRORS as exc:
        raise _damaged_error(str(exc)) from exc
    if frame_note:
        notes.append(frame_note)
    if orientation_tag in range(2, 9):
        notes.append(f"turned upright using its EXIF orientation ({orientation_tag})")
    return src


def _orientation_tag(src: Image.Image) -> int:
    """The EXIF orientation (1–8), or 1 when absent or unreadable."""
    try:
        tag = src.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return tag if isinstance(tag, int) else 1


def _frame_note(src: Image.Image) -> str | None:
    """A note when the file holds more than one frame; we always use the first."""
    if not getattr(src, "is_animated", False):
        return None
    if src.format == "MPO":
        return "multi-picture JPEG: used the primary picture"
    return f"animated {src.format} ({src.n_frames} frames): used the first frame"


def _stored_size(upright: tuple[int, int], orientation_tag: int) -> tuple[int, int]:
    """Map an upright size back to the file's stored orientation."""
    width, height = upright
    return (height, width) if orientation_tag in (5, 6, 7, 8) else (width, height)


# --- size rules -----------------------------------------------------------------------------


def _upright_size(src: Image.Image) -> tuple[int, int]:
    """The displayed size once the EXIF orientation is applied."""
    return _stored_size(src.size, _orientation_tag(src))


def _target_size(size: tuple[int, int], limits: ImageLimits) -> tuple[int, int]:
    """The prepared size: unchanged if it fits, else the long side fitted to the maximum."""
    width, height = size
    long_side, short_side = max(size), min(size)
    if short_side < limits.min_side_px:
        raise InputError(
            "image",
            f"{width}×{height} px is too small; each side must be at least {limits.min_side_px} px. "
            "Upload a larger image (we never upscale silently).",
        )
    # Integer form of long/short > max/min, so the boundary ratio itself is accepted exactly.
    if long_side * limits.min_side_px > short_side * limits.max_side_px:
        raise InputError(
            "image",
            f"{width}×{height} px has an aspect ratio of {long_side / short_side:.3f}:1; the widest "
            f"allowed is {limits.max_aspect_ratio:.3f}:1 ({limits.max_side_px} ÷ "
            f"{limits.min_side_px} px), because once the long side is fitted to "
            f"{limits.max_side_px} px the short side must still be at least "
            f"{limits.min_side_px} px. Crop the image closer to 16:9, 9:16 or square.",
        )
    if long_side <= limits.max_side_px:
        return size
    fitted_short = max(limits.min_side_px, round(short_side * limits.max_side_px / long_side))
    return (limits.max_side_px, fitted_short) if width >= height else (fitted_short, limits.max_side_px)


def _fit(
    image: Image.Image,
    upright: tuple[int, int],
    target: tuple[int, int],
    notes: list[str],
) -> Image.Image:
    """Resize the decoded pixels to the target size; only ever a reduction."""
    if image.size != target:
        # reducing_gap lets Pillow box-reduce large factors first; LANCZOS does the final step.
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if upright != target:
        notes.append(
            f"downscaled from {upright[0]}×{upright[1]} to {target[0]}×{target[1]} px "
            f"(longest side at most {max(target)} px)"
        )
    return image


def _orientation(width: int, height: int) -> Orientation:
    """Landscape, portrait or (within the tolerance) square."""
    if abs(width - height) <= _SQUARE_TOLERANCE * max(width, height):
        return "square"
    return "landscape" if width > height else "portrait"


# --- colour normalisation -------------------------------------------------------------------


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """8-bit sRGB with no alpha, whatever the source mode."""
    image = _to_8bit(image, notes)
    image = _flatten_alpha(image, notes)
    if image.mode in ("P", "1"):
        notes.append(f"converted from {_MODE_NAMES[image.mode]} to RGB")
        image = image.convert("RGB")
    image = _to_srgb(image, notes)
    if image.mode != "RGB":
        notes.append(f"converted from {_MODE_NAMES.get(image.mode, image.mode)} to RGB")
        image = image.convert("RGB")
    return image


def _to_8bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """Scale 16/32-bit grayscale to 8 bits (Pillow's own conversion clips instead of scaling)."""
    if image.mode not in _WIDE_MODES:
        return image
    notes.append(f"converted from 16-bit ({image.mode}) to 8-bit")
    scaled = image.convert("I").point(lambda value: value / 257 + 0.5).convert("L")
    scaled.info = dict(image.info)
    return scaled


def _flatten_alpha(image: Image.Image, notes: list[str]) -> Image.Image:
    """Composite any transparency onto white; providers refuse alpha."""
    if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
        return image
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        # Still noted: a provider that refuses PNG with alpha must not be sent the original.
        notes.append("alpha channel removed (it was fully opaque)")
        return rgba.convert("RGB")
    flat = Image.new("RGB", rgba.size, _WHITE)
    flat.paste(rgba, mask=alpha)
    if "icc_profile" in image.info:
        flat.info["icc_profile"] = image.info["icc_profile"]
    notes.append("transparency flattened onto white")
    return flat


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Apply an embedded colour profile so the pixels are sRGB, as the providers assume."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile).strip() or "embedded"
        if image.mode == "RGB" and "srgb" in name.lower():
            return image
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("its colour profile could not be applied; colours used as stored")
        return image
    notes.append(f"colours converted from the '{name}' profile to sRGB")
    return converted


# --- encoding and writing -------------------------------------------------------------------


def _encode(image: Image.Image, limits: ImageLimits, notes: list[str]) -> tuple[bytes, str]:
    """The smaller of JPEG and PNG, within the transport size limit."""
    image.info = {}  # no EXIF, ICC or text chunks reach the provider
    jpeg = _jpeg_bytes(image, _JPEG_QUALITIES[0])
    png = _png_bytes_within(image, min(len(jpeg) - 1, limits.max_bytes))
    if png is not None:
        notes.append("saved as PNG, which is smaller than JPEG for this image")
        return png, "image/png"
    return _jpeg_within(image, jpeg, limits, notes), "image/jpeg"


def _jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """Baseline JPEG, 4:2:0, optimised Huffman tables, no metadata."""
    buffer = io.BytesIO()
    image.save(
        buffer,
        "JPEG",
        quality=quality,
        optimize=True,
        progressive=False,
        subsampling="4:2:0",
    )
    return buffer.getvalue()


def _jpeg_within(image: Image.Image, first: bytes, limits: ImageLimits, notes: list[str]) -> bytes:
    """Lower the JPEG quality step by step until the file fits the transport limit."""
    encoded = first
    for quality in _JPEG_QUALITIES:
        if quality != _JPEG_QUALITIES[0]:
            encoded = _jpeg_bytes(image, quality)
        if len(encoded) <= limits.max_bytes:
            if quality != _JPEG_QUALITIES[0]:
                notes.append(f"JPEG quality lowered to {quality} to stay within {_mb(limits.max_bytes)}")
            return encoded
    raise InputError(
        "image",
        f"even at JPEG quality {_JPEG_QUALITIES[-1]} the image is {_mb(len(encoded))}; "
        f"the limit is {_mb(limits.max_bytes)}. Upload a smaller or simpler image.",
    )


class _Overflow(Exception):
    """The capped buffer was asked to grow past its cap."""


class _CappedBuffer(io.BytesIO):
    """A BytesIO that refuses to grow past `cap` bytes, so a losing PNG encode stops early."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self._cap = cap

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._cap:
            raise _Overflow
        return super().write(data)


def _png_bytes_within(image: Image.Image, cap: int) -> bytes | None:
    """The PNG encoding if it fits in `cap` bytes; only tried for images with few colours."""
    if cap <= 0 or image.getcolors(maxcolors=_PNG_MAX_COLOURS) is None:
        return None
    buffer = _CappedBuffer(cap)
    try:
        image.save(buffer, "PNG")
    except _Overflow:
        return None
    return buffer.getvalue()


def _write_content_addressed(data: bytes, out_dir: Path, suffix: str) -> tuple[Path, str]:
    """Write `data` as `<sha256><suffix>` in `out_dir` (atomically); return path and digest."""
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{digest}{suffix}"
    if path.exists():
        return path, digest
    # Write then rename, so a concurrent reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path, digest


# --- messages -------------------------------------------------------------------------------


def _bomb_error(pixels: int | None, limits: ImageLimits) -> InputError:
    """The decompression-bomb refusal, naming the declared size and the cap."""
    declared = f"{pixels:,} pixels ({pixels / 1e6:.1f} MP)" if pixels else "too many pixels"
    return InputError(
        "image",
        f"the image declares {declared}; the limit is {limits.max_pixels / 1e6:g} MP, a guard "
        "against decompression bombs. Resize it below that before uploading.",
    )


def _pixels_in_message(message: str) -> int | None:
    """The pixel count Pillow puts in its decompression-bomb message, if present."""
    match = _PIXELS_IN_MESSAGE.search(message)
    return int(match.group(1)) if match else None


def _damaged_error(detail: str) -> InputError:
    """A decode failure: the bytes claim to be an image but are damaged or truncated."""
    return InputError(
        "image",
        f"the image data is damaged or cut short ({detail[:120] or 'unreadable'}). "
        "Re-export the image or upload the file again.",
    )


def _not_an_image_message(data: bytes) -> str:
    """Say what the file seems to be instead, when that is easy to tell."""
    kind = _sniff_kind(data)
    looks = f" (it looks like {kind})" if kind else ""
    return f"this file is not an image we can read{looks}. Upload a {_FORMATS_TEXT} image."


def _sniff_kind(data: bytes) -> str | None:
    """A guess at what a non-image file is, from its first bytes."""
    head = data[:512]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "a HEIC/HEIF photo; export it as JPEG first"
        return "an AVIF image" if brand in (b"avif", b"avis") else "an MP4 or MOV video"
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if not set(head) <= _TEXT_BYTES:
        return None
    text = head.lstrip().lower()
    if text.startswith(b"<svg") or b"<svg" in data[:4096].lower():
        return "an SVG drawing, which must be exported as PNG first"
    if text.startswith((b"<!doctype html", b"<html")):
        return "a web page"
    return "text"


def _mb(size: int) -> str:
    """Bytes as megabytes for messages: 10 MB, 63.2 MB."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"

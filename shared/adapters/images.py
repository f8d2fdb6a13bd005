"""Image handling with Pillow: the safe path from untrusted bytes to a clean, upright, metadata-free JPEG.

Pillow (and numpy, for quality measurements) are imported inside the functions: the webhook imports
this module only when a photo arrives, and nothing of it is on the cold path of any function.

Order matters (shared/domain/photos.py holds the limits):
1. size and real format from the magic bytes (no decoder involved);
2. open = parse the header only; the header's format must match, the pixel count must be within
   limits (Image.MAX_IMAGE_PIXELS is set too, as a second lock), animations are refused;
3. only then decode; truncated data is an error, never a half-grey picture;
4. EXIF orientation applied, converted to 8-bit RGB (CMYK, 16-bit, palette, alpha on white);
5. re-encoded from pixels only: no EXIF (GPS), no XMP, no ICC, no comments survive;
6. a smaller copy for the triage function when the photo is bigger than it needs (see analysis_size).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from shared.adapters.third_party_logs import keep_owner_text_out_of_logs
from shared.domain.photos import (
    MAX_PIXELS, STORED_JPEG_QUALITY, STORED_MAX_SIDE, PhotoRejected, analysis_size, check_bytes, check_dimensions,
    stored_size,
)
from shared.domain.triage import PhotoQuality

_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes      # JPEG
    width: int
    height: int
    source_format: str
    analysis: bytes | None = None  # JPEG of the triage copy; None when `data` is small enough itself


def _pil():
    from PIL import Image, ImageFile

    # Second lock behind check_dimensions: Pillow raises DecompressionBombError past 2x this.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return Image


def clean_photo(data: bytes, max_side: int = STORED_MAX_SIDE) -> CleanImage:
    """Untrusted bytes -> CleanImage, or PhotoRejected with the reply's key. Never anything else."""
    fmt = check_bytes(data)
    Image = _pil()
    keep_owner_text_out_of_logs()  # Pillow logs EXIF values (Artist, GPS...) at DEBUG
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])  # header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected("photo.too_many_pixels", mp=MAX_PIXELS // 1_000_000) from None
    except Exception:  # noqa: BLE001 - any parse failure of untrusted data is "corrupt", never a crash
        raise PhotoRejected("photo.corrupt") from None
    try:
        return _clean_opened(img, fmt, max_side)
    finally:
        img.close()


def _clean_opened(img, fmt: str, max_side: int) -> CleanImage:
    Image = _pil()
    from PIL import ImageOps

    width, height = img.size
    check_dimensions(width, height)
    if getattr(img, "n_frames", 1) > 1:  # animated WebP / APNG
        raise PhotoRejected("photo.animated")
    target = stored_size(width, height, max_side)
    try:
        if fmt == "jpeg" and target != (width, height):
            img.draft(img.mode, target)  # let libjpeg decode at 1/2, 1/4, 1/8: less memory and time
        img.load()
        upright = ImageOps.exif_transpose(img)  # returns a copy without the orientation tag
        rgb = _to_rgb(upright, Image)
        tw, th = stored_size(*rgb.size, max_side)
        if (tw, th) != rgb.size:
            rgb = rgb.resize((tw, th), Image.LANCZOS)
        # A fresh image from the pixels alone: nothing of the source's info/metadata can follow.
        clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
        data, analysis = _jpeg(clean), analysis_copy(clean)
    except PhotoRejected:
        raise
    except MemoryError:
        raise PhotoRejected("photo.too_many_pixels", mp=MAX_PIXELS // 1_000_000) from None
    except Exception:  # noqa: BLE001 - truncated/corrupt pixel data, broken EXIF, odd modes
        raise PhotoRejected("photo.corrupt") from None
    return CleanImage(data, clean.width, clean.height, fmt, analysis)


def analysis_copy(img) -> bytes | None:
    """JPEG of the smaller copy the triage function analyses (see analysis_size), or None if not needed."""
    size = analysis_size(*img.size)
    # reducing_gap=1: an integer box reduction as far as it goes (~1 ms for a phone photo), then Lanczos
    # for what remains; a Lanczos of the whole photo costs ~17 ms on the webhook's path
    return _jpeg(img.resize(size, _pil().LANCZOS, reducing_gap=1.0)) if size else None


def _jpeg(img) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=STORED_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _to_rgb(img, Image):
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: scale to 8 bits instead of clipping everything above 255 to white
        _, hi = img.convert("I").getextrema()
        scale = 1 / 256 if hi and hi > 255 else 1.0
        return img.convert("I").point(lambda v: v * scale).convert("L").convert("RGB")
    if mode == "F":
        return img.convert("L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode == "RGB":
            return img
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def open_stored(data: bytes):
    """A stored (already clean) photo as a PIL image, fully decoded; PhotoRejected if unreadable."""
    Image = _pil()
    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"])
        check_dimensions(*img.size)
        img.load()
    except PhotoRejected:
        raise
    except Exception:  # noqa: BLE001
        raise PhotoRejected("photo.corrupt") from None
    return img.convert("RGB") if img.mode != "RGB" else img


def measure_quality(img, work_side: int = 512) -> PhotoQuality:
    """Brightness (mean grey) and sharpness (variance of a 4-neighbour Laplacian) on a bounded copy."""
    import numpy as np

    Image = _pil()
    width, height = img.size
    grey = img.convert("L")
    scale = work_side / max(width, height)
    if scale < 1:
        grey = grey.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    a = np.asarray(grey, dtype=np.float32)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return PhotoQuality(width, height, float(a.mean()) if a.size else 0.0, 0.0)
    lap = (a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * a[1:-1, 1:-1])
    return PhotoQuality(width, height, float(a.mean()), float(lap.var()))

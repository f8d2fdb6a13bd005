"""Photos owners send: limits, what the bytes really are, what the photo shows. Pure rules, no I/O.

Everything here runs BEFORE any decoder sees the bytes: the size, the real format from the magic
bytes (never the file name or the declared mime type), and the pixel count from the header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# The Bot API's getFile refuses files over 20 MB ("file is too big"): nothing bigger can reach us.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# Pixel count allowed into the decoder: 40 MP is above any phone photo Telegram passes as a document
# (a 48 MP sensor saves 12 MP by default) and bounds decoded memory at ~160 MB RGBA worst case.
MAX_PIXELS = 40_000_000
MIN_SIDE_AT_INTAKE = 32          # smaller is not a photo of anything (the triage gate asks for more)
STORED_MAX_SIDE = 2048           # what we keep: enough for a vet to look at, small for the trigger
STORED_JPEG_QUALITY = 90
# The triage function reads a smaller copy made at intake, not the stored photo: a shorter side of twice
# the model's 240 px input lets the JPEG decoder's 1/2 DCT scale give the model its size with no resize,
# and the quality gate works on <= 512 px anyway. Decoding a 1280 px photo costs over twice as much.
ANALYSIS_SHORT_SIDE = 480

ACCEPTED_FORMATS = ("jpeg", "png", "webp")


class Area(str, Enum):
    SKIN = "skin"
    EYE = "eye"
    OTHER = "other"


@dataclass(frozen=True)
class PhotoRecord:
    """users/{owner}/pets/{pet}/photos/{photo_id}: written by intake before the photo is uploaded, only while
    the owner exists. The trigger answers from it (never from the object's metadata): which message to edit,
    in which language, about what; a photo without its record belongs to nobody."""

    owner_id: int
    pet_id: str
    photo_id: str
    area: Area
    language: str
    progress_message_id: int | None


class PhotoRejected(ValueError):
    """A file we will not store; ``code`` names the reply (a triage.po key)."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


def sniff_format(head: bytes) -> str | None:
    """The real container format from the first bytes: jpeg, png, webp, gif, heic, bmp, tiff or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim",
                                                                   b"heis", b"avif", b"hevc"):
        return "heic"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def check_bytes(data: bytes) -> str:
    """Size and real format, before anything is decoded. Returns the format or raises PhotoRejected."""
    if not data:
        raise PhotoRejected("photo.empty")
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise PhotoRejected("photo.too_big", mb=MAX_DOWNLOAD_BYTES // (1024 * 1024))
    fmt = sniff_format(data[:16])
    if fmt == "gif":
        raise PhotoRejected("photo.gif")
    if fmt in ("heic", "bmp", "tiff"):
        raise PhotoRejected("photo.unsupported_format")
    if fmt not in ACCEPTED_FORMATS:
        raise PhotoRejected("photo.not_image")
    return fmt


def check_dimensions(width: int, height: int) -> None:
    """Pixel count from the header, before decoding."""
    if width <= 0 or height <= 0:
        raise PhotoRejected("photo.corrupt")
    if width * height > MAX_PIXELS:
        raise PhotoRejected("photo.too_many_pixels", mp=MAX_PIXELS // 1_000_000)
    if min(width, height) < MIN_SIDE_AT_INTAKE:
        raise PhotoRejected("photo.too_small")


def check_declared_size(size: int | None) -> None:
    """Telegram tells us the size in the update: refuse a file getFile would refuse, without asking."""
    if size and size > MAX_DOWNLOAD_BYTES:
        raise PhotoRejected("photo.too_big", mb=MAX_DOWNLOAD_BYTES // (1024 * 1024))


def stored_size(width: int, height: int, max_side: int = STORED_MAX_SIDE) -> tuple[int, int]:
    """Size of the stored copy: at most ``max_side`` on the longer side, aspect kept."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def analysis_size(width: int, height: int, short_side: int = ANALYSIS_SHORT_SIDE) -> tuple[int, int] | None:
    """Size of the triage copy (shorter side ``short_side``, aspect kept), or None: the photo is small enough."""
    shortest = min(width, height)
    if shortest <= short_side:
        return None
    scale = short_side / shortest
    return max(short_side, round(width * scale)), max(short_side, round(height * scale))


_AREA_WORDS = {
    Area.EYE: ("глаз", "глаза", "глазом", "глазу", "веко", "век", "eye", "eyes", "eyelid"),
    Area.SKIN: ("кожа", "кожи", "коже", "кожу", "шерсть", "лишай", "пятно", "сыпь", "зуд", "проплешина",
                "skin", "rash", "fur", "coat", "spot", "itch", "lesion", "bald"),
    Area.OTHER: ("ухо", "уши", "лапа", "лапы", "зуб", "зубы", "пасть", "ear", "ears", "paw", "paws", "tooth",
                 "teeth", "mouth"),
}
_WORD = re.compile(r"[\w-]+", re.UNICODE)


def area_from_caption(caption: str | None) -> Area | None:
    """What the photo shows, when the caption says it plainly ("глаз", "skin"...); None when unsure."""
    words = {w.lower() for w in _WORD.findall(caption or "")}
    found = {area for area, vocabulary in _AREA_WORDS.items() if words & set(vocabulary)}
    return found.pop() if len(found) == 1 else None


def pet_from_caption(caption: str | None, pets: list) -> object | None:
    """The one pet whose name the caption mentions, else None."""
    text = " ".join(w.lower() for w in _WORD.findall(caption or ""))
    if not text:
        return None
    padded = f" {text} "
    named = [p for p in pets if p.name and f" {' '.join(w.lower() for w in _WORD.findall(p.name))} " in padded]
    return named[0] if len(named) == 1 else None

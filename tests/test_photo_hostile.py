"""200 hostile files through the intake (accept_photo with the real image cleaning, fake chat and storage).

Each gets a clear reply, nothing crashes, nothing unsafe is stored; what is stored is an upright,
8-bit RGB JPEG without EXIF/GPS/ICC/XMP. A handful of these also go through the whole local stack
(tests/test_triage_e2e.py).
"""
from __future__ import annotations

import asyncio
import io
import random
import re
import struct
import zlib

import pytest
from PIL import Image

from shared.adapters.images import clean_photo
from shared.domain.photos import Area, analysis_size
from shared.domain.pets import Pet, Species
from shared.i18n import t
from shared.services.triage import IncomingFile, accept_photo, analysis_name
from tests.fakes import FakeChat, FakePets, FakePhotoStorage, FakeTriageResults

OWNER = 5001

# ---- makers -------------------------------------------------------------------------------------


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def textured(size=(640, 480), seed=0, mode="RGB") -> Image.Image:
    """A busy picture (sharp, mid-bright) with a red marker in the top-left quarter: orientation check."""
    rnd = random.Random(seed)
    w, h = size
    img = Image.effect_noise((w, h), 60).convert("RGB")
    px = Image.new("RGB", (w, h), (rnd.randint(90, 160), rnd.randint(70, 130), rnd.randint(60, 110)))
    img = Image.blend(img, px, 0.6)
    img.paste((255, 0, 0), (0, 0, w // 4, h // 4))
    return img.convert(mode) if mode != "RGB" else img


def jpeg(size=(640, 480), seed=0, **kw) -> bytes:
    return _encode(textured(size, seed), "JPEG", quality=85, **kw)


def exif_rotated(orientation: int, seed=0, gps=True) -> bytes:
    """A JPEG whose pixels are stored rotated, with the EXIF orientation that makes it upright, plus GPS."""
    upright = textured((640, 480), seed)
    stored = {1: upright, 3: upright.rotate(180), 6: upright.rotate(90, expand=True),
              8: upright.rotate(-90, expand=True), 2: upright.transpose(Image.FLIP_LEFT_RIGHT),
              4: upright.transpose(Image.FLIP_TOP_BOTTOM)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0131] = "Camera 1.0"
    if gps:
        exif[0x8825] = {1: "N", 2: (55.0, 45.0, 21.0), 3: "E", 4: (37.0, 37.0, 4.0)}  # Moscow
    return _encode(stored, "JPEG", exif=exif.tobytes(), quality=90)


def png_bomb(w=20000, h=20000) -> bytes:
    """A tiny PNG whose header says w x h (would decode to gigabytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\x00" * (w * 3 + 1) * 64, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def gif(animated: bool) -> bytes:
    frames = [textured((200, 200), s).convert("P") for s in range(3 if animated else 1)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=animated, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def animated_webp() -> bytes:
    frames = [textured((200, 200), s) for s in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def cmyk_jpeg(seed=0) -> bytes:
    return _encode(textured((400, 300), seed).convert("CMYK"), "JPEG", quality=85)


def png16(seed=0, size=(300, 200)) -> bytes:
    img = Image.new("I;16", size)
    img.putdata([(i * 37 + seed * 101) % 65536 for i in range(size[0] * size[1])])
    return _encode(img, "PNG")


def palette_alpha_png(seed=0) -> bytes:
    img = textured((300, 300), seed).convert("RGBA")
    img.putalpha(128)
    return _encode(img.convert("P") if seed % 2 else img, "PNG")


def over_20mb() -> bytes:
    head = jpeg((64, 64))
    return head + b"\x00" * (20 * 1024 * 1024 + 10 - len(head))


# ---- the 200 ------------------------------------------------------------------------------------
# (name, bytes, expected reply key or None when it must be accepted, check)

def hostile_files() -> list[tuple[str, bytes, str | None]]:
    base = jpeg()
    files: list[tuple[str, bytes, str | None]] = []
    files.append(("zero-byte.jpg", b"", "photo.empty"))
    for i in range(40):  # truncated JPEGs at many cut points (header-only cuts and mid-scan cuts)
        cut = max(3, int(len(base) * (i + 1) / 42)) if i < 38 else (20 if i == 38 else 2)
        files.append((f"truncated-{i}.jpg", base[:cut], "photo.corrupt" if cut >= 3 else "photo.not_image"))
    png, webp = _encode(textured((400, 300)), "PNG"), _encode(textured((400, 300)), "WEBP")
    for i in range(12):  # truncated PNGs
        files.append((f"truncated-{i}.png", png[:max(9, len(png) * (i + 1) // 13)], "photo.corrupt"))
    for i in range(11):  # truncated WebPs
        files.append((f"truncated-{i}.webp", webp[:max(13, len(webp) * (i + 1) // 12)], "photo.corrupt"))
    files.append(("bomb-20000.png", png_bomb(), "photo.too_many_pixels"))
    files.append(("bomb-9000x9000.png", png_bomb(9000, 9000), "photo.too_many_pixels"))
    files.append(("bomb-wide.png", png_bomb(100000, 500), "photo.too_many_pixels"))
    for i, text in enumerate(["hello", "<html><body>hi</body></html>", "%PDF-1.4\n", "PK\x03\x04zip", "#!/bin/sh\nrm -rf /",
                              "\ufeffтекст", "{\"json\": true}", "GIF8", "\x89PN", "RIFF1234WAVE"]):
        files.append((f"text-{i}.jpg", text.encode(), "photo.not_image"))
    files.append(("still.gif", gif(False), "photo.gif"))
    files.append(("animated.gif", gif(True), "photo.gif"))
    files.append(("animated.webp", animated_webp(), "photo.animated"))
    files.append(("fake-heic.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "photo.unsupported_format"))
    files.append(("bitmap.jpg", _encode(textured((100, 100)), "BMP"), "photo.unsupported_format"))
    files.append(("tiff.jpg", _encode(textured((100, 100)), "TIFF"), "photo.unsupported_format"))
    files.append(("tiny.png", _encode(textured((8, 8)), "PNG"), "photo.too_small"))
    files.append(("too-big.jpg", over_20mb(), "photo.too_big"))
    for i in range(10):
        files.append((f"cmyk-{i}.jpg", cmyk_jpeg(i), None))
    for i in range(10):
        files.append((f"16bit-{i}.png", png16(i), None))
    for i in range(8):
        files.append((f"alpha-{i}.png", palette_alpha_png(i), None))
    for i, o in enumerate([3, 6, 8, 2, 4, 1] * 5):
        files.append((f"exif-rot{o}-{i}.jpg", exif_rotated(o, seed=i), None))
    rnd = random.Random(4)
    for i in range(20):  # random byte flips in the scan data: decoders must not crash
        b = bytearray(base)
        for _ in range(20):
            b[rnd.randrange(200, len(b))] = rnd.randrange(256)
        files.append((f"flipped-{i}.jpg", bytes(b), "any"))
    for i in range(15):  # corrupt headers: random garbage after the JPEG/PNG magic
        magic = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x10\x00\x00\x00WEBPVP8 "][i % 3]
        files.append((f"garbage-{i}.bin", magic + rnd.randbytes(200 + i * 50), "photo.corrupt"))
    for i in range(8):
        files.append((f"ok-{i}.webp", _encode(textured((500, 400), i), "WEBP"), None))
    for i in range(10):
        files.append((f"ok-{i}.jpg", jpeg((800 + i * 100, 600), seed=i), None))
    files.append(("huge-but-allowed.jpg", jpeg((6000, 4000)), None))
    files.append(("grey.jpg", _encode(textured((400, 300)).convert("L"), "JPEG"), None))
    files.append(("one-bit.png", _encode(textured((400, 300)).convert("1"), "PNG"), None))
    files.append(("png-text-chunks.png", _png_with_text(), None))
    return files


def _png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 55.75N 37.61E owner phone +7 900 000 00 00")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    return _encode(textured((400, 300)), "PNG", pnginfo=info)


FILES = hostile_files()


def test_every_refusal_the_intake_can_give_has_hostile_files():
    """A new reason to refuse a file, in the byte checks or the image cleaning, fails here until files
    that provoke it join the list above."""
    import inspect

    from shared.adapters import images
    from shared.domain import photos

    codes = {code for module in (photos, images)
             for code in re.findall(r"PhotoRejected\(\"(photo\.[a-z_]+)\"", inspect.getsource(module))}
    provoked = {expected for _, _, expected in FILES if expected not in (None, "any")}
    assert len(codes) >= 8 and not codes - provoked, f"no hostile file provokes {sorted(codes - provoked)}"


def assert_safe_jpeg(data: bytes) -> Image.Image:
    assert data[:3] == b"\xff\xd8\xff"
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.mode == "RGB"
    assert not img.getexif() and "exif" not in img.info and "icc_profile" not in img.info
    assert not any(k in img.info for k in ("xmp", "XML:com.adobe.xmp", "comment", "Comment"))
    assert not set(jpeg_markers(data)) & {0xE1, 0xE2, 0xED, 0xFE}, "APP1 (EXIF/XMP), ICC, IPTC or comment left"
    assert max(img.size) <= 2048
    img.load()
    return img


def jpeg_markers(data: bytes) -> list[int]:
    """The segment markers before the scan (APPn, COM, DQT...): metadata lives there."""
    markers, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return markers


def red_corner_is_top_left(img: Image.Image) -> bool:
    w, h = img.size
    r, g, b = img.convert("RGB").getpixel((w // 10, h // 10))
    r2, _, _ = img.convert("RGB").getpixel((w - w // 10, h - h // 10))
    return r > 200 and g < 80 and b < 80 and r2 < 220


def _run(data: bytes, name: str):
    pets = FakePets()
    pets.pets[(OWNER, "rex")] = Pet(id="rex", owner_id=OWNER, species=Species.DOG, name="Rex")
    chat = FakeChat({name: data})
    storage = FakePhotoStorage()
    stored = asyncio.run(accept_photo(pets=pets, records=FakeTriageResults(), storage=storage, chat=chat,
                                      clean=clean_photo, owner_id=OWNER, chat_id=OWNER, language="en", pet_id="rex",
                                      area=Area.SKIN, file=IncomingFile(name, len(data))))
    return stored, chat, storage


@pytest.mark.parametrize("name,data,expected", FILES, ids=[f[0] for f in FILES])
def test_hostile_file_gets_a_clear_reply_and_nothing_unsafe_is_stored(name, data, expected):
    stored, chat, storage = _run(data, name)
    if expected is None or (expected == "any" and stored):
        img = assert_safe_jpeg(storage.objects[stored][0])
        copy = analysis_size(*img.size)
        assert list(storage.objects) == ([analysis_name(stored)] if copy else []) + [stored]
        assert chat.sent[-1]["text"] == t("en", "triage.analysing")
        meta = storage.objects[stored][1]
        assert set(meta) == {"owner_id", "pet_id", "photo_id"} | ({"analysis_copy"} if copy else set())
        assert "Rex" not in str(meta)
        if copy:  # the triage copy is as clean as the photo, and only ids go with it
            data, copy_meta = storage.objects[analysis_name(stored)]
            assert assert_safe_jpeg(data).size == copy
            assert copy_meta == {"owner_id": str(OWNER), "pet_id": "rex", "photo_id": meta["photo_id"]}
        if name.startswith("exif-rot"):
            assert 0xE1 in jpeg_markers(data) and b"GPS" not in storage.objects[stored][0][:64]
            assert red_corner_is_top_left(img), "stored photo is not upright"
            assert img.size == (640, 480)
        return
    assert stored is None and not storage.objects
    assert len(chat.sent) == 1
    reply = chat.sent[0]["text"]
    if expected != "any":
        assert reply.startswith(t("en", expected, mb=20, mp=40)), reply
    assert not re.search(r"\bphoto\.[a-z]", reply) and "{" not in reply
    assert chat.sent[0]["buttons"]  # a "Retake photo" button


def test_too_big_is_refused_before_download():
    chat = FakeChat({})  # nothing to download: asking would KeyError
    pets = FakePets()
    pets.pets[(OWNER, "rex")] = Pet(id="rex", owner_id=OWNER, species=Species.DOG, name="Rex")
    stored = asyncio.run(accept_photo(pets=pets, records=FakeTriageResults(), storage=FakePhotoStorage(), chat=chat,
                                      clean=clean_photo, owner_id=OWNER, chat_id=OWNER, language="ru", pet_id="rex",
                                      area=Area.SKIN, file=IncomingFile("big", 25 * 1024 * 1024)))
    assert stored is None and "20 МБ" in chat.sent[0]["text"]


def test_bomb_is_refused_without_decoding(monkeypatch):
    from PIL import ImageFile

    def boom(self, *a, **k):
        raise AssertionError("decoded a bomb")
    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    from shared.domain.photos import PhotoRejected

    with pytest.raises(PhotoRejected) as err:
        clean_photo(png_bomb())
    assert err.value.code == "photo.too_many_pixels"


def test_cmyk_colours_survive_and_16bit_is_scaled_not_clipped():
    red = _encode(Image.new("RGB", (300, 200), (220, 30, 30)).convert("CMYK"), "JPEG", quality=95)
    r, g, b = Image.open(io.BytesIO(clean_photo(red).data)).getpixel((150, 100))
    assert r > 180 and g < 80 and b < 80
    mid = Image.new("I;16", (300, 200), 32768)
    v = Image.open(io.BytesIO(clean_photo(_encode(mid, "PNG")).data)).getpixel((150, 100))
    assert 100 < v[0] < 160


def test_pillow_is_not_imported_by_the_webhook_cold_path():
    import subprocess
    import sys

    code = ("import sys; import functions.telegram_webhook; import shared.bot.application, shared.bootstrap;"
            "bad=[m for m in ('PIL','google.cloud.storage','numpy','onnxruntime') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stdout + res.stderr

"""Unit tests of the skin-triage run-time adapter (committed model, self-made images only)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from shared.adapters.skin_model import SkinModel, SkinPrediction, default_model_dir, preprocess_image

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = default_model_dir()


@pytest.fixture(scope="module")
def model() -> SkinModel:
    return SkinModel.load()


def _jpeg(img: Image.Image, quality: int = 90) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf)


def _skinlike(seed: int = 0, size=(640, 640)) -> Image.Image:
    """A blotchy pink/brown texture: not a real photo, just something non-trivial."""
    rng = np.random.default_rng(seed)
    base = rng.normal((190, 140, 120), 30, (size[1] // 16, size[0] // 16, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(base).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(3))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        r = int(rng.integers(10, 60))
        d.ellipse((x - r, y - r, x + r, y + r), fill=(150, 60, 60))
    return img


def test_model_files_present_and_small():
    for name in ("model.onnx", "labels.json", "config.json", "model_card.md", "metrics.json"):
        assert (MODEL_DIR / name).is_file(), name
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert total <= 25 * 1024 * 1024


def test_load_is_cached_and_has_metadata(model):
    assert SkinModel.load() is model
    assert model.labels == json.loads((MODEL_DIR / "labels.json").read_text())
    assert len(model.labels) == 6 and "healthy" in model.labels
    assert model.version == MODEL_DIR.name
    assert 0.0 < model.threshold < 1.0
    assert np.isfinite(model.ood_threshold) and model.ood_threshold > 0


def test_graph_calibrates_with_the_fitted_temperature(model):
    """The graph's probs are softmax(logits / T) with the T the training run fitted and recorded."""
    temperature = json.loads((MODEL_DIR / "metrics.json").read_text())["temperature"]
    x = np.concatenate([model.preprocess(_skinlike(s)) for s in (10, 11)])
    logits, = model.session.run(["logits"], {model.input_name: x})
    probs, = model.session.run(["probs"], {model.input_name: x})
    z = logits / temperature
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(probs, expected, atol=1e-5)


def test_graph_pixel_spread_tells_flat_from_textured(model):
    flat = model.session.run(["pixel_std"], {model.input_name: model.preprocess(Image.new("RGB", (300, 300), (120, 120, 120)))})[0]
    textured = model.session.run(["pixel_std"], {model.input_name: model.preprocess(_skinlike(12))})[0]
    assert flat[0] < 1e-3 < model.min_pixel_std < textured[0]


@pytest.mark.parametrize(
    "img",
    [
        Image.new("RGB", (640, 640), (200, 120, 100)),
        Image.new("RGB", (1280, 720), (10, 20, 30)),   # landscape
        Image.new("RGB", (300, 900), (10, 20, 30)),    # portrait
        Image.new("L", (100, 100), 128),                # grayscale, smaller than input
        Image.new("RGBA", (500, 400), (0, 0, 0, 0)),   # transparent
        Image.new("P", (256, 256)),
    ],
)
def test_preprocess_shape_dtype(model, img):
    x = model.preprocess(img)
    assert x.shape == (1, model.input_size, model.input_size, 3)
    assert x.dtype == np.uint8
    assert x.flags["C_CONTIGUOUS"]


def test_preprocess_keeps_pixel_values_for_the_graph_to_normalise(model):
    x = model.preprocess(Image.new("RGB", (400, 400), (255, 0, 128)))
    assert (x == np.array([255, 0, 128], dtype=np.uint8)).all()
    graph_input = model.session.get_inputs()[0]
    assert graph_input.type == "tensor(uint8)"
    assert graph_input.shape[1:] == [model.input_size, model.input_size, 3]


def test_preprocess_jpeg_draft_matches_full_decode(model):
    img = _skinlike(1)
    fast = model.preprocess(_jpeg(img))             # draft (reduced-scale) decode
    loaded = _jpeg(img)
    loaded.load()                                     # already decoded: draft is a no-op
    full = model.preprocess(loaded)
    assert np.abs(fast.astype(np.int16) - full).mean() < 6  # of 255


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def test_jpeg_bytes_decode_at_reduced_scale_like_the_pillow_path(model):
    img = _skinlike(7)                                # 640x640, the dataset's size
    data = _jpeg_bytes(img)
    fast = model.preprocess(data)                     # libjpeg DCT scaling, no resize
    assert fast.shape == (1, model.input_size, model.input_size, 3) and fast.dtype == np.uint8
    slow = model.preprocess(Image.open(io.BytesIO(data)).convert("RGB"))  # full decode + Pillow resize
    assert np.abs(fast.astype(np.int16) - slow).mean() < 4  # of 255
    assert model.predict(data).label == model.predict(Image.open(io.BytesIO(data))).label


@pytest.mark.parametrize("size", [(1280, 960), (960, 1280), (1280, 720), (300, 200)])
def test_jpeg_bytes_of_any_size_give_the_centre_square(model, size):
    img = Image.new("RGB", size, (0, 0, 255))
    side = min(size)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    img.paste((255, 0, 0), (left, top, left + side, top + side))
    x = model.preprocess(_jpeg_bytes(img))
    assert x.shape == (1, model.input_size, model.input_size, 3)
    centre = x[0, 3:-3, 3:-3].astype(np.int16)
    assert (centre[..., 0] > 230).all() and (centre[..., 2] < 30).all()


def test_exif_rotated_jpeg_bytes_are_classified_upright(model):
    upright = Image.new("RGB", (640, 480), (0, 0, 255))
    upright.paste((255, 0, 0), (80, 0, 320, 240))     # red in the top-left of the centre square
    exif = Image.Exif()
    exif[0x0112] = 6                                  # stored rotated, displayed upright
    x = model.preprocess(_jpeg_bytes(upright.rotate(90, expand=True), exif=exif.tobytes()))
    q = model.input_size // 4
    assert x[0, q, q, 0] > 200 and x[0, -q, -q, 0] < 60


def test_png_and_webp_bytes_use_pillow(model):
    img = _skinlike(8, (500, 400))
    for fmt in ("PNG", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        x = model.preprocess(buf.getvalue())
        assert x.shape == (1, model.input_size, model.input_size, 3)
        assert np.abs(x.astype(np.int16) - model.preprocess(img)).mean() < 4


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 not really a jpeg", b"%PDF-1.4"])
def test_unreadable_bytes_raise_instead_of_returning_garbage(model, data):
    with pytest.raises(Exception):
        model.preprocess(data)


def test_truncated_jpeg_bytes_raise(model):
    data = _jpeg_bytes(_skinlike(9))
    with pytest.raises(OSError):
        model.preprocess(data[: len(data) // 2])


def test_preprocess_centre_crop(model):
    # a wide image whose centre square is red and whose sides are blue -> only red remains
    img = Image.new("RGB", (900, 300), (0, 0, 255))
    img.paste((255, 0, 0), (300, 0, 600, 300))
    x = model.preprocess(img)
    assert (x[0, :, 2:-2] == np.array([255, 0, 0], dtype=np.uint8)).all()


def test_predict_probabilities(model):
    p = model.predict(_jpeg(_skinlike(2)))
    assert isinstance(p, SkinPrediction)
    assert set(p.probabilities) == set(model.labels)
    assert abs(sum(p.probabilities.values()) - 1.0) < 1e-6
    assert all(0.0 <= v <= 1.0 for v in p.probabilities.values())
    assert p.label == max(p.probabilities, key=p.probabilities.get)
    assert p.confidence == pytest.approx(p.probabilities[p.label])
    assert [lab for lab, _ in p.ranked][0] == p.label
    assert p.model_version == model.version
    assert p.abstain == (p.is_out_of_distribution or p.confidence < model.threshold)
    if p.ood_score > model.ood_threshold:
        assert p.is_out_of_distribution


def test_predict_is_deterministic(model):
    img = _skinlike(3)
    a = model.predict(_jpeg(img))
    b = model.predict(_jpeg(img))
    assert a.label == b.label
    assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-6)
    assert a.ood_score == pytest.approx(b.ood_score, rel=1e-5)


def test_batch_equals_single(model):
    imgs = [_skinlike(4), _skinlike(5)]
    batch = np.concatenate([model.preprocess(i) for i in imgs])
    many = model.predict_batch(batch)
    for img, p in zip(imgs, many):
        one = model.predict(img)
        assert one.label == p.label
        assert one.confidence == pytest.approx(p.confidence, abs=1e-4)


@pytest.mark.parametrize("colour", [(128, 128, 128), (255, 255, 255), (0, 0, 0)])
def test_flat_image_is_not_classified(model, colour):
    p = model.predict(Image.new("RGB", (640, 480), colour))
    assert p.abstain
    assert p.is_out_of_distribution


def test_screenshot_like_image_is_ood(model):
    img = Image.new("RGB", (720, 1280), (245, 245, 245))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 720, 110), fill=(40, 120, 200))
    for i in range(30):
        d.rectangle((30, 140 + i * 36, 30 + 200 + (i * 97) % 450, 158 + i * 36), fill=(60, 60, 60))
    p = model.predict(_jpeg(img))
    assert p.abstain and p.is_out_of_distribution


def test_noise_image_is_ood(model):
    rng = np.random.default_rng(0)
    p = model.predict(Image.fromarray(rng.integers(0, 256, (480, 480, 3), dtype=np.uint8)))
    assert p.abstain and p.is_out_of_distribution


def test_preprocess_function_standalone_matches_method(model):
    img = _skinlike(6)
    a = preprocess_image(img, model.input_size)
    assert np.array_equal(a, model.preprocess(img))


def test_adapter_does_not_import_torch():
    code = ("import sys; from shared.adapters.skin_model import SkinModel; SkinModel.load(); "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")

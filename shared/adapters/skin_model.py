"""Run-time adapter for the dog-skin photo triage model (ONNX).

Only onnxruntime, Pillow, simplejpeg and numpy are used here: this module is imported by the
triage function, never by training code that needs torch.

Usage::

    from shared.adapters.skin_model import SkinModel
    model = SkinModel.load()                 # loads once per process (cached)
    pred = model.predict(path.read_bytes())  # or a PIL image -> SkinPrediction

The model directory (``models/skin_triage/<version>/``) holds ``model.onnx``, ``labels.json`` and
``config.json`` (input size, thresholds). The graph itself does the arithmetic around the network:
uint8 pixels in; calibrated probabilities (temperature inside), the out-of-distribution score and the
photo's pixel spread out. This module only decodes, crops and applies the thresholds.
"""

from __future__ import annotations

import io
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODELS_ROOT = REPO_ROOT / "models" / "skin_triage"

__all__ = ["SkinModel", "SkinPrediction", "default_model_dir", "preprocess_image"]


@dataclass(frozen=True)
class SkinPrediction:
    """Result of one photo.

    ``label``/``confidence`` are the model's first choice even when it abstains; callers
    must check ``abstain`` (low confidence or out of distribution) before showing a label.
    """

    label: str                       # top-1 label (always set)
    confidence: float                # calibrated probability of ``label`` (0..1)
    probabilities: dict[str, float]  # calibrated probability per label, sums to 1
    abstain: bool                    # True if confidence < threshold or photo is OOD
    ood_score: float                 # distance to the training data (higher = stranger)
    is_out_of_distribution: bool     # ood_score > OOD threshold, or a blank (near-uniform) image
    model_version: str = ""
    ranked: list[tuple[str, float]] = field(default_factory=list)  # labels by probability


def default_model_dir(root: Path | None = None) -> Path:
    """The current version directory: ``root/CURRENT`` names it, else the highest ``vN``."""
    root = Path(root) if root is not None else DEFAULT_MODELS_ROOT
    current = root / "CURRENT"
    if current.is_file():
        name = current.read_text(encoding="utf-8").strip()
        if name:
            return root / name
    versions = sorted(
        (p for p in root.glob("v*") if p.is_dir() and p.name[1:].isdigit()),
        key=lambda p: int(p.name[1:]),
    )
    if not versions:
        raise FileNotFoundError(f"no model version directory under {root}")
    return versions[-1]


def preprocess_image(source: bytes | Image.Image, size: int) -> np.ndarray:
    """Eval preprocessing shared by training and run time: uint8 RGB ``(1, size, size, 3)``.

    Centre square crop at ``size``x``size``; scaling and normalisation happen inside the ONNX graph.
    JPEG bytes are decoded by libjpeg-turbo at the smallest of its M/8 scales that keeps both sides
    >= ``size`` (the DCT does the downscaling): a 640x640 photo decodes at 3/8 straight to 240x240, the
    triage copy of a phone photo (640x480) at 4/8 and a 1280x960 photo at 2/8 to 320x240, so no resize
    is left. Other sizes, other formats, JPEGs with an EXIF rotation and already-opened images go
    through Pillow (antialiased bilinear resize).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        pixels = _scaled_jpeg(bytes(source), size)
        if pixels is not None:
            return _centre_square(pixels, size)
        source = Image.open(io.BytesIO(source))
    img = source
    if getattr(img, "format", None) == "JPEG":
        # draft only works before the pixels are loaded (else a no-op); keeps size >= requested
        try:
            img.draft("RGB", (size, size))
        except Exception:  # pragma: no cover - draft is an optimisation only
            pass
    try:
        if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation present
            img = ImageOps.exif_transpose(img)
    except Exception:  # pragma: no cover - broken EXIF must not break triage
        pass
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            bg = Image.new("RGB", rgba.size, (255, 255, 255))
            bg.paste(rgba, mask=rgba.getchannel("A"))
            img = bg
        else:
            img = img.convert("RGB")
    return _resize_square(img, size)


def _scaled_jpeg(data: bytes, size: int) -> np.ndarray | None:
    """HWC RGB of an upright JPEG decoded at reduced scale; None for anything Pillow should handle."""
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        if Image.open(io.BytesIO(data)).getexif().get(0x0112, 1) != 1:  # header only: rotated photo
            return None
        return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=size, min_width=size)
    except Exception:  # noqa: BLE001 - unusual JPEGs (CMYK, progressive quirks, truncation) go to Pillow
        return None


def _centre_square(pixels: np.ndarray, size: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    side = min(h, w)
    if side != size:
        return _resize_square(Image.fromarray(pixels), size)
    top, left = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(pixels[top : top + side, left : left + side])[None]


def _resize_square(img: Image.Image, size: int) -> np.ndarray:
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(img)[None]  # (1, H, W, 3) uint8


class SkinModel:
    """ONNX skin-condition classifier with calibration, abstention and OOD detection."""

    OUTPUTS = ("probs", "ood", "pixel_std")  # what predictions are made of
    _cache: dict[Path, "SkinModel"] = {}
    _lock = threading.Lock()

    def __init__(self, model_dir: Path, num_threads: int | None = None):
        import onnxruntime as ort  # heavy import deferred until a model is actually loaded

        self.model_dir = Path(model_dir)
        cfg = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        self.config = cfg
        self.labels: list[str] = list(
            json.loads((self.model_dir / "labels.json").read_text(encoding="utf-8"))
        )
        self.version: str = str(cfg.get("version", self.model_dir.name))
        self.input_size: int = int(cfg["input_size"])
        self.threshold: float = float(cfg["abstain_threshold"])
        ood = cfg["ood"]
        self.ood_threshold: float = float(ood["threshold"])
        # blank-image rule: a (near-)uniform picture is never a skin photo; the least varied
        # validation photo has a normalised pixel std of ~0.15
        self.min_pixel_std: float = float(ood["min_pixel_std"])

        opts = ort.SessionOptions()
        if num_threads is None:
            num_threads = int(os.environ.get("SKIN_MODEL_THREADS", "0")) or min(2, os.cpu_count() or 1)
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.model_dir / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: Path | None = None) -> "SkinModel":
        """Load (once per process) the model in ``model_dir`` (default: current version)."""
        path = Path(model_dir) if model_dir is not None else default_model_dir()
        path = path.resolve()
        with cls._lock:
            model = cls._cache.get(path)
            if model is None:
                model = cls(path)
                cls._cache[path] = model
        return model

    # ------------------------------------------------------------ preprocessing
    def preprocess(self, source: bytes | Image.Image) -> np.ndarray:
        """Exactly the training-time eval preprocessing: uint8 (1, S, S, 3)."""
        return preprocess_image(source, self.input_size)

    # ---------------------------------------------------------------- inference
    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits (N, C) and pooled penultimate features (N, D): for training and analysis."""
        logits, features = self.session.run(["logits", "features"], {self.input_name: batch})
        return logits, features

    def predict_batch(self, batch: np.ndarray) -> list[SkinPrediction]:
        probs, scores, pixel_std = self.session.run(list(self.OUTPUTS), {self.input_name: batch})
        out = []
        for p, s, spread in zip(probs.tolist(), scores.tolist(), pixel_std.tolist()):
            ranked = sorted(zip(self.labels, p), key=lambda lp: -lp[1])
            label, conf = ranked[0]
            is_ood = s > self.ood_threshold or spread < self.min_pixel_std
            out.append(
                SkinPrediction(
                    label=label,
                    confidence=conf,
                    probabilities=dict(zip(self.labels, p)),
                    abstain=is_ood or conf < self.threshold,
                    ood_score=s,
                    is_out_of_distribution=is_ood,
                    model_version=self.version,
                    ranked=ranked,
                )
            )
        return out

    def predict(self, source: bytes | Image.Image) -> SkinPrediction:
        """Classify one photo (its file bytes, or an image): calibrated probabilities, abstention, OOD flag."""
        return self.predict_batch(self.preprocess(source))[0]

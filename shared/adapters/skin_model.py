"""Run-time adapter for the dog-skin photo triage model (ONNX).

Only onnxruntime, Pillow, simplejpeg and numpy are used here: this module is imported by the
triage function, never by training code that needs torch.

Usage::

    from shared.adapters.skin_model import SkinModel
    model = SkinModel.load()                 # loads once per process (cached)
    pred = model.predict(path.read_bytes())  # or a PIL image -> SkinPrediction

The model directory (``models/skin_triage/<version>/``) holds ``model.onnx``,
``labels.json``, ``config.json`` (preprocessing, temperature, thresholds) and
``ood_stats.npz`` (statistics of training features for out-of-distribution detection).
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


def preprocess_image(source: bytes | Image.Image, size: int = 240) -> np.ndarray:
    """Eval preprocessing shared by training and run time: uint8 RGB ``(1, size, size, 3)``.

    Centre square crop at ``size``x``size``; scaling and normalisation happen inside the ONNX graph.
    JPEG bytes are decoded by libjpeg-turbo at the smallest of its M/8 scales that keeps both sides
    >= ``size`` (the DCT does the downscaling): a 640x640 photo decodes at 3/8 straight to 240x240 and
    a 1280x960 one at 2/8 to 320x240, so no resize is left. Other sizes, other formats, JPEGs with an
    EXIF rotation and already-opened images go through Pillow (antialiased bilinear resize).
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


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class SkinModel:
    """ONNX skin-condition classifier with calibration, abstention and OOD detection."""

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
        # the graph computes (x - 255*mean) / (255*std); the blank-image rule is in those units
        self._pixel_scale = 255.0 * float(cfg["std"][0])
        self.temperature: float = float(cfg.get("temperature", 1.0))
        self.threshold: float = float(cfg.get("abstain_threshold", 0.0))
        self.tta_hflip: bool = bool(cfg.get("tta_hflip", False))
        ood = cfg.get("ood") or {}
        self.ood_threshold: float = float(ood.get("threshold", np.inf))
        # blank-image rule: a (near-)uniform picture is never a skin photo; the least varied
        # validation photo has a normalised pixel std of ~0.15
        self.min_pixel_std: float = float(ood.get("min_pixel_std", 0.05))
        self._ood = None
        stats_file = ood.get("file")
        if stats_file and (self.model_dir / stats_file).is_file():
            with np.load(self.model_dir / stats_file) as z:
                self._ood = {k: z[k].astype(np.float32) for k in z.files}

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
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._has_features = "features" in self.output_names

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
    def feed(self, batch: np.ndarray) -> np.ndarray:
        """What ``session.run`` gets for a preprocessed batch: with TTA, the batch and its mirror."""
        if self.tta_hflip:
            return np.concatenate([batch, batch[:, :, ::-1]], axis=0)  # NHWC: mirror the width
        return batch

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw logits (N, C) and penultimate features (N, D) for a preprocessed batch."""
        outs = self.session.run(None, {self.input_name: self.feed(batch)})
        res = dict(zip(self.output_names, outs))
        logits, feats = res["logits"], res.get("features")
        if self.tta_hflip:  # average each photo with its mirror
            n = batch.shape[0]
            logits = (logits[:n] + logits[n:]) / 2.0
            feats = (feats[:n] + feats[n:]) / 2.0 if feats is not None else None
        return logits, feats

    def ood_scores(self, features: np.ndarray) -> np.ndarray:
        """Distance of each L2-normalised feature vector from the principal subspace of the
        training features (PCA reconstruction residual). Skin photos lie close to that
        subspace; flat images, screenshots, drawings and other scenes do not."""
        if self._ood is None or features is None:
            return np.zeros(features.shape[0] if features is not None else 1, dtype=np.float32)
        s = self._ood
        f = features.astype(np.float32)
        f = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-8)
        z = f - s["mean"]
        resid = z - (z @ s["proj"]) @ s["proj"].T
        return np.linalg.norm(resid, axis=1)

    def predict_batch(self, batch: np.ndarray) -> list[SkinPrediction]:
        logits, feats = self.run(batch)
        probs = _softmax(logits.astype(np.float64) / self.temperature)
        scores = self.ood_scores(feats) if feats is not None else np.zeros(len(probs))
        # every 4th pixel in each direction is plenty to tell a blank picture
        pixel_std = batch[:, ::4, ::4].reshape(batch.shape[0], -1).std(axis=1) / self._pixel_scale
        blank = pixel_std < self.min_pixel_std
        out = []
        for p, s, b in zip(probs, scores, blank):
            order = np.argsort(-p)
            top = int(order[0])
            conf = float(p[top])
            is_ood = bool(s > self.ood_threshold or b)
            out.append(
                SkinPrediction(
                    label=self.labels[top],
                    confidence=conf,
                    probabilities={lab: float(v) for lab, v in zip(self.labels, p)},
                    abstain=bool(is_ood or conf < self.threshold),
                    ood_score=float(s),
                    is_out_of_distribution=is_ood,
                    model_version=self.version,
                    ranked=[(self.labels[int(i)], float(p[int(i)])) for i in order],
                )
            )
        return out

    def predict(self, source: bytes | Image.Image) -> SkinPrediction:
        """Classify one photo (its file bytes, or an image): calibrated probabilities, abstention, OOD flag."""
        return self.predict_batch(self.preprocess(source))[0]

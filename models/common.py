"""Helpers shared by training and evaluation (numpy / stdlib only, no torch)."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "datasets" / "dog-skin").resolve()
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def list_images(data_dir: Path, labels: list[str] | None = None):
    """(relative path, label) for every image in class sub-folders; unknown folders reported."""
    data_dir = Path(data_dir)
    folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [f for f in folders if labels is not None and f not in labels]
    use = [f for f in folders if labels is None or f in labels]
    items = []
    for lab in use:
        for f in sorted((data_dir / lab).iterdir()):
            if f.suffix.lower() in IMAGE_EXTS:
                items.append((f"{lab}/{f.name}", lab))
    return items, unknown


def group_split(data_dir: Path, labels: list[str], val_frac: float = 0.2, seed: int = 0):
    """Split files by group (groups.csv), stratified per class. Returns (train, val) lists."""
    data_dir = Path(data_dir)
    items, _ = list_images(data_dir, labels)
    groups = {}
    gfile = data_dir / "groups.csv"
    if gfile.is_file():
        with open(gfile, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                groups[row["file"]] = row["group"]
    by_group = defaultdict(list)
    for rel, lab in items:
        by_group[groups.get(rel, "file:" + rel)].append((rel, lab))
    # a group's class is its majority label (the dataset has single-label groups)
    class_groups = defaultdict(list)
    for g, members in by_group.items():
        labs = [lab for _, lab in members]
        class_groups[max(set(labs), key=labs.count)].append(g)
    rng = random.Random(seed)
    train, val = [], []
    for lab in labels:
        gs = sorted(class_groups[lab])
        rng.shuffle(gs)
        total = sum(len(by_group[g]) for g in gs)
        taken = 0
        for g in gs:
            if taken < val_frac * total:
                val.extend(by_group[g])
                taken += len(by_group[g])
            else:
                train.extend(by_group[g])
    return sorted(train), sorted(val), len(by_group)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def ece_score(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    correct = (pred == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classification_report(probs: np.ndarray, y: np.ndarray, labels: list[str], abstain=None):
    pred = probs.argmax(axis=1)
    n = len(y)
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y, pred):
        cm[t, p] += 1
    recall = {lab: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, lab in enumerate(labels)}
    out = {
        "n": int(n),
        "top1": float((pred == y).mean()) if n else None,
        "per_class_recall": recall,
        "ece": ece_score(probs, y) if n else None,
        "confusion_matrix": {"labels": labels, "rows_true_cols_pred": cm.tolist()},
    }
    if abstain is not None:
        abstain = np.asarray(abstain, dtype=bool)
        kept = ~abstain
        out["abstain_rate"] = float(abstain.mean()) if n else None
        out["kept_accuracy"] = float((pred[kept] == y[kept]).mean()) if kept.any() else None
        out["n_kept"] = int(kept.sum())
    return out

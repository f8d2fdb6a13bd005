"""Evaluate the shipped skin-triage model on a folder of class sub-folders.

    python -m models.evaluate DATA_DIR [--model-dir models/skin_triage/v5]

Runs exactly what the product runs (shared/adapters/skin_model.py: onnxruntime, Pillow, simplejpeg, numpy;
no torch). Folders whose name is not one of the model's labels are reported and skipped.
The LAST line printed is one JSON object with top1 (the model's first choice on every photo,
abstained or not), per_class_recall, ece, abstain_rate, n, kept_accuracy, confusion matrix, ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from models.common import classification_report, list_images  # noqa: E402
from shared.adapters.skin_model import SkinModel  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)

    model = SkinModel.load(args.model_dir)
    items, unknown = list_images(args.data_dir, model.labels)
    if unknown:
        print(f"ignoring folders that are not model labels: {unknown}", file=sys.stderr)
    lab2i = {l: i for i, l in enumerate(model.labels)}
    print(f"model {model.version} ({model.model_dir}); {len(items)} photos in {args.data_dir}", file=sys.stderr)
    probs, ys, abst, ood, oodflag, errors = [], [], [], [], [], []
    t0 = time.time()
    for s in range(0, len(items), args.batch):
        chunk, xs = [], []
        for rel, lab in items[s : s + args.batch]:
            try:
                xs.append(model.preprocess((args.data_dir / rel).read_bytes()))
                chunk.append((rel, lab))
            except Exception as e:  # unreadable file: report, don't crash
                errors.append({"file": rel, "error": repr(e)})
        if not xs:
            continue
        for (rel, lab), p in zip(chunk, model.predict_batch(np.concatenate(xs))):
            probs.append([p.probabilities[l] for l in model.labels])
            ys.append(lab2i[lab])
            abst.append(p.abstain)
            ood.append(p.ood_score)
            oodflag.append(p.is_out_of_distribution)
        done = s + len(chunk)
        if (s // args.batch) % 50 == 0:
            print(f"  {done}/{len(items)} {time.time() - t0:.0f}s", file=sys.stderr)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(model.labels))
    ys = np.asarray(ys, dtype=int)
    rep = classification_report(probs, ys, model.labels, abstain=abst)
    rep.update({
        "model_version": model.version,
        "ood_flag_rate": float(np.mean(oodflag)) if oodflag else None,
        "ood_score_median": float(np.median(ood)) if ood else None,
        "abstain_threshold": model.threshold,
        "ood_threshold": model.ood_threshold,
        "ignored_folders": unknown,
        "unreadable": errors,
        "seconds": round(time.time() - t0, 1),
    })
    print(json.dumps(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())

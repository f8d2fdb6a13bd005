"""Benchmark the run-time adapter: preprocessing + inference vs a bare session.run.

    python -m models.benchmark_inference [--model-dir DIR] [--n 100] [--threads 2]

Uses synthetic JPEG photos it makes itself, never the dataset, of three kinds: dataset-size
(640x640, what the model is trained and evaluated on), phone-size (1280x960 and 960x1280, what
Telegram delivers) and the triage copies the webhook makes of those phone photos at intake (640x480,
480x640: what the triage function really hands the model). Per kind it prints p50/p99 of ``SkinModel.predict`` on the JPEG bytes, as the
triage function calls it (decode +
preprocessing + inference + calibration/OOD) and of a bare onnxruntime ``session.run`` on the same
tensor, run alternately in the same process, and their ratio; then the model load time and the
process's peak RSS. The last line is a JSON object with the same figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def synthetic_jpeg(size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.normal(150, 40, (size[1] // 8, size[0] // 8, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(base).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def triage_copy(jpeg: bytes) -> bytes:
    """The bytes the triage function decodes for this photo: intake's smaller copy, or the photo itself."""
    from shared.adapters.images import clean_photo

    cleaned = clean_photo(jpeg)
    return cleaned.analysis or cleaned.data


PHONE = [(1280, 960), (960, 1280)]
KINDS = {"dataset_640": ([(640, 640), (640, 640)], False), "phone_1280": (PHONE, False),
         "phone_1280_triage_copy": (PHONE, True)}


def intake_copy_ms(sizes, n: int = 20) -> float:
    """p50 of making the triage copy at intake (resize + JPEG encode of the cleaned photo): the webhook's cost."""
    from shared.adapters.images import analysis_copy, clean_photo

    imgs = [Image.open(io.BytesIO(clean_photo(synthetic_jpeg(size, seed)).data)) for seed, size in enumerate(sizes)]
    times = []
    for i in range(n):
        img = imgs[i % len(imgs)]
        img.load()
        t = time.perf_counter()
        analysis_copy(img)
        times.append(time.perf_counter() - t)
    return round(pct(times, 50), 2)


def pct(a, q):
    return float(np.percentile(np.asarray(a) * 1000.0, q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--n", type=int, default=100, help="timed photos per kind")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("SKIN_MODEL_THREADS", str(args.threads))

    from shared.adapters.skin_model import SkinModel, default_model_dir

    t0 = time.perf_counter()
    model = SkinModel(args.model_dir or default_model_dir(), num_threads=args.threads)
    load_s = time.perf_counter() - t0
    res = {"model_version": model.version, "input_size": model.input_size, "threads": args.threads,
           "load_seconds": round(load_s, 3)}
    for kind, (sizes, copied) in KINDS.items():
        jpegs = [synthetic_jpeg(size, seed) for seed, size in enumerate(sizes)]
        jpegs = [triage_copy(b) for b in jpegs] if copied else jpegs
        for b in jpegs:  # warm-up
            model.predict(b)
        full, prep, bare = [], [], []
        for i in range(args.n):
            b = jpegs[i % len(jpegs)]
            t = time.perf_counter()
            x = model.preprocess(b)
            prep.append(time.perf_counter() - t)
            for step in ("predict", "bare") if i % 2 else ("bare", "predict"):  # neither always goes first
                t = time.perf_counter()
                if step == "predict":
                    model.predict(b)
                else:
                    model.session.run(list(model.OUTPUTS), {model.input_name: x})
                (full if step == "predict" else bare).append(time.perf_counter() - t)
        r = {"predict_p50_ms": round(pct(full, 50), 2), "predict_p99_ms": round(pct(full, 99), 2),
             "preprocess_p50_ms": round(pct(prep, 50), 2),
             "bare_session_run_p50_ms": round(pct(bare, 50), 2), "bare_session_run_p99_ms": round(pct(bare, 99), 2),
             "ratio_p50": round(pct(full, 50) / pct(bare, 50), 3), "ratio_p99": round(pct(full, 99) / pct(bare, 99), 3)}
        res[kind] = r
        print(f"{kind}: predict (decode+preprocess+infer+calibration) p50 {r['predict_p50_ms']} ms, p99 "
              f"{r['predict_p99_ms']} ms (preprocess alone p50 {r['preprocess_p50_ms']} ms); bare session.run "
              f"p50 {r['bare_session_run_p50_ms']} ms, p99 {r['bare_session_run_p99_ms']} ms; "
              f"ratio p50 {r['ratio_p50']}, p99 {r['ratio_p99']}")
    res["intake_copy_p50_ms"] = intake_copy_ms(PHONE)
    print(f"making the triage copy of a phone photo at intake (webhook side): p50 {res['intake_copy_p50_ms']} ms")
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    res["n"] = args.n
    print(f"model {model.version} ({model.input_size}px): load {res['load_seconds']} s, peak RSS {res['peak_rss_mb']} MB")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the run-time adapter: preprocessing + inference vs a bare session.run.

    python -m models.benchmark_inference [--model-dir DIR] [--n 60] [--threads 2]

Uses synthetic JPEG photos it makes itself (640x640 and a 1280x960 phone-size one), never
the dataset. Prints model load time, per-photo p50/p99 of SkinModel.predict (decode from
JPEG bytes + preprocessing + inference + calibration/OOD) and of a bare onnxruntime
``session.run`` on the same tensor, their ratio, and the process's peak RSS. The last line
is a JSON object with the same figures.
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


def synthetic_jpegs(seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for size in [(640, 640), (640, 640), (1280, 960), (960, 1280)]:
        base = rng.normal(150, 40, (size[1] // 8, size[0] // 8, 3)).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(base).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def pct(a, q):
    return float(np.percentile(np.asarray(a) * 1000.0, q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--n", type=int, default=60, help="timed photos per measurement")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("SKIN_MODEL_THREADS", str(args.threads))

    from shared.adapters.skin_model import SkinModel, default_model_dir

    t0 = time.perf_counter()
    model = SkinModel(args.model_dir or default_model_dir(), num_threads=args.threads)
    load_s = time.perf_counter() - t0
    jpegs = synthetic_jpegs()

    # warm-up
    for b in jpegs:
        model.predict(Image.open(io.BytesIO(b)))

    full, prep, bare = [], [], []
    for i in range(args.n):
        b = jpegs[i % len(jpegs)]
        t = time.perf_counter()
        model.predict(Image.open(io.BytesIO(b)))
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        x = model.preprocess(Image.open(io.BytesIO(b)))
        prep.append(time.perf_counter() - t)
        feed = np.ascontiguousarray(np.concatenate([x, x[..., ::-1]])) if model.tta_hflip else x
        t = time.perf_counter()
        model.session.run(None, {model.input_name: feed})
        bare.append(time.perf_counter() - t)

    # same, but from an already-decoded 640x640 image (no JPEG decode in the timed part)
    decoded = Image.open(io.BytesIO(jpegs[0]))
    decoded.load()
    dec_full, dec_bare = [], []
    x0 = model.preprocess(decoded)
    feed0 = np.ascontiguousarray(np.concatenate([x0, x0[..., ::-1]])) if model.tta_hflip else x0
    for _ in range(args.n):
        t = time.perf_counter()
        model.predict(decoded)
        dec_full.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.session.run(None, {model.input_name: feed0})
        dec_bare.append(time.perf_counter() - t)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res = {
        "model_version": model.version,
        "threads": args.threads,
        "tta_hflip": model.tta_hflip,
        "load_seconds": round(load_s, 3),
        "predict_p50_ms": round(pct(full, 50), 2),
        "predict_p99_ms": round(pct(full, 99), 2),
        "preprocess_p50_ms": round(pct(prep, 50), 2),
        "bare_session_run_p50_ms": round(pct(bare, 50), 2),
        "bare_session_run_p99_ms": round(pct(bare, 99), 2),
        "ratio_p50": round(pct(full, 50) / pct(bare, 50), 3),
        "decoded_predict_p50_ms": round(pct(dec_full, 50), 2),
        "decoded_bare_p50_ms": round(pct(dec_bare, 50), 2),
        "decoded_ratio_p50": round(pct(dec_full, 50) / pct(dec_bare, 50), 3),
        "peak_rss_mb": round(peak_mb, 1),
        "n": args.n,
    }
    print(f"model {model.version}: load {res['load_seconds']}s, peak RSS {res['peak_rss_mb']} MB")
    print(f"predict (decode+preprocess+infer): p50 {res['predict_p50_ms']} ms, p99 {res['predict_p99_ms']} ms "
          f"(preprocess alone p50 {res['preprocess_p50_ms']} ms)")
    print(f"bare session.run same tensor:      p50 {res['bare_session_run_p50_ms']} ms, "
          f"p99 {res['bare_session_run_p99_ms']} ms; ratio p50 {res['ratio_p50']}")
    print(f"from an already-decoded 640x640 image: predict p50 {res['decoded_predict_p50_ms']} ms vs bare "
          f"{res['decoded_bare_p50_ms']} ms; ratio {res['decoded_ratio_p50']}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

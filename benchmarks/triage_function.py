"""Benchmark of the photo_triage function (manual, not a test): cold start, peak memory, per-event latency.

    .venv/bin/python -m benchmarks.triage_function [--events 30] [--model-dir models/skin_triage/v5]

Starts the emulators and the Bot API double (infra.local.stack parts firestore, storage, telegram),
seeds an owner and a dog in Firestore, writes the photos' records and uploads cleaned phone photos
(1280x960) and their triage copies to the Storage emulator as the webhook does, then starts
`functions-framework --target photo_triage` itself and measures:
- cold start: process start -> first 2xx answer to a CloudEvent (includes imports, Firestore/Storage
  clients, the ONNX model load and its warm-up run, and that first event's triage);
- peak RSS of the function's process tree (VmHWM summed over the processes);
- per-event latency (p50/p95/max) for distinct objects (each a full triage: download, quality gate,
  model, Firestore create, editMessageText), and for a redelivered event (the short path).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.local.stack import LocalStack, free_port  # noqa: E402
from infra.local.storage_notifier import object_event  # noqa: E402

OWNER, PET = 990001, "benchdog"


async def _create_records(project: str, records: list) -> None:
    from google.cloud import firestore

    from shared.adapters.firestore_triage import FirestoreTriage

    repo = FirestoreTriage(firestore.AsyncClient(project=project))
    for record in records:
        assert await repo.create_photo(record)


def _tree(pid: int) -> list[int]:
    out = [pid]
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().split(")")[-1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out += _tree(int(p.name))
    return out


def _hwm_kb(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _post(url: str, obj: dict, bucket: str, timeout: float = 120) -> int:
    headers, body = object_event(bucket, obj)
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=30)
    ap.add_argument("--model-dir", default=os.environ.get("SKIN_MODEL_DIR"))
    args = ap.parse_args()

    state = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    stack = LocalStack(ROOT, parts=("firestore", "storage", "telegram"), state_dir=state)
    info = stack.start()
    env = stack.function_env()
    if args.model_dir:
        env["SKIN_MODEL_DIR"] = str(Path(args.model_dir).resolve())
    os.environ.update({"FIRESTORE_EMULATOR_HOST": info["firestore_emulator_host"],
                       "STORAGE_EMULATOR_HOST": info["storage_emulator_host"], "GOOGLE_CLOUD_PROJECT": info["project"],
                       "PHOTO_PATH_KEY": info["photo_path_key"]})
    proc = None
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore, storage

        from infra.local.bot_api_double import BotApiDoubleClient
        from shared.adapters.images import clean_photo
        from shared.domain.photos import Area, PhotoRecord
        from shared.services.pets import photo_prefix
        from shared.services.triage import objects_to_store, photo_metadata
        from tests.test_photo_hostile import jpeg

        db = firestore.Client(project=info["project"])
        db.document(f"users/{OWNER}").set({"language": "ru", "consent_at": None, "dialog": None})
        db.document(f"users/{OWNER}/pets/{PET}").set({"species": "dog", "name": "Bench", "sex": "unknown",
                                                       "neutered": "unknown"})
        bucket = storage.Client(project=info["project"], credentials=AnonymousCredentials()).bucket(info["photos_bucket"])
        with BotApiDoubleClient(info["telegram_api_base"]) as tg:
            objects, records = [], []
            for i in range(args.events + 1):
                mid = tg._json(tg._http.post(f"/bot{info['bot_token']}/sendMessage",
                                             json={"chat_id": OWNER, "text": "Анализирую…"}))["result"]["message_id"] \
                    if hasattr(tg, "_http") else None
                photo_id = f"{i:032x}"
                records.append(PhotoRecord(OWNER, PET, photo_id, Area.SKIN, "ru", mid))
                meta = photo_metadata(owner_id=OWNER, pet_id=PET, photo_id=photo_id)
                cleaned = clean_photo(jpeg((1280, 960), seed=i))  # a phone photo, stored as accept_photo does
                name = f"{photo_prefix(OWNER, PET)}{photo_id}.jpg"
                for name, data, obj_meta in objects_to_store(name, cleaned, meta):
                    blob = bucket.blob(name)
                    blob.metadata = obj_meta
                    blob.upload_from_string(data, content_type="image/jpeg")
                blob.reload()  # the photo: objects_to_store puts it last
                objects.append({"name": blob.name, "generation": str(blob.generation), "metadata": blob.metadata,
                                "size": blob.size})
        asyncio.run(_create_records(info["project"], records))

        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        cmd = [stack._bin("functions-framework"), "--source", str(ROOT / "functions/photo_triage.py"),
               "--target", "photo_triage", "--signature-type", "cloudevent", "--host", "127.0.0.1",
               "--port", str(port)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(env, K_SERVICE="photo_triage"), stdout=subprocess.DEVNULL,
                                stderr=open(state / "fn.log", "wb"), start_new_session=True)
        status = 0
        while status < 200 or status >= 300:
            status = _post(url, objects[0], info["photos_bucket"])
            if proc.poll() is not None:
                raise SystemExit(f"function exited; see {state / 'fn.log'}")
            if status == 0:
                time.sleep(0.02)
        cold = time.perf_counter() - t0
        lat = []
        for obj in objects[1:]:
            t = time.perf_counter()
            assert 200 <= _post(url, obj, info["photos_bucket"]) < 300
            lat.append((time.perf_counter() - t) * 1000)
        dup = []
        for _ in range(10):
            t = time.perf_counter()
            _post(url, objects[1], info["photos_bucket"])
            dup.append((time.perf_counter() - t) * 1000)
        outcomes = {}
        for s in db.collection(f"users/{OWNER}/pets/{PET}/triage").stream():
            outcomes[s.to_dict()["outcome"]] = outcomes.get(s.to_dict()["outcome"], 0) + 1
        lat.sort()
        result = {
            "model_dir": args.model_dir or "default (models/skin_triage/CURRENT or highest vN)",
            "outcomes": outcomes,
            "cold_start_s": round(cold, 3),
            "peak_rss_mb": round(_hwm_kb(proc.pid) / 1024, 1),
            "events": len(lat),
            "event_ms_p50": round(statistics.median(lat), 1),
            "event_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "event_ms_max": round(lat[-1], 1),
            "redelivered_event_ms_p50": round(statistics.median(dup), 1),
        }
        print(json.dumps(result, ensure_ascii=False))
    finally:
        if proc and proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(10)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

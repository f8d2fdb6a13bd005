"""python -m models.export_labels: the labels vets gave to triage photos (kept with the owners' consent) as
class folders, read from the Firestore and Storage emulators, which models.evaluate reads as they are."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from google.cloud import firestore

from shared.adapters.firestore_conclusions import FirestoreConclusions, LabelPhotos
from shared.adapters.firestore_repositories import OpStats
from shared.domain import conclusions as rules
from shared.domain.photos import Area
from shared.services import conclusions as svc

ROOT = Path(__file__).resolve().parents[1]


async def test_export_writes_class_folders_models_evaluate_reads(clean_firestore, storage_emulator, tmp_path):
    from shared.adapters.photo_storage import PhotoStorage
    from tests.test_photo_hostile import jpeg

    client = firestore.AsyncClient(project=clean_firestore["project"])
    conclusions = FirestoreConclusions(client, OpStats())
    storage = PhotoStorage(storage_emulator["photos_bucket"], storage_emulator["project"])
    cases = [("bk1", "dermatitis", "skin", "dog"), ("bk2", "ringworm", "skin", "dog"), ("bk3", "healthy", "skin", "cat"),
             ("bk4", "cataract", "eye", "cat"), ("bk5", "dermatitis", "skin", "dog")]
    for n, (booking_id, label, area, species) in enumerate(cases):
        verdict = rules.LabelVerdict(rules.Verdict.WRONG, Area(area), species, "healthy", label)
        lid = svc.label_id(booking_id)
        await conclusions.keep_label(lid, svc.owner_key(1), verdict, "2026-12")
        if booking_id != "bk5":   # its photo never made it: reported, not exported
            await storage.put(LabelPhotos.name(lid), jpeg(seed=n), {"label": "1"})
    out = tmp_path / "skin"
    env = {**os.environ, "GOOGLE_CLOUD_PROJECT": clean_firestore["project"],
           "PHOTOS_BUCKET": storage_emulator["photos_bucket"]}
    run = subprocess.run([sys.executable, "-m", "models.export_labels", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["per_class"] == {"dermatitis": 1, "healthy": 1, "ringworm": 1} and report["n"] == 3
    assert report["missing_photo"] == [svc.label_id("bk5")]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == sorted(
        f"{label}/{svc.label_id(b)}.jpg" for b, label, area, _ in cases[:3])
    evaluated = subprocess.run([sys.executable, "-m", "models.evaluate", str(out)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 3 and metrics["ignored_folders"] == [] and metrics["unreadable"] == []
    eye = tmp_path / "eye"
    run = subprocess.run([sys.executable, "-m", "models.export_labels", str(eye), "--area", "eye", "--species", "cat"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(run.stdout.strip().splitlines()[-1])["per_class"] == {"cataract": 1}
    client.close()

"""Export the labels vets gave to triage photos (kept with the owners' consent) as class folders.

    python -m models.export_labels DIR [--area skin|eye] [--species dog|cat|...]

Writes DIR/<class>/<label id>.jpg, the shape models.train (--data DIR) and models.evaluate DIR read, and
prints one JSON line: how many photos per class, and the labels whose photo is missing. Only labels the
vet gave a class are kept at all ("cannot tell" keeps nothing); by default every one of the area is
exported, so a skin export is an evaluation set for the shipped skin model whose folders are its labels,
and eye or cat exports start the data those models need. Files already in DIR are left as they are
(an export can be repeated to add what is new).

Reads GOOGLE_CLOUD_PROJECT and PHOTOS_BUCKET, and reaches the local stack's emulators through
FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST (or production with the operator's own credentials), as
infra/ops.py does. Label records hold no personal data (services.conclusions), and neither does the export.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


async def export(conclusions, photos, out: Path, area: str, species: str | None = None) -> dict:
    """Writes the photos of the kept labels of `area` (and `species`) under out/<class>/."""
    from shared.domain.conclusions import LABEL_CLASSES
    from shared.domain.photos import Area

    classes = set(LABEL_CLASSES.get(Area(area), ()))
    written, missing, skipped = Counter(), [], 0
    for label in sorted(await conclusions.labels(), key=lambda x: x.id):
        if label.area != area or (species and label.species != species):
            continue
        if label.label not in classes:  # not a class of this area (never written so): not a folder name
            skipped += 1
            continue
        target = out / label.label / f"{label.id}.jpg"
        if not target.exists():
            data = await photos.get(label.id)
            if data is None:
                missing.append(label.id)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        written[label.label] += 1
    return {"dir": str(out), "area": area, "species": species, "per_class": dict(sorted(written.items())),
            "n": sum(written.values()), "missing_photo": missing, "skipped": skipped}


def main(argv=None) -> int:
    from shared.domain.photos import Area

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="the folder to write class folders into")
    ap.add_argument("--area", default=Area.SKIN.value, choices=[Area.SKIN.value, Area.EYE.value])
    ap.add_argument("--species", default=None, help="only this species (dog, cat, ...)")
    args = ap.parse_args(argv)

    from google.cloud import firestore

    from shared.adapters.firestore_conclusions import FirestoreConclusions, LabelPhotos
    from shared.adapters.firestore_repositories import OpStats
    from shared.adapters.photo_storage import PhotoStorage

    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local")
    bucket = os.environ.get("PHOTOS_BUCKET", "telemed-pet-photos")

    async def run() -> dict:
        client = firestore.AsyncClient(project=project)
        return await export(FirestoreConclusions(client, OpStats()), LabelPhotos(PhotoStorage(bucket, project)),
                            args.out, args.area, args.species)

    report = asyncio.run(run())
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

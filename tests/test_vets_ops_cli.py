"""`python -m infra.ops vets ...` against the Firestore and Storage emulators: listing, showing (documents
saved), approving and rejecting as a configured ops id; anyone else changes nothing; demo vets."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from google.cloud import firestore

from shared.adapters.firestore_repositories import OpStats
from shared.adapters.firestore_vets import FirestoreVets
from shared.adapters.photo_storage import PhotoStorage
from shared.domain.pets import Species
from shared.domain.vets import Action, VetStatus
from shared.services import vets as svc
from tests.test_photo_hostile import jpeg
from tests.test_vets_domain import application

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
OPS, OTHER_OPS = 700101, 700102


@pytest.fixture
def emulators(clean_firestore, storage_emulator):
    return {**clean_firestore, **storage_emulator}


def cli(*args: str, ops: str = f"{OPS},{OTHER_OPS}") -> subprocess.CompletedProcess:
    env = {**os.environ, "OPS_USER_IDS": ops}
    env.pop("TELEGRAM_BOT_TOKEN", None)  # nobody to tell here
    return subprocess.run([sys.executable, "-m", "infra.ops", "vets", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def applied(emulators, vet_id: int, **changes) -> None:
    async def go():
        client = firestore.AsyncClient(project=emulators["project"])
        photos = PhotoStorage(emulators["photos_bucket"], emulators["project"])
        document = await svc.store_photo(photos, vet_id, "document", jpeg(seed=vet_id % 7))
        portrait = await svc.store_photo(photos, vet_id, "portrait", jpeg(seed=1))
        await svc.apply(FirestoreVets(client, OpStats()), photos, vet_id,
                        application(documents=[document], portrait=portrait, **changes), NOW)
    asyncio.run(go())


def vet(emulators, vet_id: int):
    async def go():
        return await FirestoreVets(firestore.AsyncClient(project=emulators["project"]), OpStats()).get(vet_id)
    return asyncio.run(go())


def test_pending_show_approve_reject_as_ops(emulators, tmp_path):
    applied(emulators, 5101)
    applied(emulators, 5102, full_name="Борис Иванов")
    listed = cli("pending")
    assert listed.returncode == 0 and "5101\tАнна Петрова" in listed.stdout and "5102\tБорис Иванов" in listed.stdout
    shown = cli("show", "5101", "--save-documents", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "Application #5101" in shown.stdout and "under review" in shown.stdout and "application" in shown.stdout
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["5101-document-1.jpg", "5101-portrait.jpg"]
    assert (tmp_path / "5101-document-1.jpg").read_bytes()[:3] == b"\xff\xd8\xff"

    approved = cli("approve", "5101", "--as", str(OPS))
    assert approved.returncode == 0, approved.stderr
    assert "verified" in approved.stdout and f"({OPS})" in approved.stdout
    stored = vet(emulators, 5101)
    assert stored.status == VetStatus.VERIFIED and stored.last_decision.by == OPS

    again = cli("approve", "5101", "--as", str(OTHER_OPS))
    assert again.returncode == 1 and "Not possible" in again.stderr
    assert len(vet(emulators, 5101).decisions) == 2

    no_reason = cli("reject", "5102", "--as", str(OPS))
    assert no_reason.returncode == 1 and "reason" in no_reason.stderr
    rejected = cli("reject", "5102", "--as", str(OTHER_OPS), "--reason", "Диплом не читается")
    assert rejected.returncode == 0, rejected.stderr
    stored = vet(emulators, 5102)
    assert stored.status == VetStatus.REJECTED and stored.last_decision.reason == "Диплом не читается"
    assert cli("pending").stdout.strip() == "no applications waiting"


def test_anyone_not_on_the_ops_list_changes_nothing(emulators):
    applied(emulators, 5201)
    before = vet(emulators, 5201)
    refused = cli("approve", "5201", "--as", "12345")
    assert refused.returncode == 1 and "not on the ops list" in refused.stderr
    no_list = cli("approve", "5201", ops="")
    assert no_list.returncode == 2 and "--as" in no_list.stderr
    typo = cli("approve", "5201", ops="70010l")
    assert typo.returncode == 2 and "OPS_USER_IDS" in typo.stderr
    assert vet(emulators, 5201) == before
    assert cli("show", "999").returncode == 1


def test_demo_vets_are_made_through_the_services_once(emulators):
    made = cli("demo", "--as", str(OPS))
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("\tactive") == 3
    assert cli("demo", "--as", str(OPS)).stdout == made.stdout  # seeding again changes nothing

    async def go():
        vets = FirestoreVets(firestore.AsyncClient(project=emulators["project"]), OpStats())
        return await svc.bookable(vets, Species.CAT), await vets.listing(Species.CAT)
    cats, cards = asyncio.run(go())
    assert len(cats) == 2 and all(v.demo for v in cats)
    assert cards == [v.card() for v in cats]  # listed by the same services' writes
    assert [d.action for d in cats[0].decisions] == [Action.APPLY, Action.APPROVE, Action.PUBLISH]
    assert cats[0].decisions[1].by == OPS


def test_rebuild_directory_lists_exactly_the_bookable_vets(emulators):
    assert cli("demo", "--as", str(OPS)).returncode == 0

    async def damage_and_list():
        client = firestore.AsyncClient(project=emulators["project"])
        vets = FirestoreVets(client, OpStats())
        if damage:
            await client.collection("vet_directory").document("cat").delete()
        return [c.id for c in await vets.listing(Species.CAT)]
    damage = True
    assert asyncio.run(damage_and_list()) == []
    rebuilt = cli("rebuild-directory")
    assert rebuilt.returncode == 0, rebuilt.stderr
    lines = dict(line.split("\t", 1) for line in rebuilt.stdout.splitlines())
    assert set(lines) == {s.value for s in Species} and lines["cat"].startswith("2 vets\t")
    assert lines["bird"].startswith("1 vets\t") and lines["rodent"].startswith("1 vets\t")
    damage = False
    assert len(asyncio.run(damage_and_list())) == 2

"""Deleting a pet, or an owner's whole account, leaves nothing behind: Firestore subcollections,
pending reminders and stored photos go too (emulators)."""
from datetime import datetime, timezone

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_diary import FirestoreReminders
from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, OpStats
from shared.adapters.photo_storage import PhotoStorage
from shared.domain.owners import Owner
from shared.domain.pets import Pet, Species
from shared.services import owners as owner_service
from shared.services import pets as pet_service

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


@pytest.fixture
async def world(clean_firestore, storage_emulator):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    stats = OpStats()
    photos = PhotoStorage(storage_emulator["photos_bucket"], storage_emulator["project"])
    yield client, FirestoreOwners(client, stats), FirestorePets(client, stats), FirestoreReminders(client, stats), photos
    photos.delete_prefix_sync("photos/")


async def _owner_with_records(client, owners, pets, photos, owner_id):
    await owners.create(Owner(id=owner_id, language="ru", consent_at=NOW))
    ids = []
    for name in ("Мурка", "Шарик"):
        pet = await pets.add(Pet(id="", owner_id=owner_id, species=Species.DOG, name=name))
        pet_doc = client.document(f"users/{owner_id}/pets/{pet.id}")
        await pet_doc.collection("weights").add({"kg": 4.2})
        await pet_doc.collection("triage").document("r1").set({"top": "healthy"})
        await client.collection("reminders").document(f"{owner_id}-{pet.id}-t-due").set(
            {"owner_id": owner_id, "pet_id": pet.id, "status": "pending", "fire_at": NOW})
        photos.put_sync(f"{pet_service.photo_prefix(owner_id, pet.id)}p.jpg", b"jpeg", {"owner_id": str(owner_id)})
        ids.append(pet.id)
    return ids


async def _documents_of(client, owner_id):
    found = [d.reference.path async for d in client.collection("reminders").where(filter=FieldFilter("owner_id", "==", owner_id)).stream()]
    async for collection in client.document(f"users/{owner_id}").collections():
        async for doc in collection.list_documents():
            found.append(doc.path)
            async for sub in doc.collections():
                found += [d.path async for d in sub.list_documents()]
    return found


def _photos_of(photos, owner_id):
    return [b.name for b in photos._get_bucket().list_blobs(prefix=pet_service.photo_prefix(owner_id))]


async def test_removing_a_pet_takes_its_records_reminders_and_photos(world):
    client, owners, pets, reminders, photos = world
    gone, kept = await _owner_with_records(client, owners, pets, photos, 31)
    await _owner_with_records(client, owners, pets, photos, 32)
    await pet_service.remove_pet(pets, 31, gone)
    await pet_service.remove_pet_records(pets, reminders, photos, 31, gone)
    left = await _documents_of(client, 31)
    assert left and not [path for path in left if gone in path]
    assert [path for path in left if kept in path]
    assert _photos_of(photos, 31) == [f"{pet_service.photo_prefix(31, kept)}p.jpg"]
    assert len(left) == 4  # the kept pet: its document, a weight, a triage result, a reminder
    assert len(await _documents_of(client, 32)) == 8  # the other owner untouched


async def test_forgetting_an_owner_leaves_nothing(world):
    client, owners, pets, reminders, photos = world
    await _owner_with_records(client, owners, pets, photos, 41)
    await _owner_with_records(client, owners, pets, photos, 42)
    await owner_service.forget_owner(owners, reminders, photos, 41)
    assert await owners.get(41) is None
    assert await _documents_of(client, 41) == []
    assert _photos_of(photos, 41) == []
    assert await owners.get(42) is not None and len(_photos_of(photos, 42)) == 2


async def test_emptying_a_folder_goes_on_past_an_object_deleted_since_it_was_listed(world, monkeypatch):
    """Erasure lists a vet's documents while an upload that found its person erased deletes its own: that
    object's delete answers 404, and the others must still go (before, the 404 stopped the erasure there)."""
    *_, photos = world
    names = [f"photos/gone-meanwhile/{n}.jpg" for n in range(3)]
    for name in names:
        photos.put_sync(name, b"jpeg", {})
    bucket = photos._get_bucket()
    listing = bucket.list_blobs

    def listed_then_one_deleted(**kwargs):
        blobs = list(listing(**kwargs))
        photos.delete_sync(names[0])
        return blobs

    monkeypatch.setattr(bucket, "list_blobs", listed_then_one_deleted)
    assert await photos.delete_prefix("photos/gone-meanwhile/") == 3
    monkeypatch.undo()
    assert photos.list_names_sync("photos/gone-meanwhile/") == []

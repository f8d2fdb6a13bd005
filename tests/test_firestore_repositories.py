"""The Firestore adapters against the official emulator: documents, ownership paths, real concurrency."""
import asyncio
from datetime import date, datetime, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, FirestoreUpdateLog, OpStats
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.domain.owners import Dialog, Owner
from shared.domain.pets import Pet, Sex, Species
from shared.services import pets as pet_service

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def repos(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    stats = OpStats()
    yield FirestoreOwners(client, stats), FirestorePets(client, stats), FirestoreUpdateLog(client, stats), stats
    client.close()


async def test_owner_round_trip_with_dialog_state(repos):
    owners, _, _, stats = repos
    created = await owners.create(Owner(id=5, language="en", consent_at=NOW))
    assert await owners.create(Owner(id=5, language="ru", consent_at=NOW)) is None  # consent pressed twice
    uow = FirestoreUnitOfWork(owners._client, stats, created)
    await uow.owners.set_dialog(5, Dialog("add_pet", "name", {"species": "cat"}))
    assert (await owners.get(5)).dialog is None  # staged, not written
    committed = await uow.commit()
    owner = await owners.get(5)
    assert owner.language == "en" and owner.consent_at == NOW
    assert owner.dialog == Dialog("add_pet", "name", {"species": "cat"}) == committed.dialog
    assert owner.version == committed.version != created.version
    await uow.owners.set_dialog(5, None)
    await uow.commit()  # the same update goes on from the version it wrote
    assert (await owners.get(5)).dialog is None
    assert await owners.get(6) is None


async def test_pets_live_under_their_owner_only(repos):
    owners, pets, _, _ = repos
    pet = await pets.add(Pet(id="", owner_id=1, species=Species.DOG, name="Шарик", sex=Sex.MALE,
                             birth_date=date(2020, 5, 1), weight_kg=18.0))
    assert pet.id
    assert (await pets.get(1, pet.id)).name == "Шарик"
    assert await pets.get(2, pet.id) is None
    with pytest.raises(pet_service.PetNotFound):
        await pet_service.edit_pet(pets, None, 2, pet.id, {"name": "Чужой"}, date(2026, 11, 24))
    with pytest.raises(pet_service.PetNotFound):
        await pet_service.remove_pet(pets, 2, pet.id)  # refused before touching anything
    assert [p.name for p in await pets.list(1)] == ["Шарик"]
    assert await pets.list(2) == []
    assert await pets.get(1, "../../users/2") is None  # forged ids never reach Firestore


async def test_forget_erases_owner_and_pets(repos):
    owners, pets, _, _ = repos
    await owners.create(Owner(id=9, language="ru", consent_at=NOW))
    await pets.add(Pet(id="", owner_id=9, species=Species.CAT, name="A"))
    await pets.add(Pet(id="", owner_id=9, species=Species.CAT, name="B"))
    await owners.forget(9)
    assert await owners.get(9) is None and await pets.list(9) == []


async def test_concurrent_claims_of_one_update_let_exactly_one_through(repos):
    *_, update_log, _ = repos
    results = await asyncio.gather(*(update_log.claim(777, NOW) for _ in range(20)))
    assert results.count(True) == 1
    await update_log.release(777)
    assert await update_log.claim(777, NOW)  # released after a failure: Telegram's redelivery may retry


async def test_claims_carry_an_expiry_for_the_ttl_policy(repos, clean_firestore):
    *_, update_log, _ = repos
    await update_log.claim(42, NOW)
    client = firestore.AsyncClient(project=clean_firestore["project"])
    snap = await client.collection("processed_updates").document("42").get()
    assert snap.to_dict()["expires_at"] == NOW + FirestoreUpdateLog.RETENTION


async def test_only_one_delivery_claims_a_triage_answer_until_its_lease_runs_out(clean_firestore):
    from datetime import timedelta

    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.domain import triage as rules

    client = firestore.AsyncClient(project=clean_firestore["project"])
    results = FirestoreTriage(client)
    rid = rules.result_id("photos/3/rex/a.jpg", "1")
    await results.create(rules.decide(rid=rid, owner_id=3, pet_id="rex", photo_path="photos/3/rex/a.jpg",
                                      species=Species.DOG, area=rules.Area.SKIN, quality=None, prediction=None))
    lease = NOW + timedelta(seconds=30)
    claims = await asyncio.gather(*(results.claim_answer(3, "rex", rid, NOW, lease) for _ in range(20)))
    assert claims.count(True) == 1
    assert not await results.claim_answer(3, "rex", rid, NOW + timedelta(seconds=29), lease)
    # the holder died: once its lease is over, a redelivery may answer
    assert await results.claim_answer(3, "rex", rid, NOW + timedelta(seconds=31), NOW + timedelta(seconds=61))
    await results.mark_notified(3, "rex", rid)
    assert not await results.claim_answer(3, "rex", rid, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    assert not await results.claim_answer(3, "rex", "nosuchresult", NOW, lease)
    client.close()

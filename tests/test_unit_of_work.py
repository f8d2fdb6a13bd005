"""The per-update unit of work against the Firestore emulator: all of an update's writes or none, and
of racing updates of one person exactly the right ones land (see shared/adapters/firestore_uow.py)."""
import asyncio
from datetime import date, datetime, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, OpStats
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.domain.diary import WeightEntry
from shared.domain.owners import Dialog, Owner
from shared.domain.pets import Pet, Species
from shared.services import owners as owner_service
from shared.services.unit_of_work import OwnerGone, StaleUpdate

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
ASKING_WEIGHT = Dialog("diary", "dy_weight", {"pet_id": "p"})


@pytest.fixture
async def world(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    stats = OpStats()
    yield client, stats, FirestoreOwners(client, stats), FirestorePets(client, stats)
    client.close()


async def _owner_with_pet(client, stats, owners, dialog=None):
    owner = await owners.create(Owner(id=1, language="ru", consent_at=NOW))
    uow = FirestoreUnitOfWork(client, stats, owner)
    pet = await uow.pets.add(Pet(id="", owner_id=1, species=Species.DOG, name="Рекс"))
    await uow.owners.set_dialog(1, dialog)
    await uow.commit()
    return await owners.get(1), pet


async def _weights(client, pet) -> list:
    return [s.to_dict() async for s in client.collection(f"users/1/pets/{pet.id}/weights").stream()]


async def test_racing_answers_to_one_question_let_exactly_one_through(world):
    client, stats, owners, _ = world
    owner, pet = await _owner_with_pet(client, stats, owners, ASKING_WEIGHT)

    async def answer(kg: float):
        uow = FirestoreUnitOfWork(client, stats, owner)  # each update read the same owner
        await uow.diary.add_weight(1, pet.id, WeightEntry("", date(2026, 11, 24), kg))
        await uow.owners.set_dialog(1, None)
        return await uow.commit()

    outcomes = await asyncio.gather(*(answer(10 + n / 10) for n in range(10)), return_exceptions=True)
    assert sum(isinstance(o, Owner) for o in outcomes) == 1
    assert sum(isinstance(o, StaleUpdate) for o in outcomes) == 9
    assert len(await _weights(client, pet)) == 1
    assert (await owners.get(1)).dialog is None


async def test_writes_that_do_not_move_the_dialog_all_land(world):
    """A weight given with the command does not depend on the open question: a racing update that
    changed the record makes it commit again, not fail."""
    client, stats, owners, _ = world
    owner, pet = await _owner_with_pet(client, stats, owners, ASKING_WEIGHT)

    async def weigh(kg: float):
        uow = FirestoreUnitOfWork(client, stats, owner)
        await uow.diary.add_weight(1, pet.id, WeightEntry("", date(2026, 11, 24), kg))
        return await uow.commit()

    outcomes = await asyncio.gather(*(weigh(10 + n) for n in range(4)))
    assert all(o.dialog == ASKING_WEIGHT for o in outcomes)
    assert sorted(w["kg"] for w in await _weights(client, pet)) == [10, 11, 12, 13]


async def test_nothing_is_written_once_the_owner_is_erased(world):
    client, stats, owners, _ = world
    owner, pet = await _owner_with_pet(client, stats, owners, ASKING_WEIGHT)
    uow = FirestoreUnitOfWork(client, stats, owner)
    await uow.diary.add_weight(1, pet.id, WeightEntry("", date(2026, 11, 24), 12.5))
    await uow.owners.set_dialog(1, None)
    await owners.forget(1)  # erasure lands between this update's read and its commit
    with pytest.raises(OwnerGone):
        await uow.commit()
    assert await owners.get(1) is None
    assert await _weights(client, pet) == []  # no orphan below the erased owner either

    # the person comes back and agrees again: an update still holding the old version writes nothing
    later = NOW.replace(hour=10)
    await owner_service.give_consent(owners, 1, "en", later)
    for staged in (lambda u: u.owners.set_dialog(1, None), lambda u: u.owners.save(owner.with_changes(timezone="Asia/Omsk"))):
        late = FirestoreUnitOfWork(client, stats, owner)
        await staged(late)
        with pytest.raises(OwnerGone):
            await late.commit()
    assert (await owners.get(1)).consent_at == later and (await owners.get(1)).timezone is None


async def test_a_record_cannot_outlive_its_pet(world):
    client, stats, owners, pets = world
    owner, pet = await _owner_with_pet(client, stats, owners)
    weighing = FirestoreUnitOfWork(client, stats, owner)
    await weighing.diary.add_weight(1, pet.id, WeightEntry("", date(2026, 11, 24), 12.5))
    removal = FirestoreUnitOfWork(client, stats, owner)
    await removal.pets.delete(1, pet.id)
    await removal.commit()
    with pytest.raises(StaleUpdate):  # retried on the new version, the pet is gone: refused
        await weighing.commit()
    assert await _weights(client, pet) == [] and await pets.list(1) == []


async def test_staged_writes_are_invisible_until_commit_and_then_all_there(world):
    client, stats, owners, pets = world
    owner = await owners.create(Owner(id=1, language="ru", consent_at=NOW))
    uow = FirestoreUnitOfWork(client, stats, owner)
    pet = await uow.pets.add(Pet(id="", owner_id=1, species=Species.CAT, name="Мурка"))
    await uow.owners.save(owner.with_changes(language="en", timezone="Asia/Almaty"))
    assert await pets.list(1) == [] and (await owners.get(1)).language == "ru"
    committed = await uow.commit()
    stored = await owners.get(1)
    assert [p.id for p in await pets.list(1)] == [pet.id]
    assert (stored.language, stored.timezone) == ("en", "Asia/Almaty") == (committed.language, committed.timezone)
    assert committed.version == stored.version

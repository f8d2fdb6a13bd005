"""FirestoreVets against the emulator: documents round-trip (the schedule too), one application per
person, saves conditional on the version read, the bookable query, staging inside a unit of work."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.adapters.firestore_vets import FirestoreVets
from shared.domain.owners import Owner
from shared.domain.pets import Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Action, Area, VetStatus, vet_from_application
from shared.services.unit_of_work import StaleUpdate
from tests.test_vets_domain import OPS, application

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def db(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    yield client
    client.close()


def schedule() -> Schedule:
    return Schedule("Asia/Yekaterinburg", weekly={0: parse_hours("09:00-13:00, 14:00-18:00"), 4: parse_hours("10-12")},
                    overrides={date(2026, 12, 31): (), date(2027, 1, 2): parse_hours("12:00-15:00")},
                    slot_minutes=45, buffer_minutes=15, min_notice=timedelta(hours=3), horizon_days=21, daily_cap=6)


async def active_vet(vets: FirestoreVets, vet_id: int, **fields):
    await vets.create(vet_from_application(vet_id, application(**fields), NOW))
    vet = (await vets.get(vet_id)).decide(Action.APPROVE, OPS, NOW)
    await vets.save(vet)
    vet = (await vets.get(vet_id)).with_schedule(schedule(), NOW)
    await vets.save(vet)
    return await vets.get(vet_id)


async def test_a_vet_round_trips_with_schedule_and_decisions(db):
    vets = FirestoreVets(db, OpStats())
    vet = await active_vet(vets, 501)
    assert vet.status == VetStatus.ACTIVE and vet.bookable and vet.version is not None
    assert vet.schedule == schedule() and vet.timezone == "Asia/Yekaterinburg"
    assert [(d.action, d.by) for d in vet.decisions] == [(Action.APPLY, 501), (Action.APPROVE, OPS),
                                                         (Action.PUBLISH, 501)]
    assert vet.decisions[0].at == NOW
    assert vet.species == (Species.CAT, Species.DOG) and vet.areas == (Area.GENERAL, Area.DERMATOLOGY)
    assert vet.documents == ("vet-documents/k/a.jpg",) and vet.portrait == "vet-portraits/k/p.jpg"
    assert vet.price_kopecks == 1500_00 and vet.rating is None
    assert await vets.get(502) is None and await vets.get(-1) is None


async def test_one_application_per_person(db):
    vets = FirestoreVets(db, OpStats())
    await vets.create(vet_from_application(7, application(), NOW))
    with pytest.raises(StaleUpdate):
        await vets.create(vet_from_application(7, application(city="Омск"), NOW))
    assert (await vets.get(7)).city == "Казань"


async def test_two_decisions_on_one_reading_write_one(db):
    vets = FirestoreVets(db, OpStats())
    await vets.create(vet_from_application(8, application(), NOW))
    read = await vets.get(8)
    results = await asyncio.gather(*(vets.save(read.decide(Action.APPROVE, OPS + n, NOW)) for n in range(5)),
                                   return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, StaleUpdate) for r in results if r is not None)
    assert [d.action for d in (await vets.get(8)).decisions] == [Action.APPLY, Action.APPROVE]


async def test_bookable_lists_active_vets_with_hours_who_treat_the_species(db):
    vets = FirestoreVets(db, OpStats())
    await active_vet(vets, 11)
    await active_vet(vets, 12, species=["bird"], areas=["exotics"])
    paused = await active_vet(vets, 13)
    await vets.save(paused.decide(Action.PAUSE, 13, NOW))
    await vets.create(vet_from_application(14, application(), NOW))  # applied only
    verified = vet_from_application(15, application(), NOW)
    await vets.create(verified)
    await vets.save((await vets.get(15)).decide(Action.APPROVE, OPS, NOW))  # verified, no hours
    assert [v.id for v in await vets.bookable(Species.CAT)] == [11]
    assert [v.id for v in await vets.bookable(Species.CAT, Area.DERMATOLOGY)] == [11]
    assert await vets.bookable(Species.CAT, Area.CARDIOLOGY) == []
    assert [v.id for v in await vets.bookable(Species.BIRD, Area.GENERAL)] == [12]
    assert await vets.bookable(Species.REPTILE) == []
    assert [v.id for v in await vets.with_status(VetStatus.APPLIED)] == [14]


async def test_inside_a_unit_of_work_the_vet_is_staged_and_committed_with_the_owner(db):
    stats = OpStats()
    owners = FirestoreOwners(db, stats)
    owner = await owners.create(Owner(id=21, language="ru", consent_at=NOW))
    uow = FirestoreUnitOfWork(db, stats, owner)
    await uow.vets.create(vet_from_application(21, application(), NOW))
    assert await FirestoreVets(db, stats).get(21) is None  # staged only
    await uow.commit()
    assert (await FirestoreVets(db, stats).get(21)).status == VetStatus.APPLIED


async def test_a_stale_vet_fails_the_whole_update(db):
    stats = OpStats()
    owners, vets = FirestoreOwners(db, stats), FirestoreVets(db, stats)
    await vets.create(vet_from_application(31, application(), NOW))
    read = await vets.get(31)
    ops = await owners.create(Owner(id=OPS, language="ru", consent_at=NOW))
    await vets.save(read.decide(Action.APPROVE, OPS + 1, NOW))  # another ops, directly, first
    uow = FirestoreUnitOfWork(db, stats, ops)
    await uow.vets.save(read.decide(Action.REJECT, OPS, NOW, "поздно"))
    with pytest.raises(StaleUpdate):
        await uow.commit()
    assert (await vets.get(31)).status == VetStatus.VERIFIED


async def test_erasure_deletes_the_document(db):
    vets = FirestoreVets(db, OpStats())
    await vets.create(vet_from_application(41, application(), NOW))
    await vets.delete(41)
    assert await vets.get(41) is None


async def test_erasure_of_a_vet_takes_the_record_documents_and_portrait(db, storage_emulator):
    from shared.adapters.firestore_diary import FirestoreReminders
    from shared.adapters.photo_storage import PhotoStorage
    from shared.services import owners as owner_service
    from shared.services import vets as vet_service

    stats = OpStats()
    owners, vets = FirestoreOwners(db, stats), FirestoreVets(db, stats)
    photos = PhotoStorage(storage_emulator["photos_bucket"], storage_emulator["project"])
    await owners.create(Owner(id=51, language="ru", consent_at=NOW))
    document = await vet_service.store_photo(photos, 51, "document", b"\xff\xd8\xff doc")
    portrait = await vet_service.store_photo(photos, 51, "portrait", b"\xff\xd8\xff me")
    abandoned = await vet_service.store_photo(photos, 51, "document", b"\xff\xd8\xff left over")
    await vets.create(vet_from_application(51, application(documents=[document], portrait=portrait), NOW))
    neighbour = await vet_service.store_photo(photos, 52, "document", b"\xff\xd8\xff not theirs")
    await owner_service.forget_owner(owners, FirestoreReminders(db, stats), photos, 51, vets=vets)
    assert await owners.get(51) is None and await vets.get(51) is None
    left = set(await photos.list_names("vet-"))
    assert not {document, portrait, abandoned} & left and neighbour in left

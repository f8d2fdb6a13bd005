"""services.vets with fakes: applying (again), who may decide, hours, demo vets, erasure."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from shared.domain.pets import InvalidInput, Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Action, VetStatus
from shared.services import vets as svc
from shared.services.unit_of_work import StaleUpdate
from tests.fakes import FakePhotoStorage, FakeVets
from tests.test_vets_domain import application

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
VET, OPS = 501, 900


@pytest.fixture
def repos():
    return FakeVets(), FakePhotoStorage()


async def stored_application(photos, vet_id=VET, **changes) -> dict:
    document = await svc.store_photo(photos, vet_id, "document", b"jpeg-doc")
    portrait = await svc.store_photo(photos, vet_id, "portrait", b"jpeg-me")
    return application(documents=[document], portrait=portrait, **changes)


async def test_apply_once_and_again_only_after_a_rejection(repos):
    vets, photos = repos
    fields = await stored_application(photos)
    await svc.apply(vets, photos, VET, fields, NOW)
    with pytest.raises(InvalidInput) as err:
        await svc.apply(vets, photos, VET, fields, NOW)
    assert err.value.code == "vet.err.already_applied" and err.value.params == {"status": "applied"}
    await svc.decide(vets, VET, Action.REJECT, OPS, NOW, {OPS}, "нечитаемо")
    old = set(photos.objects)
    again = await stored_application(photos, city="Самара")
    vet = await svc.apply(vets, photos, VET, again, NOW + timedelta(days=1))
    assert vet.status == VetStatus.APPLIED and vet.city == "Самара"
    assert [d.action for d in vets.vets[VET].decisions] == [Action.APPLY, Action.REJECT, Action.APPLY]
    assert not old & set(photos.objects)  # the rejected application's photos are deleted


async def test_an_application_names_only_its_own_photos(repos):
    vets, photos = repos
    others = await stored_application(photos, vet_id=777)
    with pytest.raises(InvalidInput) as err:
        await svc.apply(vets, photos, VET, others, NOW)
    assert err.value.code == "vet.err.documents_needed" and VET not in vets.vets
    mine = await stored_application(photos)
    vet = await svc.apply(vets, photos, VET, mine, NOW)
    with pytest.raises(svc.VetNotFound):
        await svc.photo(photos, vet, others["documents"][0])  # never another person's file
    assert await svc.photo(photos, vet, vet.documents[0]) == b"jpeg-doc"


async def test_only_ops_decide_and_a_second_decision_on_one_reading_fails(repos):
    vets, photos = repos
    await svc.apply(vets, photos, VET, await stored_application(photos), NOW)
    for nobody in (VET, 12345, "900"):
        with pytest.raises(svc.NotOps):
            await svc.decide(vets, VET, Action.APPROVE, nobody, NOW, {OPS})
    with pytest.raises(ValueError):
        await svc.decide(vets, VET, Action.PAUSE, OPS, NOW, {OPS})  # not an ops decision
    with pytest.raises(svc.VetNotFound):
        await svc.decide(vets, 4242, Action.APPROVE, OPS, NOW, {OPS})
    read = vets.vets[VET]
    await svc.decide(vets, VET, Action.APPROVE, OPS, NOW, {OPS})
    with pytest.raises(StaleUpdate):
        await vets.save(read.decide(Action.REJECT, OPS, NOW, "поздно"))
    assert vets.vets[VET].status == VetStatus.VERIFIED


async def test_hours_publish_once_and_past_overrides_are_dropped(repos):
    vets, photos = repos
    await svc.apply(vets, photos, VET, await stored_application(photos), NOW)
    schedule = Schedule("Europe/Moscow", weekly={0: parse_hours("09-12")},
                        overrides={date(2026, 11, 1): (), date(2026, 12, 1): ()})
    with pytest.raises(InvalidInput):
        await svc.set_schedule(vets, VET, schedule, NOW)  # not verified yet
    await svc.decide(vets, VET, Action.APPROVE, OPS, NOW, {OPS})
    vet = await svc.set_schedule(vets, VET, schedule, NOW)
    assert vet.status == VetStatus.ACTIVE and list(vet.schedule.overrides) == [date(2026, 12, 1)]
    assert [v.id for v in await svc.bookable(vets, Species.CAT)] == [VET]
    await svc.pause(vets, VET, NOW)
    assert await svc.bookable(vets, Species.CAT) == []
    await svc.resume(vets, VET, NOW)
    assert [d.action for d in vets.vets[VET].decisions][-3:] == [Action.PUBLISH, Action.PAUSE, Action.RESUME]


async def test_demo_vets_go_through_the_same_steps_once(repos):
    vets, photos = repos
    schedule = Schedule("Europe/Moscow", weekly={d: parse_hours("09-18") for d in range(5)})
    profile = {k: v for k, v in application().items() if k not in ("documents", "portrait")}
    vet = await svc.create_demo_vet(vets, photos, 910, profile, b"jpeg", schedule, OPS, {OPS}, NOW)
    assert vet.demo and vet.bookable and [d.action for d in vet.decisions] == [Action.APPLY, Action.APPROVE,
                                                                               Action.PUBLISH]
    again = await svc.create_demo_vet(vets, photos, 910, profile, b"jpeg", schedule, OPS, {OPS}, NOW)
    assert again == vets.vets[910] and len(photos.objects) == 2
    with pytest.raises(svc.NotOps):
        await svc.create_demo_vet(vets, photos, 911, profile, b"jpeg", schedule, OPS, set(), NOW)


async def test_forget_vet_removes_the_record_and_every_photo(repos):
    vets, photos = repos
    await svc.apply(vets, photos, VET, await stored_application(photos), NOW)
    await svc.store_photo(photos, VET, "document", b"abandoned upload")
    await svc.store_photo(photos, 777, "document", b"someone else's")
    await svc.forget_vet(vets, photos, VET)
    assert VET not in vets.vets
    assert [name for name in photos.objects] == [n for n in photos.objects if n.startswith(svc.photo_folder(777, "document"))]
    assert len(photos.objects) == 1

"""'Later' on a reminder that is already done or dismissed must not bring it back."""
from datetime import date, datetime, timezone

import pytest

from shared.domain.owners import Owner
from shared.domain.pets import Pet, Species
from shared.domain.reminders import Reminder, Status, Step, reminder_id
from shared.services import reminders as reminder_service
from tests.fakes import FakePets, FakeReminders

NOW = datetime(2026, 11, 29, 7, 5, tzinfo=timezone.utc)


async def _setup(status: Status):
    pets, reminders = FakePets(), FakeReminders()
    pet = await pets.add(Pet(id="", owner_id=7, species=Species.DOG, name="Шарик"))
    rid = reminder_id(7, pet.id, "t1", Step.BEFORE)
    await reminders.schedule([Reminder(rid, 7, pet.id, "t1", Step.BEFORE, date(2026, 11, 30), NOW, 7, "ru",
                                       "Шарик", "vaccine", "Нобивак", "Europe/Moscow", status)])
    return pets, reminders, pet, rid


@pytest.mark.parametrize("status", [Status.DONE, Status.DISMISSED])
async def test_snooze_does_not_revive_a_finished_reminder(status):
    pets, reminders, pet, rid = await _setup(status)
    owner = Owner(id=7, language="ru", consent_at=NOW, timezone="Europe/Moscow")
    with pytest.raises(LookupError):
        await reminder_service.snooze(pets, reminders, owner, pet.id, "t1", Step.BEFORE.value, NOW)
    assert (await reminders.get(rid)).status == status


async def test_snooze_moves_a_sent_reminder_to_tomorrow():
    pets, reminders, pet, rid = await _setup(Status.SENT)
    owner = Owner(id=7, language="ru", consent_at=NOW, timezone="Europe/Moscow")
    until = await reminder_service.snooze(pets, reminders, owner, pet.id, "t1", Step.BEFORE.value, NOW)
    rem = await reminders.get(rid)
    assert rem.status == Status.PENDING and rem.fire_at == until > NOW

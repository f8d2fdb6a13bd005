"""The due-reminders job against the Firestore emulator: exactly one message per due item and step,
however often and however concurrently it runs; nothing for done / dismissed items or other owners."""
from __future__ import annotations

import asyncio
import os
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders
from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, OpStats
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.domain import reminders as r
from shared.domain.diary import Kind
from shared.domain.owners import Owner
from shared.domain.pets import Pet, Species
from shared.domain.reminders import Status, Step
from shared.services import diary as diary_service
from shared.services import reminders as svc
from shared.services.pets import PetNotFound
from tests.fakes import FakeReminderSender

UTC = timezone.utc
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 11:00 in Moscow


def client() -> firestore.AsyncClient:
    return firestore.AsyncClient(project=os.environ["GOOGLE_CLOUD_PROJECT"])


def repo(stats=None):
    return FirestoreReminders(client(), stats or OpStats())


def rem(owner: int, n: int, fire_at: datetime, step=Step.DUE, pet="pet1") -> r.Reminder:
    tid = f"t{n}"
    return r.Reminder(id=r.reminder_id(owner, pet, tid, step), owner_id=owner, pet_id=pet, treatment_id=tid,
                      step=step, due_on=fire_at.date(), fire_at=fire_at, chat_id=owner, language="ru",
                      pet_name=f"Мурка{n}", kind="vaccine", product="Nobivac", timezone="Europe/Moscow")


async def seed(reminders: FirestoreReminders, due: int, owner: int = 101, future: int = 0) -> list[r.Reminder]:
    items = [rem(owner, n, NOW - timedelta(minutes=n + 1)) for n in range(due)]
    items += [rem(owner, 1000 + n, NOW + timedelta(days=1 + n)) for n in range(future)]
    assert await reminders.schedule(items) == len(items)
    return items


async def test_twice_in_a_row_sends_each_due_reminder_once(clean_firestore):
    stats = OpStats()
    reminders = repo(stats)
    items = await seed(reminders, due=7, future=3)
    assert await reminders.schedule(items) == 0  # scheduling again creates nothing
    sender = FakeReminderSender()
    first = await svc.due_reminders(reminders, sender, NOW, stats=stats)
    second = await svc.due_reminders(reminders, sender, NOW, stats=stats)
    third = await svc.due_reminders(reminders, sender, NOW + timedelta(minutes=15), stats=stats)
    assert (first.found, first.sent) == (7, 7)
    assert (second.found, second.sent, third.sent) == (0, 0, 0)
    assert sorted(x.id for x in sender.sent) == sorted(x.id for x in items[:7])
    assert first.reads / first.sent <= 1.1
    stored = await reminders.get(items[0].id)
    assert stored.status == Status.SENT
    assert (await reminders.get(items[-1].id)).status == Status.PENDING  # the future ones wait


async def test_overlapping_runs_on_separate_clients_send_once(clean_firestore):
    await seed(repo(), due=40)
    sender = FakeReminderSender()
    results = await asyncio.gather(*(svc.due_reminders(repo(), sender, NOW, batch=15) for _ in range(4)))
    assert len(sender.sent) == 40 == len({x.id for x in sender.sent})
    assert sum(x.sent for x in results) == 40
    assert sum(x.skipped for x in results) == sum(x.found for x in results) - 40


def test_overlapping_runs_in_threads_send_once(clean_firestore):
    asyncio.run(seed(repo(), due=30))
    sender = FakeReminderSender()
    lock, results, start = threading.Lock(), [], threading.Barrier(3)

    class Locked:
        async def send(self, reminder):
            with lock:
                sender.sent.append(reminder)

    def run():
        start.wait()
        results.append(asyncio.run(svc.due_reminders(repo(), Locked(), NOW)))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(results) == 3
    assert len(sender.sent) == 30 == len({x.id for x in sender.sent})


async def test_done_dismissed_and_superseded_items_are_not_sent(clean_firestore):
    reminders = repo()
    items = await seed(reminders, due=4)
    await reminders.set_status(items[0].id, Status.DONE)
    await reminders.set_status(items[1].id, Status.DISMISSED)
    await reminders.set_status(items[2].id, Status.SUPERSEDED)
    sender = FakeReminderSender()
    await svc.due_reminders(reminders, sender, NOW)
    assert [x.id for x in sender.sent] == [items[3].id]


async def test_each_owner_gets_only_their_own(clean_firestore):
    reminders = repo()
    await seed(reminders, due=2, owner=101)
    await seed(reminders, due=3, owner=202)
    sender = FakeReminderSender()
    await svc.due_reminders(reminders, sender, NOW)
    by_chat = {}
    for x in sender.sent:
        by_chat.setdefault(x.chat_id, set()).add(x.owner_id)
    assert by_chat == {101: {101}, 202: {202}}
    assert len(sender.sent) == 5


async def test_failures_retry_later_and_blocked_owners_are_not_retried(clean_firestore):
    reminders = repo()
    await seed(reminders, due=2, owner=101)
    await seed(reminders, due=1, owner=303)
    sender = FakeReminderSender(fail_for={101}, gone_for={303})
    result = await svc.due_reminders(reminders, sender, NOW)
    assert (result.sent, result.retry, result.failed) == (0, 2, 1)
    sender.fail_for.clear()
    assert (await svc.due_reminders(reminders, sender, NOW)).found == 0          # not before the delay
    later = await svc.due_reminders(reminders, sender, NOW + r.RETRY_DELAY)
    assert (later.sent, later.failed) == (2, 0)


async def test_a_claim_left_by_a_crashed_run_is_retried_after_the_lease(clean_firestore):
    reminders = repo()
    items = await seed(reminders, due=1)
    [(found, update_time)] = await reminders.due(NOW, 10)
    assert await reminders.claim(found.id, update_time, NOW + r.CLAIM_LEASE)
    assert not await reminders.claim(found.id, update_time, NOW + r.CLAIM_LEASE)  # stale update_time
    sender = FakeReminderSender()
    assert (await svc.due_reminders(reminders, sender, NOW)).sent == 0
    assert (await svc.due_reminders(reminders, sender, NOW + r.CLAIM_LEASE)).sent == 1
    assert sender.sent[0].id == items[0].id


async def test_treatment_schedules_reminders_and_done_renews_them(clean_firestore):
    db, stats = client(), OpStats()
    pets, diary, reminders, owners = (FirestorePets(db, stats), FirestoreDiary(db, stats),
                                      FirestoreReminders(db, stats), FirestoreOwners(db, stats))
    owner = Owner(id=555, language="ru", consent_at=NOW, timezone="Asia/Novosibirsk")
    owner = await owners.create(owner)
    pet = await pets.add(Pet(id="", owner_id=555, species=Species.CAT, name="Барсик"))
    given = date(2026, 11, 1)
    tr = await diary_service.record_treatment(pets, diary, reminders, owner, 555, pet.id, Kind.DEWORMING,
                                              "Мильбемакс", given, date(2026, 12, 2),
                                              NOW - timedelta(days=10))
    active = await reminders.active_for_owner(555)
    assert {x.step for x in active} == {Step.BEFORE, Step.DUE}
    assert {x.fire_at for x in active} == {datetime(2026, 12, 1, 3, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC)}
    assert {x.pet_name for x in active} == {"Барсик"}

    sender = FakeReminderSender()
    assert (await svc.due_reminders(reminders, sender, NOW)).sent == 1  # the day-before one
    assert sender.sent[0].step == Step.BEFORE and sender.sent[0].chat_id == 555

    # someone else's button does nothing to this pet
    with pytest.raises(PetNotFound):
        await svc.mark_done(pets, diary, reminders, Owner(id=666, language="ru"), 666, pet.id, tr.id, NOW)

    new = await svc.mark_done(pets, diary, reminders, owner, 555, pet.id, tr.id, NOW)
    assert new.given_on == date(2026, 12, 1) and new.next_due == date(2026, 12, 1) + timedelta(days=90)
    assert await svc.mark_done(pets, diary, reminders, owner, 555, pet.id, tr.id, NOW) is None  # pressed twice
    assert len(await diary.treatments(555, pet.id)) == 2
    assert (await diary.treatment(555, pet.id, tr.id)).followed_by == new.id
    # the due-day step of the old record never goes out; the new record's steps wait for March
    assert (await svc.due_reminders(reminders, sender, NOW + timedelta(days=1, hours=2))).sent == 0
    assert {x.treatment_id for x in await reminders.active_for_owner(555)} == {new.id}

    # changing the time zone moves pending reminders to 10:00 there
    uow = FirestoreUnitOfWork(db, stats, owner)
    await svc.set_timezone(uow.owners, uow.reminders, owner, "Europe/Moscow")
    assert (await reminders.active_for_owner(555))[0].timezone == "Asia/Novosibirsk"  # staged until commit
    await uow.commit()
    moved = {x.step: x.fire_at for x in await reminders.active_for_owner(555)}
    assert moved[Step.DUE] == r.fire_time(new.next_due, "Europe/Moscow")
    assert (await owners.get(555)).timezone == "Europe/Moscow"


async def test_dismiss_and_snooze(clean_firestore):
    db, stats = client(), OpStats()
    pets, diary, reminders = FirestorePets(db, stats), FirestoreDiary(db, stats), FirestoreReminders(db, stats)
    owner = Owner(id=777, language="en", consent_at=NOW, timezone="Asia/Almaty")
    pet = await pets.add(Pet(id="", owner_id=777, species=Species.DOG, name="Rex"))
    tr = await diary_service.record_treatment(pets, diary, reminders, owner, 777, pet.id, Kind.FLEA_TICK,
                                              "Bravecto", date(2026, 11, 1), date(2026, 12, 1),
                                              NOW - timedelta(days=10))
    sender = FakeReminderSender()
    assert (await svc.due_reminders(reminders, sender, NOW)).sent == 2  # the day before, and today (13:00 Almaty)
    until = await svc.snooze(pets, reminders, owner, pet.id, tr.id, "due", NOW)
    assert until == datetime(2026, 12, 2, 5, tzinfo=UTC)
    assert (await svc.due_reminders(reminders, sender, NOW + timedelta(hours=2))).sent == 0
    assert (await svc.due_reminders(reminders, sender, until)).sent == 1
    await svc.dismiss(pets, diary, reminders, 777, pet.id, tr.id)
    assert (await diary.treatment(777, pet.id, tr.id)).reminders_off
    assert await reminders.active_for_owner(777) == []


async def test_an_unreadable_reminder_is_set_aside_and_the_others_still_go_out(clean_firestore):
    reminders = repo()
    [good] = await seed(reminders, due=1)
    await client().collection("reminders").document("101-broken").set(
        {"owner_id": 101, "status": "pending", "fire_at": NOW - timedelta(minutes=5)})  # no treatment, no step
    sender = FakeReminderSender()
    result = await svc.due_reminders(reminders, sender, NOW)
    assert [x.id for x in sender.sent] == [good.id] and result.found == 1
    broken = await client().collection("reminders").document("101-broken").get()
    assert broken.get("status") == "failed"
    assert (await svc.due_reminders(reminders, sender, NOW)).found == 0

"""The vet directory (vet_directory/{species}: the listing card of every bookable vet) against the Firestore
emulator: a vet list page costs one directory read plus its calendars whatever the number of vets, and is
the same page reading every vet would give; the cards follow every change of a vet in the same commit
(status, hours, rating, erasure), concurrent changes of different vets all land, a failed commit leaves no
card, ops can rebuild it, and a card stays small enough for hundreds of vets per document."""
from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.adapters.firestore_vets import (CARD_HOURS_MAX_BYTES, DIRECTORY, FirestoreVets, add_rating, card_to,
                                            stored_bytes)
from shared.adapters.firestore_writes import DIRECT
from shared.domain import slots as slot_rules
from shared.domain.bookings import Booking, BookingStatus, Currency, Price
from shared.domain.owners import Owner
from shared.domain.pets import Species
from shared.domain.schedule import MAX_OVERRIDES, Schedule, parse_hours
from shared.domain.slots import HOLD_TTL
from shared.domain.vets import LANGUAGES, Action, Area, Vet, VetStatus
from shared.services import booking
from shared.services import vets as svc
from shared.services.unit_of_work import StaleUpdate
from tests.fakes import FakePhotoStorage
from tests.test_vets_domain import application

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)   # a Tuesday, 12:00 in Moscow
OPS = 700001
PRICING = booking.Pricing()
ZONES = ("Europe/Moscow", "Asia/Novosibirsk", "Asia/Almaty", "Europe/Berlin", "Asia/Vladivostok")


def hours(zone="Europe/Moscow", day="09:00-18:00", **changes) -> Schedule:
    return Schedule(**{"timezone": zone, "weekly": {d: parse_hours(day) for d in range(7)}, "slot_minutes": 30,
                       **changes})


def vet(vet_id: int, *, schedule=None, species=("dog", "cat"), rating=(0, 0), experience=5,
        status=VetStatus.ACTIVE) -> Vet:
    schedule = schedule or hours()
    return Vet(id=vet_id, full_name=f"Врач {vet_id}", city="Казань", education="КГАВМ", experience_years=experience,
               species=tuple(Species(s) for s in species), areas=(Area.GENERAL,), languages=("ru",), bio="...",
               price_kopecks=150000, timezone=schedule.timezone, status=status, schedule=schedule,
               rating_sum=rating[0], rating_count=rating[1])


@pytest.fixture
async def repos(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    stats = OpStats()
    yield client, FirestoreVets(client, stats), FirestoreBookings(client, stats, require_parties=False), stats
    client.close()


async def listed(vets, bookings, species=Species.DOG, **kwargs) -> list[int]:
    page = await booking.list_vets(vets, bookings, species, NOW, PRICING, page_size=1000, **kwargs)
    return [o.vet.id for o in page.offers]


async def directory_keys(client) -> dict[str, set[str]]:
    """Every key of every species' document, partial entries included."""
    return {s.id: set((s.to_dict().get("vets") or {})) async for s in client.collection(DIRECTORY).stream()}


async def expected_order(vets, bookings, species=Species.DOG) -> list[tuple[int, datetime | None]]:
    """The list as reading every bookable vet's record and calendar gives it (the old way, a read per vet)."""
    everyone = await vets.bookable(species)
    calendars = await bookings.calendars(v.id for v in everyone)
    nexts = {v.id: slot_rules.next_free(v.schedule, calendars[v.id], NOW) for v in everyone}
    far = datetime.max.replace(tzinfo=timezone.utc)
    order = sorted(everyone, key=lambda v: (nexts[v.id] is None, nexts[v.id].start if nexts[v.id] else far,
                                            -(v.rating or 0), -v.experience_years, v.id))
    return [(v.id, nexts[v.id].start if nexts[v.id] else None) for v in order]


async def hold_all(bookings, v: Vet, until: datetime) -> int:
    """Holds every free slot of `v` starting before `until` (their hours then say nothing of them)."""
    free = [s for s in slot_rules.free_slots(v.schedule, [], NOW) if s.start < until]
    for n, slot in enumerate(free):
        await bookings.hold(Booking(
            id=bookings.new_id(), owner_id=5000 + n, vet_id=v.id, pet_id="p", start=slot.start, end=slot.end,
            buffer_minutes=0, price=Price(150000, Currency.RUB), status=BookingStatus.HELD,
            hold_expires_at=NOW + HOLD_TTL, cells=tuple(slot_rules.slot_cells(str(v.id), slot, 0))), NOW)
    return len(free)


# ---- reads ---------------------------------------------------------------------------------------------

async def a_hundred_vets(vets, bookings) -> list[Vet]:
    """100 dog vets (a third treat cats too) in five zones with varied hours, ratings and experience; the 3
    whose hours start soonest booked up for a day (their hours alone would put them first). Returns those 3."""
    rng = random.Random(9)
    made = []
    for n in range(100):
        start = rng.choice(("08:00", "09:00", "10:00", "14:00"))
        made.append(vet(3000 + n, schedule=hours(rng.choice(ZONES), f"{start}-18:00"),
                        rating=(rng.randint(0, 50), 10), experience=rng.randint(1, 30),
                        species=("dog",) if n % 3 else ("dog", "cat")))
    for v in made:
        await vets.create(v)
    # the vets whose hours start soonest are booked up for a day: their hours alone would put them first
    first = sorted(made, key=lambda v: slot_rules.next_free(v.schedule, [], NOW).start)[:3]
    for v in first:
        assert await hold_all(bookings, v, NOW + timedelta(days=1)) > 0
    return first


async def test_a_page_of_a_hundred_vets_costs_at_most_twelve_reads_and_is_the_exact_page(repos):
    _, vets, bookings, stats = repos
    first = await a_hundred_vets(vets, bookings)
    expected = await expected_order(vets, bookings)
    assert len(expected) == 100

    stats.reset()
    page = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING)
    assert stats.reads <= 12, stats.reads
    assert [(o.vet.id, o.next_slot.start) for o in page.offers] == expected[:5]
    assert page.pages == 20
    second = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=1)  # no `shown`: old buttons
    assert [(o.vet.id, o.next_slot.start) for o in second.offers] == expected[5:10]
    assert {o.vet.id for o in page.offers} & {v.id for v in first} == set()  # booked up: not first any more
    cats = await booking.list_vets(vets, bookings, Species.CAT, NOW, PRICING, page_size=100)
    assert [(o.vet.id, o.next_slot.start) for o in cats.offers] == await expected_order(vets, bookings, Species.CAT)


async def test_every_page_after_the_vets_shown_before_costs_what_the_first_does(repos):
    _, vets, bookings, stats = repos
    await a_hundred_vets(vets, bookings)
    expected = await expected_order(vets, bookings)
    shown: list[int] = []
    pages, reads = [], []
    for n in range(20):
        stats.reset()
        page = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=n, shown=shown)
        reads.append(stats.reads)
        assert (page.page, page.pages, len(page.offers)) == (n, 20, 5)
        pages.append([(o.vet.id, o.next_slot.start) for o in page.offers])
        shown += [o.vet.id for o in page.offers]
    print(f"\nREADS list_vets pages 0-19 of 100 vets, each with the vets shown before: {reads}")
    assert max(reads) <= 12, reads
    assert [offer for page in pages for offer in page] == expected  # each vet once, in the exact order
    # Prev: a page asked again after the same earlier pages is the same page
    again = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=7, shown=shown[:35])
    assert [(o.vet.id, o.next_slot.start) for o in again.offers] == pages[7]
    # a stale Next past the last page (every vet shown): the last page, as without `shown`
    past = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=20, shown=shown)
    assert (past.page, [(o.vet.id, o.next_slot.start) for o in past.offers]) == (19, pages[19])


async def test_vets_changing_between_pages_are_each_listed_once_when_walked(repos):
    _, vets, bookings, _ = repos
    for n in range(11):
        await vets.create(vet(4800 + n, schedule=hours(day=f"{9 + n % 6:02d}:00-18:00"), experience=n))
    first = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING)
    shown = [o.vet.id for o in first.offers]
    assert first.pages == 3
    # meanwhile three of those shown stop taking bookings and a new vet, free the soonest, starts
    for vet_id in shown[:3]:
        await svc.pause(vets, vet_id, NOW)
    await vets.create(vet(4811, schedule=hours(day="00:00-24:00"), experience=30))
    second = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=1, shown=shown)
    assert second.offers[0].vet.id == 4811 and not {o.vet.id for o in second.offers} & set(shown)
    assert (second.page, second.pages) == (1, 3)  # 9 listed fit 2 pages, but 7 are left after page 0: a Next
    shown += [o.vet.id for o in second.offers]
    third = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING, page=2, shown=shown)
    shown += [o.vet.id for o in third.offers]
    assert (third.page, third.pages, len(third.offers)) == (2, 3, 2)
    assert sorted(shown) == list(range(4800, 4812))  # every vet once, the paused ones while they were listed


# ---- the cards follow every change -------------------------------------------------------------------

async def test_a_vet_is_listed_exactly_while_bookable_from_the_commit_that_changes_it(repos):
    client, vets, bookings, _ = repos
    photos = FakePhotoStorage()
    await vets.create(vet(4100, schedule=hours(day="15:00-18:00")))  # next: 12:00 UTC today
    document = await svc.store_photo(photos, 4101, "document", b"jpeg")
    portrait = await svc.store_photo(photos, 4101, "portrait", b"jpeg")
    await svc.apply(vets, photos, 4101, application(documents=[document], portrait=portrait), NOW)
    assert await listed(vets, bookings) == [4100]
    await svc.decide(vets, 4101, Action.APPROVE, OPS, NOW, {OPS})
    assert await listed(vets, bookings) == [4100]  # verified, no hours yet
    await svc.set_schedule(vets, 4101, hours("Asia/Almaty", "16:00-20:00"), NOW)
    assert await listed(vets, bookings) == [4101, 4100]  # 16:00 in Almaty is 11:00 UTC
    assert await listed(vets, bookings, Species.CAT) == [4101, 4100]
    assert await listed(vets, bookings, Species.BIRD) == []

    await svc.pause(vets, 4101, NOW)
    assert await listed(vets, bookings) == [4100] and await listed(vets, bookings, Species.CAT) == [4100]
    await svc.resume(vets, 4101, NOW)
    assert await listed(vets, bookings) == [4101, 4100]
    await svc.set_schedule(vets, 4101, hours("Asia/Almaty", "20:00-22:00"), NOW)  # 15:00 UTC: now second
    assert await listed(vets, bookings) == [4100, 4101]
    [card] = [c for c in await vets.listing(Species.DOG) if c.id == 4101]
    assert card.schedule == hours("Asia/Almaty", "20:00-22:00") and card.full_name == "Анна Петрова"
    await svc.decide(vets, 4101, Action.SUSPEND, OPS, NOW, {OPS}, "документы")
    assert await listed(vets, bookings) == [4100]
    await svc.decide(vets, 4101, Action.REINSTATE, OPS, NOW, {OPS})
    assert await listed(vets, bookings) == [4100]  # verified again: publishes hours to be offered
    await svc.set_schedule(vets, 4101, hours("Asia/Almaty", "20:00-22:00"), NOW)
    assert await listed(vets, bookings) == [4100, 4101]
    await svc.forget_vet(vets, photos, 4101)
    assert await listed(vets, bookings) == [4100]
    keys = await directory_keys(client)
    assert all("4101" not in k for k in keys.values()) and keys["dog"] == keys["cat"] == {"4100"}


async def test_concurrent_changes_of_different_vets_all_land(repos):
    _, vets, bookings, _ = repos
    ids = list(range(4200, 4212))
    for i in ids:
        await vets.create(vet(i))
    new = {i: hours(ZONES[i % len(ZONES)], f"{8 + i % 9:02d}:00-20:00") for i in ids}
    paused = ids[::4]
    await asyncio.gather(*(svc.set_schedule(vets, i, new[i], NOW) for i in ids if i not in paused),
                         *(svc.pause(vets, i, NOW) for i in paused))
    cards = {c.id: c for c in await vets.listing(Species.DOG)}
    assert set(cards) == set(ids) - set(paused)
    assert all(cards[i].schedule == new[i] and cards[i].timezone == new[i].timezone for i in cards)
    assert {c.id for c in await vets.listing(Species.CAT)} == set(cards)


async def test_a_change_whose_commit_fails_leaves_the_card_as_it_was(repos):
    client, vets, bookings, stats = repos
    await vets.create(vet(4300))
    read = await vets.get(4300)
    await svc.pause(vets, 4300, NOW)  # directly, first: the record and the card change
    ops = await FirestoreOwners(client, stats).create(Owner(id=4300, language="ru", consent_at=NOW))
    uow = FirestoreUnitOfWork(client, stats, ops)
    await uow.vets.save(read.with_schedule(hours(day="07:00-08:00"), NOW))  # on the stale reading
    assert await listed(vets, bookings) == []  # staged only
    with pytest.raises(StaleUpdate):
        await uow.commit()
    assert await listed(vets, bookings) == [] and (await vets.get(4300)).status == VetStatus.PAUSED
    uow = FirestoreUnitOfWork(client, stats, ops)
    await uow.vets.save((await vets.get(4300)).decide(Action.RESUME, 4300, NOW))
    await uow.commit()
    assert await listed(vets, bookings) == [4300]


async def test_ratings_reach_the_card_with_the_record_listed_or_not(repos):
    client, vets, bookings, _ = repos
    await vets.create(vet(4400, rating=(40, 10)))
    await vets.create(vet(4401, rating=(36, 9)))  # 4.0 each: same slot, same experience -> by id
    assert await listed(vets, bookings) == [4400, 4401]
    await add_rating(client, DIRECT, await vets.get(4401), 5)   # 4.1 > 4.0
    assert await listed(vets, bookings) == [4401, 4400]
    await svc.pause(vets, 4401, NOW)
    await add_rating(client, DIRECT, await vets.get(4401), 1)   # while not listed: 42/11 = 3.8
    assert await listed(vets, bookings) == [4400]  # the rating's partial entry is no card
    await svc.resume(vets, 4401, NOW)
    [card] = [c for c in await vets.listing(Species.DOG) if c.id == 4401]
    assert (card.rating_sum, card.rating_count) == (42, 11) and await listed(vets, bookings) == [4400, 4401]


async def test_ops_rebuild_the_directory_from_the_records(repos):
    client, vets, bookings, _ = repos
    for v in (vet(4500), vet(4501, species=("cat",)), vet(4502, species=("bird",))):
        await vets.create(v)
    await svc.pause(vets, 4501, NOW)
    directory = client.collection(DIRECTORY)
    # damage: a card of a paused vet, a bookable vet's card gone, a stray rating entry, a card from nowhere
    stale = card_to(replace(vet(4501, species=("cat",)), status=VetStatus.ACTIVE))
    await directory.document("cat").set({"vets": {"4501": stale, "4999": {"rating_sum": 5, "rating_count": 1}}})
    await directory.document("dog").delete()
    await directory.document("bird").set({"vets": {"4503": card_to(vet(4503, species=("bird",)))}}, merge=True)
    assert await listed(vets, bookings, Species.CAT) == [4501] and await listed(vets, bookings) == []

    report = await svc.rebuild_directory(vets)
    assert {s: n for s, (n, _) in report.items()} == {Species.DOG: 1, Species.CAT: 1, Species.BIRD: 1,
                                                       Species.RODENT: 0, Species.REPTILE: 0, Species.OTHER: 0}
    assert 300 < report[Species.DOG][1] < 1500
    assert await listed(vets, bookings) == [4500] and await listed(vets, bookings, Species.CAT) == [4500]
    assert await listed(vets, bookings, Species.BIRD) == [4502]
    assert await directory_keys(client) == {"dog": {"4500"}, "cat": {"4500"}, "bird": {"4502"}, "rodent": set(),
                                            "reptile": set(), "other": set()}


# ---- size -----------------------------------------------------------------------------------------------

def longest_vet() -> Vet:
    """Every field at its longest, in 4-byte characters, hours past the card's budget."""
    many = parse_hours(", ".join(f"{h:02d}:00-{h:02d}:15" for h in range(0, 24, 2)))  # 12 stretches
    schedule = Schedule("America/Argentina/Buenos_Aires", weekly={d: many for d in range(7)},
                        overrides={date(2026, 12, 2) + timedelta(days=n): many for n in range(MAX_OVERRIDES)},
                        slot_minutes=15, daily_cap=48)
    return replace(vet(4600, schedule=schedule, species=tuple(s.value for s in Species)),
                   full_name="😀" * 100, city="😀" * 60, areas=tuple(Area), languages=LANGUAGES,
                   experience_years=70, price_kopecks=15_000_00, rating_sum=10**9, rating_count=10**8)


def test_a_card_is_small_enough_for_hundreds_of_vets_per_document():
    typical = card_to(replace(vet(4601, schedule=hours(day="09:00-13:00, 14:00-18:00", overrides={
        date(2026, 12, 31): (), date(2027, 1, 2): parse_hours("12:00-15:00")})), full_name="Анна Петрова-Соколова"))
    card = card_to(longest_vet())
    assert card["schedule"] is None  # too long for a card: the record keeps the hours
    weekly_only = card_to(replace(longest_vet(), schedule=replace(longest_vet().schedule, overrides={})))
    assert weekly_only["schedule"] is not None and stored_bytes(weekly_only["schedule"]) <= CARD_HOURS_MAX_BYTES
    # the longest card: every other field at its longest, hours at the card's budget (null is 1 byte)
    worst = stored_bytes(card) - 1 + CARD_HOURS_MAX_BYTES + stored_bytes(str(2**63))
    assert worst <= 2600 and 1_048_576 // worst >= 400, worst
    assert stored_bytes(typical) <= 600 and 1_048_576 // stored_bytes(typical) >= 1700, stored_bytes(typical)


async def test_a_vet_whose_hours_are_not_on_the_card_is_listed_exactly(repos):
    _, vets, bookings, stats = repos
    long = replace(longest_vet(), id=4700, species=(Species.DOG,))
    await vets.create(long)
    await vets.create(vet(4701, schedule=hours(day="00:00-24:00")))
    [card] = [c for c in await vets.listing(Species.DOG) if c.id == 4700]
    assert card.schedule is None
    stats.reset()
    page = await booking.list_vets(vets, bookings, Species.DOG, NOW, PRICING)
    assert stats.reads == 4  # the directory, 4700's record, both calendars
    assert [(o.vet.id, o.next_slot.start) for o in page.offers] == await expected_order(vets, bookings)

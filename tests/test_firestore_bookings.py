"""Holds, bookings and the payments ledger against the Firestore emulator, with real concurrency: the
slot locks are enforced by Firestore (create, update preconditions), never by a read in Python."""
import asyncio
import random
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_bookings import FirestoreBookings, SlotTaken, charge_doc_id
from shared.adapters.firestore_repositories import OpStats
from shared.domain.bookings import Booking, BookingStatus, Currency, PaymentOutcome, Price, split
from shared.domain.slots import HOLD_TTL, lock_cells

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
START = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
VET = 9001


@pytest.fixture
async def repo(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    yield FirestoreBookings(client, OpStats(), require_parties=False)  # slot mechanics: no people made
    client.close()


def hold_of(repo, owner=1, start=START, minutes=30, buffer=0, vet=VET, now=NOW, amount=150000) -> Booking:
    end = start + timedelta(minutes=minutes)
    return Booking(id=repo.new_id(), owner_id=owner, vet_id=vet, pet_id="p1", start=start, end=end,
                   buffer_minutes=buffer, price=Price(amount, Currency.RUB), status=BookingStatus.HELD,
                   hold_expires_at=now + HOLD_TTL, cells=tuple(lock_cells(str(vet), start, end + timedelta(minutes=buffer))),
                   reason="ear", pet={"name": "Rex"})


async def try_hold(repo, booking, now=NOW):
    try:
        return await repo.hold(booking, now)
    except SlotTaken:
        return None


async def held_cells(repo) -> list[dict]:
    return [s.to_dict() async for s in repo._locks.stream()]


async def test_a_hold_round_trips_and_its_calendar_costs_one_read(repo):
    b = await repo.hold(hold_of(repo), NOW)
    got = await repo.get(b.id)
    assert got.status is BookingStatus.HELD and got.cells == b.cells and got.pet == {"name": "Rex"}
    assert got.start == START and got.hold_expires_at == NOW + HOLD_TTL and got.created_at == NOW
    [mine] = await repo.held_by(b.owner_id)  # the store's time of the write, as the hold and a query see it
    assert mine.id == b.id and b.written_at is not None and mine.written_at == b.written_at
    before = repo._stats.reads
    [busy] = await repo.calendar(VET)
    assert repo._stats.reads - before == 1
    assert busy.start == START and busy.expires_at == NOW + HOLD_TTL
    assert await repo.get("../x") is None and await repo.get("no/such") is None


async def test_overlapping_consultations_of_any_length_cannot_both_be_held(repo):
    await repo.hold(hold_of(repo, start=START, minutes=45, buffer=15), NOW)  # blocks 09:00-10:00
    for start, minutes in ((START + timedelta(minutes=45), 15), (START - timedelta(minutes=15), 30),
                           (START + timedelta(minutes=30), 30)):
        assert await try_hold(repo, hold_of(repo, owner=2, start=start, minutes=minutes)) is None
    assert await try_hold(repo, hold_of(repo, owner=2, start=START + timedelta(hours=1))) is not None
    assert await try_hold(repo, hold_of(repo, owner=2, start=START, vet=VET + 1)) is not None  # another vet


async def test_two_hundred_owners_racing_for_one_slot_get_one_hold(repo):
    holds = [hold_of(repo, owner=n) for n in range(200)]
    results = await asyncio.gather(*(try_hold(repo, b) for b in holds))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert {c["booking_id"] for c in await held_cells(repo)} == {winners[0].id}
    assert len([s async for s in repo._bookings.stream()]) == 1
    assert len(await repo.calendar(VET)) == 1


async def test_four_hundred_owners_over_fifty_slots_of_mixed_lengths_never_overlap(repo):
    random.seed(7)
    vets = (VET, VET + 1, VET + 2)
    tries = []
    for n in range(400):
        vet = random.choice(vets)
        start = START + timedelta(minutes=15 * random.randrange(50))
        tries.append(hold_of(repo, owner=n, vet=vet, start=start, minutes=random.choice((15, 30, 45)),
                             buffer=random.choice((0, 15))))
    results = [r for r in await asyncio.gather(*(try_hold(repo, b) for b in tries)) if r is not None]
    assert results
    cells = await held_cells(repo)
    assert len({(c["vet_id"], c["booking_id"]) for c in cells}) == len(results)
    for vet in vets:
        mine = sorted((b for b in results if b.vet_id == vet), key=lambda b: b.start)
        for a, b in zip(mine, mine[1:]):
            assert a.end + timedelta(minutes=a.buffer_minutes) <= b.start, (a, b)
        assert len(await repo.calendar(vet)) == len(mine)


async def test_an_expired_hold_is_taken_over_and_its_late_expiry_touches_nothing_new(repo):
    old = await repo.hold(hold_of(repo, owner=1), NOW)
    later = NOW + HOLD_TTL + timedelta(seconds=1)
    assert await try_hold(repo, hold_of(repo, owner=2, now=NOW + timedelta(minutes=5)), NOW + timedelta(minutes=5)) is None
    new = await repo.hold(hold_of(repo, owner=2, now=later), later)
    assert {c["booking_id"] for c in await held_cells(repo)} == {new.id}
    assert [b.expires_at for b in await repo.calendar(VET)] == [new.hold_expires_at]  # the old entry went
    assert await repo.expire_hold(old.id, later) is True  # the task runs late: only the old booking changes
    assert (await repo.get(old.id)).status is BookingStatus.EXPIRED
    assert {c["booking_id"] for c in await held_cells(repo)} == {new.id}
    assert await repo.expire_hold(old.id, later) is False  # a redelivered task
    assert await repo.expire_hold(new.id, later) is False  # not run out yet


async def test_expiry_frees_the_cells_for_the_fast_path(repo):
    b = await repo.hold(hold_of(repo), NOW)
    assert await repo.expire_hold(b.id, NOW + HOLD_TTL) is True
    assert await held_cells(repo) == [] and await repo.calendar(VET) == []
    assert await repo.hold(hold_of(repo, owner=3, now=NOW + HOLD_TTL), NOW + HOLD_TTL)


def pay(repo, b, charge="ch-1", now=NOW + timedelta(minutes=2), payer=None, amount=None):
    return repo.apply_payment(b.id, charge, payer or b.owner_id, amount or b.price.amount, "RUB", "yk-" + charge,
                              lambda a: split(a, 20), now)


async def test_twenty_deliveries_of_one_charge_confirm_once(repo):
    b = await repo.hold(hold_of(repo), NOW)
    results = await asyncio.gather(*(pay(repo, b) for _ in range(20)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(PaymentOutcome.CONFIRM) == 1 and outcomes.count(PaymentOutcome.ALREADY) == 19
    got = await repo.get(b.id)
    assert got.status is BookingStatus.CONFIRMED and got.charge_id == "ch-1" and got.hold_expires_at is None
    assert all(c["expires_at"] is None for c in await held_cells(repo))
    [entry] = await repo.ledger_entries()
    assert (entry.status, entry.amount, entry.fee, entry.vet_share) == ("confirmed", 150000, 30000, 120000)
    assert [x.expires_at for x in await repo.calendar(VET)] == [None]


async def test_a_late_payment_takes_a_still_free_slot(repo):
    b = await repo.hold(hold_of(repo), NOW)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    applied = await pay(repo, b, now=late)
    assert applied.outcome is PaymentOutcome.CONFIRM and applied.booking.status is BookingStatus.CONFIRMED
    assert await repo.expire_hold(b.id, late) is False  # the expiry task after it does nothing


async def test_a_late_payment_after_the_expiry_task_takes_the_slot_back(repo):
    b = await repo.hold(hold_of(repo), NOW)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    assert await repo.expire_hold(b.id, late)
    applied = await pay(repo, b, now=late)
    assert applied.outcome is PaymentOutcome.CONFIRM
    assert [c["booking_id"] for c in await held_cells(repo)] == [b.id] * len(b.cells)


async def test_a_late_payment_for_a_slot_taken_meanwhile_is_owed_back_once(repo):
    b = await repo.hold(hold_of(repo), NOW)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    other = await repo.hold(hold_of(repo, owner=2, now=late, minutes=15), late)  # overlaps one cell
    results = await asyncio.gather(*(pay(repo, b, now=late) for _ in range(5)))
    assert [r.outcome for r in results].count(PaymentOutcome.REFUND) == 1
    entry = await repo.ledger("ch-1")
    assert entry.status == "refund_pending" and entry.refund_due == 150000 and entry.fee == 0
    assert (await repo.get(other.id)).status is BookingStatus.HELD
    assert (await repo.get(b.id)).charge_id is None
    settled = await repo.record_refund("ch-1", {"id": "r1", "amount": 150000, "key": "k", "at": late}, True)
    assert settled.status == "refunded" and settled.refunded == 150000


async def test_a_payment_racing_a_takeover_of_its_run_out_hold_ends_one_way(repo):
    for n in range(5):
        b = await repo.hold(hold_of(repo, start=START + timedelta(hours=n)), NOW)
        late = NOW + HOLD_TTL + timedelta(minutes=1)
        rival = hold_of(repo, owner=2, start=START + timedelta(hours=n), now=late)
        paid, taken = await asyncio.gather(pay(repo, b, charge=f"c{n}", now=late), try_hold(repo, rival, late))
        owners = {c["booking_id"] for c in await held_cells(repo)
                  if c["booking_id"] in (b.id, rival.id)}
        assert len(owners) == 1
        if paid.outcome is PaymentOutcome.CONFIRM:
            assert taken is None and owners == {b.id}
        else:
            assert taken is not None and owners == {rival.id} and paid.outcome is PaymentOutcome.REFUND


async def test_charges_that_do_not_fit_are_owed_back(repo):
    b = await repo.hold(hold_of(repo), NOW)
    assert (await pay(repo, b, charge="x1", amount=1)).outcome is PaymentOutcome.REFUND
    assert (await pay(repo, b, charge="x2", payer=777)).outcome is PaymentOutcome.REFUND
    assert (await pay(repo, b, charge="x3")).outcome is PaymentOutcome.CONFIRM
    assert (await pay(repo, b, charge="x4")).outcome is PaymentOutcome.REFUND  # paid twice
    assert (await repo.get(b.id)).charge_id == "x3"
    assert await repo.apply_payment("nosuchbooking", "x5", 1, 1, "RUB", "", lambda a: split(a, 20), NOW) is None


def test_charge_ids_map_to_safe_document_ids():
    assert charge_doc_id("stxABC_1-2.3:4") == "stxABC_1-2.3:4"
    for bad in ("a/b", "__x__", "..", "", "x" * 201):
        doc = charge_doc_id(bad)
        assert "/" not in doc and doc.startswith("h") and len(doc) == 65

"""Cancelling, moving and erasing consultations against the Firestore emulator and the YooKassa double:
the windows and amounts, refunds made once however many presses race, a move once and only 24 h ahead,
forged ids refused, and erasure of an owner or a vet racing a payment (every charge ends booked or
refunded, reconcile finds nothing, nothing of the person is left but the pseudonymised ledger)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from infra.local.yookassa_double import YooKassaDouble
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
from shared.adapters.firestore_vets import FirestoreVets
from shared.adapters.yookassa import RetryPolicy, YooKassa
from shared.domain.bookings import BookingStatus, Party, PaymentOutcome, VetCancelReason
from shared.domain.consultations import version
from shared.domain.owners import Owner
from shared.domain.pets import InvalidInput, Pet, Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Area, Vet, VetStatus
from shared.services import booking as booking_service
from shared.services import cancellations as svc
from shared.services import payments
from shared.services.unit_of_work import OwnerGone
from tests.booking_harness import mentions

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)      # Tuesday, 12:00 in Moscow
# Telegram-sized ids: the checks for what is left of a person look for their id in every string stored
OWNER, OTHER, VET, VET2, OPS = 710_000_101, 710_000_102, 810_000_101, 810_000_102, 910_000_101
CONFIG = payments.PaymentsConfig(mode="provider", provider_token="381764678:TEST:1", fee_percent=20)


def at(day: int, hour_utc: int) -> datetime:
    return datetime(2026, 12, day, hour_utc, 0, tzinfo=timezone.utc)


def vet(vet_id: int) -> Vet:
    hours = Schedule(timezone="Europe/Moscow", weekly={d: parse_hours("09:00-18:00") for d in range(7)}, slot_minutes=30)
    return Vet(id=vet_id, full_name=f"Врач {vet_id}", city="Казань", education="КГАВМ", experience_years=5,
               species=(Species.DOG,), areas=(Area.GENERAL,), languages=("ru",), bio="...", price_kopecks=150000,
               timezone="Europe/Moscow", status=VetStatus.ACTIVE, schedule=hours)


class World:
    def __init__(self, client, yookassa):
        self.client = client
        self.stats = OpStats()
        self.owners = FirestoreOwners(client, self.stats)
        self.vets = FirestoreVets(client, self.stats)
        self.bookings = FirestoreBookings(client, self.stats)
        self.yookassa = yookassa
        provider = YooKassa(yookassa.shop_id, yookassa.secret_key, base_url=yookassa.api_url,
                            retry=RetryPolicy(attempts=2, backoff=0.01, deadline=2))
        self.refunder = payments.Refunder(provider, None, lambda: NOW)
        self.charges = 0

    async def person(self, person_id: int) -> None:
        await self.owners.create(Owner(id=person_id, language="ru", consent_at=NOW - timedelta(days=3)))

    async def held(self, owner: int, start: datetime, vet_id: int = VET, now: datetime = NOW):
        pet = Pet(id="rex1", owner_id=owner, species=Species.DOG, name="Рекс", weight_kg=12.0)
        request = booking_service.HoldRequest(owner_id=owner, pet=pet, vet_id=vet_id, start=start, reason="Чешет ухо")
        return await booking_service.hold_slot(self.vets, self.bookings, request, now, CONFIG.pricing)

    async def pay(self, booking, now: datetime = NOW, payer: int | None = None, owners=None):
        self.charges += 1
        payment = self.yookassa.create_payment(booking.price.amount)
        return await payments.apply_successful_payment(
            self.bookings, self.refunder, CONFIG, payload=booking.id,  # Telegram's charge ids carry the payer's id
            charge_id=f"{payer or booking.owner_id}_{booking.id}_{self.charges}",
            provider_charge_id=payment["id"], payer_id=payer or booking.owner_id, amount=booking.price.amount,
            currency="RUB", now=now, owners=owners)

    async def booked(self, owner: int, start: datetime, vet_id: int = VET):
        result = await self.pay(await self.held(owner, start, vet_id))
        assert result.outcome is PaymentOutcome.CONFIRM
        return result.booking

    async def entry(self, booking):
        """The ledger entry of a booking's charge (an erased payer's is kept under another id: found by booking)."""
        [entry] = await self.entries(booking.id)
        return entry

    async def entries(self, booking_id: str):
        from shared.adapters.firestore_bookings import ledger_from

        query = self.client.collection("payments").where(filter=firestore.FieldFilter("booking_id", "==", booking_id))
        return [ledger_from(s) async for s in query.stream()]

    async def everything(self) -> list[tuple[str, dict]]:
        """Every document of the database (path, data), subcollections included."""
        found = []

        async def walk(collection):
            async for snap in collection.stream():
                found.append((snap.reference.path, snap.to_dict()))
            async for doc in collection.list_documents():
                async for sub in doc.collections():
                    await walk(sub)

        async for collection in self.client.collections():
            await walk(collection)
        return found


@pytest.fixture
async def world(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    with YooKassaDouble() as yookassa:
        w = World(client, yookassa)
        for person in (OWNER, OTHER, VET, VET2, OPS):
            await w.person(person)
        for v in (VET, VET2):
            await w.vets.create(vet(v))
        yield w
    client.close()


async def code(coro) -> str:
    with pytest.raises(InvalidInput) as err:
        await coro
    return err.value.code


def refunds_of(w: World, entry) -> list[dict]:
    return w.yookassa.refunds(entry.provider_charge_id)


# ---- windows and amounts ---------------------------------------------------------------------------

async def test_an_owner_cancelling_24_hours_ahead_gets_everything_back_and_the_slot_is_free_again(world):
    w = world
    booking = await w.booked(OWNER, at(2, 9))                      # tomorrow 12:00 Moscow: exactly 24 h ahead
    terms = await svc.cancel_terms(w.bookings, CONFIG, booking.id, OWNER, NOW)
    assert (terms.party, terms.refund) == (Party.OWNER, 150000)
    done = await svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OWNER, NOW, as_party=Party.OWNER)
    assert (done.by, done.refund, done.refunded) == (Party.OWNER, 150000, True)
    entry = await w.entry(booking)
    assert (entry.status, entry.refunded, entry.fee, entry.vet_share) == ("refunded", 150000, 0, 0)
    [refund] = refunds_of(w, entry)
    assert refund["amount"]["value"] == "1500.00"
    assert (await w.bookings.get(booking.id)).status is BookingStatus.CANCELLED
    assert await w.bookings.calendar(VET) == []
    assert (await w.held(OTHER, at(2, 9))).status is BookingStatus.HELD  # its cells were freed in the same batch
    assert await payments.reconcile(w.bookings) == []


async def test_later_the_configured_share_goes_back_and_the_split_is_of_what_is_kept(world):
    w = world
    booking = await w.booked(OWNER, at(2, 8))                      # 23 h ahead
    done = await svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OWNER, NOW, as_party=Party.OWNER)
    assert (done.refund, done.refunded) == (75000, True)
    entry = await w.entry(booking)
    assert (entry.status, entry.refunded, entry.fee, entry.vet_share) == ("refunded", 75000, 15000, 60000)
    nothing = replace(CONFIG, late_cancel_refund_percent=0)
    second = await w.booked(OWNER, at(2, 7))
    assert (await svc.cancel_terms(w.bookings, nothing, second.id, OWNER, NOW)).refund == 0
    done = await svc.cancel(w.bookings, w.refunder, nothing, second.id, OWNER, NOW)
    assert (done.refund, done.refunded) == (0, False)
    entry = await w.entry(second)
    assert (entry.status, entry.refunds, entry.fee, entry.vet_share) == ("confirmed", (), 30000, 120000)
    assert refunds_of(w, entry) == []
    assert await payments.reconcile(w.bookings) == []


async def test_a_vet_cancels_with_a_reason_and_refunds_in_full_even_two_hours_ahead(world):
    w = world
    booking = await w.booked(OWNER, at(1, 11))                      # 2 h ahead (the notice)
    assert await code(svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, VET, NOW, as_party=Party.VET)) == (
        "booking.err.vet_reason_needed")
    done = await svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, VET, NOW, as_party=Party.VET,
                            reason=VetCancelReason.ILLNESS)
    assert (done.by, done.refund, done.refunded, done.reason) == (Party.VET, 150000, True, VetCancelReason.ILLNESS)
    assert (await w.entry(booking)).status == "refunded"
    snap = await w.client.document(f"bookings/{booking.id}").get()
    assert (snap.get("cancelled_by"), snap.get("cancel_reason")) == ("vet", "illness")


async def test_ops_cancel_in_full_and_nobody_else_can(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    assert await code(svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OPS, NOW)) == "booking.err.not_found"
    done = await svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OPS, NOW, ops={OPS})
    assert (done.by, done.refund) == (Party.OPS, 150000)


async def test_an_owner_cannot_cancel_once_it_started(world):
    w = world
    booking = await w.booked(OWNER, at(1, 11))
    assert await code(svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OWNER, at(1, 11))) == "booking.err.started"


# ---- who may act -------------------------------------------------------------------------------------

async def test_forged_ids_are_refused_whoever_presses(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    other_vets = await w.booked(OTHER, at(3, 9), vet_id=VET2)
    for person, party in ((OTHER, None), (VET2, None), (VET, Party.OWNER), (OWNER, Party.VET)):
        assert await code(svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, person, NOW, as_party=party,
                                     reason=VetCancelReason.ILLNESS)) == "booking.err.not_found"
        assert await code(svc.cancel_terms(w.bookings, CONFIG, booking.id, person, NOW, as_party=party)) == (
            "booking.err.not_found")
    for person in (OTHER, VET):  # an owner of another booking, its vet
        assert await code(svc.reschedule(w.vets, w.bookings, booking.id, person, at(4, 9), NOW)) == "booking.err.not_found"
        assert await code(svc.reschedule_options(w.vets, w.bookings, booking.id, person, NOW)) == "booking.err.not_found"
    assert await code(svc.patient_card(w.bookings, None, None, None, None, booking.id, VET2, NOW.date())) == (
        "booking.err.not_found")
    assert await code(svc.patient_card(w.bookings, None, None, None, None, booking.id, OWNER, NOW.date())) == (
        "booking.err.not_found")
    for forged in ("nosuchbooking", "../../x", ""):
        assert await code(svc.cancel(w.bookings, w.refunder, CONFIG, forged, OWNER, NOW)) == "booking.err.not_found"
    assert [b.id for b in await svc.owner_bookings(w.bookings, OWNER, NOW)] == [booking.id]
    assert [b.id for b in await svc.vet_bookings(w.bookings, VET2, NOW)] == [other_vets.id]
    assert w.yookassa.refunds() == []
    assert (await w.bookings.get(booking.id)).status is BookingStatus.CONFIRMED


# ---- racing presses --------------------------------------------------------------------------------

async def test_twelve_racing_cancellations_refund_once(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    presses = [svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, OWNER, NOW, as_party=Party.OWNER)
               for _ in range(10)]
    presses += [svc.cancel(w.bookings, w.refunder, CONFIG, booking.id, VET, NOW, as_party=Party.VET,
                           reason=VetCancelReason.EMERGENCY) for _ in range(2)]
    results = await asyncio.gather(*presses, return_exceptions=True)
    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r.code for r in results if isinstance(r, InvalidInput)]
    assert len(done) == 1 and refused == ["booking.err.already_cancelled"] * 11, results
    entry = await w.entry(booking)
    assert len(refunds_of(w, entry)) == 1 and entry.status == "refunded" and len(entry.refunds) == 1
    assert await payments.reconcile(w.bookings) == []


@pytest.mark.parametrize("winner_paid", [True, False])
async def test_a_cancellation_overtaken_between_its_reads_is_told_it_is_already_cancelled(world, winner_paid):
    """The loser read the booking confirmed, the winner committed, then the loser read the charge (its refund
    owed, or paid already): told booking.err.already_cancelled like any other loser, nothing refunded twice
    (it failed with 'its charge is refund_pending, not confirmed')."""
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    loser = FirestoreBookings(w.client, OpStats())
    read_charge, won = loser._ledger_snap, []

    async def after_the_winner(charge_id):
        if not won:   # the winner commits between the loser's read of the booking and of its charge
            won.append(await svc.cancel(w.bookings, w.refunder if winner_paid else payments.Refunder(None, None, lambda: NOW),
                                        CONFIG, booking.id, OWNER, NOW, as_party=Party.OWNER))
        return await read_charge(charge_id)

    loser._ledger_snap = after_the_winner
    with pytest.raises(InvalidInput) as refused:
        await svc.cancel(loser, w.refunder, CONFIG, booking.id, OWNER, NOW, as_party=Party.OWNER)
    assert refused.value.code == "booking.err.already_cancelled"
    entry = await w.entry(booking)
    assert entry.status == ("refunded" if winner_paid else "refund_pending")
    assert len(refunds_of(w, entry)) == (1 if winner_paid else 0)


# ---- moving ----------------------------------------------------------------------------------------

class Queue:
    def __init__(self):
        self.scheduled: list[tuple[str, str, str]] = []

    async def schedule(self, kind, booking_id, when, ver, payload=None):
        item = (kind, booking_id, ver)
        new = item not in self.scheduled
        self.scheduled.append(item)
        return new


async def test_a_booking_moves_once_free_and_only_24_hours_ahead(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    _, _, free = await svc.reschedule_options(w.vets, w.bookings, booking.id, OWNER, NOW)
    assert booking.start not in [s.start for s in free] and at(3, 9) + timedelta(minutes=30) in [s.start for s in free]
    queue = Queue()
    moved = await svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(4, 10), NOW, tasks=queue)
    assert (moved.old_start, moved.booking.start, moved.booking.reschedules_left) == (at(3, 9), at(4, 10), 0)
    assert {v for _, _, v in queue.scheduled} == {version(moved.booking)}  # the old version's tasks are stale
    stored = await w.bookings.get(booking.id)
    assert (stored.start, stored.status, stored.charge_id) == (at(4, 10), BookingStatus.CONFIRMED, booking.charge_id)
    assert [(b.start, b.expires_at) for b in await w.bookings.calendar(VET)] == [(at(4, 10), None)]
    assert (await w.held(OTHER, at(3, 9))).status is BookingStatus.HELD     # the old time is free
    assert await code(w.held(OTHER, at(4, 10))) == "schedule.err.slot_taken"  # the new one is not
    assert await code(svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(5, 10), NOW)) == (
        "booking.err.rescheduled_once")
    late = await w.booked(OWNER, at(2, 8))                                      # 23 h ahead
    assert await code(svc.reschedule(w.vets, w.bookings, late.id, OWNER, at(5, 10), NOW)) == "booking.err.reschedule_late"
    assert await code(svc.reschedule_options(w.vets, w.bookings, late.id, OWNER, NOW)) == "booking.err.reschedule_late"
    assert w.yookassa.refunds() == [] and await payments.reconcile(w.bookings) == []


async def test_a_move_onto_a_taken_or_unoffered_time_is_refused_and_racing_moves_make_one(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    await w.held(OTHER, at(4, 9))
    assert await code(svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(4, 9), NOW)) == "schedule.err.slot_taken"
    assert await code(svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(4, 9) + timedelta(minutes=15),
                                     NOW)) == "schedule.err.slot_not_offered"
    # overlapping its own time is fine: 15 minutes later on a 30-minute grid is no slot, 30 minutes is
    moves = [svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(3, 9) + timedelta(minutes=30 * n), NOW)
             for n in range(1, 7)]
    results = await asyncio.gather(*moves, return_exceptions=True)
    done = [r for r in results if isinstance(r, svc.Moved)]
    assert len(done) == 1, results
    assert {r.code for r in results if isinstance(r, InvalidInput)} == {"booking.err.rescheduled_once"}
    stored = await w.bookings.get(booking.id)
    assert stored.start == done[0].booking.start
    locks = [s.id async for s in w.client.collection("slot_locks").stream() if s.get("booking_id") == booking.id]
    assert sorted(locks) == sorted(stored.cells) and len(locks) == 2  # the new time's, none of the old


async def test_a_move_takes_over_cells_of_a_hold_that_ran_out(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    await w.held(OTHER, at(4, 9), now=NOW - timedelta(minutes=30))   # ran out long ago, never expired by its task
    moved = await svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(4, 9), NOW)
    assert moved.booking.start == at(4, 9)
    assert [b.start for b in await w.bookings.calendar(VET)] == [at(4, 9)]
    stale = (await w.bookings.of_owner(OTHER))[0]
    assert (await w.pay(stale)).outcome is PaymentOutcome.REFUND  # its late payment cannot take them back
    assert (await w.bookings.get(booking.id)).start == at(4, 9)


# ---- erasure -----------------------------------------------------------------------------------------

async def left_of(w: World, person_id: int) -> list[str]:
    return [path for path, data in await w.everything() if str(person_id) in path or mentions(data, person_id)]


async def forget(w: World, person_id: int, now: datetime = NOW) -> list:
    from shared.services import owners as owner_service
    from tests.fakes import FakePhotoStorage, FakeReminders

    return await owner_service.forget_owner(
        w.owners, FakeReminders(), FakePhotoStorage(), person_id, vets=w.vets,
        erase_bookings=lambda pid: svc.erase_bookings(w.bookings, w.refunder, CONFIG, pid, now))


async def test_erasing_an_owner_cancels_what_is_ahead_refunds_it_and_keeps_only_a_pseudonymised_ledger(world):
    w = world
    past = await w.booked(OWNER, at(1, 11))
    await w.bookings.mark_no_show(past.id, BookingStatus.NO_SHOW_OWNER, at(1, 12))   # over, nothing owed
    ahead = await w.booked(OWNER, at(3, 9))
    soon = await w.booked(OWNER, at(1, 13))                               # 4 h ahead: free only because of erasure
    held = await w.held(OWNER, at(4, 9))
    keeps = await w.booked(OTHER, at(5, 9))
    conclusion = w.client.document(f"conclusions/{past.id}")     # what its vet wrote after the call
    await conclusion.set({"owner_id": OWNER, "vet_id": VET, "pet_id": "rex1", "summary": "Отит", "rating": None})
    cancelled = await forget(w, OWNER, at(1, 10))
    assert not (await conclusion.get()).exists                 # the pet's record was the owner's
    assert sorted(c.booking.id for c in cancelled) == sorted([ahead.id, soon.id])
    assert all(c.refund == 150000 and c.refunded and c.erasure and c.booking.pet["name"] == "Рекс" for c in cancelled)
    for b in (ahead, soon):
        entry = await w.entry(b)
        assert (entry.status, entry.refunded, entry.owner_id, entry.owner_ref) == (
            "refunded", 150000, 0, svc.pseudonym(OWNER))
    entry = await w.entry(past)
    assert (entry.status, entry.amount, entry.fee, entry.vet_share, entry.owner_id) == ("confirmed", 150000, 30000, 120000, 0)
    stored = await w.bookings.get(past.id)
    assert (stored.owner_id, stored.pet, stored.reason, stored.status, stored.vet_id) == (
        0, {}, "", BookingStatus.NO_SHOW_OWNER, VET)
    assert (await w.bookings.get(held.id)).status is BookingStatus.EXPIRED
    assert await left_of(w, OWNER) == []
    assert (await w.bookings.get(keeps.id)).owner_id == OTHER
    assert await payments.reconcile(w.bookings) == []
    with pytest.raises(OwnerGone):  # and no hold of theirs can appear afterwards
        await w.held(OWNER, at(6, 9))
    assert await left_of(w, OWNER) == []


async def test_erasing_a_vet_cancels_their_bookings_ahead_with_full_refunds_and_removes_their_id(world):
    w = world
    past = await w.booked(OWNER, at(1, 11))
    ahead = await w.booked(OWNER, at(3, 9))
    held = await w.held(OTHER, at(3, 10))
    conclusion = w.client.document(f"conclusions/{past.id}")
    await conclusion.set({"owner_id": OWNER, "vet_id": VET, "pet_id": "rex1", "summary": "Отит", "rating": None})
    cancelled = await forget(w, VET, at(1, 12))
    kept = (await conclusion.get()).to_dict()                   # the owner keeps the record, without its vet
    assert (kept["owner_id"], kept["vet_id"], kept["vet_ref"], kept["summary"]) == (OWNER, 0, svc.pseudonym(VET), "Отит")
    assert [(c.booking.id, c.by, c.refund, c.booking.owner_id) for c in cancelled] == [(ahead.id, Party.VET, 150000, OWNER)]
    assert (await w.entry(ahead)).status == "refunded"
    assert (await w.entry(past)).vet_id == 0 and (await w.entry(past)).vet_ref == svc.pseudonym(VET)
    assert (await w.bookings.get(held.id)).status is BookingStatus.EXPIRED
    assert await left_of(w, VET) == []
    assert (await w.bookings.get(past.id)).owner_id == OWNER  # the owner keeps their record
    late = await w.pay(await w.bookings.get(held.id), now=at(1, 12))  # the owner pays the hold afterwards
    assert late.outcome is PaymentOutcome.REFUND and late.refunded
    assert await code(w.held(OTHER, at(4, 9))) == "booking.err.vet_unavailable"
    assert await payments.reconcile(w.bookings) == []
    assert await left_of(w, VET) == []


@pytest.mark.parametrize("who", ["owner", "vet"])
async def test_erasure_racing_a_payment_ends_refunded_and_leaves_nothing(world, who):
    """The payment and the erasure started together, or one a little after the other: both orders happen
    (the payment confirms and erasure cancels it, or erasure comes first and the payment is refunded)."""
    w = world
    person = OWNER if who == "owner" else VET
    seen = set()
    for n, (erase_after, pay_after) in enumerate(((0, 0), (0, 0), (0.02, 0), (0, 0.02), (0, 0.05), (0, 0.1),
                                                  (0, 0.2), (0, 0.4))):
        if n:  # a new person each round (the erased one is gone)
            person += 1000
            await w.person(person)
            if who == "vet":
                await w.vets.create(vet(person))
        owner = person if who == "owner" else OTHER
        vet_id = VET2 if who == "owner" else person
        held = await w.held(owner, at(3 + n // 4, 9 + n % 4), vet_id=vet_id)

        async def erase():
            await asyncio.sleep(erase_after)
            return await forget(w, person, NOW + timedelta(minutes=2))

        async def pay():
            await asyncio.sleep(pay_after)
            return await w.pay(held, now=NOW + timedelta(minutes=2), owners=w.owners)

        paid, _ = await asyncio.gather(pay(), erase())
        [entry] = await w.entries(held.id)
        booking = await w.bookings.get(held.id)
        seen.add(paid.outcome)
        assert entry.status == "refunded" and entry.refunded == entry.amount, (n, paid, entry)
        assert booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED), (n, booking)
        assert paid.payer_gone is (who == "owner" and paid.outcome is PaymentOutcome.REFUND)
        assert await left_of(w, person) == [], n
        assert await payments.reconcile(w.bookings) == []
    assert seen == {PaymentOutcome.CONFIRM, PaymentOutcome.REFUND}


async def test_a_refund_owed_at_erasure_keeps_the_payers_id_only_until_it_is_paid(world):
    w = world
    booking = await w.booked(OWNER, at(3, 9))
    w.yookassa.inject(500, count=2)  # both attempts of the refund at erasure
    await forget(w, OWNER)
    entry = await w.entry(booking)
    assert (entry.status, entry.owner_id, entry.owner_ref, entry.forget_owner_when_refunded) == (
        "refund_pending", OWNER, svc.pseudonym(OWNER), True)
    assert await payments.settle_pending(w.bookings, w.refunder) == [(booking.charge_id, True)]
    entry = await w.entry(booking)
    assert (entry.status, entry.owner_id, entry.charge_id) == ("refunded", 0, svc.charge_pseudonym(booking.charge_id))
    assert not entry.forget_owner_when_refunded
    assert (await w.bookings.get(booking.id)).charge_id == entry.charge_id
    assert await left_of(w, OWNER) == [] and await payments.reconcile(w.bookings) == []


async def test_a_patient_card_has_the_photo_link_and_the_diary(world):
    from shared.adapters.firestore_diary import FirestoreDiary
    from shared.adapters.firestore_repositories import FirestorePets
    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.domain.diary import Kind, Treatment, WeightEntry
    from shared.domain.photos import Area as TArea
    from shared.domain.triage import Outcome, TriageResult, Urgency
    from tests.fakes import FakePhotoStorage

    w = world
    pets, diary, triage = FirestorePets(w.client, w.stats), FirestoreDiary(w.client, w.stats), FirestoreTriage(w.client, w.stats)
    pet = await pets.add(Pet(id="", owner_id=OWNER, species=Species.DOG, name="Рекс", weight_kg=12.0))
    await diary.add_weight(OWNER, pet.id, WeightEntry(id="", on=NOW.date(), kg=12.5))
    await diary.add_treatment(OWNER, pet.id, Treatment(id="", kind=Kind.VACCINE, product="Нобивак",
                                                       given_on=NOW.date() - timedelta(days=300),
                                                       next_due=NOW.date() + timedelta(days=65)))
    result = TriageResult(id="r1", owner_id=OWNER, pet_id=pet.id, photo_path=f"photos/x/{pet.id}/ph1.jpg",
                          area=TArea.SKIN, species=Species.DOG, outcome=Outcome.FINDINGS, urgency=Urgency.CONSULT,
                          findings=[("dermatitis", 0.8)])
    await triage.create(result)
    request = booking_service.HoldRequest(owner_id=OWNER, pet=pet, vet_id=VET, start=at(3, 9), reason="Чешет ухо",
                                          triage_result_id="r1", triage={"urgency": "consult"})
    held = await booking_service.hold_slot(w.vets, w.bookings, request, NOW, CONFIG.pricing)
    booking = (await w.pay(held)).booking
    card = await svc.patient_card(w.bookings, pets, diary, triage, FakePhotoStorage(), booking.id, VET, NOW.date())
    assert card.pet.name == "Рекс" and card.booking.reason == "Чешет ухо"
    assert card.photo_url.startswith(f"https://storage.test/photos/x/{pet.id}/ph1.jpg") and "X-Goog-Expires=900" in card.photo_url
    assert [e.kg for e in card.week.weights] == [12.5] and [t.product for t in card.treatments] == ["Нобивак"]
    await pets.delete(OWNER, pet.id)
    card = await svc.patient_card(w.bookings, pets, diary, triage, FakePhotoStorage(), booking.id, VET, NOW.date())
    assert card.week is None and card.pet.name == "Рекс"   # the card as booked


def test_a_photo_link_is_a_v4_signed_url_that_serves_the_photo_locally(storage_emulator):
    import secrets
    import urllib.parse

    import httpx

    from shared.adapters.photo_storage import PhotoStorage

    store = PhotoStorage(storage_emulator["photos_bucket"], storage_emulator["project"])
    name = f"photos/{secrets.token_hex(8)}/pet/ph.jpg"
    store.put_sync(name, b"\xff\xd8\xffcleaned", {})
    url = store.signed_url_sync(name, timedelta(minutes=15))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"] and query["X-Goog-Expires"] == ["900"]
    assert query["X-Goog-SignedHeaders"] == ["host"] and len(query["X-Goog-Signature"][0]) == 512
    assert urllib.parse.urlsplit(url).path == f"/{storage_emulator['photos_bucket']}/{name}"
    assert httpx.get(url).content == b"\xff\xd8\xffcleaned"


def test_domain_erased_vets_bookings_are_refunded_and_cancelled_ones_say_so():
    from shared.domain.bookings import Booking, Currency, Price, check_reschedule, payment_outcome, refund_due

    b = Booking(id="b1", owner_id=OWNER, vet_id=0, pet_id="p", start=at(3, 9), end=at(3, 9) + timedelta(minutes=30),
                buffer_minutes=0, price=Price(150000, Currency.RUB), status=BookingStatus.HELD,
                hold_expires_at=NOW + timedelta(minutes=10), cells=())
    assert payment_outcome(b, "c1", OWNER, 150000, "RUB", True, NOW) is PaymentOutcome.REFUND
    assert payment_outcome(replace(b, vet_id=VET), "c1", OWNER, 150000, "RUB", True, NOW) is PaymentOutcome.CONFIRM
    cancelled = replace(b, status=BookingStatus.CANCELLED)
    for check in (lambda: refund_due(cancelled, Party.OWNER, NOW), lambda: check_reschedule(cancelled, NOW)):
        with pytest.raises(InvalidInput) as err:
            check()
        assert err.value.code == "booking.err.already_cancelled"
    assert b.unsettled(NOW) and not cancelled.unsettled(NOW)
    confirmed = replace(b, status=BookingStatus.CONFIRMED)
    assert confirmed.unsettled(at(3, 9)) and not confirmed.unsettled(at(3, 10))
    moved = confirmed.rescheduled(at(4, 9), at(4, 9) + timedelta(minutes=45), 15, ("c",))
    assert (moved.start, moved.buffer_minutes, moved.cells, moved.reschedules_left) == (at(4, 9), 15, ("c",), 0)


def test_the_late_share_is_configured_and_checked():
    from shared.config import payment_settings

    assert payment_settings({})["late_cancel_refund_percent"] == 50
    assert payment_settings({"LATE_CANCEL_REFUND_PERCENT": "0"})["late_cancel_refund_percent"] == 0
    for bad in ("101", "-1", "50%", "half"):
        with pytest.raises(RuntimeError, match="LATE_CANCEL_REFUND_PERCENT"):
            payment_settings({"LATE_CANCEL_REFUND_PERCENT": bad})
    with pytest.raises(ValueError):
        payments.PaymentsConfig(late_cancel_refund_percent=120)


async def test_a_move_and_the_vets_cancellation_at_once_end_one_way(world):
    """Either the booking moved (its new time's cells held, nothing refunded) or it was cancelled, before or
    after the move (refunded once, no cell of the old or the new time left): never a cancelled booking still
    holding a time. Both orders happen across the rounds (checked when written)."""
    w = world

    async def cancel(booking_id: str, after: float):
        await asyncio.sleep(after)
        return await svc.cancel(w.bookings, w.refunder, CONFIG, booking_id, VET, NOW, as_party=Party.VET,
                                reason=VetCancelReason.ILLNESS)

    for day, after in zip(range(3, 9), (0, 0.005, 0.01, 0.02, 0.03, 0.05)):  # the cancellation a little later
        booking = await w.booked(OWNER, at(day, 9))
        move = svc.reschedule(w.vets, w.bookings, booking.id, OWNER, at(day, 12), NOW)
        moved, cancelled = await asyncio.gather(move, cancel(booking.id, after), return_exceptions=True)
        stored = await w.bookings.get(booking.id)
        locks = [s.id async for s in w.client.collection("slot_locks").stream() if s.get("booking_id") == booking.id]
        busy = [b.start for b in await w.bookings.calendar(VET) if b.start.day == day]
        refunds = w.yookassa.refunds((await w.entry(booking)).provider_charge_id)
        if stored.status is BookingStatus.CANCELLED:
            assert isinstance(cancelled, svc.Cancellation) and len(refunds) == 1, (moved, cancelled)
            assert locks == [] and busy == [], (locks, busy)
        else:
            assert isinstance(moved, svc.Moved) and isinstance(cancelled, InvalidInput), (moved, cancelled)
            assert stored.start == at(day, 12) and sorted(locks) == sorted(stored.cells) and busy == [at(day, 12)]
            assert refunds == []
    assert await payments.reconcile(w.bookings) == []

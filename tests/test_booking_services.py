"""The booking and payment use cases against the Firestore emulator and the YooKassa double: vet lists and
calendars within their read budgets, holds only of bookable vets' offered slots, pre-checkout answers,
payments applied once per charge, late payments refunded once, the ledger reconciled."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from infra.local.yookassa_double import YooKassaDouble
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_repositories import OpStats
from shared.adapters.firestore_vets import FirestoreVets
from shared.adapters.yookassa import RetryPolicy, YooKassa
from shared.domain.bookings import BookingStatus, Currency, PaymentOutcome, Price, SlotTaken
from shared.domain.pets import InvalidInput, Pet, Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.slots import HOLD_TTL
from shared.domain.vets import Area, Vet, VetStatus
from shared.services import booking as svc
from shared.services import payments

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)   # a Tuesday, 12:00 in Moscow
OWNER, OTHER = 7001, 7002
CONFIG = payments.PaymentsConfig(mode="provider", provider_token="381764678:TEST:1", fee_percent=20)


def hours(**changes) -> Schedule:
    fields = dict(timezone="Europe/Moscow", weekly={d: parse_hours("09:00-18:00") for d in range(7)}, slot_minutes=30)
    return Schedule(**{**fields, **changes})


def vet(vet_id: int, *, status=VetStatus.ACTIVE, schedule=None, species=("dog", "cat"), areas=("general",),
        price=150000, rating=(0, 0), experience=5) -> Vet:
    return Vet(id=vet_id, full_name=f"Врач {vet_id}", city="Казань", education="КГАВМ", experience_years=experience,
               species=tuple(Species(s) for s in species), areas=tuple(Area(a) for a in areas), languages=("ru",),
               bio="...", price_kopecks=price, timezone="Europe/Moscow", status=status,
               schedule=schedule if schedule is not None else (hours() if status == VetStatus.ACTIVE else None),
               rating_sum=rating[0], rating_count=rating[1])


REX = Pet(id="rex1", owner_id=OWNER, species=Species.DOG, name="Рекс", weight_kg=12.0)


@pytest.fixture
async def repos(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    stats = OpStats()
    # owners are not made here (services.cancellations' tests hold only for people who exist)
    vets, bookings = FirestoreVets(client, stats), FirestoreBookings(client, stats, require_parties=False)
    for v in (vet(101, price=200000, rating=(45, 10)),                        # free from tomorrow (below)
              vet(102, rating=(40, 10), areas=("dermatology",)),
              vet(103, price=100000, experience=20),
              vet(104, schedule=hours(weekly={}, overrides={date(2026, 12, 5): parse_hours("10:00-12:00")})),
              vet(105, species=("cat",)),                                      # no dogs
              vet(106, schedule=hours(weekly={})),                               # no hours at all: never free
              vet(107, status=VetStatus.PAUSED, schedule=hours()),             # paused
              vet(108, status=VetStatus.VERIFIED),                              # never published hours
              vet(109, rating=(50, 10), areas=("dermatology",))):
        await vets.create(v)
    await vets.create(replace(vet(110), schedule=hours(min_notice=timedelta(hours=30))))  # from tomorrow 15:00
    yield vets, bookings, stats
    client.close()


def request(vet_id: int, start: datetime, owner=OWNER, pet=REX) -> svc.HoldRequest:
    return svc.HoldRequest(owner_id=owner, pet=replace(pet, owner_id=owner), vet_id=vet_id, start=start,
                           reason="Чешет ухо", triage={"urgency": "soon"})


def slot_at(hour_utc: int, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour_utc, 0, tzinfo=timezone.utc)


async def code(coro) -> str:
    with pytest.raises(InvalidInput) as err:
        await coro
    return err.value.code


# ---- finding a vet -------------------------------------------------------------------------------

async def test_a_page_of_five_vets_with_their_next_slots_costs_at_most_twelve_reads(repos):
    vets, bookings, stats = repos
    await svc.hold_slot(vets, bookings, request(103, slot_at(11)), NOW, CONFIG.pricing)  # 103's first slot held
    stats.reset()
    page = await svc.list_vets(vets, bookings, Species.DOG, NOW, CONFIG.pricing)
    assert stats.reads <= 12, stats.reads
    print(f"\nREADS list_vets (5 of {len(page.offers)}+ dog vets): {stats.reads}")
    ids = [o.vet.id for o in page.offers]
    assert len(ids) == 5 and page.pages == 2
    assert 105 not in ids and 107 not in ids and 108 not in ids     # cats only, paused, never published
    firsts = [o.next_slot.start for o in page.offers]
    assert firsts == sorted(firsts)
    assert ids[:3] == [109, 101, 102]  # the same first slot: the best rated first (5.0, 4.5, 4.0)
    assert page.offers[ids.index(103)].next_slot.start == slot_at(11, 1) + timedelta(minutes=30)  # after the hold
    rest = await svc.list_vets(vets, bookings, Species.DOG, NOW, CONFIG.pricing, page=1)
    assert [o.vet.id for o in rest.offers][-1] == 106 and rest.offers[-1].next_slot is None  # no hours: last
    stats.reset()
    after = await svc.list_vets(vets, bookings, Species.DOG, NOW, CONFIG.pricing, page=1, shown=ids)
    assert after == rest and stats.reads <= 12, stats.reads  # the vets of page 0 left out: the same page
    stars = await svc.list_vets(vets, bookings, Species.DOG, NOW, payments.PaymentsConfig(mode="stars").pricing)
    assert stars.offers[1].price == Price(1000, Currency.XTR)  # 101: 2000 roubles at 2 roubles a star


async def test_an_area_narrows_the_list_and_widens_when_nobody_practises_it(repos):
    vets, bookings, _ = repos
    derm = await svc.list_vets(vets, bookings, Species.DOG, NOW, CONFIG.pricing, area=Area.DERMATOLOGY)
    assert [o.vet.id for o in derm.offers] == [109, 102] and not derm.widened
    eye = await svc.list_vets(vets, bookings, Species.DOG, NOW, CONFIG.pricing, area=Area.OPHTHALMOLOGY)
    assert eye.widened and len(eye.offers) == 5


async def test_a_vets_calendar_costs_at_most_three_reads(repos):
    vets, bookings, stats = repos
    for h in (11, 12, 13):
        await svc.hold_slot(vets, bookings, request(101, slot_at(h), owner=OWNER + h), NOW, CONFIG.pricing)
    stats.reset()
    v, free = await svc.vet_slots(vets, bookings, 101, Species.DOG, NOW)
    assert stats.reads <= 3, stats.reads
    print(f"\nREADS vet_slots (14 days, 3 holds): {stats.reads}")
    assert v.id == 101 and free[0].start == slot_at(11) + timedelta(minutes=30)
    assert not {slot_at(11), slot_at(12), slot_at(13)} & {s.start for s in free}
    assert len({s.start.date() for s in free}) == 14


# ---- holding a slot ------------------------------------------------------------------------------

async def test_only_bookable_vets_offered_slots_can_be_held(repos):
    vets, bookings, _ = repos
    pricing = CONFIG.pricing
    for vet_id in (107, 108, 105, 999):  # paused, unverified, no dogs, nobody: forged buttons
        assert await code(svc.hold_slot(vets, bookings, request(vet_id, slot_at(11)), NOW, pricing)) == (
            "booking.err.vet_unavailable")
    assert await code(svc.hold_slot(vets, bookings, request(101, slot_at(8)), NOW, pricing)) == "schedule.err.slot_past"
    assert await code(svc.hold_slot(vets, bookings, request(101, slot_at(10)), NOW, pricing)) == "schedule.err.slot_notice"
    assert await code(svc.hold_slot(vets, bookings, request(101, slot_at(11) + timedelta(minutes=15)), NOW,
                                    pricing)) == "schedule.err.slot_not_offered"
    assert await code(svc.hold_slot(vets, bookings, request(101, slot_at(11, 20)), NOW, pricing)) == (
        "schedule.err.slot_beyond_horizon")
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, pricing)
    assert held.price == Price(200000, Currency.RUB) and held.pet["name"] == "Рекс" and held.triage == {"urgency": "soon"}
    assert await code(svc.hold_slot(vets, bookings, request(101, slot_at(11), owner=OTHER), NOW, pricing)) == (
        "schedule.err.slot_taken")  # seen in the calendar
    with pytest.raises(SlotTaken):  # not yet in the calendar read: Firestore refuses the cells
        original = bookings.calendar
        bookings.calendar = lambda vet_id: _empty()
        try:
            await svc.hold_slot(vets, bookings, request(101, slot_at(11), owner=OTHER), NOW, pricing)
        finally:
            bookings.calendar = original


async def _empty():
    return []


async def test_an_owner_holds_one_slot_at_a_time(repos):
    vets, bookings, _ = repos
    first = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, CONFIG.pricing)
    second = await svc.hold_slot(vets, bookings, request(102, slot_at(12)), NOW + timedelta(seconds=5), CONFIG.pricing)
    assert (await bookings.get(first.id)).status is BookingStatus.EXPIRED
    assert (await bookings.get(second.id)).status is BookingStatus.HELD
    assert await bookings.calendar(101) == []


async def test_only_the_owner_sees_or_lets_go_of_a_hold(repos):
    vets, bookings, _ = repos
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, CONFIG.pricing)
    assert await code(svc.owned_booking(bookings, held.id, OTHER)) == "booking.err.not_found"
    assert await code(svc.release_hold(bookings, held.id, OTHER, NOW)) == "booking.err.not_found"
    assert await code(svc.release_hold(bookings, held.id, 101, NOW)) == "booking.err.not_found"  # the vet: no
    assert (await svc.owned_booking(bookings, held.id, 101))[1].value == "vet"
    assert await svc.release_hold(bookings, held.id, OWNER, NOW) is True
    assert await code(svc.release_hold(bookings, held.id, OWNER, NOW)) == "booking.err.not_held"


# ---- paying --------------------------------------------------------------------------------------

async def test_pre_checkout_answers(repos):
    vets, bookings, _ = repos
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, CONFIG.pricing)
    ok = await payments.check_pre_checkout(bookings, held.id, OWNER, 200000, "RUB", NOW + timedelta(minutes=9))
    assert ok.id == held.id
    check = payments.check_pre_checkout
    assert await code(check(bookings, "nosuchbooking", OWNER, 200000, "RUB", NOW)) == "pay.err.unknown"
    assert await code(check(bookings, "../../x", OWNER, 200000, "RUB", NOW)) == "pay.err.unknown"
    assert await code(check(bookings, held.id, OTHER, 200000, "RUB", NOW)) == "pay.err.not_yours"
    assert await code(check(bookings, held.id, OWNER, 199999, "RUB", NOW)) == "pay.err.amount"
    assert await code(check(bookings, held.id, OWNER, 200000, "XTR", NOW)) == "pay.err.amount"
    assert await code(check(bookings, held.id, OWNER, 200000, "RUB", NOW + HOLD_TTL)) == "pay.err.hold_expired"


def test_invoice_terms_carry_the_receipt_or_nothing_for_stars():
    import json
    from shared.domain.bookings import Booking

    b = Booking(id="bk1", owner_id=1, vet_id=2, pet_id="p", start=NOW, end=NOW, buffer_minutes=0,
                price=Price(150000, Currency.RUB), status=BookingStatus.HELD, hold_expires_at=NOW, cells=())
    terms = payments.invoice_terms(b, payments.PaymentsConfig(provider_token="tok", vat_code=11))
    assert (terms.payload, terms.currency, terms.amount, terms.provider_token) == ("bk1", "RUB", 150000, "tok")
    assert terms.need_email and terms.send_email_to_provider
    [item] = json.loads(terms.provider_data)["receipt"]["items"]
    assert item["amount"] == {"value": "1500.00", "currency": "RUB"} and item["vat_code"] == 11
    assert item["payment_subject"] == "service" and item["quantity"] == "1.00"
    stars = payments.invoice_terms(replace(b, price=Price(750, Currency.XTR)), payments.PaymentsConfig(mode="stars"))
    assert (stars.currency, stars.amount, stars.provider_token, stars.provider_data) == ("XTR", 750, "", None)
    with pytest.raises(ValueError):
        payments.PaymentsConfig(mode="cash")


@pytest.fixture
def yookassa():
    with YooKassaDouble() as double:
        yield double


def refunder_for(double, stars_calls=None):
    provider = YooKassa(double.shop_id, double.secret_key, base_url=double.api_url,
                        retry=RetryPolicy(attempts=2, backoff=0.01, deadline=2))

    async def stars(user_id, charge_id):
        stars_calls.append((user_id, charge_id))

    return payments.Refunder(provider, stars, lambda: NOW)


async def deliver(bookings, refunder, held, charge, provider_id, now, amount=None, payer=OWNER, currency="RUB"):
    return await payments.apply_successful_payment(
        bookings, refunder, CONFIG, payload=held.id, charge_id=charge, provider_charge_id=provider_id,
        payer_id=payer, amount=amount or held.price.amount, currency=currency, now=now)


async def test_twenty_deliveries_of_a_payment_confirm_once(repos, yookassa):
    vets, bookings, _ = repos
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, CONFIG.pricing)
    payment = yookassa.create_payment(held.price.amount)
    refunder = refunder_for(yookassa)
    results = await asyncio.gather(*(deliver(bookings, refunder, held, "tg-1", payment["id"], NOW + timedelta(minutes=3))
                                     for _ in range(20)))
    assert [r.outcome for r in results].count(PaymentOutcome.CONFIRM) == 1
    assert [r.outcome for r in results].count(PaymentOutcome.ALREADY) == 19
    assert yookassa.refunds() == []
    entry = await bookings.ledger("tg-1")
    assert (entry.status, entry.fee, entry.vet_share, entry.provider_charge_id) == ("confirmed", 40000, 160000, payment["id"])
    assert await payments.reconcile(bookings) == []


async def paid_after_another_took_the_slot(repos, yookassa):
    """A hold, run out and its slot held by another owner; the first owner's payment made at YooKassa."""
    vets, bookings, _ = repos
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(12)), NOW, CONFIG.pricing)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    await svc.hold_slot(vets, bookings, request(101, slot_at(12), owner=OTHER), late, CONFIG.pricing)
    return bookings, held, late, yookassa.create_payment(held.price.amount)


async def test_a_late_payment_for_a_taken_slot_is_refunded_exactly_once(repos, yookassa):
    bookings, held, late, payment = await paid_after_another_took_the_slot(repos, yookassa)
    refunder = refunder_for(yookassa)
    results = await asyncio.gather(*(deliver(bookings, refunder, held, "tg-late", payment["id"], late)
                                     for _ in range(20)))
    assert [r.outcome for r in results].count(PaymentOutcome.REFUND) == 1
    assert [r.refunded for r in results if r.outcome is PaymentOutcome.REFUND] == [True]
    [refund] = yookassa.refunds(payment["id"])
    assert refund["amount"]["value"] == "2000.00" and refund["status"] == "succeeded"
    assert (await bookings.ledger("tg-late")).status == "refunded"
    assert await payments.reconcile(bookings) == []


async def test_a_refund_the_provider_cannot_make_now_is_owed_listed_and_settled_once(repos, yookassa):
    bookings, held, late, payment = await paid_after_another_took_the_slot(repos, yookassa)
    yookassa.inject(500, count=2, execute=True)  # done at YooKassa, but we never hear of it
    result = await deliver(bookings, refunder_for(yookassa), held, "tg-x", payment["id"], late)
    assert result.outcome is PaymentOutcome.REFUND and result.refunded is False
    [problem] = await payments.reconcile(bookings)
    assert problem.charge_id == "tg-x" and "not refunded" in problem.what
    assert await payments.settle_pending(bookings, refunder_for(yookassa)) == [("tg-x", True)]
    assert len(yookassa.refunds(payment["id"])) == 1  # the same idempotence key: the refund made before
    assert await payments.reconcile(bookings) == []
    assert await payments.settle_pending(bookings, refunder_for(yookassa)) == []


async def test_stars_are_refunded_through_telegram(repos):
    vets, bookings, _ = repos
    pricing = payments.PaymentsConfig(mode="stars").pricing
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(12)), NOW, pricing)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    await svc.hold_slot(vets, bookings, request(101, slot_at(12), owner=OTHER), late, pricing)
    calls = []
    result = await deliver(bookings, payments.Refunder(None, _recorder(calls), lambda: late), held, "stx-1", "", late,
                           currency="XTR")
    assert result.outcome is PaymentOutcome.REFUND and result.refunded and calls == [(OWNER, "stx-1")]
    assert (await bookings.ledger("stx-1")).refunds[0]["id"] == "stars-stx-1"


def _recorder(calls):
    async def stars(user_id, charge_id):
        calls.append((user_id, charge_id))
    return stars


async def test_charges_for_unknown_bookings_or_of_other_amounts_go_back(repos, yookassa):
    vets, bookings, _ = repos
    refunder = refunder_for(yookassa)
    p1 = yookassa.create_payment(5000)
    orphan = await payments.apply_successful_payment(bookings, refunder, CONFIG, payload="nosuchbooking",
                                                     charge_id="tg-o", provider_charge_id=p1["id"], payer_id=OWNER,
                                                     amount=5000, currency="RUB", now=NOW)
    assert orphan.outcome is PaymentOutcome.REFUND and orphan.refunded and len(yookassa.refunds(p1["id"])) == 1
    again = await payments.apply_successful_payment(bookings, refunder, CONFIG, payload="nosuchbooking",
                                                    charge_id="tg-o", provider_charge_id=p1["id"], payer_id=OWNER,
                                                    amount=5000, currency="RUB", now=NOW)
    assert again.outcome is PaymentOutcome.ALREADY and len(yookassa.refunds(p1["id"])) == 1
    held = await svc.hold_slot(vets, bookings, request(101, slot_at(11)), NOW, CONFIG.pricing)
    p2 = yookassa.create_payment(100)
    wrong = await deliver(bookings, refunder, held, "tg-w", p2["id"], NOW, amount=100)
    assert wrong.outcome is PaymentOutcome.REFUND and wrong.refunded
    assert (await bookings.get(held.id)).status is BookingStatus.HELD
    assert await payments.reconcile(bookings) == []

"""Bookings and their money as plain rules: states, the pre-checkout check, what a payment does,
refunds, the ledger's split."""
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.bookings import (Booking, BookingStatus, CancellationPolicy, Currency, Party, PaymentOutcome,
                                    Price, check_participant, check_payment, check_reason, check_reschedule,
                                    payment_outcome, price_for, refund_due, split)
from shared.domain.pets import InvalidInput

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
OWNER, VET, OTHER = 101, 202, 303


def booking(status=BookingStatus.HELD, start=NOW + timedelta(days=2), expires=NOW + timedelta(minutes=10),
            price=Price(150000, Currency.RUB), charge=None) -> Booking:
    return Booking(id="b1", owner_id=OWNER, vet_id=VET, pet_id="p1", start=start, end=start + timedelta(minutes=30),
                   buffer_minutes=15, price=price, status=status, hold_expires_at=expires,
                   cells=("202-20261203T0900Z",), charge_id=charge)


def code(fn, *args, **kwargs) -> str:
    with pytest.raises(InvalidInput) as err:
        fn(*args, **kwargs)
    return err.value.code


# ---- states ------------------------------------------------------------------------------------

def test_a_hold_lives_until_its_expiry_and_then_frees_the_slot():
    b = booking()
    assert b.hold_live(NOW) and b.blocks(NOW)
    assert not b.hold_live(NOW + timedelta(minutes=10))  # expiry is exclusive: at expires_at it is free
    assert not b.blocks(NOW + timedelta(minutes=10))
    assert b.busy().expires_at == b.hold_expires_at and not b.busy().active(NOW + timedelta(minutes=10))


def test_a_confirmed_booking_blocks_for_good():
    b = booking().confirmed("ch1")
    assert b.status is BookingStatus.CONFIRMED and b.charge_id == "ch1" and b.hold_expires_at is None
    assert b.blocks(NOW + timedelta(days=30)) and b.busy().expires_at is None


@pytest.mark.parametrize("start,to,ok", [
    (BookingStatus.HELD, BookingStatus.CONFIRMED, True), (BookingStatus.HELD, BookingStatus.EXPIRED, True),
    (BookingStatus.EXPIRED, BookingStatus.CONFIRMED, True),  # a late payment, the slot still free
    (BookingStatus.CONFIRMED, BookingStatus.CANCELLED, True), (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, True),
    (BookingStatus.EXPIRED, BookingStatus.HELD, False), (BookingStatus.CONFIRMED, BookingStatus.HELD, False),
    (BookingStatus.CANCELLED, BookingStatus.CONFIRMED, False), (BookingStatus.HELD, BookingStatus.CANCELLED, False),
    (BookingStatus.COMPLETED, BookingStatus.CANCELLED, False),
])
def test_only_the_state_machines_moves_are_allowed(start, to, ok):
    b = booking(status=start)
    if ok:
        assert b.moved_to(to).status is to
    else:
        assert code(b.moved_to, to) == "booking.err.transition"


def test_participants_are_the_owner_and_the_vet_and_ops_only_when_allowed():
    b = booking()
    assert check_participant(b, OWNER) is Party.OWNER
    assert check_participant(b, VET) is Party.VET
    assert check_participant(b, OTHER, ops=True) is Party.OPS
    assert code(check_participant, b, OTHER) == "booking.err.not_found"


def test_the_reason_is_visible_text_within_bounds():
    assert check_reason("  чешется   ухо \n") == "чешется ухо"
    assert code(check_reason, "   ") == "booking.err.reason_empty"
    assert code(check_reason, None) == "booking.err.reason_empty"
    assert code(check_reason, "\u200b\u200b") == "err.text_invisible"
    assert code(check_reason, "a" * 1001) == "booking.err.reason_too_long"


# ---- prices --------------------------------------------------------------------------------------

def test_prices_are_positive_integers_of_minor_units():
    for bad in (0, -1, 1.5, True, "100"):
        with pytest.raises(ValueError):
            Price(bad, Currency.RUB)
    assert price_for(150000, Currency.RUB, 200) == Price(150000, Currency.RUB)
    assert price_for(150000, Currency.XTR, 200) == Price(750, Currency.XTR)
    assert price_for(150001, Currency.XTR, 200) == Price(751, Currency.XTR)  # rounded up: never below the price
    assert Price(5, "XTR").currency is Currency.XTR


# ---- pre_checkout_query ---------------------------------------------------------------------------

def test_pre_checkout_accepts_the_payers_live_hold_at_its_price():
    check_payment(booking(), OWNER, 150000, "RUB", NOW)


@pytest.mark.parametrize("b,payer,amount,currency,now,expected", [
    (booking(), OTHER, 150000, "RUB", NOW, "pay.err.not_yours"),
    (booking(status=BookingStatus.CONFIRMED, charge="c"), OWNER, 150000, "RUB", NOW, "pay.err.not_held"),
    (booking(status=BookingStatus.EXPIRED), OWNER, 150000, "RUB", NOW, "pay.err.not_held"),
    (booking(), OWNER, 150000, "RUB", NOW + timedelta(minutes=10), "pay.err.hold_expired"),
    (booking(expires=None), OWNER, 150000, "RUB", NOW, "pay.err.hold_expired"),
    (booking(), OWNER, 149999, "RUB", NOW, "pay.err.amount"),
    (booking(), OWNER, 150000, "XTR", NOW, "pay.err.amount"),
    (booking(), OWNER, 150000, "rub", NOW, "pay.err.amount"),
])
def test_pre_checkout_refuses_with_a_reason(b, payer, amount, currency, now, expected):
    assert code(check_payment, b, payer, amount, currency, now) == expected


# ---- successful_payment -----------------------------------------------------------------------

def outcome(b, now=NOW, slot_free=True, charge="ch1", payer=OWNER, amount=150000, currency="RUB"):
    return payment_outcome(b, charge, payer, amount, currency, slot_free, now)


def test_a_payment_on_a_live_hold_confirms_whatever_the_cells_say():
    assert outcome(booking(), slot_free=False) is PaymentOutcome.CONFIRM


def test_the_same_charge_again_is_already_applied():
    assert outcome(booking(status=BookingStatus.CONFIRMED, charge="ch1")) is PaymentOutcome.ALREADY


def test_a_late_payment_confirms_only_a_still_free_slot():
    late = NOW + timedelta(minutes=11)
    for status in (BookingStatus.HELD, BookingStatus.EXPIRED):  # the expiry task may not have run yet
        assert outcome(booking(status=status), now=late, slot_free=True) is PaymentOutcome.CONFIRM
        assert outcome(booking(status=status), now=late, slot_free=False) is PaymentOutcome.REFUND


def test_a_second_charge_for_a_booking_paid_already_is_refunded():
    assert outcome(booking(status=BookingStatus.CONFIRMED, charge="ch1"), charge="ch2") is PaymentOutcome.REFUND


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW_VET])
def test_a_payment_for_a_closed_booking_is_refunded(status):
    assert outcome(booking(status=status)) is PaymentOutcome.REFUND


@pytest.mark.parametrize("change", [{"payer": OTHER}, {"amount": 1}, {"currency": "XTR"}])
def test_a_charge_that_does_not_fit_the_booking_is_refunded(change):
    assert outcome(booking(), **change) is PaymentOutcome.REFUND


# ---- refunds ------------------------------------------------------------------------------------

def test_refunds_by_who_cancels_and_when():
    b = booking(status=BookingStatus.CONFIRMED, charge="c", start=NOW + timedelta(hours=30))
    assert refund_due(b, Party.OWNER, NOW) == 150000                        # 30 h ahead: free
    assert refund_due(b, Party.OWNER, NOW + timedelta(hours=6)) == 150000   # exactly 24 h: free
    assert refund_due(b, Party.OWNER, NOW + timedelta(hours=7)) == 75000    # later: half
    assert refund_due(b, Party.OWNER, NOW + timedelta(hours=7), CancellationPolicy(0)) == 0
    assert refund_due(b, Party.VET, NOW + timedelta(hours=29)) == 150000
    assert refund_due(b, Party.OPS, NOW + timedelta(hours=31)) == 150000    # ops after the start: all
    assert code(refund_due, b, Party.OWNER, NOW + timedelta(hours=30)) == "booking.err.started"
    assert code(refund_due, booking(), Party.OWNER, NOW) == "booking.err.not_cancellable"


def test_odd_kopecks_round_down_and_stars_go_back_whole_or_not_at_all():
    late = NOW + timedelta(hours=40)
    rub = booking(status=BookingStatus.CONFIRMED, charge="c", price=Price(100001, Currency.RUB),
                  start=NOW + timedelta(hours=41))
    assert refund_due(rub, Party.OWNER, late, CancellationPolicy(33)) == 33000
    stars = booking(status=BookingStatus.CONFIRMED, charge="c", price=Price(750, Currency.XTR),
                    start=NOW + timedelta(hours=41))
    assert refund_due(stars, Party.OWNER, late) == 0
    assert refund_due(stars, Party.OWNER, late, CancellationPolicy(100)) == 750
    assert refund_due(stars, Party.VET, late) == 750
    with pytest.raises(ValueError):
        CancellationPolicy(101)


def test_reschedule_once_and_early():
    b = booking(status=BookingStatus.CONFIRMED, charge="c", start=NOW + timedelta(hours=30))
    check_reschedule(b, NOW)
    assert code(check_reschedule, b, NOW + timedelta(hours=7)) == "booking.err.reschedule_late"
    from dataclasses import replace
    assert code(check_reschedule, replace(b, reschedules_left=0), NOW) == "booking.err.rescheduled_once"
    assert code(check_reschedule, booking(), NOW) == "booking.err.not_cancellable"


# ---- the ledger's split -----------------------------------------------------------------------

def test_split_keeps_every_kopeck():
    for amount in (0, 1, 99, 150000, 150001, 999999):
        for fee in (0, 1, 15, 20, 33, 100):
            s = split(amount, fee)
            assert s.fee + s.vet_share == amount and 0 <= s.fee <= amount
    assert split(150001, 20) == split(150001, 20) and split(150001, 20).fee == 30000
    for bad in ((-1, 20), (100, 101), (100, -1), (1.5, 20), (100, 2.5)):
        with pytest.raises(ValueError):
            split(*bad)

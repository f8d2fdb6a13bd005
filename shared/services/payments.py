"""Paying for a consultation through Telegram Payments: the invoice's terms, the pre-checkout check, the
successful payment applied once per charge, refunds, the ledger and its reconciliation.

Two modes per deployment (PAYMENTS_MODE): `provider`, roubles through a payment provider (YooKassa: amounts
in kopecks, a 54-FZ receipt in the invoice's provider_data, the customer's e-mail asked by Telegram and
sent to the provider; refunds through the provider's API with an Idempotence-Key, the payment id being
successful_payment.provider_payment_charge_id), or `stars`, Telegram Stars (XTR; refunds through the
Bot API's refundStarPayment, whole only).

Every charge ends with a confirmed booking or a refund: the ledger document (payments/{charge id}) is
created in the same batch as the confirmation, or as a record of what is owed back; a refund that could
not be made at once (the provider down) stays `refund_pending`, which `reconcile` lists and
`settle_pending` retries with the same idempotence key (never a second refund).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from shared.domain.bookings import (Booking, BookingStatus, CancellationPolicy, Currency, PaymentOutcome, Pricing,
                                    check_payment, split)
from shared.domain.pets import InvalidInput
from shared.domain.vets import DEFAULT_PRICE_BOUNDS

log = logging.getLogger(__name__)

# The receipt line (54-FZ receipts are in Russian whatever the owner's language).
RECEIPT_ITEM = "Онлайн-консультация ветеринарного врача"
RECEIPT_SUBJECT, RECEIPT_MODE = "service", "full_payment"   # the receipt line's payment_subject and _mode
PROVIDER, STARS = "provider", "stars"
PAID = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW_VET,
        BookingStatus.NO_SHOW_OWNER)


@dataclass(frozen=True)
class PaymentsConfig:
    mode: str = PROVIDER               # provider | stars
    provider_token: str = ""           # from BotFather (the provider's token); unused for Stars
    kopecks_per_star: int = 200        # a vet's price in roubles -> stars, rounded up
    fee_percent: int = 20              # the platform's share of each charge
    vat_code: int = 1                  # the receipt's VAT code (1: no VAT, the seller on USN)
    late_cancel_refund_percent: int = 50  # what an owner cancelling less than 24 h before gets back
    vet_price_bounds: tuple[int, int] = DEFAULT_PRICE_BOUNDS  # what a vet may ask, kopecks (VET_PRICE_MIN/MAX)

    def __post_init__(self) -> None:
        if self.mode not in (PROVIDER, STARS):
            raise ValueError(f"PAYMENTS_MODE must be {PROVIDER} or {STARS}, not {self.mode!r}")
        if not 0 <= self.fee_percent <= 100 or self.kopecks_per_star <= 0 or not 1 <= self.vat_code <= 12:
            raise ValueError("fee percent 0..100, a positive star rate, VAT code 1..12")
        self.cancellation  # noqa: B018 - the late-cancellation share is checked (0..100) when configured

    @property
    def currency(self) -> Currency:
        return Currency.XTR if self.mode == STARS else Currency.RUB

    @property
    def pricing(self) -> Pricing:
        return Pricing(self.currency, self.kopecks_per_star)

    @property
    def cancellation(self) -> CancellationPolicy:
        return CancellationPolicy(self.late_cancel_refund_percent)

    def split_of(self, amount: int):
        return split(amount, self.fee_percent)


@dataclass(frozen=True)
class InvoiceTerms:
    """What sendInvoice carries besides the texts (those are the bot's)."""

    payload: str                      # the booking id
    currency: str
    amount: int
    provider_token: str
    need_email: bool
    send_email_to_provider: bool
    provider_data: str | None


def invoice_terms(booking: Booking, config: PaymentsConfig) -> InvoiceTerms:
    if booking.price.currency is Currency.XTR:
        return InvoiceTerms(booking.id, "XTR", booking.price.amount, "", False, False, None)
    from shared.adapters.yookassa import provider_data, receipt_for  # pure functions (no I/O)

    receipt = receipt_for(booking.price.amount, RECEIPT_ITEM, None, vat_code=config.vat_code,
                          payment_subject=RECEIPT_SUBJECT, payment_mode=RECEIPT_MODE)
    return InvoiceTerms(booking.id, booking.price.currency.value, booking.price.amount, config.provider_token,
                        True, True, provider_data(receipt))


async def check_pre_checkout(bookings, payload: str, payer_id: int, amount: int, currency: str,
                             now: datetime) -> Booking:
    """The pre_checkout_query's answer: the booking if it may be paid now, else InvalidInput (pay.err.*)
    with the reason the payer is shown. One read: well inside Telegram's 10 s."""
    booking = await bookings.get(payload) if isinstance(payload, str) else None
    if booking is None:
        raise InvalidInput("pay.err.unknown")
    check_payment(booking, payer_id, amount, currency, now)
    return booking


def refund_key(charge_id: str) -> str:
    """The provider's Idempotence-Key for paying a charge back in full: one per charge, the same on every retry."""
    return "charge-" + hashlib.sha256(charge_id.encode()).hexdigest()[:48]


class Refunder:
    """Pays back what the ledger says a charge is owed: through the provider (`provider`: a
    PaymentProvider) or Telegram Stars (`stars`: async (user_id, charge_id) -> None, which treats
    "already refunded" as done)."""

    def __init__(self, provider, stars, clock):
        self._provider = provider
        self._stars = stars
        self._clock = clock

    async def pay_back(self, bookings, entry):
        due = entry.refund_due or (entry.amount - entry.refunded)
        if due <= 0 or entry.status == "refunded":
            return entry
        key = refund_key(entry.charge_id)
        if entry.currency == Currency.XTR.value:
            await self._stars(entry.owner_id, entry.charge_id)
            refund_id = f"stars-{entry.charge_id}"
        else:
            if self._provider is None:
                raise RuntimeError("no payment provider configured to refund a charge")
            refund_id = (await self._provider.refund(entry.provider_charge_id, due, key,
                                                     refund_receipt(entry.receipt, due))).id
        return await bookings.record_refund(entry.charge_id, {"id": refund_id, "amount": due, "key": key,
                                                              "at": self._clock()}, settled=True)


def receipt_terms(config: PaymentsConfig, currency: str, email: str | None) -> dict | None:
    """What the ledger keeps of a charge's 54-FZ receipt (the invoice's, see invoice_terms): its VAT code,
    payment subject and mode, and the payer's e-mail Telegram sent the provider (order_info). None for Stars."""
    if currency == Currency.XTR.value:
        return None
    terms = {"vat_code": config.vat_code, "payment_subject": RECEIPT_SUBJECT, "payment_mode": RECEIPT_MODE}
    return {**terms, "email": email} if email else terms


def refund_receipt(terms: dict | None, amount: int) -> dict | None:
    """The 54-FZ receipt of a refund of `amount` (full or partial): the payment's line with the refunded
    amount, its VAT code, payment subject and mode, and the payer's e-mail. None when the ledger has no
    e-mail (a receipt must name the customer; a full refund then takes the payment's own receipt)."""
    if not terms or not terms.get("email"):
        return None
    from shared.adapters.yookassa import receipt_for  # a pure function (no I/O)

    return receipt_for(amount, RECEIPT_ITEM, terms["email"], vat_code=terms["vat_code"],
                       payment_subject=terms["payment_subject"], payment_mode=terms["payment_mode"])


@dataclass(frozen=True)
class PaymentResult:
    outcome: PaymentOutcome
    booking: Booking | None          # None: the payload names no booking
    ledger: object                   # the LedgerEntry
    refunded: bool = False           # paid back already (False with REFUND: owed, will be retried)
    payer_gone: bool = False         # the payer erased their data meanwhile: nothing is said to them


async def apply_successful_payment(bookings, refunder: Refunder, config: PaymentsConfig, *, payload: str,
                                   charge_id: str, provider_charge_id: str, payer_id: int, amount: int,
                                   currency: str, now: datetime, tasks=None, owners=None,
                                   email: str | None = None) -> PaymentResult:
    """successful_payment, once per telegram_payment_charge_id: CONFIRM (the booking is confirmed, its
    consultation's tasks scheduled), REFUND (paid back in full at once, or left owed for `settle_pending`
    when the provider does not answer), ALREADY (a redelivery or a racing delivery: nothing is done or
    said again). `email`: the payer's, as Telegram sent it to the provider (the receipt's; a refund's receipt
    goes to it). A payment that raced its payer's erasure is refunded (their booking is gone or no longer
    theirs); given `owners`, its ledger entry then keeps only their pseudonym, as erasure's own do."""
    applied = await bookings.apply_payment(payload, charge_id, payer_id, amount, currency, provider_charge_id,
                                           lambda a: split(a, config.fee_percent), now,
                                           receipt=receipt_terms(config, currency, email))
    if applied is None:  # no such booking: the money goes back
        entry = await bookings.record_orphan_charge(charge_id, payload or "", payer_id, amount, currency,
                                                    provider_charge_id, now)
        if entry.refunds or entry.status == "refunded":
            return PaymentResult(PaymentOutcome.ALREADY, None, entry)
        return await _refunded(bookings, refunder, owners, None, entry, payer_id)
    if applied.outcome is PaymentOutcome.REFUND:
        return await _refunded(bookings, refunder, owners, applied.booking, applied.ledger, payer_id)
    if applied.outcome is PaymentOutcome.CONFIRM and tasks is not None:
        from shared.services.consultation_tasks import schedule_consultation

        try:
            await schedule_consultation(tasks, applied.booking, now)
        except Exception:  # noqa: BLE001 - the booking stands; reconcile/ops see a booking without tasks
            log.exception("consultation tasks not scheduled")
    return PaymentResult(applied.outcome, applied.booking, applied.ledger)


async def _refunded(bookings, refunder: Refunder, owners, booking, entry, payer_id: int) -> PaymentResult:
    entry, refunded = await pay_back(bookings, refunder, entry)
    gone = False
    if owners is not None:
        from shared.services.cancellations import forget_erased_payer

        gone = await forget_erased_payer(owners, bookings, entry.charge_id, payer_id)
    return PaymentResult(PaymentOutcome.REFUND, booking, entry, refunded, gone)


async def pay_back(bookings, refunder: Refunder, entry) -> tuple[object, bool]:
    """Pays back what `entry` owes now, or leaves it owed (False) for settle_pending. A payer who erased
    their data meanwhile is then removed from the entry (services.cancellations)."""
    try:
        paid = await refunder.pay_back(bookings, entry)
    except Exception:  # noqa: BLE001 - owed in the ledger: settle_pending retries with the same key
        log.exception("refund not made now; the ledger keeps it owed")
        return entry, False
    if paid.forget_owner_when_refunded:
        from shared.services.cancellations import forget_refunded_payer

        await forget_refunded_payer(bookings, paid)
    return paid, True


async def settle_pending(bookings, refunder: Refunder) -> list[tuple[str, bool]]:
    """Retries every refund the ledger says is owed (same idempotence key: never twice). (charge, done)."""
    done = []
    for entry in await bookings.ledger_entries(status="refund_pending"):
        _, ok = await pay_back(bookings, refunder, entry)
        done.append((entry.charge_id, ok))
    return done


@dataclass(frozen=True)
class Problem:
    charge_id: str
    booking_id: str
    amount: int
    currency: str
    what: str


async def reconcile(bookings) -> list[Problem]:
    """Charges that ended neither with a booking confirmed by them nor with a refund, and paid bookings
    whose charge the ledger lacks. Empty when everything is settled."""
    entries = await bookings.ledger_entries()
    booked = await bookings.get_many(e.booking_id for e in entries)
    problems = []
    for e in entries:
        b = booked.get(e.booking_id)
        if e.status == "refund_pending":
            problems.append(Problem(e.charge_id, e.booking_id, e.amount, e.currency,
                                    f"owed back {e.refund_due} {e.currency}, not refunded"))
        elif e.status == "refunded":
            if e.refunded < e.amount and (b is None or b.charge_id != e.charge_id):
                problems.append(Problem(e.charge_id, e.booking_id, e.amount, e.currency,
                                        f"refunded {e.refunded} of {e.amount} without a booking"))
        elif e.status == "confirmed":
            if b is None or b.charge_id != e.charge_id or b.status not in PAID:
                problems.append(Problem(e.charge_id, e.booking_id, e.amount, e.currency,
                                        "no booking confirmed by this charge"))
            elif b.status is BookingStatus.NO_SHOW_VET:
                problems.append(Problem(e.charge_id, e.booking_id, e.amount, e.currency,
                                        "the vet did not come and nothing is owed back"))
        else:
            problems.append(Problem(e.charge_id, e.booking_id, e.amount, e.currency, f"unknown status {e.status}"))
    charged = {e.charge_id for e in entries}
    for b in await bookings.paid_bookings():
        if b.charge_id and b.charge_id not in charged:
            problems.append(Problem(b.charge_id, b.id, b.price.amount, b.price.currency.value,
                                    "a paid booking whose charge is not in the ledger"))
    return problems


# ---- the ledger as ops read it ------------------------------------------------------------------------

LEDGER_STATUSES = ("confirmed", "refund_pending", "refunded")


@dataclass(frozen=True)
class LedgerTotals:
    """One currency's sums over a ledger listing, in minor units. Fees and vets' shares are what the entries
    say now: a cancellation splits again what is kept, so a charge refunded in full adds none."""

    currency: str
    charges: int
    charged: int
    refunded: int         # paid back
    owed: int             # to pay back (refund_pending: settle_pending retries)
    fees: int
    vet_shares: int


async def ledger(bookings, since: datetime | None = None,
                 status: str | None = None) -> tuple[list, list[LedgerTotals]]:
    """The charges made at or after `since` (UTC), only those in `status` if given, newest first, and their
    totals per currency: (entries, totals)."""
    entries = await bookings.ledger_entries(since, status)
    # entries without a time (none are written so) go last rather than break the order
    entries.sort(key=lambda e: (e.created_at is not None, e.created_at or 0, e.charge_id), reverse=True)
    totals = []
    for currency in sorted({e.currency for e in entries}):
        of = [e for e in entries if e.currency == currency]
        totals.append(LedgerTotals(currency, len(of), sum(e.amount for e in of), sum(e.refunded for e in of),
                                   sum(e.refund_due for e in of if e.status == "refund_pending"),
                                   sum(e.fee for e in of), sum(e.vet_share for e in of)))
    return entries, totals


async def booking_and_charge(bookings, booking_id: str) -> tuple[Booking, object | None]:
    """A booking and its charge's ledger entry (None while unpaid), as ops look one up;
    booking.err.not_found when there is no such booking."""
    booking = await bookings.get(booking_id)
    if booking is None:
        raise InvalidInput("booking.err.not_found")
    return booking, (await bookings.ledger(booking.charge_id) if booking.charge_id else None)

"""Bookings of a consultation and the money around them: plain rules, no I/O, times in UTC.

held --(paid while the hold lives)--> confirmed --(conclusion)--> completed
held --(hold ran out unpaid)--> expired --(paid late, the slot still free)--> confirmed
confirmed --(cancelled by owner / vet / ops)--> cancelled   (refund per `refund_due`)
confirmed --(vet absent 10 min after start)--> no_show_vet (full refund)
confirmed --(owner absent)--> no_show_owner (no refund)
A payment that arrives for a hold that ran out confirms it if the slot is still free (`payment_outcome`),
otherwise it is refunded in full. Every charge ends with a confirmed booking or a refund.

Money is in minor units: kopecks for RUB (through the payment provider), whole stars for XTR. Telegram
Stars are refunded only whole (refundStarPayment takes no amount), so a partial refund in stars is none.

Erasure: a person who erased their data is ERASED (0) in the bookings they had (owner_id or vet_id), with a
one-way pseudonym beside it; no booking of an erased vet can be confirmed by a payment (it is refunded).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from shared.domain.pets import InvalidInput, visible_text
from shared.domain.slots import Busy, as_utc

if TYPE_CHECKING:
    from shared.domain.vets import Vet, VetCard


class BookingStatus(str, Enum):
    HELD = "held"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW_VET = "no_show_vet"
    NO_SHOW_OWNER = "no_show_owner"


class Currency(str, Enum):
    RUB = "RUB"   # through the payment provider; amounts in kopecks
    XTR = "XTR"   # Telegram Stars; amounts in stars


class Party(str, Enum):
    OWNER = "owner"
    VET = "vet"
    OPS = "ops"


FREE_CANCEL_BEFORE = timedelta(hours=24)    # owner cancels or reschedules at least this long before: free
VET_GRACE = timedelta(minutes=10)           # the vet has not joined this long after the start: no-show
ROOM_OPENS_BEFORE = timedelta(minutes=15)   # the room is made; join links go out 10 min before
LINKS_BEFORE = timedelta(minutes=10)
REMINDERS_BEFORE = (timedelta(hours=24), timedelta(minutes=15))
MESSAGES_WINDOW = timedelta(hours=48)       # owner and vet may write to each other after the call
ACTIVE = (BookingStatus.HELD, BookingStatus.CONFIRMED)
REASON_MAX_LEN = 1000
ERASED = 0                                  # owner_id / vet_id of a party who erased their data

_MOVES: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.HELD: frozenset({BookingStatus.CONFIRMED, BookingStatus.EXPIRED}),
    BookingStatus.EXPIRED: frozenset({BookingStatus.CONFIRMED}),
    BookingStatus.CONFIRMED: frozenset({BookingStatus.CANCELLED, BookingStatus.COMPLETED,
                                        BookingStatus.NO_SHOW_VET, BookingStatus.NO_SHOW_OWNER}),
}


class SlotTaken(Exception):
    """Another live hold or booking of the vet overlaps the time asked for (Firestore said so)."""


class HoldSuperseded(Exception):
    """The owner held another time at the same moment (another screen) and that newer hold stands."""


@dataclass(frozen=True)
class Price:
    amount: int          # minor units: kopecks for RUB, whole stars for XTR
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"a price is a positive int of minor units, not {self.amount!r}")
        object.__setattr__(self, "currency", Currency(self.currency))


def price_for(kopecks: int, currency: Currency, kopecks_per_star: int) -> Price:
    """The vet's price in the deployment's currency: kopecks as they are, or stars rounded up."""
    if Currency(currency) is Currency.RUB:
        return Price(kopecks, Currency.RUB)
    if kopecks_per_star <= 0:
        raise ValueError("kopecks_per_star must be positive")
    return Price(-(-kopecks // kopecks_per_star), Currency.XTR)


@dataclass(frozen=True)
class Pricing:
    """How the deployment prices a vet's consultation (PaymentsConfig.pricing): its currency and star rate."""

    currency: Currency = Currency.RUB
    kopecks_per_star: int = 200

    def price(self, vet: Vet | VetCard) -> Price:
        return price_for(vet.price_kopecks, self.currency, self.kopecks_per_star)


@dataclass(frozen=True)
class Booking:
    id: str
    owner_id: int
    vet_id: int
    pet_id: str
    start: datetime
    end: datetime
    buffer_minutes: int
    price: Price
    status: BookingStatus
    hold_expires_at: datetime | None
    cells: tuple[str, ...]                 # slot lock documents (see domain.slots.lock_cells)
    reason: str = ""
    triage_result_id: str | None = None
    charge_id: str | None = None           # telegram_payment_charge_id once paid
    reschedules_left: int = 1
    pet: dict = field(default_factory=dict, compare=False)      # a snapshot of the pet card at booking
    triage: dict | None = field(default=None, compare=False)    # the triage result's summary, for the vet
    photo_file_id: str | None = None       # the owner's photo with the reason (a Telegram file id)
    created_at: datetime | None = None
    # the store's own time of the hold's write: which of one owner's holds was made last, as the store
    # orders them (a write that a query did not see is later than that query's, whatever the clocks said)
    written_at: datetime | None = field(default=None, compare=False)

    def hold_live(self, now: datetime) -> bool:
        return (self.status == BookingStatus.HELD and self.hold_expires_at is not None
                and self.hold_expires_at > as_utc(now))

    def blocks(self, now: datetime) -> bool:
        """Whether its slot is taken: a confirmed booking, or a hold not yet run out."""
        return self.status == BookingStatus.CONFIRMED or self.hold_live(now)

    def busy(self) -> Busy:
        """What it blocks in the vet's calendar (a hold until it runs out, a booking for good)."""
        return Busy(self.start, self.end, self.buffer_minutes,
                    self.hold_expires_at if self.status == BookingStatus.HELD else None)

    def moved_to(self, status: BookingStatus, **changes) -> "Booking":
        """The booking in `status`; InvalidInput("booking.err.transition") if it cannot get there."""
        if BookingStatus(status) not in _MOVES.get(self.status, frozenset()):
            raise InvalidInput("booking.err.transition", status=self.status.value, to=BookingStatus(status).value)
        return replace(self, status=BookingStatus(status), **changes)

    def confirmed(self, charge_id: str) -> "Booking":
        return self.moved_to(BookingStatus.CONFIRMED, charge_id=charge_id, hold_expires_at=None)

    def with_status(self, status: BookingStatus, **changes) -> "Booking":
        return self.moved_to(status, **changes)

    def rescheduled(self, start: datetime, end: datetime, buffer_minutes: int, cells: tuple[str, ...]) -> "Booking":
        """The booking at its new time, its one free move used (check_reschedule says whether it may)."""
        return replace(self, start=start, end=end, buffer_minutes=buffer_minutes, cells=tuple(cells),
                       reschedules_left=self.reschedules_left - 1)

    def unsettled(self, now: datetime) -> bool:
        """Whether erasure must act on it before its parties can be removed: a hold (let go), or a
        confirmed booking not over yet (cancelled with a full refund)."""
        return self.status == BookingStatus.HELD or (self.status == BookingStatus.CONFIRMED and self.end > as_utc(now))


def check_participant(booking: Booking, person_id: int, ops: bool = False) -> Party:
    """Who `person_id` is in this booking; InvalidInput("booking.err.not_found") for anybody else (the
    same answer as for a booking that does not exist: ids from buttons can be forged)."""
    if booking.owner_id == person_id:
        return Party.OWNER
    if booking.vet_id == person_id:
        return Party.VET
    if ops:
        return Party.OPS
    raise InvalidInput("booking.err.not_found")


def check_reason(text: str | None) -> str:
    """What the owner writes about the problem: visible, bounded."""
    value = " ".join((text or "").split())
    if not value:
        raise InvalidInput("booking.err.reason_empty")
    visible_text(value)
    if len(value) > REASON_MAX_LEN:
        raise InvalidInput("booking.err.reason_too_long", max=REASON_MAX_LEN)
    return value


def check_payment(booking: Booking, payer_id: int, amount: int, currency: str, now: datetime) -> None:
    """pre_checkout_query: ok only for the payer's own live hold, at its exact price and currency.
    Raises InvalidInput with the reason the owner is shown."""
    if booking.owner_id != payer_id:
        raise InvalidInput("pay.err.not_yours")
    if booking.status != BookingStatus.HELD:
        raise InvalidInput("pay.err.not_held")
    if not booking.hold_live(now):
        raise InvalidInput("pay.err.hold_expired")
    if amount != booking.price.amount or currency != booking.price.currency.value:
        raise InvalidInput("pay.err.amount")


class PaymentOutcome(str, Enum):
    CONFIRM = "confirm"              # the hold was live (or the slot is still free): book it
    REFUND = "refund"                # the slot went to someone else meanwhile (or the charge does not fit): refund
    ALREADY = "already"              # this charge was applied before (a redelivered update)


def payment_outcome(booking: Booking, charge_id: str, payer_id: int, amount: int, currency: str,
                    slot_free: bool, now: datetime) -> PaymentOutcome:
    """successful_payment: exactly one booking per charge. A live hold is confirmed; a hold that ran
    out (whether or not the expiry task has marked it yet) only if its slot is still free: its cells
    missing, its own, or someone else's run-out hold. A charge that does not match the booking (another
    payer, amount or currency), or a booking paid already with another charge or no longer open, is
    refunded."""
    if booking.charge_id == charge_id:
        return PaymentOutcome.ALREADY
    if booking.owner_id != payer_id or amount != booking.price.amount or currency != booking.price.currency.value:
        return PaymentOutcome.REFUND
    if booking.vet_id == ERASED:  # the vet erased their data meanwhile: nobody to consult
        return PaymentOutcome.REFUND
    if booking.hold_live(now):
        return PaymentOutcome.CONFIRM
    if booking.status in (BookingStatus.HELD, BookingStatus.EXPIRED) and slot_free:
        return PaymentOutcome.CONFIRM
    return PaymentOutcome.REFUND


@dataclass(frozen=True)
class CancellationPolicy:
    late_owner_refund_percent: int = 50      # owner cancels less than 24 h before (configurable)

    def __post_init__(self) -> None:
        if not 0 <= self.late_owner_refund_percent <= 100:
            raise ValueError("late_owner_refund_percent must be 0..100")


def refund_due(booking: Booking, by: Party, now: datetime, policy: CancellationPolicy = CancellationPolicy()) -> int:
    """How much of the price goes back when `by` cancels a confirmed booking at `now`. A vet's or ops'
    cancellation, or the owner's 24 h or more before the start, refunds all; the owner's later one the
    policy's share (kopecks rounded down). Stars are refunded only whole: a share of them is none."""
    if booking.status == BookingStatus.CANCELLED:
        raise InvalidInput("booking.err.already_cancelled")
    if booking.status != BookingStatus.CONFIRMED:
        raise InvalidInput("booking.err.not_cancellable")
    now = as_utc(now)
    if booking.start <= now and by == Party.OWNER:
        raise InvalidInput("booking.err.started")
    if by in (Party.VET, Party.OPS) or booking.start - now >= FREE_CANCEL_BEFORE:
        return booking.price.amount
    if booking.price.currency is Currency.XTR:
        return booking.price.amount if policy.late_owner_refund_percent == 100 else 0
    return booking.price.amount * policy.late_owner_refund_percent // 100


class VetCancelReason(str, Enum):
    """Why a vet cancels (the owner is told, with an apology and other vets)."""

    ILLNESS = "illness"
    EMERGENCY = "emergency"
    TECHNICAL = "technical"
    SCHEDULE = "schedule"


def check_reschedule(booking: Booking, now: datetime) -> None:
    """Once, free, at least 24 h before the start."""
    if booking.status == BookingStatus.CANCELLED:
        raise InvalidInput("booking.err.already_cancelled")
    if booking.status != BookingStatus.CONFIRMED:
        raise InvalidInput("booking.err.not_cancellable")
    if booking.reschedules_left <= 0:
        raise InvalidInput("booking.err.rescheduled_once")
    if booking.start - as_utc(now) < FREE_CANCEL_BEFORE:
        raise InvalidInput("booking.err.reschedule_late")


@dataclass(frozen=True)
class Split:
    """One charge in the ledger: what the platform keeps and what the vet is owed."""

    fee: int
    vet_share: int


def split(amount: int, fee_percent: int) -> Split:
    """The platform's fee (rounded down: the odd kopeck or star goes to the vet) and the vet's share."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a non-negative int")
    if isinstance(fee_percent, bool) or not isinstance(fee_percent, int) or not 0 <= fee_percent <= 100:
        raise ValueError("fee_percent must be an int 0..100")
    fee = amount * fee_percent // 100
    return Split(fee=fee, vet_share=amount - fee)

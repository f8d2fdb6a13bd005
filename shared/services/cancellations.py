"""After a consultation is booked: the owner's and the vet's lists, cancelling (owner, vet or ops),
moving it once, what the vet is shown of the patient, and what erasure does to a person's bookings.

Rules (domain.bookings): the owner cancels free 24 h or more before the start, later for the configured
share (PaymentsConfig.late_cancel_refund_percent); a vet's or ops' cancellation refunds in full; the
owner moves a booking once, free, 24 h or more before, to another free slot of the same vet.

Every change is one conditional batch (adapters.firestore_bookings: cancel, move): the booking's status
or time, its cells and the vet's calendar entry, and the ledger entry of its charge owing back what the
rules say. Racing presses (a double tap, owner and vet at once, erasure) are decided by Firestore: the
loser reads the booking again and is told booking.err.already_cancelled (or rescheduled_once); the
refund is paid once, by the winner, through services.payments.Refunder with one idempotence key per
charge (a refund the provider cannot make now stays owed: settle_pending). The consultation's tasks are
versioned by the start and check the state, so a cancelled booking's reminders and room do nothing and a
moved one's old tasks are stale; the moved booking gets its tasks again.

Who may act: the booking's owner, its vet, or ops (the allow-list), checked on every read of the booking
(booking.err.not_found for anybody else: ids from buttons can be forged); an owner's action by the
owner only, a vet's by the vet only.

Erasure (`erase_bookings`, after the person's records are deleted, see services.owners.forget_owner):
their holds are let go, their confirmed bookings that are not over are cancelled with a full refund
(the other party is told by the caller), then every booking of theirs is kept without them (the owner's
pet card, reason, triage and photo dropped; owner_id/vet_id 0 with a pseudonym), and so are their
ledger entries. What accounting law needs stays: each charge's amount, currency, dates, the platform's
fee and the vet's share, refunds with their ids, the provider's payment id, and the booking it paid for
(its time, status, price): Russian law (402-FZ art. 29) keeps primary accounting documents five years
and 54-FZ receipts sit with the fiscal data operator; none of it needs to name the person. Telegram's
charge id carries the payer's Telegram id, so an erased payer's entry is kept under a keyed digest of it
(`charge_pseudonym`). The vet's conclusion goes with the owner (the pet's record is theirs) and stays,
without the vet, with an owner whose vet erased their data. The pseudonym
is an HMAC of the Telegram id under the deployment's secret (PHOTO_PATH_KEY, separated by purpose): one
person's entries stay together (a vet's earnings, a payer's refunds) and can be matched again only by
someone who holds the key and the id, as a tax inquiry would need.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Collection

from shared.config import photo_path_key
from shared.domain import slots as slot_rules
from shared.domain.bookings import (
    Booking, BookingStatus, Party, VetCancelReason, check_participant, check_reason, check_reschedule, refund_due,
)
from shared.domain.pet_form import pet_from_draft
from shared.domain.pets import InvalidInput, Pet, Species
from shared.domain.slots import Slot, as_utc
from shared.domain.vets import Vet
from shared.services import diary as diary_service
from shared.services.booking import bookable_vet, owned_booking
from shared.services.payments import PaymentsConfig, Refunder, pay_back

log = logging.getLogger(__name__)

PHOTO_LINK_MINUTES = 15
ERASE_STEPS = 8        # settle-then-forget rounds per booking (each step is conditional: a racing payment
                       # or cancellation makes another round, never a wrong write)


def pseudonym(person_id: int) -> str:
    """A person's one-way pseudonym in what is kept after erasure (see the module's note)."""
    return "p" + hmac.new(photo_path_key(), b"erased-person:" + str(int(person_id)).encode(),
                          hashlib.sha256).hexdigest()[:32]


def charge_pseudonym(charge_id: str) -> str:
    """What an erased payer's charge is kept under: Telegram's charge ids carry the payer's Telegram id."""
    return "e" + hmac.new(photo_path_key(), b"erased-charge:" + charge_id.encode(), hashlib.sha256).hexdigest()[:40]


# ---- lists --------------------------------------------------------------------------------------------

def _upcoming(found: list[Booking], now: datetime) -> list[Booking]:
    now = as_utc(now)
    return [b for b in found if b.status is BookingStatus.CONFIRMED and b.end > now]


async def owner_bookings(bookings, owner_id: int, now: datetime) -> list[Booking]:
    """The owner's confirmed consultations not over yet, soonest first (/bookings)."""
    return _upcoming(await bookings.of_owner(owner_id), now)


async def vet_bookings(bookings, vet_id: int, now: datetime) -> list[Booking]:
    """The vet's confirmed consultations not over yet, soonest first (/schedule)."""
    return _upcoming(await bookings.of_vet(vet_id), now)


# ---- cancelling -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CancelTerms:
    """What a cancellation would do now (shown before the owner confirms)."""

    booking: Booking
    party: Party
    refund: int          # minor units going back


@dataclass(frozen=True)
class Cancellation:
    booking: Booking                 # as cancelled (with the pet's card: erasure drops it afterwards)
    by: Party
    refund: int                      # minor units owed back (0: nothing)
    refunded: bool                   # paid back already (False with a refund: owed, settle_pending retries)
    reason: VetCancelReason | None = None
    erasure: bool = False            # cancelled because one of its parties erased their data
    note: str | None = None          # ops' reason, in their words (both parties are shown it)


def _acting(booking: Booking, person_id: int, ops: Collection[int], as_party: Party | None) -> Party:
    party = check_participant(booking, person_id, ops=person_id in ops)
    if as_party is not None and party is not as_party:
        raise InvalidInput("booking.err.not_found")
    return party


async def cancel_terms(bookings, config: PaymentsConfig, booking_id: str, person_id: int, now: datetime,
                       as_party: Party | None = None, ops: Collection[int] = ()) -> CancelTerms:
    """booking.err.not_found for anybody but its owner, its vet or ops (or not as `as_party`);
    booking.err.already_cancelled / not_cancellable / started when it cannot be cancelled."""
    booking, _ = await owned_booking(bookings, booking_id, person_id, ops=person_id in ops)
    party = _acting(booking, person_id, ops, as_party)
    return CancelTerms(booking, party, refund_due(booking, party, now, config.cancellation))


async def cancel(bookings, refunder: Refunder, config: PaymentsConfig, booking_id: str, person_id: int,
                 now: datetime, *, as_party: Party | None = None, reason: VetCancelReason | None = None,
                 ops: Collection[int] = (), erasure: bool = False, note: str | None = None) -> Cancellation:
    """Cancels a confirmed booking as `person_id` (its owner, its vet, or ops), refunding what the rules
    say (in full for erasure and for ops), once: a racing second cancellation gets
    booking.err.already_cancelled. A vet gives a reason; ops may give a `note` in their words (check_reason's
    bounds; stored as cancel_note, both parties are shown it). The refund is paid at once when the provider answers, else left owed."""
    now = as_utc(now)
    fields: dict = {"cancel_reason": reason.value if reason else None, "cancelled_at": now}
    if note is not None:
        fields["cancel_note"] = note = check_reason(note)

    def decide(booking: Booking) -> int:
        party = _acting(booking, person_id, ops, as_party)
        if party is Party.VET and reason is None and not erasure:
            raise InvalidInput("booking.err.vet_reason_needed")
        fields["cancelled_by"] = party.value
        # erasure: in full, even once it has begun (the rules' full refund, as when ops cancel)
        return refund_due(booking, Party.OPS if erasure else party, now, config.cancellation)

    cancelled, entry = await bookings.cancel(booking_id, decide, config.split_of, now,
                                             "erasure" if erasure else "cancelled", fields)
    by = Party(fields["cancelled_by"])
    refunded = False
    if entry.refund_due > 0 and entry.status == "refund_pending":
        _, refunded = await pay_back(bookings, refunder, entry)
    log.info("booking cancelled by %s (refund %s)", by.value, "made" if refunded else
             ("owed" if entry.refund_due else "none"))
    return Cancellation(cancelled, by, entry.refund_due if entry.status == "refund_pending" else 0,
                        refunded, reason, erasure, note)


# ---- moving ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Moved:
    booking: Booking         # at its new time
    old_start: datetime


async def reschedule_options(vets, bookings, booking_id: str, owner_id: int,
                             now: datetime) -> tuple[Booking, Vet, list[Slot]]:
    """The owner's booking, its vet and the vet's free slots it may move to (its own time not counted as
    busy). booking.err.not_found for anyone but its owner; booking.err.rescheduled_once /
    reschedule_late / not_cancellable; booking.err.vet_unavailable when the vet takes no bookings now."""
    booking, _ = await owned_booking(bookings, booking_id, owner_id)
    _acting(booking, owner_id, (), Party.OWNER)
    check_reschedule(booking, now)
    vet = await bookable_vet(vets, booking.vet_id, _species(booking))
    busy = [b for b in await bookings.calendar(vet.id) if b != booking.busy()]
    return booking, vet, [s for s in slot_rules.free_slots(vet.schedule, busy, now) if s.start != booking.start]


async def reschedule(vets, bookings, booking_id: str, owner_id: int, start: datetime, now: datetime,
                     tasks=None) -> Moved:
    """Moves the owner's booking to `start`, one of its vet's free slots (schedule.err.* otherwise, from
    a forged or outdated button; SlotTaken if someone took it meanwhile): once, free, 24 h or more before
    its current start. Its consultation's tasks are planned again for the new time (the old ones are stale)."""
    now = as_utc(now)
    booking, _ = await owned_booking(bookings, booking_id, owner_id)
    _acting(booking, owner_id, (), Party.OWNER)
    check_reschedule(booking, now)
    vet = await bookable_vet(vets, booking.vet_id, _species(booking))
    schedule = vet.schedule
    slot = Slot(as_utc(start), as_utc(start) + timedelta(minutes=schedule.slot_minutes))
    calendar = await bookings.calendar(vet.id)
    seen: dict = {}

    def decide(current: Booking) -> Booking:
        _acting(current, owner_id, (), Party.OWNER)
        check_reschedule(current, now)
        if current.start == slot.start:
            raise InvalidInput("booking.err.same_time")
        slot_rules.check_bookable(schedule, [b for b in calendar if b != current.busy()], slot, now)
        seen["from"] = current.start
        return current.rescheduled(slot.start, slot.end, schedule.buffer_minutes,
                                   tuple(slot_rules.slot_cells(str(vet.id), slot, schedule.buffer_minutes)))

    moved = await bookings.move(booking.id, decide, now)
    if tasks is not None:
        from shared.services.consultation_tasks import schedule_consultation

        try:
            await schedule_consultation(tasks, moved, now)
        except Exception:  # noqa: BLE001 - the move stands; the old tasks are stale, ops see it in the logs
            log.exception("tasks of a moved consultation not scheduled")
    return Moved(moved, seen["from"])


def _species(booking: Booking) -> Species:
    return Species((booking.pet or {}).get("species") or Species.OTHER.value)


# ---- what the vet sees ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PatientCard:
    """A booking as its vet is shown it: the pet's card as booked, the reason, the triage summary, the
    photo (a link valid PHOTO_LINK_MINUTES), the last week of the pet's diary and its current treatments."""

    booking: Booking
    pet: Pet
    photo_url: str | None
    week: diary_service.WeekSummary | None      # None: the pet's record is gone
    treatments: list


async def patient_card(bookings, pets, diary, triage, photos, booking_id: str, vet_id: int, today: date,
                       booking: Booking | None = None) -> PatientCard:
    """Only for the booking's vet (booking.err.not_found for anyone else, the owner included: this is the
    vet's view). Reads the owner's records, which only their vet may see through here."""
    if booking is None or booking.id != booking_id:
        booking, _ = await owned_booking(bookings, booking_id, vet_id)
    if booking.vet_id != vet_id:
        raise InvalidInput("booking.err.not_found")
    pet = pet_from_draft(booking.owner_id, booking.pet, booking.pet_id) if booking.pet else Pet(
        id=booking.pet_id, owner_id=booking.owner_id, species=Species.OTHER, name="")
    week, treatments = None, []
    try:
        week = await diary_service.week_summary(pets, diary, booking.owner_id, booking.pet_id, today)
        from shared.domain.diary import current_treatments

        treatments = current_treatments(await diary.treatments(booking.owner_id, booking.pet_id))
    except LookupError:  # the owner deleted the pet since: the card as booked is all there is
        pass
    return PatientCard(booking, pet, await photo_link(triage, photos, booking), week, treatments)


async def photo_link(triage, photos, booking: Booking) -> str | None:
    """A V4 signed URL of the triage photo the booking was made with, valid PHOTO_LINK_MINUTES; None when
    there is none (or it is gone)."""
    if not booking.triage_result_id:
        return None
    found = await triage.get(booking.owner_id, booking.pet_id, booking.triage_result_id)
    if found is None or not found[0].photo_path:
        return None
    try:
        return await photos.signed_url(found[0].photo_path, timedelta(minutes=PHOTO_LINK_MINUTES))
    except Exception:  # noqa: BLE001 - the notice goes without the photo rather than not at all
        log.exception("photo link not signed")
        return None


# ---- erasure --------------------------------------------------------------------------------------------

async def erase_bookings(bookings, refunder: Refunder, config: PaymentsConfig, person_id: int,
                         now: datetime) -> list[Cancellation]:
    """Run after the person's records (users/{id}, vets/{id}) are deleted, so that no new hold of theirs
    can be written (adapters.firestore_bookings' guard). Their holds are let go; their confirmed
    bookings not over yet are cancelled with a full refund (returned: the caller tells the other party);
    then they are removed from every booking of theirs, from the ledger, and, as a vet, their calendar and
    slot locks are deleted. A racing payment or cancellation makes a step fail and be taken again."""
    now = as_utc(now)
    ref = pseudonym(person_id)
    found = {b.id: b for b in [*await bookings.of_owner(person_id), *await bookings.of_vet(person_id)]}
    cancelled: list[Cancellation] = []
    for booking_id in found:
        for _ in range(ERASE_STEPS):
            left = await bookings.forget_party(booking_id, person_id, ref, now)
            if left is None or person_id not in (left.owner_id, left.vet_id):
                break
            if left.status is BookingStatus.HELD:
                await bookings.expire_hold(left.id, now, note="erasure")
                continue
            try:
                cancelled.append(await cancel(bookings, refunder, config, left.id, person_id, now, erasure=True))
            except InvalidInput:
                pass  # changed meanwhile (a payment, a cancellation): look again
        else:
            raise RuntimeError("a booking kept changing while its party was erased")
    await bookings.forget_in_ledger(person_id, ref, charge_pseudonym)
    await bookings.forget_vet_calendar(person_id)
    return cancelled


async def forget_erased_payer(owners, bookings, charge_id: str, payer_id: int) -> bool:
    """A charge recorded after its payer erased their data (the payment raced the erasure and was refunded):
    the payer's id in its ledger entry becomes their pseudonym, as erasure would have done. True if so."""
    if await owners.get(payer_id) is not None:
        return False
    await bookings.forget_in_ledger(payer_id, pseudonym(payer_id), charge_pseudonym, charge_id=charge_id)
    return True


async def forget_refunded_payer(bookings, entry) -> None:
    """A payer erased while a refund was owed to them: once it is paid, the entry keeps only their pseudonym."""
    if entry.forget_owner_when_refunded and entry.status == "refunded":
        await bookings.forget_in_ledger(entry.owner_id, entry.owner_ref, charge_pseudonym, charge_id=entry.charge_id)

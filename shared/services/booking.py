"""Finding a vet and holding a slot: the use cases of the /consult flow (the bot renders what they return).

Reads are budgeted: a page of vets with each one's next free slot is one read of the species' vet
directory (every bookable vet's listing card, adapters.firestore_vets) and one batched read of the page's
calendars (a read per vet): 6 reads for 5 vets however many vets there are, a few more when hours are
booked up, on any page when the client says which vets it showed before (list_vets' `shown`); a vet's
14-day calendar is 2 reads (the vet, the calendar). Holds are enforced by Firestore
(adapters.firestore_bookings).

Who may do what is checked here: only an active vet with hours who treats the pet's species can be
held (a forged button naming a paused or unverified vet gets booking.err.vet_unavailable); a booking
is shown or changed only for its owner, its vet or ops (booking.err.not_found for anybody else).
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.domain import slots as slot_rules
from shared.domain.bookings import Booking, BookingStatus, HoldSuperseded, Party, Price, Pricing, check_participant
from shared.domain.pets import InvalidInput, Pet, Species
from shared.domain.slots import HOLD_TTL, Slot, as_utc
from shared.domain.vets import Area, Vet, VetCard

log = logging.getLogger(__name__)

PAGE_SIZE = 5
# triage area -> the vets' area of practice that fits it
TRIAGE_AREAS = {"skin": Area.DERMATOLOGY, "eye": Area.OPHTHALMOLOGY}


@dataclass(frozen=True)
class VetOffer:
    vet: VetCard
    next_slot: Slot | None
    price: Price


@dataclass(frozen=True)
class VetPage:
    offers: list[VetOffer]
    page: int
    pages: int
    area: Area | None          # the area filter used (None: every vet of the species)
    widened: bool = False      # nobody practised the area asked for: every vet of the species is shown


async def list_vets(vets, bookings, species: Species, now: datetime, pricing: Pricing, area: Area | None = None,
                    page: int = 0, page_size: int = PAGE_SIZE, shown: Collection[int] = ()) -> VetPage:
    """Bookable vets for the species (and area), those with a free slot first, soonest first, then by
    rating and experience; one page of them. With an area nobody practises, every vet of the species.

    Vets come from the species' directory (one read; a card exists exactly while its vet is bookable).
    Calendars are read only as far as the page needs: each vet's first slot by their hours alone (no
    read) bounds their real next free slot from below, so vets are resolved in that order until the page
    is certain: one calendar read per vet shown, a few more when hours are booked up. A card without hours
    (too long to copy) is bounded by now and its vet's record read when resolved.

    `shown`: the vets the person's client showed on the pages before `page`. The page is then the best
    `page_size` of the others, so every page costs what the first does; walked this way the pages list
    every vet once, and the same vets as the exact positions when nothing changed meanwhile. Without it a
    page after the first resolves every vet up to its end (exact, more reads: buttons made before)."""
    species = Species(species)
    listed = [c for c in await vets.listing(species) if c.treats(species)]
    found = [c for c in listed if c.treats(species, area)]
    widened = False
    if area is not None and not found:
        found, widened = listed, True
    area = None if widened else area
    page = max(0, page)
    left_out = set(shown)
    rest = [c for c in found if c.id not in left_out]
    # (every vet shown already - a stale Next - falls through to the exact page below: the last one)
    if left_out and rest:
        offers = await _best_first(vets, bookings, rest, page_size, now, pricing)
        # vets still listed, and enough pages for the rest: the page count of the exact list when
        # nothing changed, and a Next whenever vets are left (some shown ones may have gone)
        still_shown = len(found) - len(rest)
        pages = max(1, -(-(still_shown + len(offers)) // page_size), page + -(-len(offers) // page_size))
        return VetPage(offers[:page_size], min(page, pages - 1), pages, area, widened)
    offers = await _best_first(vets, bookings, found, (page + 1) * page_size, now, pricing)
    pages = max(1, -(-len(offers) // page_size))
    page = min(page, pages - 1)
    return VetPage(offers[page * page_size:(page + 1) * page_size], page, pages, area, widened)


async def _best_first(vets, bookings, cards: list[VetCard], need: int, now: datetime,
                      pricing: Pricing) -> list[VetOffer]:
    """Every card as an offer in the list's order; the first `need` exact (their calendars read), the rest
    after them unread (no next slot)."""
    now = as_utc(now)
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def key(vet: VetCard, start: datetime | None) -> tuple:
        return (start is None, start or far, -(vet.rating or 0), -vet.experience_years, vet.id)

    def first(slot: Slot | None) -> datetime | None:
        return slot.start if slot else None

    bounds = {c.id: first(slot_rules.next_free(c.schedule, [], now)) if c.schedule else now for c in cards}
    pending = sorted(cards, key=lambda c: key(c, bounds[c.id]))
    resolved: list[VetOffer] = []
    while pending and bounds[pending[0].id] is not None:  # vets without any hours are never free: last
        limit = key(pending[0], bounds[pending[0].id])
        certain = sum(1 for o in resolved if key(o.vet, first(o.next_slot)) < limit)
        if certain >= need:
            break
        take = need - certain
        batch, pending = pending[:take], pending[take:]
        batch = [c if c.schedule else await _with_hours(vets, c) for c in batch]
        calendars = await bookings.calendars(c.id for c in batch if c)
        resolved += [VetOffer(c, slot_rules.next_free(c.schedule, calendars.get(c.id, []), now), pricing.price(c))
                     for c in batch if c]
    resolved.sort(key=lambda o: key(o.vet, first(o.next_slot)))
    # the rest were not read: they come after every vet the page needs (or have no hours at all)
    return resolved + [VetOffer(c, None, pricing.price(c)) for c in pending]


async def _with_hours(vets, card: VetCard) -> VetCard | None:
    """A card listed without its hours, with them from the vet's record (None: no longer bookable)."""
    vet = await vets.get(card.id)
    return replace(card, schedule=vet.schedule) if vet is not None and vet.bookable else None


async def bookable_vet(vets, vet_id: int, species: Species) -> Vet:
    """The vet if an owner may book them for this species now; else booking.err.vet_unavailable."""
    vet = await vets.get(vet_id)
    if vet is None or not vet.bookable or not vet.treats(Species(species)):
        raise InvalidInput("booking.err.vet_unavailable")
    return vet


async def vet_slots(vets, bookings, vet_id: int, species: Species, now: datetime) -> tuple[Vet, list[Slot]]:
    """The vet and every slot an owner may hold now (2 reads: the vet, their calendar)."""
    vet = await bookable_vet(vets, vet_id, species)
    return vet, slot_rules.free_slots(vet.schedule, await bookings.calendar(vet.id), now)


@dataclass(frozen=True)
class HoldRequest:
    owner_id: int
    pet: Pet
    vet_id: int
    start: datetime
    reason: str
    triage_result_id: str | None = None
    triage: dict | None = None       # what the vet is shown of the triage result (urgency, findings)
    photo_file_id: str | None = None


def pet_snapshot(pet: Pet) -> dict:
    """The pet card as it was when booked (the vet sees this even if the card changes later)."""
    return {"name": pet.name, "species": pet.species.value, "breed": pet.breed, "sex": pet.sex.value,
            "birth_date": pet.birth_date.isoformat() if pet.birth_date else None,
            "birth_date_approximate": pet.birth_date_approximate, "weight_kg": pet.weight_kg,
            "neutered": pet.neutered.value}


async def hold_slot(vets, bookings, request: HoldRequest, now: datetime, pricing: Pricing, tasks=None, *,
                    keep_older: bool = False) -> Booking:
    """Holds the slot for 10 minutes: the vet must be bookable for the pet's species and the time one of
    their free slots (schedule.err.* otherwise, from a forged or outdated button); SlotTaken if another
    hold or booking took it meanwhile (Firestore decides). The owner's older holds are let go, so one
    owner holds one slot at a time (`keep_older`: the caller lets them go with let_older_holds_go once it
    knows this hold stands; without it HoldSuperseded when a newer hold of theirs stands); the hold's expiry
    is scheduled when a task queue is given."""
    now = as_utc(now)
    vet = await bookable_vet(vets, request.vet_id, request.pet.species)
    schedule = vet.schedule
    slot = Slot(request.start, request.start + timedelta(minutes=schedule.slot_minutes))
    slot_rules.check_bookable(schedule, await bookings.calendar(vet.id), slot, now)
    booking = Booking(
        id=bookings.new_id(), owner_id=request.owner_id, vet_id=vet.id, pet_id=request.pet.id, start=slot.start,
        end=slot.end, buffer_minutes=schedule.buffer_minutes, price=pricing.price(vet), status=BookingStatus.HELD,
        hold_expires_at=now + HOLD_TTL, cells=tuple(slot_rules.slot_cells(str(vet.id), slot, schedule.buffer_minutes)),
        reason=request.reason, triage_result_id=request.triage_result_id, pet=pet_snapshot(request.pet),
        triage=request.triage, photo_file_id=request.photo_file_id)
    booking = await bookings.hold(booking, now)  # SlotTaken: someone else was first
    if not keep_older and not await keep_newest_hold(bookings, booking, now):
        raise HoldSuperseded
    if tasks is not None:
        from shared.services.consultation_tasks import schedule_hold_expiry

        try:
            await schedule_hold_expiry(tasks, booking)
        except Exception:  # noqa: BLE001 - reads treat the hold as free once it runs out anyway
            log.exception("hold expiry task not scheduled")
    return booking


def _made(hold: Booking, now: datetime) -> tuple:
    """Orders one owner's holds by when the store wrote them (the clock's time where it has none), then id."""
    return hold.written_at or hold.created_at or now, hold.id


async def let_older_holds_go(bookings, held: Booking, now: datetime) -> None:
    """One owner holds one slot at a time: their holds made before `held` are let go."""
    for older in await bookings.held_by(held.owner_id):
        if older.id != held.id and _made(older, now) < _made(held, now):
            await bookings.expire_hold(older.id, now, note="another slot chosen")


async def keep_newest_hold(bookings, held: Booking, now: datetime) -> bool:
    """One owner holds one slot at a time, even holding from two screens at once: of their holds the newest
    (by the store's time of the write) stands and the others are let go. Each request runs this after its
    own hold is written, so the last to run sees every hold; a hold this query misses was written after it,
    so it is the newer one and its own request lets this one go (as the chat's press does, after its step).
    Whether `held` is the one standing."""
    holds = await bookings.held_by(held.owner_id)
    if not holds:
        return False
    newest = max(holds, key=lambda b: _made(b, now))
    for other in holds:
        if other.id != newest.id:
            await bookings.expire_hold(other.id, now, note="another slot chosen")
    return newest.id == held.id


async def holds_slot(bookings, owner_id: int, vet_id: int, start: datetime, now: datetime) -> bool:
    """Whether the owner has a live hold of this vet's time: the slot refused to them was taken by another
    press of theirs (a double tap), not by someone else."""
    return any(b.vet_id == vet_id and b.start == as_utc(start) and b.hold_live(now)
               for b in await bookings.held_by(owner_id))


async def owned_booking(bookings, booking_id: str, person_id: int, ops: bool = False) -> tuple[Booking, Party]:
    """The booking and who `person_id` is in it; booking.err.not_found for anyone else or no booking."""
    booking = await bookings.get(booking_id)
    if booking is None:
        raise InvalidInput("booking.err.not_found")
    return booking, check_participant(booking, person_id, ops)


async def release_hold(bookings, booking_id: str, owner_id: int, now: datetime) -> bool:
    """The owner lets an unpaid hold go (the summary's Cancel): only their own, only while held."""
    booking, party = await owned_booking(bookings, booking_id, owner_id)
    if party is not Party.OWNER:
        raise InvalidInput("booking.err.not_found")
    if booking.status is not BookingStatus.HELD:
        raise InvalidInput("booking.err.not_held")
    return await bookings.expire_hold(booking.id, now, note="released by the owner")


async def expire_hold(bookings, booking_id: str, now: datetime) -> bool:
    """The hold-expiry task: held -> expired once run out (False when a payment won or it is not held)."""
    return await bookings.expire_hold(booking_id, now)


def triage_area(triage_area_value: str | None) -> Area | None:
    return TRIAGE_AREAS.get(triage_area_value or "")


def with_reason(request: HoldRequest, reason: str) -> HoldRequest:
    return replace(request, reason=reason)

"""After the call: the vet's conclusion, the label of a triage photo, the owner's rating, the relayed messages.

Every use case names the acting person and checks who they are in the booking (domain.conclusions): the
booking's vet writes the conclusion, its owner rates it, the two of them write to each other. Inside a
person's update the repositories stage their writes, so what one call does lands in one batch with the
person's own record as precondition (adapters.firestore_uow): a conclusion, its booking completed, the
owner's diary entry and the follow-up reminders land together or not at all, and of two presses of
"Send" one writes and the other finds the step taken.

Labels: a class the vet gave for a triage photo is kept as labelled data (``labels/{id}`` and a copy of
the cleaned photo) only when the owner said yes; they are asked once, the first time a labelled case of
theirs arises, and can change their mind in /privacy; saying no there (or erasing their data) deletes
every label kept of theirs. Label records carry no personal data: the label id and the owner key are
keyed hashes (PHOTO_PATH_KEY) of the booking and of the owner.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import date, datetime

from shared.config import photo_path_key
from shared.domain import conclusions as rules
from shared.domain import reminders as rem_rules
from shared.domain.bookings import Booking
from shared.domain.conclusions import Conclusion, LabelQuestion, LabelVerdict, Rating
from shared.domain.diary import ConsultationNote
from shared.domain.owners import Owner
from shared.domain.pets import InvalidInput

log = logging.getLogger(__name__)

FOLLOW_UP = rem_rules.FOLLOW_UP   # the reminders of a follow-up date (their treatment id is the booking's)


def label_id(booking_id: str) -> str:
    """One label per consultation, a name nobody can trace to the booking without the key."""
    return hmac.new(photo_path_key(), f"label:{booking_id}".encode(), hashlib.sha256).hexdigest()[:32]


def owner_key(owner_id: int) -> str:
    """What ties an owner's labels to them (revoking, erasure), untraceable without the key."""
    return hmac.new(photo_path_key(), f"labels:{int(owner_id)}".encode(), hashlib.sha256).hexdigest()[:32]


async def _booking(conclusions, booking_id: str) -> tuple[Booking, object]:
    found = await conclusions.booking(booking_id)
    if found is None:
        raise InvalidInput("booking.err.not_found")
    return found


# ---- the vet's conclusion --------------------------------------------------------------------------

async def start_conclusion(conclusions, booking_id: str, vet_id: int, now: datetime) -> tuple[Booking, LabelQuestion | None]:
    """May this vet write the conclusion now? The booking and the label question (if it came from triage)."""
    booking, _ = await _booking(conclusions, booking_id)
    rules.check_can_conclude(booking, vet_id, now)
    return booking, rules.label_question(booking)


@dataclass(frozen=True)
class Written:
    """What writing a conclusion did, for the messages the bot sends once it is committed."""

    conclusion: Conclusion
    booking: Booking
    owner: Owner | None              # None: the owner erased their data (nothing goes to them)
    pet_name: str
    vet_name: str
    in_diary: bool
    reminder_set: bool
    ask_label_consent: bool          # the owner has not been asked yet and there is a class to keep
    kept_label: tuple[str, str] | None   # (the photo's name, label id): copy it once committed


async def write_conclusion(*, conclusions, diary, reminders, owners, pets, vets, triage, booking_id: str,
                           vet_id: int, summary: str, recommendations: str, follow_up: date | None,
                           answer: str | None, now: datetime) -> Written:
    """The conclusion, once, by the booking's vet from its start on: it completes the booking, goes into
    the pet's diary (and so its PDF), and a follow-up date becomes the owner's reminders (the day before
    and the day, at the reminder hour in the owner's zone). `answer` is the vet's word on the triage
    photo (domain.conclusions.check_verdict), for bookings made from a triage answer."""
    booking, version = await _booking(conclusions, booking_id)
    rules.check_can_conclude(booking, vet_id, now)
    if await conclusions.get(booking.id) is not None:
        raise InvalidInput("conclusion.err.already")
    summary = rules.check_summary(summary)
    recommendations = rules.check_recommendations(recommendations) if recommendations else ""
    question = rules.label_question(booking)
    verdict: LabelVerdict | None = rules.check_verdict(question, answer) if question and answer else None
    owner = await owners.get(booking.owner_id)
    pet = await pets.get(booking.owner_id, booking.pet_id) if owner else None
    today = rem_rules.local_today(now, owner.timezone if owner else None)
    if follow_up is not None:
        rules.check_follow_up(follow_up, today)
    vet = await vets.get(vet_id)
    vet_name = vet.full_name if vet else ""
    pet_name = pet.name if pet else str((booking.pet or {}).get("name") or "")
    conclusion = Conclusion(booking_id=booking.id, owner_id=booking.owner_id, vet_id=vet_id, pet_id=booking.pet_id,
                            summary=summary, recommendations=recommendations, follow_up=follow_up, written_at=now,
                            label=verdict)
    kept = None
    if verdict is not None and verdict.label and owner is not None and owner.label_consent:
        kept = await _label_source(triage, booking)
    await conclusions.add(conclusion, booking, version, now, label_kept=kept is not None)
    if kept is not None:
        await conclusions.keep_label(kept[1], owner_key(booking.owner_id), verdict, now.strftime("%Y-%m"))
    reminder_set = False
    if pet is not None:
        day = booking.start.astimezone(rem_rules.zone(owner.timezone)).date()
        await diary.add_consultation(owner.id, pet.id, ConsultationNote(booking.id, day, vet_name, summary,
                                                                         recommendations, follow_up))
        if follow_up is not None:
            planned = rem_rules.plan(owner.id, owner.id, owner.language, owner.timezone, pet.id, pet.name, booking.id,
                                     FOLLOW_UP, vet_name, follow_up, now)
            reminder_set = bool(planned) and await reminders.schedule(planned) > 0
    ask = bool(verdict and verdict.label and owner is not None and owner.label_consent is None)
    return Written(conclusion, booking, owner, pet_name, vet_name, pet is not None, reminder_set, ask, kept)


async def _label_source(triage, booking: Booking) -> tuple[str, str] | None:
    """The cleaned photo of the booking's triage result and the label id, if the photo is still there."""
    found = await triage.get(booking.owner_id, booking.pet_id, booking.triage_result_id or "")
    if not found or not found[0].photo_path:
        return None
    return found[0].photo_path, label_id(booking.id)


async def store_label_photo(photos, kept: tuple[str, str] | None) -> bool:
    """After the commit that kept a label: its photo copied under labels/ (best effort: the export skips a
    label whose photo is missing and says so)."""
    if kept is None:
        return False
    try:
        await photos.copy_in(*kept)
    except Exception as err:  # noqa: BLE001 - the label stands; the export reports it without a photo
        log.error("a kept label's photo was not copied: %s", type(err).__name__)
        return False
    return True


# ---- label consent -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentAnswer:
    owner: Owner
    kept_label: tuple[str, str] | None       # copy once committed
    deleted: list[str]                        # label ids to delete once committed (revoked)


async def answer_label_consent(*, owners, conclusions, triage, owner: Owner, yes: bool, now: datetime,
                               booking_id: str | None = None) -> ConsentAnswer:
    """The owner's answer (the question under a conclusion, or /privacy). Yes keeps the label of that
    consultation, if its vet gave a class, and those to come; no keeps none and deletes what was kept."""
    updated = owner.with_changes(label_consent=yes)
    if updated != owner:
        await owners.save(updated)
    kept = None
    if yes and booking_id:
        found = await conclusions.get(booking_id)
        if found is not None:
            record, version = found
            verdict = record.conclusion.label
            if record.conclusion.owner_id == owner.id and verdict and verdict.label and not record.label_kept:
                booking = await conclusions.booking(booking_id)
                kept = await _label_source(triage, booking[0]) if booking else None
                if kept is not None:
                    await conclusions.keep_label(kept[1], owner_key(owner.id), verdict, now.strftime("%Y-%m"),
                                                 booking_id=booking_id, version=version)
    deleted = [] if yes else await conclusions.labels_of(owner_key(owner.id))
    return ConsentAnswer(updated, kept, deleted)


async def delete_labels(conclusions, photos, label_ids: list[str]) -> int:
    """Revoked or erased: the labels and their photos (directly, not in an update)."""
    for lid in label_ids:
        await photos.delete(lid)
        await conclusions.delete_label(lid)
    return len(label_ids)


async def forget_labels(conclusions, photos, owner_id: int) -> int:
    """Erasure: every label kept of the owner's."""
    return await delete_labels(conclusions, photos, await conclusions.labels_of(owner_key(owner_id)))


# ---- rating ----------------------------------------------------------------------------------------

async def rate(*, conclusions, vets, booking_id: str, owner_id: int, stars: int, now: datetime) -> Booking:
    """The owner's 1-5 stars, once, for a completed consultation; the vet's rating in the same batch."""
    stars = rules.check_stars(stars)
    booking, _ = await _booking(conclusions, booking_id)
    rules.check_can_rate(booking, owner_id)
    found = await conclusions.get(booking.id)
    if found is None:
        raise InvalidInput("conclusion.err.rate_not_completed")
    record, version = found
    if record.rating is not None:
        raise InvalidInput("conclusion.err.rated_already")
    vet = await vets.get(booking.vet_id)
    await conclusions.rate(booking.id, version, Rating(stars, None, now), vet)
    return booking


async def comment(*, conclusions, booking_id: str, owner_id: int, text: str) -> str:
    """The rating's comment, once, after the stars."""
    text = rules.check_comment(text)
    booking, _ = await _booking(conclusions, booking_id)
    rules.check_can_rate(booking, owner_id)
    found = await conclusions.get(booking.id)
    if found is None or found[0].rating is None:
        raise InvalidInput("conclusion.err.rate_first")
    record, version = found
    if record.rating.comment:
        raise InvalidInput("conclusion.err.commented_already")
    await conclusions.comment(booking.id, version, text)
    return text


# ---- relayed messages ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Relay:
    booking: Booking
    to_id: int
    from_vet: bool
    closes_at: datetime


async def relay(conclusions, booking_id: str, sender_id: int, now: datetime) -> Relay:
    """Whom a message about this consultation goes to, if the sender is one of its two people and the
    48 hours are open (domain.conclusions.check_relay says why not)."""
    booking, _ = await _booking(conclusions, booking_id)
    to_id = rules.check_relay(booking, sender_id, now)
    return Relay(booking, to_id, sender_id == booking.vet_id, rules.relay_closes_at(booking))

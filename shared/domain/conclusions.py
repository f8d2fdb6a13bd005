"""After the call: the vet's conclusion, the vet's word on the AI's answer, the owner's rating, and the
48 hours in which owner and vet may write to each other. Plain rules, no I/O, times in UTC.

- A conclusion is written once, by the booking's vet, from the consultation's start on, while the booking
  is confirmed; writing it completes the booking (domain.bookings: confirmed -> completed). It is final:
  the vet sees it before sending it, and after that it is in the owner's diary, PDF and reminders; what
  needs adding afterwards goes through the messages.
- A booking made from a photo triage asks the vet what the photo shows: the AI was right, wrong (and
  the right class), or the photo cannot tell; when the AI gave no answer (it abstained, or does not cover
  the species or area) the vet names the class or says the photo cannot tell. A class is kept as labelled
  data only with the owner's consent (services.conclusions).
- The owner rates a completed consultation once, 1-5 stars, with an optional comment; a vet's rating
  counts completed consultations only (nothing else can be rated).
- Messages are relayed between the two while the consultation is open for them: from its start until
  MESSAGES_WINDOW (48 h) after its end, for a booking that took place (confirmed or completed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from shared.domain.bookings import MESSAGES_WINDOW, Booking, BookingStatus
from shared.domain.photos import Area
from shared.domain.pets import InvalidInput, visible_text
from shared.domain.slots import as_utc
from shared.domain.triage import FINDINGS

SUMMARY_MAX_LEN = 2000
RECOMMENDATIONS_MAX_LEN = 2000
COMMENT_MAX_LEN = 500
RELAY_MAX_LEN = 3500          # a Telegram message holds 4096 characters: room for the header
FOLLOW_UP_MAX_DAYS = 366
STARS = range(1, 6)

# What a vet may say a photo shows, per area. Skin: the classes of the shipped skin model (its labels.json;
# domain.triage.FINDINGS), so exported labels are folders models.train and models.evaluate read as they
# are. Eyes: the common findings an eye model would start from (none ships yet: this is its data).
LABEL_CLASSES: dict[Area, tuple[str, ...]] = {
    Area.SKIN: tuple(sorted(FINDINGS)),
    Area.EYE: ("cataract", "cherry_eye", "conjunctivitis", "corneal_ulcer", "entropion", "glaucoma", "healthy",
               "uveitis"),
}
_CLASS = re.compile(r"^[a-z][a-z_]{0,29}$")


class Verdict(str, Enum):
    RIGHT = "right"              # the AI's first finding is what the photo shows
    WRONG = "wrong"              # it is not: the vet names the class
    LABELLED = "labelled"        # the AI gave no answer: the vet names the class
    CANNOT_TELL = "cannot_tell"  # the photo does not show enough


@dataclass(frozen=True)
class LabelQuestion:
    """What the vet is asked about a booking's triage photo."""

    area: Area
    species: str
    ai_label: str | None           # the AI's first finding shown to the owner; None when it gave none
    classes: tuple[str, ...]


@dataclass(frozen=True)
class LabelVerdict:
    verdict: Verdict
    area: Area
    species: str
    ai_label: str | None
    label: str | None              # the class the photo shows (None: cannot tell)


@dataclass(frozen=True)
class Conclusion:
    booking_id: str
    owner_id: int
    vet_id: int
    pet_id: str
    summary: str
    recommendations: str           # may be empty
    follow_up: date | None
    written_at: datetime
    label: LabelVerdict | None = None


@dataclass(frozen=True)
class Rating:
    stars: int
    comment: str | None = None
    at: datetime | None = None


def label_question(booking: Booking) -> LabelQuestion | None:
    """The question for a booking made from a triage answer (its snapshot: area, findings), if its area
    has classes to choose from; None otherwise."""
    triage = booking.triage or {}
    if not booking.triage_result_id or not triage:
        return None
    try:
        area = Area(triage.get("area") or "")
    except ValueError:
        return None
    classes = LABEL_CLASSES.get(area)
    if not classes:
        return None
    findings = triage.get("findings") or []
    first = findings[0].get("label") if findings and isinstance(findings[0], dict) else None
    species = str((booking.pet or {}).get("species") or "other")
    return LabelQuestion(area, species, first if first in classes else None, classes)


RIGHT, CANNOT_TELL = "right", "cannot_tell"   # the answers besides a class


def check_verdict(question: LabelQuestion, answer: str) -> LabelVerdict:
    """The vet's answer: RIGHT (the AI's first finding), CANNOT_TELL, or a class of the question's area
    (the AI's own class counts as right; any other as wrong, or as the label when the AI gave none). A
    forged answer (a class of another area, "right" where the AI said nothing) is refused."""
    if answer == RIGHT:
        if question.ai_label is None:
            raise InvalidInput("err.use_buttons")
        label, verdict = question.ai_label, Verdict.RIGHT
    elif answer == CANNOT_TELL:
        label, verdict = None, Verdict.CANNOT_TELL
    elif answer in question.classes:
        label = answer
        verdict = (Verdict.LABELLED if question.ai_label is None
                   else Verdict.RIGHT if answer == question.ai_label else Verdict.WRONG)
    else:
        raise InvalidInput("err.use_buttons")
    return LabelVerdict(verdict, question.area, question.species, question.ai_label, label)


def class_name_ok(value: str) -> bool:
    return bool(_CLASS.match(value or ""))


def _text(value: str | None, field: str, max_len: int, required: bool = True) -> str:
    text = re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", " ", value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"conclusion.err.{field}_empty")
        return ""
    visible_text(text)
    if len(text) > max_len:
        raise InvalidInput(f"conclusion.err.{field}_too_long", max=max_len, length=len(text))
    return text


def check_summary(text: str | None) -> str:
    return _text(text, "summary", SUMMARY_MAX_LEN)


def check_recommendations(text: str | None) -> str:
    return _text(text, "recommendations", RECOMMENDATIONS_MAX_LEN)


def check_comment(text: str | None) -> str:
    return _text(text, "comment", COMMENT_MAX_LEN)


def check_relay_text(text: str | None, required: bool = True) -> str:
    return _text(text, "message", RELAY_MAX_LEN, required)


def check_follow_up(day: date, today: date) -> date:
    """A follow-up is a day to come, within a year."""
    if day <= today:
        raise InvalidInput("conclusion.err.follow_up_past")
    if day > today + timedelta(days=FOLLOW_UP_MAX_DAYS):
        raise InvalidInput("conclusion.err.follow_up_too_far", days=FOLLOW_UP_MAX_DAYS)
    return day


def check_stars(stars: int) -> int:
    if isinstance(stars, bool) or stars not in STARS:
        raise InvalidInput("err.use_buttons")
    return stars


def check_can_conclude(booking: Booking, person_id: int, now: datetime) -> None:
    """Only the booking's vet (anyone else: booking.err.not_found, as for no booking), only from the start
    on, only once, only of a consultation that is taking or took place."""
    if booking.vet_id != person_id:
        raise InvalidInput("booking.err.not_found")
    if booking.status is BookingStatus.COMPLETED:
        raise InvalidInput("conclusion.err.already")
    if booking.status is not BookingStatus.CONFIRMED:
        raise InvalidInput("conclusion.err.not_held", status=booking.status.value)
    if as_utc(now) < booking.start:
        raise InvalidInput("conclusion.err.not_started")


def check_can_rate(booking: Booking, person_id: int) -> None:
    """Only the booking's owner, only a completed consultation (a vet's rating counts nothing else)."""
    if booking.owner_id != person_id:
        raise InvalidInput("booking.err.not_found")
    if booking.status is not BookingStatus.COMPLETED:
        raise InvalidInput("conclusion.err.rate_not_completed")


def relay_closes_at(booking: Booking) -> datetime:
    return booking.end + MESSAGES_WINDOW


def check_relay(booking: Booking, person_id: int, now: datetime) -> int:
    """Who gets a message `person_id` writes about this booking: the other party, while the window is open.
    booking.err.not_found for anybody else; conclusion.err.relay_not_yet before the start;
    conclusion.err.relay_closed after the window or for a consultation that did not take place."""
    if person_id == booking.owner_id:
        other = booking.vet_id
    elif person_id == booking.vet_id:
        other = booking.owner_id
    else:
        raise InvalidInput("booking.err.not_found")
    now = as_utc(now)
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED) or now >= relay_closes_at(booking):
        raise InvalidInput("conclusion.err.relay_closed")
    if now < booking.start:
        raise InvalidInput("conclusion.err.relay_not_yet")
    return other

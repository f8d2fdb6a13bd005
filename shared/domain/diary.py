"""The health diary: weights, vaccinations and treatments, meals, activity and mood.

Plain rules, no I/O. Dates are local calendar dates of the owner; validation raises
`shared.domain.pets.InvalidInput` with a message key (translated by the bot).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum

from shared.domain.pets import InvalidInput, Species, parse_weight, shift_years, visible_text

NOTES_MAX_LEN = 500          # a note is a few sentences; 10,000 characters is a paste by mistake
PRODUCT_MAX_LEN = 60
MAX_PAST_YEARS = 30          # nothing in a pet's record is older than this
MAX_FUTURE_DUE_YEARS = 5     # a next due date further away is a typo
ACTIVITY_MAX_MINUTES = 24 * 60
SCALE = range(1, 6)          # mood and appetite: 1 (very poor) .. 5 (excellent)

WEIGHT_ALERT_DAYS = 30
WEIGHT_ALERT_SHARE = 0.10    # more than 10 % in 30 days: worth a vet's look


class Kind(str, Enum):
    VACCINE = "vaccine"
    DEWORMING = "deworming"
    FLEA_TICK = "flea_tick"


# Default interval to the next dose, in days, per species and kind (None: no standard schedule, the
# owner sets the date). Sources: WSAVA vaccination guidelines (core boosters yearly for most products
# in Russia, where rabies is revaccinated yearly by law), ESCCAP (deworming every 3 months for pets
# with outdoor access), flea/tick products mostly monthly (spot-ons, most chewables; isoxazoline
# chewables like Bravecto last 12 weeks — the owner changes the proposed date). Rabbits (rodent here)
# get yearly myxomatosis/RHD vaccines. Change the table here; tests pin the rules, not the numbers.
DEFAULT_INTERVAL_DAYS: dict[Species, dict[Kind, int | None]] = {
    Species.CAT: {Kind.VACCINE: 365, Kind.DEWORMING: 90, Kind.FLEA_TICK: 30},
    Species.DOG: {Kind.VACCINE: 365, Kind.DEWORMING: 90, Kind.FLEA_TICK: 30},
    Species.RODENT: {Kind.VACCINE: 365, Kind.DEWORMING: 180, Kind.FLEA_TICK: None},
    Species.BIRD: {Kind.VACCINE: None, Kind.DEWORMING: 180, Kind.FLEA_TICK: None},
    Species.REPTILE: {Kind.VACCINE: None, Kind.DEWORMING: 365, Kind.FLEA_TICK: None},
    Species.OTHER: {Kind.VACCINE: None, Kind.DEWORMING: None, Kind.FLEA_TICK: None},
}
DUE_SOON_DAYS = 14           # /vaccines calls an item "due" this many days ahead


@dataclass(frozen=True)
class WeightEntry:
    id: str
    on: date
    kg: float


@dataclass(frozen=True)
class Treatment:
    id: str
    kind: Kind
    product: str
    given_on: date
    next_due: date | None = None
    reminders_off: bool = False   # "not relevant": keep the record, stop asking
    followed_by: str | None = None  # the treatment that renewed this one

    def with_changes(self, **changes) -> "Treatment":
        return replace(self, **changes)


@dataclass(frozen=True)
class Meal:
    id: str
    on: date
    name: str
    grams: float
    kcal_per_100g: float
    food_id: str | None = None

    @property
    def kcal(self) -> float:
        return self.grams * self.kcal_per_100g / 100


@dataclass(frozen=True)
class ActivityLog:
    id: str
    on: date
    minutes: int | None = None
    mood: int | None = None
    appetite: int | None = None
    notes: str | None = None


@dataclass(frozen=True)
class ConsultationNote:
    """A vet's conclusion as the pet's diary keeps it (its id is the booking's)."""

    id: str
    on: date                      # the consultation's day, in the owner's zone
    vet_name: str
    summary: str
    recommendations: str = ""
    follow_up: date | None = None


# ---- parsing what owners type --------------------------------------------------------------------

def parse_diary_weight(text: str, species: Species) -> float:
    """"4.2", "4,2", "4,2 кг", "350 г"; "-3 kg" and "4200" (for 4.2) are refused."""
    return parse_weight((text or "").strip(), species)


_DATE_FULL = re.compile(r"^(?P<d>\d{1,2})[./-](?P<m>\d{1,2})[./-](?P<y>\d{2}|\d{4})$")
_DATE_ISO = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
_DATE_SHORT = re.compile(r"^(?P<d>\d{1,2})[./](?P<m>\d{1,2})$")
_TODAY = {"today", "сегодня"}
_YESTERDAY = {"yesterday", "вчера"}


def parse_date(text: str, today: date) -> date:
    text = " ".join((text or "").lower().split()).rstrip(".")
    if text in _TODAY:
        return today
    if text in _YESTERDAY:
        return today - timedelta(days=1)
    for pattern in (_DATE_FULL, _DATE_ISO, _DATE_SHORT):
        match = pattern.match(text)
        if match:
            year = int(match["y"]) if "y" in match.groupdict() and match["y"] else today.year
            if year < 100:
                year += 2000
            try:
                return date(year, int(match["m"]), int(match["d"]))
            except ValueError:
                raise InvalidInput("err.date_invalid") from None
    raise InvalidInput("err.date_invalid")


def check_past_date(day: date, today: date) -> date:
    """When something happened: not in the future, not before the pet's plausible lifetime."""
    if day > today:
        raise InvalidInput("diary.err.date_future")
    if day < shift_years(today, -MAX_PAST_YEARS):
        raise InvalidInput("diary.err.date_too_old", years=MAX_PAST_YEARS)
    return day


def check_due_date(day: date, given_on: date, today: date) -> date:
    if day <= given_on:
        raise InvalidInput("diary.err.due_before_given")
    if day > shift_years(today, MAX_FUTURE_DUE_YEARS):
        raise InvalidInput("diary.err.due_too_far", years=MAX_FUTURE_DUE_YEARS)
    return day


def parse_product(text: str) -> str:
    product = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text or "").split())
    if not product:
        raise InvalidInput("diary.err.product_empty")
    visible_text(product)
    if len(product) > PRODUCT_MAX_LEN:
        raise InvalidInput("diary.err.product_too_long", max=PRODUCT_MAX_LEN)
    return product


def parse_notes(text: str) -> str:
    notes = re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", " ", text or "").strip()
    if not notes:
        raise InvalidInput("diary.err.notes_empty")
    visible_text(notes)
    if len(notes) > NOTES_MAX_LEN:
        raise InvalidInput("diary.err.notes_too_long", max=NOTES_MAX_LEN, length=len(notes))
    return notes


def parse_minutes(text: str) -> int:
    match = re.match(r"^\s*(\d{1,5})\s*(мин|min|m|м|минут|minutes)?\.?\s*$", (text or "").lower())
    if not match:
        raise InvalidInput("diary.err.minutes_invalid", max=ACTIVITY_MAX_MINUTES)
    minutes = int(match[1])
    if minutes > ACTIVITY_MAX_MINUTES:
        raise InvalidInput("diary.err.minutes_invalid", max=ACTIVITY_MAX_MINUTES)
    return minutes


def check_scale(value: int) -> int:
    if value not in SCALE:
        raise InvalidInput("err.use_buttons")
    return value


# ---- rules ------------------------------------------------------------------------------------

def default_interval(species: Species, kind: Kind) -> int | None:
    return DEFAULT_INTERVAL_DAYS.get(species, DEFAULT_INTERVAL_DAYS[Species.OTHER]).get(kind)


def propose_next_due(species: Species, kind: Kind, given_on: date) -> date | None:
    days = default_interval(species, kind)
    return given_on + timedelta(days=days) if days else None


class DueStatus(str, Enum):
    OVERDUE = "overdue"
    DUE = "due"          # within DUE_SOON_DAYS
    PLANNED = "planned"  # later
    NONE = "none"        # no next date, reminders off, or renewed by a later record


def due_status(treatment: Treatment, today: date) -> DueStatus:
    if treatment.next_due is None or treatment.reminders_off or treatment.followed_by:
        return DueStatus.NONE
    if treatment.next_due < today:
        return DueStatus.OVERDUE
    if (treatment.next_due - today).days <= DUE_SOON_DAYS:
        return DueStatus.DUE
    return DueStatus.PLANNED


def current_treatments(treatments: list[Treatment]) -> list[Treatment]:
    """The latest record per (kind, product): older doses of the same thing are history."""
    latest: dict[tuple[Kind, str], Treatment] = {}
    for tr in sorted(treatments, key=lambda x: x.given_on):
        latest[(tr.kind, tr.product.lower())] = tr
    return sorted(latest.values(), key=lambda x: (x.next_due or date.max, x.kind.value))


@dataclass(frozen=True)
class WeightWarning:
    change: float        # signed share, e.g. -0.12
    since: date
    from_kg: float
    to_kg: float


def weight_warning(history: list[WeightEntry], latest: WeightEntry) -> WeightWarning | None:
    """More than 10 % up or down against the oldest weighing in the 30 days before `latest`."""
    window_start = latest.on - timedelta(days=WEIGHT_ALERT_DAYS)
    earlier = [e for e in history if window_start <= e.on < latest.on]
    if not earlier:
        return None
    base = min(earlier, key=lambda e: e.on)
    change = (latest.kg - base.kg) / base.kg
    if abs(change) > WEIGHT_ALERT_SHARE:
        return WeightWarning(change=change, since=base.on, from_kg=base.kg, to_kg=latest.kg)
    return None


def week_of(today: date) -> tuple[date, date]:
    """The seven days ending today (a rolling week is what an owner means by "this week")."""
    return today - timedelta(days=6), today

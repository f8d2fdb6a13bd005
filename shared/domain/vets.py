"""Vets: who may consult, what they treat, their price, and the states an application goes through.

applied -> verified (ops approve) -> active (hours published) <-> paused; applied -> rejected (with a
reason; the vet may apply again); ops may suspend a verified, active or paused vet (with a reason), and
reinstate a suspended one as verified (who publishes hours again to be offered). Only an active vet with
a schedule is ever offered to owners or bookable. Every decision is recorded: who, when, what, why.

Who may act: the vet alone applies, publishes, pauses and resumes (`by` is the vet's own id); ops
approve, reject, suspend and reinstate, never on their own application. Whether `by` is on the ops
allow-list is configuration, checked by the service (shared.services.vets), not here.

Errors are InvalidInput with `vet.err.*` codes (translated in vets.po), or `schedule.err.*` for the zone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from shared.domain.pets import InvalidInput, Species, visible_text
from shared.domain.schedule import Schedule


class VetStatus(str, Enum):
    APPLIED = "applied"
    VERIFIED = "verified"
    ACTIVE = "active"
    PAUSED = "paused"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Area(str, Enum):
    GENERAL = "general"
    DERMATOLOGY = "dermatology"
    OPHTHALMOLOGY = "ophthalmology"
    DENTISTRY = "dentistry"
    CARDIOLOGY = "cardiology"
    NUTRITION = "nutrition"
    BEHAVIOUR = "behaviour"
    EXOTICS = "exotics"


class Action(str, Enum):
    APPLY = "apply"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"      # the vet published hours: verified -> active
    PAUSE = "pause"
    RESUME = "resume"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"


_TRANSITIONS: dict[Action, tuple[frozenset[VetStatus], VetStatus]] = {
    Action.APPLY: (frozenset({VetStatus.REJECTED}), VetStatus.APPLIED),
    Action.APPROVE: (frozenset({VetStatus.APPLIED}), VetStatus.VERIFIED),
    Action.REJECT: (frozenset({VetStatus.APPLIED}), VetStatus.REJECTED),
    Action.PUBLISH: (frozenset({VetStatus.VERIFIED}), VetStatus.ACTIVE),
    Action.PAUSE: (frozenset({VetStatus.ACTIVE}), VetStatus.PAUSED),
    Action.RESUME: (frozenset({VetStatus.PAUSED}), VetStatus.ACTIVE),
    Action.SUSPEND: (frozenset({VetStatus.VERIFIED, VetStatus.ACTIVE, VetStatus.PAUSED}), VetStatus.SUSPENDED),
    Action.REINSTATE: (frozenset({VetStatus.SUSPENDED}), VetStatus.VERIFIED),
}
OPS_ACTIONS = frozenset({Action.APPROVE, Action.REJECT, Action.SUSPEND, Action.REINSTATE})
REASON_NEEDED = frozenset({Action.REJECT, Action.SUSPEND})
# A verified vet may set hours; the first publication makes them active. Paused vets keep editing.
SCHEDULE_STATUSES = frozenset({VetStatus.VERIFIED, VetStatus.ACTIVE, VetStatus.PAUSED})

# Platform bounds of a consultation's price, in kopecks.
DEFAULT_PRICE_BOUNDS = (500_00, 15_000_00)
NAME_MAX_LEN, CITY_MAX_LEN, EDUCATION_MAX_LEN, BIO_MAX_LEN, REASON_MAX_LEN = 100, 60, 300, 800, 500
MAX_EXPERIENCE_YEARS = 70
MAX_DOCUMENTS = 6
# Languages a vet may consult in (ISO 639-1): Russian and English, the CIS's languages.
LANGUAGES = ("ru", "en", "kk", "uz", "ky", "tg", "hy", "az", "ka", "be", "uk", "ro")

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Decision:
    action: Action
    by: int            # the Telegram id of who decided (the vet for their own actions, ops otherwise)
    at: datetime
    reason: str | None = None


class _Listed:
    """What a vet's record and their listing card answer alike (both have species, areas and ratings)."""

    species: tuple[Species, ...]
    areas: tuple["Area", ...]
    rating_sum: int
    rating_count: int

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None

    def treats(self, species: Species, area: Area | None = None) -> bool:
        return species in self.species and (area is None or area in self.areas or area == Area.GENERAL)


@dataclass(frozen=True)
class VetCard(_Listed):
    """A bookable vet as the vet list shows and sorts them (the vet directory holds one per vet): no
    documents, decisions, education or bio. `schedule` None: the vet's hours were too long to copy into
    the card (adapters.firestore_vets.CARD_HOURS_MAX_BYTES); their record has them."""

    id: int
    full_name: str
    city: str
    species: tuple[Species, ...]
    areas: tuple[Area, ...]
    experience_years: int
    languages: tuple[str, ...]
    price_kopecks: int
    timezone: str
    schedule: Schedule | None
    rating_sum: int = 0
    rating_count: int = 0
    demo: bool = False


@dataclass(frozen=True)
class Vet(_Listed):
    id: int                        # the vet's Telegram user id
    full_name: str
    city: str
    education: str
    species: tuple[Species, ...]
    areas: tuple[Area, ...]
    experience_years: int
    languages: tuple[str, ...]
    bio: str
    price_kopecks: int
    timezone: str
    status: VetStatus = VetStatus.APPLIED
    decisions: tuple[Decision, ...] = ()
    schedule: Schedule | None = None
    documents: tuple[str, ...] = ()     # Storage names of diploma/licence photos: ops only, never owners
    portrait: str | None = None         # Storage name of the portrait owners see
    rating_sum: int = 0                 # completed consultations only
    rating_count: int = 0
    demo: bool = False                  # created by the local stack / demo, never in production data
    # When the stored record was read (opaque to the domain): a save is conditional on it, so of two
    # decisions taken on one reading (two ops pressing approve) only one is written.
    version: object = field(default=None, compare=False)

    @property
    def bookable(self) -> bool:
        return self.status == VetStatus.ACTIVE and self.schedule is not None

    @property
    def last_decision(self) -> Decision | None:
        return self.decisions[-1] if self.decisions else None

    def card(self, schedule: bool = True) -> VetCard:
        """The vet's listing card (`schedule=False`: without the hours, which stay in the record)."""
        return VetCard(id=self.id, full_name=self.full_name, city=self.city, species=self.species, areas=self.areas,
                       experience_years=self.experience_years, languages=self.languages,
                       price_kopecks=self.price_kopecks, timezone=self.timezone,
                       schedule=self.schedule if schedule else None, rating_sum=self.rating_sum,
                       rating_count=self.rating_count, demo=self.demo)

    def decide(self, action: Action, by: int, at: datetime, reason: str | None = None) -> "Vet":
        """The vet after `action` by `by`, the decision recorded. InvalidInput: vet.err.transition (the
        state does not allow it: already decided, say), vet.err.not_yours (a vet's own action by someone
        else), vet.err.own_application (ops deciding on themselves), vet.err.reason_needed (reject and
        suspend), the reason's text errors, vet.err.no_schedule (publish without hours)."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"naive datetime: {at!r}")
        if action in OPS_ACTIONS and by == self.id:
            raise InvalidInput("vet.err.own_application")
        if action not in OPS_ACTIONS and by != self.id:
            raise InvalidInput("vet.err.not_yours")
        allowed, target = _TRANSITIONS[action]
        if self.status not in allowed:
            raise InvalidInput("vet.err.transition", status=self.status.value, action=action.value)
        if action in REASON_NEEDED and not (reason and reason.strip()):
            raise InvalidInput("vet.err.reason_needed")
        reason = parse_text(reason, REASON_MAX_LEN) if reason and reason.strip() else None
        if action == Action.PUBLISH and not has_hours(self.schedule):
            raise InvalidInput("vet.err.no_schedule")
        return replace(self, status=target, decisions=self.decisions + (Decision(action, by, at, reason),))

    def with_schedule(self, schedule: Schedule, at: datetime) -> "Vet":
        """The vet with these settings (their zone becomes the vet's); a verified vet's first schedule with
        any hours in it publishes them (-> active). vet.err.schedule_not_allowed before verification,
        after rejection or suspension."""
        if self.status not in SCHEDULE_STATUSES:
            raise InvalidInput("vet.err.schedule_not_allowed", status=self.status.value)
        vet = replace(self, schedule=schedule, timezone=schedule.timezone)
        if vet.status == VetStatus.VERIFIED and has_hours(schedule):
            return vet.decide(Action.PUBLISH, self.id, at)
        return vet

    def reapplied(self, application: "Vet") -> "Vet":
        """A rejected vet's new application: its fields, this vet's history and version, status applied."""
        vet = self.decide(Action.APPLY, self.id, application.decisions[-1].at)
        return replace(application, status=vet.status, decisions=vet.decisions, version=self.version,
                       rating_sum=self.rating_sum, rating_count=self.rating_count)

    def with_changes(self, **changes) -> "Vet":
        return replace(self, **changes)


def has_hours(schedule: Schedule | None) -> bool:
    """Whether a schedule offers any time at all (weekly hours, or a dated override with hours)."""
    return schedule is not None and any(any(h for h in days.values())
                                        for days in (schedule.weekly, schedule.overrides))


def check_price(kopecks: int, bounds: tuple[int, int] = DEFAULT_PRICE_BOUNDS) -> int:
    low, high = bounds
    if type(kopecks) is not int or not low <= kopecks <= high:
        raise InvalidInput("vet.err.price", low=low // 100, high=high // 100)
    return kopecks


_PRICE_SUFFIXES = ("₽", "руб.", "руб", "rub", "р.", "р")


def parse_price(text: str, bounds: tuple[int, int] = DEFAULT_PRICE_BOUNDS) -> int:
    """Whole roubles as a vet types them ("1500", "1 500 ₽", "1500 руб") -> kopecks within bounds."""
    digits = "".join(ch for ch in (text or "") if not ch.isspace()).lower()
    for suffix in _PRICE_SUFFIXES:
        if digits.endswith(suffix):
            digits = digits[: -len(suffix)]
            break
    if not _ascii_digits(digits) or len(digits) > 7:
        raise InvalidInput("vet.err.price", low=bounds[0] // 100, high=bounds[1] // 100)
    return check_price(int(digits) * 100, bounds)


def parse_experience(text: str) -> int:
    """Whole years of practice, 0 to MAX_EXPERIENCE_YEARS."""
    value = (text or "").strip()
    if not _ascii_digits(value) or len(value) > 3 or int(value) > MAX_EXPERIENCE_YEARS:
        raise InvalidInput("vet.err.experience", max=MAX_EXPERIENCE_YEARS)
    return int(value)


def _ascii_digits(value: str) -> bool:
    # str.isdigit() is true for "²" and "١", which int() refuses or reads as another number
    return value.isascii() and value.isdigit()


def parse_text(text: str, max_len: int) -> str:
    """A free-text field of the application: visible, one line, single-spaced, bounded."""
    value = " ".join(_CONTROL_CHARS.sub(" ", text or "").split())
    if not value:
        raise InvalidInput("vet.err.empty")
    visible_text(value)
    if len(value) > max_len:
        raise InvalidInput("vet.err.too_long", max=max_len)
    return value


def _unique(values) -> tuple:
    return tuple(dict.fromkeys(values))


def vet_from_application(vet_id: int, fields: dict, now: datetime,
                         price_bounds: tuple[int, int] = DEFAULT_PRICE_BOUNDS) -> Vet:
    """The whole application checked as it will be saved (status applied, the application recorded).
    `fields`: full_name, city, education, species, areas, experience_years, languages, bio,
    price_kopecks, timezone, documents (Storage names), portrait (a Storage name), demo (optional)."""
    try:
        species = _unique(Species(s) for s in fields["species"])
        areas = _unique(Area(a) for a in fields["areas"])
        languages = _unique(fields["languages"])
        experience, price = fields["experience_years"], fields["price_kopecks"]
        documents = _unique(fields.get("documents") or ())
        vet = Vet(
            id=vet_id, full_name=parse_text(fields["full_name"], NAME_MAX_LEN),
            city=parse_text(fields["city"], CITY_MAX_LEN), education=parse_text(fields["education"], EDUCATION_MAX_LEN),
            species=species, areas=areas, experience_years=experience,
            languages=languages, bio=parse_text(fields["bio"], BIO_MAX_LEN),
            price_kopecks=check_price(price, price_bounds), timezone=fields["timezone"],
            documents=documents, portrait=fields.get("portrait") or None,
            decisions=(Decision(Action.APPLY, vet_id, now),), demo=bool(fields.get("demo")))
    except InvalidInput:
        raise
    except (KeyError, ValueError, TypeError) as err:
        raise InvalidInput("vet.err.incomplete") from err
    if not species or not areas or not languages or any(lang not in LANGUAGES for lang in languages):
        raise InvalidInput("vet.err.incomplete")
    if type(experience) is not int or not 0 <= experience <= MAX_EXPERIENCE_YEARS:
        raise InvalidInput("vet.err.experience", max=MAX_EXPERIENCE_YEARS)
    if not documents or not all(isinstance(d, str) and d for d in documents):
        raise InvalidInput("vet.err.documents_needed")
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidInput("vet.err.too_many_documents", max=MAX_DOCUMENTS)
    if not isinstance(vet.portrait, str):
        raise InvalidInput("vet.err.portrait_needed")
    Schedule(timezone=vet.timezone)  # the zone must be one we know (raises schedule.err.timezone)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime: {now!r}")
    return vet

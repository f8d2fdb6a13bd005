"""Reminders for due vaccinations and treatments: when they fire, what state they are in.

Each due item gets two steps — the day before and the due day — each firing at REMIND_HOUR local
time in the owner's time zone. A reminder is a document with a deterministic id (the treatment and
the step), so scheduling twice creates nothing twice, and the job claims each one with a Firestore
precondition before sending (see services/reminders.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REMIND_HOUR = 10
DEFAULT_TIMEZONE = "Europe/Moscow"

# Telegram's language_code -> the likeliest time zone (asked once, changeable with /timezone).
_ZONE_BY_LANGUAGE = {
    "ru": "Europe/Moscow", "be": "Europe/Minsk", "uk": "Europe/Kyiv", "kk": "Asia/Almaty",
    "ky": "Asia/Bishkek", "uz": "Asia/Tashkent", "tg": "Asia/Dushanbe", "hy": "Asia/Yerevan",
    "ka": "Asia/Tbilisi", "az": "Asia/Baku", "tk": "Asia/Ashgabat", "ro": "Europe/Chisinau",
}

# The /timezone buttons: Russia's zones west to east, then CIS capitals.
TIMEZONE_CHOICES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
    "Asia/Magadan", "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "Asia/Tashkent", "Asia/Bishkek",
    "Asia/Yerevan", "Asia/Tbilisi", "Asia/Baku", "Europe/Chisinau",
)


class Step(str, Enum):
    BEFORE = "before"  # the day before
    DUE = "due"        # the due day


class Status(str, Enum):
    PENDING = "pending"
    SENDING = "sending"      # claimed by a job run; fire_at is then the lease expiry
    SENT = "sent"
    DONE = "done"            # the owner logged the treatment
    DISMISSED = "dismissed"  # "not relevant"
    FAILED = "failed"        # the owner blocked the bot
    SUPERSEDED = "superseded"  # a newer record of the same treatment replaced it


# A reminder's kind is a diary treatment's (domain.diary.Kind) or this: a follow-up a vet's conclusion asked
# for (its treatment id is the booking's; services.conclusions)
FOLLOW_UP = "followup"
ACTIVE = (Status.PENDING.value, Status.SENDING.value)
CLAIM_LEASE = timedelta(minutes=10)   # a run that dies after claiming: retried after this
RETRY_DELAY = timedelta(minutes=15)   # Telegram hiccup: the next run tries again


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def is_valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def timezone_for_language(telegram_code: str | None) -> str:
    return _ZONE_BY_LANGUAGE.get((telegram_code or "").split("-")[0].lower(), DEFAULT_TIMEZONE)


def local_today(now: datetime, tz: str | None) -> date:
    return now.astimezone(zone(tz)).date()


def fire_time(day: date, tz: str | None, hour: int = REMIND_HOUR) -> datetime:
    """`hour`:00 local on `day`, as an aware UTC datetime (DST handled by zoneinfo)."""
    return datetime.combine(day, time(hour), tzinfo=zone(tz)).astimezone(timezone.utc)


@dataclass(frozen=True)
class Reminder:
    """Denormalised: everything the message needs, so sending costs the one read of the query."""

    id: str
    owner_id: int
    pet_id: str
    treatment_id: str
    step: Step
    due_on: date
    fire_at: datetime
    chat_id: int
    language: str
    pet_name: str
    kind: str
    product: str
    timezone: str
    status: Status = Status.PENDING

    def with_changes(self, **changes) -> "Reminder":
        return replace(self, **changes)


def reminder_id(owner_id: int, pet_id: str, treatment_id: str, step: Step) -> str:
    return f"{owner_id}-{pet_id}-{treatment_id}-{step.value}"


def plan(owner_id: int, chat_id: int, language: str, tz: str | None, pet_id: str, pet_name: str,
         treatment_id: str, kind: str, product: str, due_on: date, now: datetime) -> list[Reminder]:
    """The steps still ahead: a day-before reminder only if its time is still to come; the due-day
    one as long as the due day has not passed locally (logged late in the day: it goes out at once)."""
    today = local_today(now, tz)
    steps = []
    for step, day in ((Step.BEFORE, due_on - timedelta(days=1)), (Step.DUE, due_on)):
        at = fire_time(day, tz)
        if at > now or (step == Step.DUE and due_on >= today):
            steps.append(Reminder(
                id=reminder_id(owner_id, pet_id, treatment_id, step), owner_id=owner_id, pet_id=pet_id,
                treatment_id=treatment_id, step=step, due_on=due_on, fire_at=at, chat_id=chat_id,
                language=language, pet_name=pet_name, kind=kind, product=product, timezone=tz or DEFAULT_TIMEZONE))
    return steps


def snooze_until(now: datetime, tz: str | None) -> datetime:
    """Tomorrow at the reminder hour, local."""
    return fire_time(local_today(now, tz) + timedelta(days=1), tz)

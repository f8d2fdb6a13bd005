"""A vet's working hours: a weekly pattern in the vet's own time zone, date overrides, and the booking
settings (slot length, buffer, notice, horizon, daily cap) — Cal.com's set.

Plain rules, no I/O. Bookable slots are computed from a Schedule in `shared.domain.slots`. Validation
raises `shared.domain.pets.InvalidInput` with a message key (`schedule.err.*`, translated by the bot);
a Schedule that exists is valid: the constructor checks everything, `with_changes` checks again.

Hours are wall-clock minutes of the vet's day, on a 15-minute grid (09:00, 09:15, ...), end exclusive;
an end of 24:00 (1440) is midnight at the end of the day. Hours that touch ("09:00-13:00,
13:00-18:00") are one stretch; hours that overlap or end before they start are errors. A night shift
is two days' hours ("22:00-24:00" and the next day's "00:00-02:00").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping, NamedTuple
from zoneinfo import ZoneInfo

from shared.domain.pets import InvalidInput
from shared.domain.reminders import is_valid_timezone

GRID_MINUTES = 15                        # hours, slot lengths and buffers all lie on it (see slots.py)
DAY_MINUTES = 24 * 60
SLOT_LENGTHS = (15, 30, 45)
BUFFERS = (0, 15, 30, 45, 60)            # multiples of the grid: what is offered free is what locks accept
DEFAULT_SLOT_MINUTES = 30
DEFAULT_NOTICE = timedelta(hours=2)
MAX_NOTICE = timedelta(days=7)
DEFAULT_HORIZON_DAYS = 14
MAX_HORIZON_DAYS = 60
MAX_DAILY_CAP = 48                       # 48 x 15 min = 12 h of consultations
MAX_HOURS_PER_DAY = 12                   # stretches of hours in one day
MAX_OVERRIDES = 200                      # dated exceptions kept at once (past ones are pruned)
MAX_OVERRIDE_DAYS_AHEAD = 366            # an override further ahead is a typo

WEEKDAYS = range(7)                      # 0 = Monday, as date.weekday()


class Hours(NamedTuple):
    """One stretch of working time: minutes from the vet's local midnight, end exclusive (<= 1440)."""

    start: int
    end: int

    @classmethod
    def of(cls, start: time | str | int, end: time | str | int) -> "Hours":
        """From times ("09:00", time(9), 540); an end of time(0) or "24:00" is midnight at the day's end."""
        return cls(_minutes(start, end=False), _minutes(end, end=True))

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"

    @property
    def minutes(self) -> int:
        return self.end - self.start


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: time | str | int, end: bool) -> int:
    if isinstance(value, str):
        return parse_time(value, end=end)
    if isinstance(value, time):
        minutes = value.hour * 60 + value.minute
        return DAY_MINUTES if end and minutes == 0 else minutes
    return int(value)


@dataclass(frozen=True)
class Schedule:
    """`weekly`: weekday (0 = Monday) -> hours; a weekday not listed is a day off. `overrides`: date ->
    hours that replace that date's weekly hours; empty hours are a day off. Values may be given as
    Hours or (start, end) pairs of times or "HH:MM" strings; they are stored sorted and merged."""

    timezone: str
    weekly: Mapping[int, tuple[Hours, ...]] = field(default_factory=dict)
    overrides: Mapping[date, tuple[Hours, ...]] = field(default_factory=dict)
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    buffer_minutes: int = 0
    min_notice: timedelta = DEFAULT_NOTICE
    horizon_days: int = DEFAULT_HORIZON_DAYS
    daily_cap: int | None = None

    def __post_init__(self) -> None:
        self._check_settings()
        for weekday in self.weekly:
            if isinstance(weekday, bool) or weekday not in WEEKDAYS:
                raise InvalidInput("schedule.err.weekday", day=weekday)
        weekly = {}
        for weekday, hours in sorted(self.weekly.items()):
            day_hours = check_day(hours, self.slot_minutes, day=weekday)
            if day_hours:
                weekly[weekday] = day_hours
        if len(self.overrides) > MAX_OVERRIDES:
            raise InvalidInput("schedule.err.too_many_overrides", max=MAX_OVERRIDES)
        for day in self.overrides:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise InvalidInput("err.date_invalid")
        overrides = {}
        for day, hours in sorted(self.overrides.items()):
            overrides[day] = check_day(hours, self.slot_minutes, day=day.isoformat())
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "overrides", overrides)

    def _check_settings(self) -> None:
        if not isinstance(self.timezone, str) or not is_valid_timezone(self.timezone):
            raise InvalidInput("schedule.err.timezone", zone=str(self.timezone))
        if self.slot_minutes not in SLOT_LENGTHS:
            raise InvalidInput("schedule.err.slot_length", choices=", ".join(map(str, SLOT_LENGTHS)))
        if self.buffer_minutes not in BUFFERS:
            raise InvalidInput("schedule.err.buffer", choices=", ".join(map(str, BUFFERS)))
        if not timedelta(0) <= self.min_notice <= MAX_NOTICE:
            raise InvalidInput("schedule.err.notice", max_hours=MAX_NOTICE // timedelta(hours=1))
        if not 1 <= self.horizon_days <= MAX_HORIZON_DAYS:
            raise InvalidInput("schedule.err.horizon", max=MAX_HORIZON_DAYS)
        if self.daily_cap is not None and not 1 <= self.daily_cap <= MAX_DAILY_CAP:
            raise InvalidInput("schedule.err.daily_cap", max=MAX_DAILY_CAP)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        """The vet's hours on a local date: the override if there is one, else the weekday's."""
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())

    def with_changes(self, **changes) -> "Schedule":
        """A changed copy, checked again (a longer slot may no longer fit a short stretch of hours)."""
        return replace(self, **changes)

    def pruned(self, today: date) -> "Schedule":
        """Without overrides for dates before `today` (the vet's local date): they can never apply again."""
        return self.with_changes(overrides={d: h for d, h in self.overrides.items() if d >= today})


def check_day(hours: Iterable[Hours | tuple], slot_minutes: int = GRID_MINUTES,
              day: int | str | None = None) -> tuple[Hours, ...]:
    """One day's hours, sorted, touching stretches merged; InvalidInput for hours off the grid or out of
    the day (schedule.err.hours_grid), inverted (schedule.err.hours_inverted), overlapping
    (schedule.err.hours_overlap), too short for one slot (schedule.err.hours_too_short), too many
    stretches (schedule.err.too_many_hours). `day` (a weekday or an ISO date) goes into the error's params."""
    stretches = [h if isinstance(h, Hours) else Hours.of(*h) for h in hours]
    for h in stretches:
        if not (0 <= h.start <= DAY_MINUTES and 0 <= h.end <= DAY_MINUTES) \
                or h.start % GRID_MINUTES or h.end % GRID_MINUTES:
            raise InvalidInput("schedule.err.hours_grid", day=day, hours=_raw(h), step=GRID_MINUTES)
        if h.start >= h.end:
            raise InvalidInput("schedule.err.hours_inverted", day=day, hours=str(h))
    merged: list[Hours] = []
    for h in sorted(stretches):
        if merged and h.start < merged[-1].end:
            raise InvalidInput("schedule.err.hours_overlap", day=day, first=str(merged[-1]), second=str(h))
        if merged and h.start == merged[-1].end:
            merged[-1] = Hours(merged[-1].start, h.end)
        else:
            merged.append(h)
    if len(merged) > MAX_HOURS_PER_DAY:
        raise InvalidInput("schedule.err.too_many_hours", day=day, max=MAX_HOURS_PER_DAY)
    for h in merged:
        if h.minutes < slot_minutes:
            raise InvalidInput("schedule.err.hours_too_short", day=day, hours=str(h), minutes=slot_minutes)
    return tuple(merged)


def _raw(h: Hours) -> str:
    """Hours as given, readable even when out of range."""
    return f"{h.start // 60:02d}:{h.start % 60:02d}-{h.end // 60:02d}:{h.end % 60:02d}"


# What a vet types in the chat.

_TIME = re.compile(r"^(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?$")
_DASHES = re.compile(r"\s*[-–—]\s*")
_SEPARATORS = re.compile(r"[,;\s]+")
_NO_YEAR = re.compile(r"^\d{1,2}[./]\d{1,2}$")
_DAY_OFF = {"выходной", "нет", "off", "day off", "closed", "-", "–", "—"}


def parse_time(text: str, end: bool = False) -> int:
    """Minutes from midnight of "9", "09:00", "9.30"; "24:00" only as an end. schedule.err.time_invalid."""
    match = _TIME.match((text or "").strip())
    if match:
        hour, minute = int(match["h"]), int(match["m"] or 0)
        if hour < 24 and minute < 60:
            return DAY_MINUTES if end and hour == minute == 0 else hour * 60 + minute
        if end and hour == 24 and minute == 0:
            return DAY_MINUTES
    raise InvalidInput("schedule.err.time_invalid", text=(text or "").strip()[:20])


def parse_hours(text: str, slot_minutes: int = GRID_MINUTES) -> tuple[Hours, ...]:
    """One day's hours as typed: "09:00-13:00, 14:00-18:00" (commas, semicolons or spaces between
    stretches; -, – or — inside one); "выходной"/"off"/"-" is a day off (empty). Checked like
    `check_day`; schedule.err.hours_format when a piece is not a stretch."""
    text = " ".join((text or "").lower().split())
    if text in _DAY_OFF:
        return ()
    pieces = [p for p in _SEPARATORS.split(_DASHES.sub("-", text)) if p]
    if not pieces:
        raise InvalidInput("schedule.err.hours_format", text="")
    stretches = []
    for piece in pieces:
        ends = piece.split("-")
        if len(ends) != 2:
            raise InvalidInput("schedule.err.hours_format", text=piece[:20])
        stretches.append(Hours(parse_time(ends[0]), parse_time(ends[1], end=True)))
    return check_day(stretches, slot_minutes)


def format_hours(hours: Iterable[Hours]) -> str:
    """"09:00-13:00, 14:00-18:00" (what `parse_hours` reads back); "" for a day off."""
    return ", ".join(str(h) for h in hours)


def parse_override_date(text: str, today: date) -> date:
    """The date of an override: "31.12", "31.12.2026", "31.12.26", "2026-12-31", "сегодня". A date
    without a year is the next such date, today included ("05.01" typed in December is next January,
    "29.02" the next leap day within a year). err.date_invalid, schedule.err.date_past,
    schedule.err.date_too_far."""
    from shared.domain.diary import parse_date  # imported here: the bookings code loads schedules, not the diary

    text = " ".join((text or "").split()).rstrip(".")
    if _NO_YEAR.match(text):
        for year in (today.year, today.year + 1):
            try:
                day = parse_date(f"{text}.{year}", today)
            except InvalidInput:
                continue
            if day >= today:
                break
        else:
            raise InvalidInput("err.date_invalid")
    else:
        day = parse_date(text, today)
    if day < today:
        raise InvalidInput("schedule.err.date_past")
    if day > today + timedelta(days=MAX_OVERRIDE_DAYS_AHEAD):
        raise InvalidInput("schedule.err.date_too_far", days=MAX_OVERRIDE_DAYS_AHEAD)
    return day

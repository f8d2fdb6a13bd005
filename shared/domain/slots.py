"""Bookable slots of a vet, computed from a `Schedule` and what is already booked or held; the cells
that lock a consultation in Firestore. Plain rules, no I/O; every datetime is aware and kept in UTC.

How slots are laid out. Each stretch of the vet's hours on a local date is turned into an interval of
real time (see `wall_instant` for clock changes); slots start at its beginning and follow one another
every slot length + buffer (30 min + 15 min buffer: 09:00, 09:45, 10:30, ...) as long as the
consultation itself ends within the stretch (its buffer may run past the end of the hours). A slot is
free when none of its cells is taken (below); then come the notice (the start at least
`min_notice` after now), the horizon (the start's date, in the vet's zone, is one of `horizon_days`
dates counted from the vet's today, today included) and the daily cap (bookings and live holds that
start on that vet-local date; a full day offers nothing).

Clock changes (DST). Hours are wall-clock hours: a Berlin vet's 09:00 is 08:00 UTC in winter and
07:00 UTC in summer. A bound of a stretch is the first instant at which the vet's clock reads at least
that time on that date: a time skipped by the clock going forward (02:30 on the last Sunday of March in
Berlin) is the moment of the jump (03:00 CEST), a time the clock reads twice when it goes back is its
first reading (02:30 CEST, not CET). So "01:00-04:00" is two real hours on the spring day and four on
the autumn day, and slots run in real time across the jump (the autumn one shows 02:00 twice, with
different offsets).

Locking: cells on a 15-minute grid anchored in UTC. Every consultation blocks [start, end + buffer);
`lock_cells` names the 15-minute cells of UTC time that interval touches, "{vet}-{YYYYMMDDTHHMM}Z". A
hold or booking is written as one batch of `create()` on all its cells, so two consultations of one vet
whose blocked intervals overlap share a cell and cannot both be written, whatever their lengths and
buffers. Slot lengths and buffers are multiples of 15 minutes and hours lie on the 15-minute local
grid; every UTC offset in use is a multiple of 15 minutes (Kolkata +5:30, Kathmandu +5:45, Chatham
+12:45), so every slot starts on a UTC cell boundary and its blocked interval is exactly whole cells:
what `free_slots` offers is exactly what the locks accept. (Were a zone's offset ever off the grid, a
stretch's first slot would start at the next UTC quarter hour: still locked exactly.) `free_slots` decides
freedom by the same cells, computed from the bookings and holds it is given.

Expired holds: a hold whose `expires_at` is at or before now is free for every read here, before the
task that releases it has run (the write that takes its cells must replace them, e.g. in a transaction
that checks their `expires_at`, since `create()` fails on a document that still exists).

Pruning: what no read here can need any more may be dropped from a vet's calendar and locks
(`outdated`, `past_cells_bound`): a hold that ran out (free for every read already), and a consultation
whose blocked time ended `PAST_KEPT` ago. A consultation over before now blocks no slot offered (they
all start after now); it counts only for the daily cap, and only if it started on the vet-local today,
which began at most about 26 hours ago in any zone (a day lasts 25 hours when the clock goes back): two
days leave a margin.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Iterable, Iterator

from shared.domain.pets import InvalidInput
from shared.domain.reminders import zone as zone_named
from shared.domain.schedule import BUFFERS, DAY_MINUTES, GRID_MINUTES, SLOT_LENGTHS, Schedule

UTC = timezone.utc
GRID = timedelta(minutes=GRID_MINUTES)
HOLD_TTL = timedelta(minutes=10)
PAST_KEPT = timedelta(days=2)  # a consultation stays in the calendar and its locks this long after its blocked time
# The longest interval one consultation blocks: read bookings this far around a window.
MAX_BLOCK = timedelta(minutes=max(SLOT_LENGTHS) + max(BUFFERS))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is a programming error (ValueError), never guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime: {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Slot:
    """A consultation's time, UTC, end exclusive (without the buffer)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))

    def local(self, tz: str | tzinfo) -> tuple[datetime, datetime]:
        """Start and end on a person's clock (owner's or vet's)."""
        zone = _zone(tz)
        return self.start.astimezone(zone), self.end.astimezone(zone)


@dataclass(frozen=True)
class Busy:
    """A confirmed booking (`expires_at` None) or a hold (free again once `expires_at` <= now).
    `buffer_minutes`: the buffer locked with it; the schedule's current buffer applies if larger."""

    start: datetime
    end: datetime
    buffer_minutes: int = 0
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", as_utc(self.expires_at))

    @property
    def is_hold(self) -> bool:
        return self.expires_at is not None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > as_utc(now)

    def blocks_until(self, schedule: Schedule) -> datetime:
        return self.end + timedelta(minutes=max(self.buffer_minutes, schedule.buffer_minutes))


def hold_expiry(now: datetime) -> datetime:
    return as_utc(now) + HOLD_TTL


def _zone(tz: str | tzinfo) -> tzinfo:
    return zone_named(tz) if isinstance(tz, str) else tz


# Wall clock -> real time.

def wall_instant(day: date, minutes: int, tz: tzinfo) -> datetime:
    """The first instant (UTC) at which the clock of `tz` reads at least `minutes` past midnight of
    `day` (1440: the next midnight). A reading the clock skips resolves to the jump; one it shows twice,
    to its first occurrence (fold=0, PEP 495)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    for _ in range(DAY_MINUTES // GRID_MINUTES + 1):  # a gap never lasts longer than a day (Samoa 2011)
        instant = wall.replace(tzinfo=tz).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall:
            return instant
        wall += GRID  # skipped by the clock: the jump ends on a quarter hour in every zone
    raise ValueError(f"no instant at {day} +{minutes} min in {tz}")


def _ceil_to_grid(moment: datetime) -> datetime:
    return moment + (-(moment - _EPOCH) % GRID)


def _floor_to_grid(moment: datetime) -> datetime:
    return moment - (moment - _EPOCH) % GRID


def scheduled_slots(schedule: Schedule, day: date) -> list[Slot]:
    """The slots the vet's hours make on a vet-local date, before bookings, notice, horizon and cap."""
    tz = schedule.zone
    length = timedelta(minutes=schedule.slot_minutes)
    step = length + timedelta(minutes=schedule.buffer_minutes)
    slots = []
    for hours in schedule.hours_on(day):
        start = _ceil_to_grid(wall_instant(day, hours.start, tz))
        stop = wall_instant(day, hours.end, tz)
        while start + length <= stop:
            if start.astimezone(tz).date() == day:  # else the clock skipped the rest of the day
                slots.append(Slot(start, start + length))
            start += step
    return slots


def local_today(schedule: Schedule, now: datetime) -> date:
    return as_utc(now).astimezone(schedule.zone).date()


def bookable_days(schedule: Schedule, now: datetime) -> list[date]:
    """The vet-local dates within the horizon: today and the `horizon_days - 1` that follow."""
    today = local_today(schedule, now)
    return [today + timedelta(days=n) for n in range(schedule.horizon_days)]


def busy_window(schedule: Schedule, now: datetime) -> tuple[datetime, datetime]:
    """The UTC range of bookings and holds (by start) to read for `free_slots`: the horizon's dates in
    the vet's zone, widened by the longest consultation with its buffer on both sides."""
    days = bookable_days(schedule, now)
    tz = schedule.zone
    return (wall_instant(days[0], 0, tz) - MAX_BLOCK,
            wall_instant(days[-1], DAY_MINUTES, tz) + MAX_BLOCK)


# Lock cells.

def _cells(start: datetime, end: datetime) -> list[datetime]:
    cell, end = _floor_to_grid(as_utc(start)), as_utc(end)
    cells = []
    while cell < end:
        cells.append(cell)
        cell += GRID
    return cells


def lock_cells(vet_id: str, start: datetime, end_with_buffer: datetime) -> list[str]:
    """Document ids of the 15-minute UTC cells [start, end_with_buffer) touches, in order:
    "{vet_id}-20270328T0100Z". Create them all in one batch to hold or book that time."""
    if not vet_id or "/" in vet_id:
        raise ValueError("vet_id must be a non-empty Firestore id")
    return [f"{vet_id}-{cell:%Y%m%dT%H%M}Z" for cell in _cells(start, end_with_buffer)]


def slot_cells(vet_id: str, slot: Slot, buffer_minutes: int) -> list[str]:
    """The cells a consultation in `slot` locks, its buffer included."""
    return lock_cells(vet_id, slot.start, slot.end + timedelta(minutes=buffer_minutes))


def outdated(item: Busy, now: datetime) -> bool:
    """Whether a calendar entry can no longer matter to any read at `now` (see Pruning above): a hold that
    ran out, or a consultation whose blocked time (its buffer included) ended `PAST_KEPT` ago or more."""
    now = as_utc(now)
    return not item.active(now) or item.end + timedelta(minutes=item.buffer_minutes) <= now - PAST_KEPT


def past_cells_bound(vet_id: str, now: datetime) -> str:
    """The first lock cell of `vet_id` kept at `now`: every cell named from "{vet_id}-" up to, not
    including, this one ended `PAST_KEPT` ago or more (names compare as their times: fixed-width UTC)."""
    first_kept = _floor_to_grid(as_utc(now) - PAST_KEPT)
    return lock_cells(vet_id, first_kept, first_kept + GRID)[0]


# Free slots.

def _taken(schedule: Schedule, busy: Iterable[Busy], now: datetime) -> tuple[set[datetime], Counter]:
    """Cells blocked by live bookings and holds, and how many of them start on each vet-local date."""
    cells: set[datetime] = set()
    per_day: Counter = Counter()
    tz = schedule.zone
    for item in busy:
        if item.active(now):
            cells.update(_cells(item.start, item.blocks_until(schedule)))
            per_day[item.start.astimezone(tz).date()] += 1
    return cells, per_day


def _is_free(schedule: Schedule, slot: Slot, taken: set[datetime]) -> bool:
    blocked = _cells(slot.start, slot.end + timedelta(minutes=schedule.buffer_minutes))
    return taken.isdisjoint(blocked)


def _free(schedule: Schedule, busy: Iterable[Busy], now: datetime) -> Iterator[Slot]:
    now = as_utc(now)
    taken, per_day = _taken(schedule, busy, now)
    earliest = now + schedule.min_notice
    for day in bookable_days(schedule, now):
        if schedule.daily_cap is not None and per_day[day] >= schedule.daily_cap:
            continue
        for slot in scheduled_slots(schedule, day):
            if slot.start >= earliest and _is_free(schedule, slot, taken):
                yield slot


def free_slots(schedule: Schedule, busy: Iterable[Busy], now: datetime) -> list[Slot]:
    """Every slot an owner may book now, in time order. `busy`: this vet's bookings and holds (expired
    holds count as free); at least those starting within `busy_window`."""
    return list(_free(schedule, busy, now))


def next_free(schedule: Schedule, busy: Iterable[Busy], now: datetime) -> Slot | None:
    """The earliest bookable slot (for sorting vets), or None."""
    return next(_free(schedule, busy, now), None)


def by_day(slots: Iterable[Slot], tz: str | tzinfo) -> dict[date, list[Slot]]:
    """Slots grouped by date on the clock of `tz` (the owner's: a Moscow vet's 20:00 is 03:00 the next
    day in Vladivostok), dates and slots in time order. An unknown zone name reads as Moscow, as
    everywhere in the bot (`reminders.zone`)."""
    zone = _zone(tz)
    days: dict[date, list[Slot]] = {}
    for slot in sorted(slots):
        days.setdefault(slot.start.astimezone(zone).date(), []).append(slot)
    return days


def check_bookable(schedule: Schedule, busy: Iterable[Busy], slot: Slot, now: datetime) -> Slot:
    """The slot if an owner may hold it now; else InvalidInput: schedule.err.slot_past,
    schedule.err.slot_notice (minutes), schedule.err.slot_beyond_horizon (days),
    schedule.err.slot_not_offered (not one of the schedule's slots: a forged or outdated button),
    schedule.err.slot_day_full (the daily cap), schedule.err.slot_taken."""
    now = as_utc(now)
    if slot.start <= now:
        raise InvalidInput("schedule.err.slot_past")
    if slot.start < now + schedule.min_notice:
        raise InvalidInput("schedule.err.slot_notice", minutes=schedule.min_notice // timedelta(minutes=1))
    day = slot.start.astimezone(schedule.zone).date()
    if day not in bookable_days(schedule, now):
        raise InvalidInput("schedule.err.slot_beyond_horizon", days=schedule.horizon_days)
    if slot not in scheduled_slots(schedule, day):
        raise InvalidInput("schedule.err.slot_not_offered")
    taken, per_day = _taken(schedule, busy, now)
    if schedule.daily_cap is not None and per_day[day] >= schedule.daily_cap:
        raise InvalidInput("schedule.err.slot_day_full")
    if not _is_free(schedule, slot, taken):
        raise InvalidInput("schedule.err.slot_taken")
    return slot

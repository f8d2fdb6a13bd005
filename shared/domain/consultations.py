"""What happens around a booked consultation, at which time: plain rules, no I/O, times in UTC.

For a confirmed booking starting at T and ending at E (the bookings' own constants, domain.bookings):

    T - 24 h   remind_24h      owner and vet are reminded (skipped when booked later than that)
    T - 15 min remind_15m      owner and vet are reminded again
    T - 15 min create_room     the video room is made, usable from T - 10 min to E
    T - 10 min send_links      each gets a 'Join' button with a link of their own
    T + 10 min no_show_check   the vet never joined: no-show, full refund, another vet offered
    E          end_room        the room is closed; the vet came and the owner never did: owner no-show
    E + 48 h   close_followup  owner and vet can no longer write to each other through the bot

and for a held one, hold_expired at the hold's end. Every task carries the booking's version (its start):
a moved booking has new tasks, and the old ones find a start that is not theirs and do nothing. A task
whose booking is cancelled, expired or otherwise not in the state it expects does nothing either: Cloud
Tasks cannot be deleted in the emulator, and in production are at-least-once anyway.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from shared.domain.bookings import (
    LINKS_BEFORE, MESSAGES_WINDOW, REMINDERS_BEFORE, ROOM_OPENS_BEFORE, VET_GRACE, Booking, BookingStatus,
)


class TaskKind(str, Enum):
    HOLD_EXPIRED = "hold_expired"
    REMIND_24H = "remind_24h"
    REMIND_15M = "remind_15m"
    CREATE_ROOM = "create_room"
    SEND_LINKS = "send_links"
    NO_SHOW_CHECK = "no_show_check"
    END_ROOM = "end_room"
    CLOSE_FOLLOWUP = "close_followup"


REMINDER_KINDS = {TaskKind.REMIND_24H: REMINDERS_BEFORE[0], TaskKind.REMIND_15M: REMINDERS_BEFORE[1]}
ROOM_PREFIX = "tp-"
_ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def version(booking: Booking) -> str:
    """What a task is scheduled for: the booking's start (Unix seconds). Moving it makes new tasks."""
    return str(int(booking.start.timestamp()))


@dataclass(frozen=True)
class PlannedTask:
    kind: TaskKind
    at: datetime


def confirmed_plan(booking: Booking, now: datetime) -> list[PlannedTask]:
    """The tasks of a confirmed booking. A reminder whose time has passed is left out (a booking made
    3 hours ahead gets no '24 hours' reminder); every other task runs, late if need be (at `now`)."""
    start, end = booking.start, booking.end
    plan = [PlannedTask(kind, start - before) for kind, before in REMINDER_KINDS.items() if start - before > now]
    for kind, at in ((TaskKind.CREATE_ROOM, start - ROOM_OPENS_BEFORE), (TaskKind.SEND_LINKS, start - LINKS_BEFORE),
                     (TaskKind.NO_SHOW_CHECK, start + VET_GRACE), (TaskKind.END_ROOM, end),
                     (TaskKind.CLOSE_FOLLOWUP, end + MESSAGES_WINDOW)):
        plan.append(PlannedTask(kind, max(at, now)))
    return plan


def room_window(booking: Booking) -> tuple[datetime, datetime]:
    """When the room admits people: from when the links go out to the slot's end."""
    return booking.start - LINKS_BEFORE, booking.end


def room_open(booking: Booking, now: datetime) -> bool:
    """Whether the booking's two people may be let into its room now: confirmed, inside the room's window."""
    not_before, ends = room_window(booking)
    return booking.status == BookingStatus.CONFIRMED and not_before <= now < ends


def room_name(booking_id: str) -> str:
    """The room of a booking (video providers allow [A-Za-z0-9_-]): made twice, it is one room."""
    if not _ROOM_RE.match(booking_id):
        raise ValueError(f"booking id {booking_id!r} cannot name a room")
    return ROOM_PREFIX + booking_id


def booking_of_room(name: str) -> str | None:
    """The booking a room belongs to; None for a room that is none of ours."""
    if not name.startswith(ROOM_PREFIX):
        return None
    booking_id = name[len(ROOM_PREFIX):]
    return booking_id if _ROOM_RE.match(booking_id) else None


class Verdict(str, Enum):
    VET_ABSENT = "vet_absent"          # full refund, another vet offered
    OWNER_ABSENT = "owner_absent"      # recorded, no refund
    HELD = "held"                      # both came


@dataclass(frozen=True)
class Attendance:
    """Who has been in the room (first join per role, from the video provider's events)."""

    joined: dict[str, datetime] = field(default_factory=dict)    # "owner" / "vet" -> first joined at

    def came(self, role: str, by: datetime | None = None) -> bool:
        at = self.joined.get(role)
        return at is not None and (by is None or at <= by)


def vet_no_show(booking: Booking, attendance: Attendance, now: datetime) -> bool:
    """At the check (start + VET_GRACE): the vet has not joined by then."""
    return (booking.status == BookingStatus.CONFIRMED and now >= booking.start + VET_GRACE
            and not attendance.came("vet"))


def verdict_at_end(booking: Booking, attendance: Attendance) -> Verdict:
    if not attendance.came("vet"):
        return Verdict.VET_ABSENT
    if not attendance.came("owner"):
        return Verdict.OWNER_ABSENT
    return Verdict.HELD

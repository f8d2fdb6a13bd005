"""The booking_callbacks use cases: what a Cloud Tasks callback, a video provider's webhook or the payment
provider's notification does to a consultation (times and rules: domain.consultations).

Every handler is idempotent and checks state first: tasks are at-least-once (the emulator even runs a
duplicate name twice) and cannot be deleted, so a task for a booking that is gone, moved (another
version), cancelled or past what the task is for answers "stale"/"skipped" and changes nothing. Messages
are claimed per booking, kind and person before they are sent (a lease: a crash between claim and send
lets a retry send it once the lease runs out), so a redelivered task sends nothing twice. Anything that
raises here is transient for the caller (the function answers 5xx and Cloud Tasks retries).

Who does what to a booking's status stays with the bookings code: this module calls the `Bookings`
port (expire a hold, record a no-show), the `Refunds` port (a full refund, idempotent per booking and
reason) and keeps its own record of the consultation (room, attendance, messages sent, follow-up) in the
`Consultations` port.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from shared.domain import consultations as rules
from shared.domain.bookings import Booking, BookingStatus
from shared.domain.consultations import Attendance, TaskKind
from shared.services.ports import (
    ProviderPayment, ProviderRefund, Role, Room, TaskQueue, VideoEvent, VideoEventKind, VideoJoin, VideoRooms,
)

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(minutes=2)   # a claimed message not marked sent by then may be sent by a retry


class Outcome(str, Enum):
    DONE = "done"            # the task did its work (or the part not done before)
    ALREADY = "already"      # done before: a redelivery
    STALE = "stale"          # the booking is gone or was moved: this task is not for it any more
    SKIPPED = "skipped"      # the booking is not in the state the task is for (cancelled, expired, ...)
    IGNORED = "ignored"      # a webhook event we do not act on


class BadTask(ValueError):
    """A task body that is not ours: answered 400."""


@dataclass(frozen=True)
class TaskRequest:
    kind: TaskKind
    booking_id: str
    version: str

    @classmethod
    def parse(cls, kind: str, body: object) -> "TaskRequest":
        try:
            task_kind = TaskKind(kind)
        except ValueError:
            raise BadTask(f"unknown task kind {kind!r}") from None
        if not isinstance(body, dict):
            raise BadTask("the body must be a JSON object")
        booking_id, ver = body.get("booking_id"), body.get("version")
        if not isinstance(booking_id, str) or rules.booking_of_room(rules.ROOM_PREFIX + booking_id) is None:
            raise BadTask("booking_id missing or malformed")
        if not isinstance(ver, str) or not ver.isdigit():
            raise BadTask("version missing or malformed")
        return cls(task_kind, booking_id, ver)


# ---- ports (implemented by the Firestore adapters and the fakes in tests) -----------------------------


@dataclass(frozen=True)
class ConsultationState:
    """What booking_callbacks keeps about one consultation (consultations/{booking id})."""

    booking_id: str
    room: Room | None = None
    attendance: Attendance = field(default_factory=Attendance)
    refund_id: str | None = None
    followup_closed_at: datetime | None = None


class Bookings(Protocol):
    """The bookings code's records, as far as these tasks need them."""

    async def get(self, booking_id: str) -> Booking | None: ...

    async def expire_hold(self, booking_id: str, now: datetime) -> bool:
        """held -> expired if the hold has run out (conditional: a payment that won the race wins)."""

    async def mark_no_show(self, booking_id: str, status: BookingStatus, now: datetime) -> bool:
        """confirmed -> no_show_vet / no_show_owner (conditional on confirmed); False if not confirmed."""


class Refunds(Protocol):
    async def refund_in_full(self, booking: Booking, reason: str) -> str:
        """Refunds the whole price (idempotent per booking and reason: the same refund every time);
        returns the refund's id."""


class Consultations(Protocol):
    async def state(self, booking_id: str) -> ConsultationState: ...

    async def save_room(self, booking_id: str, room: Room) -> None: ...

    async def claim_message(self, booking_id: str, key: str, now: datetime, lease_until: datetime) -> bool:
        """True if this caller may send message `key` now (never sent, no live claim)."""

    async def message_sent(self, booking_id: str, key: str, now: datetime) -> None: ...

    async def release_message(self, booking_id: str, key: str) -> None: ...

    async def record_video_event(self, booking_id: str, event: VideoEvent) -> bool:
        """Records a participant's join/leave once per event id; False for a delivery seen before."""

    async def record_refund(self, booking_id: str, refund_id: str, now: datetime) -> None: ...

    async def close_followup(self, booking_id: str, now: datetime) -> bool:
        """False if closed before."""


class ProviderLedger(Protocol):
    """What the payment provider confirmed through its own API (after a notification)."""

    async def record_payment(self, payment: ProviderPayment, now: datetime) -> bool: ...

    async def record_refund(self, refund: ProviderRefund, now: datetime) -> bool: ...


@dataclass(frozen=True)
class Person:
    """Someone a consultation message goes to."""

    user_id: int          # their Telegram id = their private chat with the bot
    role: Role
    language: str
    timezone: str | None
    name: str             # how the other side is named to them / their display name in the room


@dataclass(frozen=True)
class Meeting:
    """What the messages say about the consultation."""

    booking_id: str
    start: datetime
    end: datetime
    pet_name: str
    vet_name: str
    pet_id: str = ""


class Participants(Protocol):
    async def meeting(self, booking: Booking) -> tuple[Meeting, Person, Person]:
        """The consultation as the messages show it, the owner and the vet."""


class Notifier(Protocol):
    """The bot's consultation messages (shared/bot/consultation_messages.py). Raises RecipientGone."""

    async def reminder(self, person: Person, meeting: Meeting, before: timedelta) -> None: ...

    async def join_link(self, person: Person, meeting: Meeting, url: str) -> None: ...

    async def vet_no_show(self, person: Person, meeting: Meeting) -> None:
        """To the owner: the vet did not come, the money goes back, another vet is offered."""

    async def vet_missed(self, person: Person, meeting: Meeting) -> None:
        """To the vet: they did not join, the owner was refunded."""


class RecipientGone(Exception):
    """The person blocked the bot: that message is given up, the task goes on."""


# ---- scheduling (called by the bookings code when a hold is made and when a booking is confirmed) ------


async def schedule_hold_expiry(queue: TaskQueue, booking: Booking) -> bool:
    if booking.hold_expires_at is None:
        raise ValueError("a held booking has a hold end")
    return await queue.schedule(TaskKind.HOLD_EXPIRED.value, booking.id, booking.hold_expires_at,
                                rules.version(booking))


async def schedule_consultation(queue: TaskQueue, booking: Booking, now: datetime) -> int:
    """Every task of a confirmed (or just moved) booking; idempotent. The number newly created."""
    created = 0
    for task in rules.confirmed_plan(booking, now):
        created += await queue.schedule(task.kind.value, booking.id, task.at, rules.version(booking))
    return created


# ---- the tasks -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskPorts:
    bookings: Bookings
    consultations: Consultations
    participants: Participants
    notifier: Notifier
    video: VideoRooms
    refunds: Refunds


async def run_task(task: TaskRequest, ports: TaskPorts, now: datetime) -> Outcome:
    booking = await ports.bookings.get(task.booking_id)
    if booking is None or rules.version(booking) != task.version:
        return Outcome.STALE
    handler = _HANDLERS[task.kind]
    outcome = await handler(task, booking, ports, now)
    log.info("task %s of a booking: %s", task.kind.value, outcome.value)
    return outcome


async def _hold_expired(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status != BookingStatus.HELD:
        return Outcome.SKIPPED  # paid (confirmed), or expired before
    if booking.hold_live(now):
        return Outcome.SKIPPED  # the hold was extended: a later task is due for it
    return Outcome.DONE if await ports.bookings.expire_hold(booking.id, now) else Outcome.ALREADY


async def _remind(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status != BookingStatus.CONFIRMED or now >= booking.start:
        return Outcome.SKIPPED
    before = rules.REMINDER_KINDS[task.kind]
    meeting, owner, vet = await ports.participants.meeting(booking)

    async def send(person: Person) -> None:
        await ports.notifier.reminder(person, meeting, before)

    return await _send_each(ports, booking, task.kind.value, (owner, vet), now, send)


async def _create_room(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status != BookingStatus.CONFIRMED or now >= booking.end:
        return Outcome.SKIPPED
    await _room(booking, ports)
    return Outcome.DONE


async def _room(booking: Booking, ports: TaskPorts | RoomPorts) -> Room:
    """The booking's room: made (idempotently, at the provider) unless recorded for this very window."""
    not_before, expires_at = rules.room_window(booking)
    state = await ports.consultations.state(booking.id)
    room = state.room
    if room is None or (room.not_before, room.expires_at) != (not_before, expires_at):
        room = await ports.video.create_room(rules.room_name(booking.id), not_before, expires_at)
        await ports.consultations.save_room(booking.id, room)
    return room


@dataclass(frozen=True)
class RoomPorts:
    """What letting one of a booking's people into its room needs (the Mini App's room page)."""

    consultations: Consultations
    participants: Participants
    video: VideoRooms


class RoomClosed(Exception):
    """The booking's room does not admit anyone now (not confirmed, or outside its window)."""


async def join_room(booking: Booking, role: Role, ports: RoomPorts, now: datetime) -> tuple[Room, VideoJoin]:
    """The room and that person's way in, from the links' time (T-10 min) to the slot's end: the room the
    T-15 task made (made now, idempotently, if that task has not run) and the token their 'Join' link
    carries (same identity and display name). The caller has checked that the person is `role` in it."""
    if not rules.room_open(booking, now):
        raise RoomClosed(booking.id)
    room = await _room(booking, ports)
    _, owner, vet = await ports.participants.meeting(booking)
    person = owner if role is Role.OWNER else vet
    return room, await ports.video.join(room, role, person.name)


async def _send_links(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status != BookingStatus.CONFIRMED or now >= booking.end:
        return Outcome.SKIPPED
    room = await _room(booking, ports)  # the T-15 task may have failed or not run yet: make it now
    meeting, owner, vet = await ports.participants.meeting(booking)

    async def send(person: Person) -> None:
        url = await ports.video.join_url(room, person.role, person.name)
        await ports.notifier.join_link(person, meeting, url)

    return await _send_each(ports, booking, "links", (owner, vet), now, send)


async def _no_show_check(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status == BookingStatus.NO_SHOW_VET:
        return await _vet_absent(booking, ports, now)  # a retry after the status changed: finish the rest
    if booking.status != BookingStatus.CONFIRMED:
        return Outcome.SKIPPED
    state = await ports.consultations.state(booking.id)
    if not rules.vet_no_show(booking, state.attendance, now):
        return Outcome.SKIPPED
    return await _vet_absent(booking, ports, now)


async def _vet_absent(booking: Booking, ports: TaskPorts, now) -> Outcome:
    """The vet did not come: no_show_vet, a full refund, the owner told (with another vet offered), the vet
    told. Each step is idempotent, so a retry after any failure completes what is missing."""
    if booking.status == BookingStatus.CONFIRMED:
        await ports.bookings.mark_no_show(booking.id, BookingStatus.NO_SHOW_VET, now)
        booking = await ports.bookings.get(booking.id)
        if booking is None or booking.status != BookingStatus.NO_SHOW_VET:
            return Outcome.SKIPPED  # cancelled or completed in between
    state = await ports.consultations.state(booking.id)
    if state.refund_id is None:
        refund_id = await ports.refunds.refund_in_full(booking, "no_show_vet")
        await ports.consultations.record_refund(booking.id, refund_id, now)
    meeting, owner, vet = await ports.participants.meeting(booking)

    async def send(person: Person) -> None:
        if person.role is Role.OWNER:
            await ports.notifier.vet_no_show(person, meeting)
        else:
            await ports.notifier.vet_missed(person, meeting)

    await _send_each(ports, booking, "no_show_vet", (owner, vet), now, send)
    return Outcome.DONE


async def _end_room(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    state = await ports.consultations.state(booking.id)
    if state.room is not None:
        await ports.video.delete_room(state.room.name)  # LiveKit: ends the call; idempotent
    if booking.status == BookingStatus.NO_SHOW_VET:
        return await _vet_absent(booking, ports, now)
    if booking.status != BookingStatus.CONFIRMED:
        return Outcome.SKIPPED if state.room is None else Outcome.DONE
    verdict = rules.verdict_at_end(booking, state.attendance)
    if verdict is rules.Verdict.VET_ABSENT:  # the check at start + 10 min never got through
        return await _vet_absent(booking, ports, now)
    if verdict is rules.Verdict.OWNER_ABSENT:  # recorded, no refund
        await ports.bookings.mark_no_show(booking.id, BookingStatus.NO_SHOW_OWNER, now)
    return Outcome.DONE


async def _close_followup(task, booking: Booking, ports: TaskPorts, now) -> Outcome:
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        return Outcome.SKIPPED
    return Outcome.DONE if await ports.consultations.close_followup(booking.id, now) else Outcome.ALREADY


_HANDLERS = {
    TaskKind.HOLD_EXPIRED: _hold_expired,
    TaskKind.REMIND_24H: _remind,
    TaskKind.REMIND_15M: _remind,
    TaskKind.CREATE_ROOM: _create_room,
    TaskKind.SEND_LINKS: _send_links,
    TaskKind.NO_SHOW_CHECK: _no_show_check,
    TaskKind.END_ROOM: _end_room,
    TaskKind.CLOSE_FOLLOWUP: _close_followup,
}


async def _send_each(ports: TaskPorts, booking: Booking, what: str, people, now: datetime, send) -> Outcome:
    """Sends `what` to each person at most once (claimed per person); DONE if any was sent now."""
    sent_now = False
    for person in people:
        key = f"{what}.{person.role.value}"
        if not await ports.consultations.claim_message(booking.id, key, now, now + SEND_LEASE):
            continue
        try:
            await send(person)
        except RecipientGone:
            log.info("%s: the %s blocked the bot", what, person.role.value)
        except BaseException:
            await ports.consultations.release_message(booking.id, key)  # a retry sends it
            raise
        await ports.consultations.message_sent(booking.id, key, now)
        sent_now = True
    return Outcome.DONE if sent_now else Outcome.ALREADY


# ---- webhooks ---------------------------------------------------------------------------------------------


async def video_event(event: VideoEvent | None, consultations: Consultations) -> Outcome:
    """A verified participant event (VideoRooms.parse_webhook did the checking): recorded once per event id.
    Joins and leaves may arrive in any order; attendance is the first join per role."""
    if event is None or event.kind is VideoEventKind.ENDED or event.role is None:
        return Outcome.IGNORED
    booking_id = rules.booking_of_room(event.room)
    if booking_id is None:
        return Outcome.IGNORED
    return Outcome.DONE if await consultations.record_video_event(booking_id, event) else Outcome.ALREADY


async def payment_notification(event: str, object_id: str, provider, ledger: ProviderLedger,
                               now: datetime) -> Outcome:
    """A YooKassa notification (parsed, not believed): the object is read back from YooKassa's API and only
    what the API says is recorded. A notification whose object the API shows in another status changes
    nothing (forged, or overtaken)."""
    kind, _, status = event.partition(".")
    read = {"payment": provider.get_payment, "refund": provider.get_refund}.get(kind)
    record = {"payment": ledger.record_payment, "refund": ledger.record_refund}.get(kind)
    if read is None or record is None:
        return Outcome.IGNORED
    found = await read(object_id)
    if found.status != status:
        log.warning("notification %s not confirmed by the API (%s)", event, found.status)
        return Outcome.IGNORED
    return Outcome.DONE if await record(found, now) else Outcome.ALREADY


# ---- implementations over other repositories ------------------------------------------------------------


class RepositoryParticipants:
    """Participants from the owners' and vets' records: each person's language (their user record) and
    time zone (the owner's setting; the vet's calendar zone), the pet's name from the booking's snapshot."""

    def __init__(self, owners, vets):
        self._owners = owners
        self._vets = vets

    async def meeting(self, booking: Booking) -> tuple[Meeting, Person, Person]:
        owner = await self._owners.get(booking.owner_id)
        vet_user = await self._owners.get(booking.vet_id)
        vet = await self._vets.get(booking.vet_id)
        pet_name = str((booking.pet or {}).get("name") or "")
        vet_name = vet.full_name if vet is not None else ""
        meeting = Meeting(booking.id, booking.start, booking.end, pet_name=pet_name, vet_name=vet_name,
                          pet_id=booking.pet_id)
        owner_person = Person(booking.owner_id, Role.OWNER, owner.language if owner else "ru",
                              owner.timezone if owner else None, name=f"🐾 {pet_name}".strip())
        vet_person = Person(booking.vet_id, Role.VET, vet_user.language if vet_user else "ru",
                            vet.timezone if vet is not None else (vet_user.timezone if vet_user else None),
                            name=vet_name or "vet")
        return meeting, owner_person, vet_person


class LedgerRefunds:
    """A full refund of a booking's charge through the payments ledger (payments/{charge id}): owed first
    (owe_refund), then paid back by the payments code's refunder (services.payments.Refunder: YooKassa with
    one idempotence key per charge, or Telegram Stars), so a retry never refunds twice."""

    def __init__(self, ledger, refunder):
        self._ledger = ledger
        self._refunder = refunder

    async def refund_in_full(self, booking: Booking, reason: str) -> str:
        if not booking.charge_id:
            raise RuntimeError(f"booking {booking.id} has no charge to refund")
        entry = await self._ledger.ledger(booking.charge_id)
        if entry is None:
            raise RuntimeError(f"booking {booking.id}: its charge is not in the ledger")
        if entry.status != "refunded":
            entry = await self._ledger.owe_refund(booking.charge_id, entry.amount, reason)
            entry = await self._refunder.pay_back(self._ledger, entry)
        if not entry.refunds:
            raise RuntimeError(f"booking {booking.id}: refund not recorded")
        return entry.refunds[-1]["id"]

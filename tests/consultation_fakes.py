"""In-memory stand-ins for the ports of services.consultation_tasks (unit tests of the callbacks)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from shared.domain.bookings import Booking, BookingStatus, Currency, Price
from shared.domain.consultations import Attendance
from shared.services.consultation_tasks import ConsultationState, Meeting, Person, RecipientGone
from shared.services.ports import ProviderPayment, ProviderRefund, Role, Room, VideoEvent, VideoEventKind

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
OWNER_ID, VET_ID = 1001, 2002


def booking(status=BookingStatus.CONFIRMED, start=T0, minutes=30, **changes) -> Booking:
    return replace(Booking(id="bk1", owner_id=OWNER_ID, vet_id=VET_ID, pet_id="pet1", start=start,
                           end=start + timedelta(minutes=minutes), buffer_minutes=0,
                           price=Price(150000, Currency.RUB), status=status,
                           hold_expires_at=start - timedelta(days=1), cells=(), charge_id="ch1"), **changes)


class FakeBookings:
    def __init__(self, *bookings: Booking):
        self.bookings = {b.id: b for b in bookings}
        self.calls: list[tuple] = []

    async def get(self, booking_id):
        return self.bookings.get(booking_id)

    async def expire_hold(self, booking_id, now):
        self.calls.append(("expire_hold", booking_id))
        b = self.bookings.get(booking_id)
        if b is None or b.status != BookingStatus.HELD:
            return False
        self.bookings[booking_id] = b.with_status(BookingStatus.EXPIRED)
        return True

    async def mark_no_show(self, booking_id, status, now):
        self.calls.append(("mark_no_show", booking_id, status))
        b = self.bookings.get(booking_id)
        if b is None or b.status != BookingStatus.CONFIRMED:
            return False
        self.bookings[booking_id] = b.with_status(status)
        return True


class FakeConsultations:
    def __init__(self):
        self.rooms: dict[str, Room] = {}
        self.messages: dict[tuple[str, str], dict] = {}
        self.events: dict[tuple[str, str], VideoEvent] = {}
        self.refunds: dict[str, str] = {}
        self.closed: dict[str, datetime] = {}

    async def state(self, booking_id):
        joined: dict[str, datetime] = {}
        for (bid, _), ev in self.events.items():
            if bid == booking_id and ev.kind is VideoEventKind.JOINED and ev.role is not None:
                role = ev.role.value
                joined[role] = min(joined.get(role, ev.at), ev.at)
        return ConsultationState(booking_id, self.rooms.get(booking_id), Attendance(joined),
                                 self.refunds.get(booking_id), self.closed.get(booking_id))

    async def save_room(self, booking_id, room):
        self.rooms[booking_id] = room

    async def claim_message(self, booking_id, key, now, lease_until):
        got = self.messages.get((booking_id, key))
        if got and (got["state"] == "sent" or got["lease_until"] > now):
            return False
        self.messages[(booking_id, key)] = {"state": "sending", "lease_until": lease_until}
        return True

    async def message_sent(self, booking_id, key, now):
        self.messages[(booking_id, key)] = {"state": "sent", "lease_until": now}

    async def release_message(self, booking_id, key):
        self.messages.pop((booking_id, key), None)

    async def record_video_event(self, booking_id, event):
        if (booking_id, event.event_id) in self.events:
            return False
        self.events[(booking_id, event.event_id)] = event
        return True

    async def record_refund(self, booking_id, refund_id, now):
        self.refunds[booking_id] = refund_id

    async def close_followup(self, booking_id, now):
        if booking_id in self.closed:
            return False
        self.closed[booking_id] = now
        return True


class FakeParticipants:
    def __init__(self, owner_lang="ru", vet_lang="en", owner_tz="Asia/Almaty", vet_tz="Europe/Moscow"):
        self.langs = (owner_lang, vet_lang)
        self.zones = (owner_tz, vet_tz)

    async def meeting(self, b: Booking):
        meeting = Meeting(b.id, b.start, b.end, pet_name="Барсик", vet_name="Dr. Ivanova")
        owner = Person(b.owner_id, Role.OWNER, self.langs[0], self.zones[0], "Владелец Барсика")
        vet = Person(b.vet_id, Role.VET, self.langs[1], self.zones[1], "Dr. Ivanova")
        return meeting, owner, vet


class FakeNotifier:
    def __init__(self):
        self.sent: list[tuple] = []
        self.fail_next: list[BaseException] = []
        self.gone: set[int] = set()

    async def _record(self, what, person, *extra):
        if self.fail_next:
            raise self.fail_next.pop(0)
        if person.user_id in self.gone:
            raise RecipientGone()
        self.sent.append((what, person.role, *extra))

    async def reminder(self, person, meeting, before):
        await self._record("reminder", person, before)

    async def join_link(self, person, meeting, url):
        await self._record("link", person, url)

    async def vet_no_show(self, person, meeting):
        await self._record("vet_no_show", person)

    async def vet_missed(self, person, meeting):
        await self._record("vet_missed", person)


class FakeVideo:
    def __init__(self):
        self.created: list[tuple] = []
        self.deleted: list[str] = []
        self.rooms: dict[str, Room] = {}

    async def create_room(self, name, not_before, expires_at):
        self.created.append((name, not_before, expires_at))
        self.rooms[name] = Room(name, f"https://telemed-test.daily.co/{name}", not_before, expires_at)
        return self.rooms[name]

    async def join_url(self, room, role, display_name):
        return f"{room.url}?t={role.value}"

    async def delete_room(self, name):
        self.deleted.append(name)

    def parse_webhook(self, headers, body, now):  # pragma: no cover - not used by the service
        raise NotImplementedError


class FakeRefunds:
    def __init__(self):
        self.calls: list[tuple] = []
        self.fail_next: list[BaseException] = []

    async def refund_in_full(self, booking, reason):
        self.calls.append((booking.id, reason, booking.price.amount))
        if self.fail_next:
            raise self.fail_next.pop(0)
        return f"refund-{booking.id}-{reason}"


@dataclass
class FakeProvider:
    payments: dict[str, ProviderPayment] = field(default_factory=dict)
    refunds: dict[str, ProviderRefund] = field(default_factory=dict)

    async def get_payment(self, payment_id):
        return self.payments[payment_id]

    async def get_refund(self, refund_id):
        return self.refunds[refund_id]


class FakeLedger:
    def __init__(self):
        self.payments: dict[str, ProviderPayment] = {}
        self.refunds: dict[str, ProviderRefund] = {}

    async def record_payment(self, payment, now):
        key = f"{payment.id}.{payment.status}"
        if key in self.payments:
            return False
        self.payments[key] = payment
        return True

    async def record_refund(self, refund, now):
        if refund.id in self.refunds:
            return False
        self.refunds[refund.id] = refund
        return True


class FakeQueue:
    def __init__(self):
        self.tasks: dict[str, tuple] = {}

    async def schedule(self, kind, booking_id, at, version, payload=None):
        name = f"{booking_id}-{kind}-{version}"
        if name in self.tasks:
            return False
        self.tasks[name] = (kind, booking_id, at, version)
        return True

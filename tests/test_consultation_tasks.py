"""booking_callbacks' use cases: each task idempotent and state-checked, no-shows, video events, provider
notifications (fakes; the Firestore adapter and the function are tested against the emulators elsewhere)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.domain import consultations as rules
from shared.domain.bookings import BookingStatus
from shared.domain.consultations import TaskKind
from shared.services import consultation_tasks as svc
from shared.services.consultation_tasks import BadTask, Outcome, TaskPorts, TaskRequest
from shared.services.ports import ProviderPayment, ProviderRefund, Role, VideoEvent, VideoEventKind
from tests.consultation_fakes import (
    T0, FakeBookings, FakeConsultations, FakeLedger, FakeNotifier, FakeParticipants, FakeProvider, FakeQueue,
    FakeRefunds, FakeVideo, booking,
)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def world():
    b = booking()
    ports = TaskPorts(bookings=FakeBookings(b), consultations=FakeConsultations(), participants=FakeParticipants(),
                      notifier=FakeNotifier(), video=FakeVideo(), refunds=FakeRefunds())
    return ports


def task(kind: TaskKind, b=None) -> TaskRequest:
    b = b or booking()
    return TaskRequest(kind, b.id, rules.version(b))


def at(kind: TaskKind):
    return {p.kind: p.at for p in rules.confirmed_plan(booking(), T0 - timedelta(days=3))}[kind]


# ---- plan -----------------------------------------------------------------------------------------------
def test_the_plan_of_a_confirmed_booking():
    b = booking()
    plan = {p.kind: p.at for p in rules.confirmed_plan(b, T0 - timedelta(days=3))}
    assert plan == {
        TaskKind.REMIND_24H: T0 - timedelta(hours=24), TaskKind.REMIND_15M: T0 - timedelta(minutes=15),
        TaskKind.CREATE_ROOM: T0 - timedelta(minutes=15), TaskKind.SEND_LINKS: T0 - timedelta(minutes=10),
        TaskKind.NO_SHOW_CHECK: T0 + timedelta(minutes=10), TaskKind.END_ROOM: b.end,
        TaskKind.CLOSE_FOLLOWUP: b.end + timedelta(hours=48)}
    # booked 3 hours ahead: no "24 hours" reminder; booked 5 minutes ahead: room and links at once
    late = {p.kind: p.at for p in rules.confirmed_plan(b, T0 - timedelta(hours=3))}
    assert TaskKind.REMIND_24H not in late and TaskKind.REMIND_15M in late
    now = T0 - timedelta(minutes=5)
    last = {p.kind: p.at for p in rules.confirmed_plan(b, now)}
    assert TaskKind.REMIND_15M not in last and last[TaskKind.CREATE_ROOM] == last[TaskKind.SEND_LINKS] == now


def test_scheduling_is_idempotent_and_a_moved_booking_gets_new_tasks():
    queue = FakeQueue()
    b = booking()
    assert run(svc.schedule_consultation(queue, b, T0 - timedelta(days=3))) == 7
    assert run(svc.schedule_consultation(queue, b, T0 - timedelta(days=3))) == 0
    moved = booking(start=T0 + timedelta(days=1))
    assert run(svc.schedule_consultation(queue, moved, T0 - timedelta(days=3))) == 7
    assert run(svc.schedule_hold_expiry(queue, booking(BookingStatus.HELD))) is True


def test_task_bodies_are_checked():
    assert TaskRequest.parse("remind_24h", {"booking_id": "bk1", "version": "123"}).kind is TaskKind.REMIND_24H
    for kind, body in (("nope", {"booking_id": "bk1", "version": "1"}), ("remind_24h", []),
                       ("remind_24h", {"version": "1"}), ("remind_24h", {"booking_id": "a/b", "version": "1"}),
                       ("remind_24h", {"booking_id": "bk1", "version": 1}),
                       ("remind_24h", {"booking_id": "bk1", "version": "x"})):
        with pytest.raises(BadTask):
            TaskRequest.parse(kind, body)


# ---- reminders --------------------------------------------------------------------------------------------
def test_a_reminder_goes_to_owner_and_vet_once(world):
    now = at(TaskKind.REMIND_24H)
    assert run(svc.run_task(task(TaskKind.REMIND_24H), world, now)) is Outcome.DONE
    assert run(svc.run_task(task(TaskKind.REMIND_24H), world, now)) is Outcome.ALREADY  # redelivered
    assert world.notifier.sent == [("reminder", Role.OWNER, timedelta(hours=24)),
                                   ("reminder", Role.VET, timedelta(hours=24))]
    assert run(svc.run_task(task(TaskKind.REMIND_15M), world, at(TaskKind.REMIND_15M))) is Outcome.DONE
    assert len(world.notifier.sent) == 4


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.HELD])
def test_a_cancelled_booking_gets_no_reminder(world, status):
    world.bookings.bookings["bk1"] = booking(status)
    assert run(svc.run_task(task(TaskKind.REMIND_24H), world, at(TaskKind.REMIND_24H))) is Outcome.SKIPPED
    assert world.notifier.sent == []


def test_a_moved_or_deleted_booking_gets_nothing_from_its_old_tasks(world):
    world.bookings.bookings["bk1"] = booking(start=T0 + timedelta(days=2))
    for kind in TaskKind:
        assert run(svc.run_task(task(kind), world, at(TaskKind.REMIND_24H))) is Outcome.STALE
    world.bookings.bookings.clear()
    assert run(svc.run_task(task(TaskKind.SEND_LINKS), world, T0)) is Outcome.STALE
    assert world.notifier.sent == [] and world.video.created == [] and world.refunds.calls == []


def test_a_failed_send_is_released_and_sent_by_the_retry_and_a_blocked_person_is_given_up(world):
    world.notifier.fail_next.append(RuntimeError("telegram 502"))
    with pytest.raises(RuntimeError):
        run(svc.run_task(task(TaskKind.REMIND_24H), world, at(TaskKind.REMIND_24H)))
    world.notifier.gone.add(booking().vet_id)
    assert run(svc.run_task(task(TaskKind.REMIND_24H), world, at(TaskKind.REMIND_24H))) is Outcome.DONE
    assert world.notifier.sent == [("reminder", Role.OWNER, timedelta(hours=24))]
    assert run(svc.run_task(task(TaskKind.REMIND_24H), world, at(TaskKind.REMIND_24H))) is Outcome.ALREADY


def test_a_reminder_after_the_start_is_not_sent(world):
    assert run(svc.run_task(task(TaskKind.REMIND_15M), world, T0 + timedelta(minutes=1))) is Outcome.SKIPPED


# ---- room and links ---------------------------------------------------------------------------------------
def test_room_creation_is_idempotent_and_links_go_out_once_per_person(world):
    now = at(TaskKind.CREATE_ROOM)
    for _ in range(3):
        assert run(svc.run_task(task(TaskKind.CREATE_ROOM), world, now)) is Outcome.DONE
    assert world.video.created == [("tp-bk1", T0 - timedelta(minutes=10), T0 + timedelta(minutes=30))]
    assert run(svc.run_task(task(TaskKind.SEND_LINKS), world, at(TaskKind.SEND_LINKS))) is Outcome.DONE
    assert run(svc.run_task(task(TaskKind.SEND_LINKS), world, at(TaskKind.SEND_LINKS))) is Outcome.ALREADY
    assert world.notifier.sent == [("link", Role.OWNER, "https://telemed-test.daily.co/tp-bk1?t=owner"),
                                   ("link", Role.VET, "https://telemed-test.daily.co/tp-bk1?t=vet")]
    assert len(world.video.created) == 1


def test_links_before_the_room_task_make_the_room_and_reordered_tasks_agree(world):
    assert run(svc.run_task(task(TaskKind.SEND_LINKS), world, at(TaskKind.SEND_LINKS))) is Outcome.DONE
    assert run(svc.run_task(task(TaskKind.CREATE_ROOM), world, at(TaskKind.SEND_LINKS))) is Outcome.DONE
    assert len(world.video.created) == 1 and len(world.notifier.sent) == 2


def test_no_room_for_a_cancelled_booking(world):
    world.bookings.bookings["bk1"] = booking(BookingStatus.CANCELLED)
    assert run(svc.run_task(task(TaskKind.CREATE_ROOM), world, at(TaskKind.CREATE_ROOM))) is Outcome.SKIPPED
    assert run(svc.run_task(task(TaskKind.SEND_LINKS), world, at(TaskKind.SEND_LINKS))) is Outcome.SKIPPED
    assert world.video.created == [] and world.notifier.sent == []


# ---- no-shows ---------------------------------------------------------------------------------------------
def joined(world, role: Role, at_, event_id=None):
    ev = VideoEvent(event_id or f"{role.value}-{at_.timestamp()}", VideoEventKind.JOINED, "tp-bk1", role, at_)
    return run(svc.video_event(ev, world.consultations))


def test_the_vet_never_came_full_refund_once_and_another_vet_offered(world):
    joined(world, Role.OWNER, T0)
    now = at(TaskKind.NO_SHOW_CHECK)
    world.refunds.fail_next.append(RuntimeError("yookassa 503"))  # first delivery: the refund fails
    with pytest.raises(RuntimeError):
        run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, now))
    assert world.bookings.bookings["bk1"].status == BookingStatus.NO_SHOW_VET
    assert run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, now)) is Outcome.DONE  # the retry finishes
    run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, now))  # and a duplicate does nothing new
    run(svc.run_task(task(TaskKind.END_ROOM), world, booking().end))
    assert world.refunds.calls == [("bk1", "no_show_vet", 150000)] * 2  # same key: one refund at YooKassa
    assert world.consultations.refunds == {"bk1": "refund-bk1-no_show_vet"}
    assert world.notifier.sent == [("vet_no_show", Role.OWNER), ("vet_missed", Role.VET)]


def test_the_vet_came_no_refund(world):
    joined(world, Role.VET, T0 + timedelta(minutes=3))
    assert run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, at(TaskKind.NO_SHOW_CHECK))) is Outcome.SKIPPED
    assert world.refunds.calls == [] and world.bookings.bookings["bk1"].status == BookingStatus.CONFIRMED


def test_the_owner_never_came_recorded_without_refund(world):
    joined(world, Role.VET, T0 - timedelta(minutes=5))
    run(svc.run_task(task(TaskKind.CREATE_ROOM), world, at(TaskKind.CREATE_ROOM)))
    assert run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, at(TaskKind.NO_SHOW_CHECK))) is Outcome.SKIPPED
    assert run(svc.run_task(task(TaskKind.END_ROOM), world, booking().end)) is Outcome.DONE
    assert world.bookings.bookings["bk1"].status == BookingStatus.NO_SHOW_OWNER
    assert world.refunds.calls == [] and world.video.deleted == ["tp-bk1"]


def test_a_consultation_held_ends_with_nothing_recorded(world):
    joined(world, Role.VET, T0)
    joined(world, Role.OWNER, T0 + timedelta(minutes=1))
    assert run(svc.run_task(task(TaskKind.END_ROOM), world, booking().end)) is Outcome.DONE
    assert world.bookings.bookings["bk1"].status == BookingStatus.CONFIRMED and world.refunds.calls == []


def test_a_cancelled_booking_has_no_no_show(world):
    world.bookings.bookings["bk1"] = booking(BookingStatus.CANCELLED)
    assert run(svc.run_task(task(TaskKind.NO_SHOW_CHECK), world, at(TaskKind.NO_SHOW_CHECK))) is Outcome.SKIPPED
    assert run(svc.run_task(task(TaskKind.END_ROOM), world, booking().end)) is Outcome.SKIPPED
    assert world.refunds.calls == [] and world.notifier.sent == []


# ---- video events -----------------------------------------------------------------------------------------
def test_video_events_are_recorded_once_in_any_order(world):
    left = VideoEvent("e2", VideoEventKind.LEFT, "tp-bk1", Role.VET, T0 + timedelta(minutes=20))
    join = VideoEvent("e1", VideoEventKind.JOINED, "tp-bk1", Role.VET, T0 + timedelta(minutes=2))
    assert run(svc.video_event(left, world.consultations)) is Outcome.DONE  # the leave arrives first
    assert run(svc.video_event(join, world.consultations)) is Outcome.DONE
    assert run(svc.video_event(join, world.consultations)) is Outcome.ALREADY
    state = run(world.consultations.state("bk1"))
    assert state.attendance.joined == {"vet": T0 + timedelta(minutes=2)}
    other = VideoEvent("e3", VideoEventKind.JOINED, "someone-elses-room", Role.VET, T0)
    assert run(svc.video_event(other, world.consultations)) is Outcome.IGNORED
    assert run(svc.video_event(None, world.consultations)) is Outcome.IGNORED


# ---- hold expiry and follow-up ----------------------------------------------------------------------------
def test_hold_expiry(world):
    held = booking(BookingStatus.HELD, hold_expires_at=T0 - timedelta(days=1))
    world.bookings.bookings["bk1"] = held
    assert run(svc.run_task(task(TaskKind.HOLD_EXPIRED), world, T0 - timedelta(days=2))) is Outcome.SKIPPED  # live
    assert run(svc.run_task(task(TaskKind.HOLD_EXPIRED), world, T0 - timedelta(hours=23))) is Outcome.DONE
    assert world.bookings.bookings["bk1"].status == BookingStatus.EXPIRED
    assert run(svc.run_task(task(TaskKind.HOLD_EXPIRED), world, T0 - timedelta(hours=23))) is Outcome.SKIPPED
    world.bookings.bookings["bk1"] = booking(BookingStatus.CONFIRMED)  # paid in time
    assert run(svc.run_task(task(TaskKind.HOLD_EXPIRED), world, T0 - timedelta(hours=23))) is Outcome.SKIPPED


def test_the_followup_window_closes_once(world):
    now = at(TaskKind.CLOSE_FOLLOWUP)
    assert run(svc.run_task(task(TaskKind.CLOSE_FOLLOWUP), world, now)) is Outcome.DONE
    assert run(svc.run_task(task(TaskKind.CLOSE_FOLLOWUP), world, now)) is Outcome.ALREADY
    assert world.consultations.closed == {"bk1": now}


# ---- payment provider notifications -------------------------------------------------------------------------
PAY = "2f8a5c6e-000f-5000-9000-1b2c3d4e5f60"
REF = "2f8a5c6e-0015-5000-a000-1b2c3d4e5f61"


def test_a_notification_is_believed_only_as_far_as_the_api_confirms_it():
    provider, ledger = FakeProvider(), FakeLedger()
    provider.payments[PAY] = ProviderPayment(PAY, "pending", 150000, "RUB", 0, {})
    # forged: "succeeded" while YooKassa says pending -> nothing recorded
    assert run(svc.payment_notification("payment.succeeded", PAY, provider, ledger, T0)) is Outcome.IGNORED
    assert ledger.payments == {}
    provider.payments[PAY] = ProviderPayment(PAY, "succeeded", 150000, "RUB", 0, {})
    assert run(svc.payment_notification("payment.succeeded", PAY, provider, ledger, T0)) is Outcome.DONE
    assert run(svc.payment_notification("payment.succeeded", PAY, provider, ledger, T0)) is Outcome.ALREADY
    provider.refunds[REF] = ProviderRefund(REF, PAY, "pending", 150000)
    assert run(svc.payment_notification("refund.succeeded", REF, provider, ledger, T0)) is Outcome.IGNORED
    provider.refunds[REF] = ProviderRefund(REF, PAY, "succeeded", 150000)
    assert run(svc.payment_notification("refund.succeeded", REF, provider, ledger, T0)) is Outcome.DONE
    assert list(ledger.refunds) == [REF]


def test_a_full_refund_goes_through_the_ledger_once():
    from dataclasses import dataclass, replace as dc_replace

    @dataclass(frozen=True)
    class Entry:
        charge_id: str
        amount: int
        status: str
        refunds: tuple = ()

    class Ledger:
        def __init__(self):
            self.entry, self.owed = Entry("ch1", 150000, "confirmed"), []

        async def ledger(self, charge_id):
            return self.entry if charge_id == "ch1" else None

        async def owe_refund(self, charge_id, amount, note):
            self.owed.append((amount, note))
            if self.entry.status == "confirmed":
                self.entry = dc_replace(self.entry, status="refund_pending")
            return self.entry

    class Refunder:
        calls = 0

        async def pay_back(self, ledger, entry):
            Refunder.calls += 1
            ledger.entry = dc_replace(entry, status="refunded", refunds=({"id": "rf1", "amount": entry.amount},))
            return ledger.entry

    ledger = Ledger()
    refunds = svc.LedgerRefunds(ledger, Refunder())
    assert run(refunds.refund_in_full(booking(), "no_show_vet")) == "rf1"
    assert run(refunds.refund_in_full(booking(), "no_show_vet")) == "rf1"  # a retry: nothing more
    assert ledger.owed == [(150000, "no_show_vet")] and Refunder.calls == 1
    with pytest.raises(RuntimeError):
        run(refunds.refund_in_full(booking(charge_id=None), "no_show_vet"))

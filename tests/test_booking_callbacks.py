"""booking_callbacks end to end on the local stack: tasks scheduled in the Cloud Tasks emulator reach the
function at their schedule_time (or when the clock is moved on), the Daily double's webhooks and the
YooKassa double's notifications reach it too; everything authenticated, idempotent and state-checked, also
when one delivery comes several times at once or races the vet's cancellation."""
from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.stack import http_get, tasks_client
from shared.adapters.cloud_tasks import CloudTasksQueue, task_id
from shared.domain import consultations as rules
from shared.domain.bookings import Booking, BookingStatus, Currency, Price, split
from shared.domain.owners import Owner
from shared.domain.pets import Species
from shared.domain.slots import lock_cells
from shared.domain.vets import Area, Vet, VetStatus
from shared.services.consultation_tasks import schedule_consultation
from tests.test_local_stack import wait_for
from tests.test_races import together

pytestmark = pytest.mark.e2e


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def firestore_run(coro_fn):
    """Runs coro_fn(client, stats) with a fresh AsyncClient on a fresh loop (the emulator's host from env)."""
    from google.cloud import firestore

    from shared.adapters.firestore_repositories import OpStats

    async def main():
        client = firestore.AsyncClient(project="telemed-pet-local")
        try:
            return await coro_fn(client, OpStats())
        finally:
            client.close()

    return asyncio.run(main())


class World:
    """One owner, one vet, one paid booking starting `lead` from now; its tasks scheduled for real."""

    def __init__(self, stack_info, local_stack, lead: timedelta, minutes: int = 30, paid: bool = True):
        self.info, self.stack = stack_info, local_stack.stack
        self.owner_id = 10_000_000 + secrets.randbelow(80_000_000)
        self.vet_id = self.owner_id + 1
        self.now = datetime.now(timezone.utc)
        self.yk_payment = self.stack.yookassa.create_payment(150000)["id"]
        self.charge_id = "tg-" + secrets.token_hex(8)
        self.booking = firestore_run(lambda c, s: self._seed(c, s, lead, minutes, paid))
        self.bot = BotApiDoubleClient(stack_info["telegram_api_base"])
        self.fn = stack_info["functions"]["booking_callbacks"].rstrip("/")
        self.queue_name = stack_info["tasks_queues"]["consultations"]

    def queue(self) -> CloudTasksQueue:
        """A client per event loop (grpc.aio channels belong to the loop they were made on)."""
        return CloudTasksQueue(self.queue_name, self.fn, self.info["tasks_auth_token"],
                               emulator_host=self.info["tasks_emulator_host"])

    async def _seed(self, client, stats, lead, minutes, paid) -> Booking:
        from shared.adapters.firestore_bookings import FirestoreBookings
        from shared.adapters.firestore_repositories import FirestoreOwners
        from shared.adapters.firestore_vets import FirestoreVets

        owners, vets, bookings = FirestoreOwners(client, stats), FirestoreVets(client, stats), FirestoreBookings(client, stats)
        await owners.create(Owner(self.owner_id, "en", consent_at=self.now, timezone="Asia/Almaty"))
        await owners.create(Owner(self.vet_id, "ru", consent_at=self.now))
        await vets.create(Vet(id=self.vet_id, full_name="Анна Иванова", city="Москва", education="МГАВМиБ",
                              species=(Species.CAT,), areas=(Area.GENERAL,), experience_years=7, languages=("ru",),
                              bio="", price_kopecks=150000, timezone="Europe/Moscow", status=VetStatus.ACTIVE))
        start = datetime.now(timezone.utc) + lead  # from now: the people's records took their time
        end = start + timedelta(minutes=minutes)
        held = Booking(id=bookings.new_id(), owner_id=self.owner_id, vet_id=self.vet_id, pet_id="pet1", start=start,
                       end=end, buffer_minutes=0, price=Price(150000, Currency.RUB), status=BookingStatus.HELD,
                       hold_expires_at=self.now + timedelta(minutes=10), cells=tuple(lock_cells(str(self.vet_id), start, end)),
                       pet={"name": "Мурка", "species": "cat"})
        await bookings.hold(held, self.now)
        if not paid:
            return held
        applied = await bookings.apply_payment(held.id, self.charge_id, self.owner_id, 150000, "RUB", self.yk_payment,
                                               lambda a: split(a, 20), self.now)
        assert applied.booking.status == BookingStatus.CONFIRMED
        return applied.booking

    def schedule(self) -> int:
        return asyncio.run(schedule_consultation(self.queue(), self.booking, datetime.now(timezone.utc)))

    def sent(self, chat_id: int) -> list[dict]:
        return [c["params"] for c in self.bot.calls("sendMessage") if str(c["params"].get("chat_id")) == str(chat_id)]

    def queued(self, kind: str) -> bool:
        name = task_id(kind, self.booking.id, rules.version(self.booking))
        return any(t.name.endswith("/" + name) for t in tasks_client(self.info["tasks_emulator_host"]).list_tasks(
            parent=self.queue_name))

    def booking_status(self) -> str:
        async def get(client, stats):
            return (await client.collection("bookings").document(self.booking.id).get()).get("status")
        return firestore_run(get)

    def doc(self, path: str) -> dict | None:
        async def get(client, stats):
            snap = await client.document(path).get()
            return snap.to_dict() if snap.exists else None
        return firestore_run(get)

    def collection(self, path: str) -> list[dict]:
        async def get(client, stats):
            return [s.to_dict() async for s in client.collection(path).stream()]
        return firestore_run(get)

    def set_status(self, status: BookingStatus) -> None:
        async def put(client, stats):
            await client.collection("bookings").document(self.booking.id).update({"status": status.value})
        firestore_run(put)

    def task_request(self, kind: str, token: str | bytes | None = None, body: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Tasks-Token"] = token
        payload = body if body is not None else {"booking_id": self.booking.id, "version": rules.version(self.booking)}
        return post(f"{self.fn}/tasks/{kind}", json.dumps(payload).encode(), headers)


def test_a_reminder_scheduled_in_the_emulator_reaches_both_once_in_their_language_and_zone(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(minutes=15, seconds=8))
    w.schedule()
    assert not w.queued("remind_24h")  # made 15 minutes ahead: no "24 hours" reminder
    # a duplicated task (Cloud Tasks refuses a second name; the emulator runs both): still one message each
    asyncio.run(w.queue().schedule("remind_15m", w.booking.id, w.booking.start - timedelta(minutes=15),
                                 rules.version(w.booking)))
    if w.booking.start - timedelta(minutes=15) - datetime.now(timezone.utc) > timedelta(seconds=2):
        assert w.sent(w.owner_id) == []  # not before its time
    wait_for(lambda: len(w.sent(w.owner_id)) >= 1 and len(w.sent(w.vet_id)) >= 1, timeout=30)
    wait_for(lambda: not w.queued("remind_15m") and not w.queued("create_room"), timeout=30)
    time.sleep(0.5)
    owner, vet = w.sent(w.owner_id), w.sent(w.vet_id)
    assert len(owner) == 1 and len(vet) == 1
    local_owner = w.booking.start.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Almaty")).strftime("%H:%M")
    local_vet = w.booking.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow")).strftime("%H:%M")
    assert "in 15 minutes" in owner[0]["text"] and local_owner in owner[0]["text"] and "Asia/Almaty" in owner[0]["text"]
    assert "Анна Иванова" in owner[0]["text"] and "Мурка" in owner[0]["text"]
    assert "через 15 минут" in vet[0]["text"] and local_vet in vet[0]["text"]
    # the room was made at T-15, once, private, for the slot
    room = w.stack.video.rooms[rules.room_name(w.booking.id)]
    assert room["privacy"] == "private" and room["properties"]["exp"] == int(w.booking.end.timestamp())
    assert w.doc(f"consultations/{w.booking.id}")["room"]["name"] == rules.room_name(w.booking.id)
    assert len(w.stack.video.calls_to("POST", "/v1/rooms")) >= 1


def test_a_cancelled_booking_gets_no_reminder_and_no_room(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(minutes=15, seconds=3))
    w.schedule()
    w.set_status(BookingStatus.CANCELLED)  # the emulator cannot delete tasks: the status is what counts
    wait_for(lambda: not w.queued("remind_15m") and not w.queued("create_room"), timeout=30)  # ran, answered 2xx
    assert w.sent(w.owner_id) == [] and w.sent(w.vet_id) == []
    assert rules.room_name(w.booking.id) not in w.stack.video.rooms


def test_links_join_and_a_vet_no_show_refunded_once(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(minutes=10, seconds=5))
    w.schedule()
    # T-10 min is 5 s away: the emulator dispatches send_links then, each gets their own 'Join' link, once
    wait_for(lambda: w.sent(w.owner_id) and w.sent(w.vet_id), timeout=30)
    owner_msg, vet_msg = w.sent(w.owner_id)[0], w.sent(w.vet_id)[0]
    owner_url = owner_msg["reply_markup"]["inline_keyboard"][0][0]["url"]
    vet_url = vet_msg["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert owner_url != vet_url and owner_msg["reply_markup"]["inline_keyboard"][0][0]["text"] == "Join"
    assert w.task_request("send_links", stack["tasks_auth_token"])[1] == {"outcome": "already"}  # redelivery
    assert len(w.sent(w.owner_id)) == 1
    # the owner joins (the Daily double sends participant.joined, signed, to the function); the vet does not
    joined = w.stack.video.join(owner_url)
    assert joined["user_id"] == "owner"
    wait_for(lambda: any(e.get("role") == "owner" for e in w.collection(f"consultations/{w.booking.id}/video_events")))
    hook = [d for d in w.stack.video.webhooks_sent if d["event"]["type"] == "participant.joined"]
    assert hook and hook[-1]["status"] == 200
    w.stack.video.deliver(hook[-1]["event"])  # Daily redelivers: recorded once
    assert len([e for e in w.collection(f"consultations/{w.booking.id}/video_events") if e["kind"] == "joined"]) == 1
    # the clock moves on to T+10: the vet never came
    ran = w.stack.run_due_tasks(w.booking.start + timedelta(minutes=10, seconds=1), match=w.booking.id)
    assert task_id("no_show_check", w.booking.id, rules.version(w.booking)) in ran
    wait_for(lambda: w.booking_status() == "no_show_vet")
    wait_for(lambda: len(w.sent(w.owner_id)) == 2 and len(w.sent(w.vet_id)) == 2)
    apology = w.sent(w.owner_id)[1]
    assert "did not join" in apology["text"]
    assert apology["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cs:p:pet1"  # book again
    refunds = w.stack.yookassa.refunds(w.yk_payment)
    assert [(r["amount"]["value"], r["status"]) for r in refunds] == [("1500.00", "succeeded")]
    assert w.task_request("no_show_check", stack["tasks_auth_token"])[0] == 200  # duplicated delivery
    assert len(w.stack.yookassa.refunds(w.yk_payment)) == 1 and len(w.sent(w.owner_id)) == 2
    ledger = w.doc(f"payments/{w.charge_id}")
    assert ledger["status"] == "refunded" and ledger["refunds"][0]["id"] == refunds[0]["id"]
    # YooKassa's notification of that refund, checked against its API, is recorded once
    fn_hook = f"{w.fn}/webhooks/yookassa"
    assert w.stack.yookassa.deliver_notification(fn_hook, "refund.succeeded", refunds[0]["id"]) == 200
    assert w.stack.yookassa.deliver_notification(fn_hook, "refund.succeeded", refunds[0]["id"]) == 200
    assert w.doc(f"provider_refunds/{refunds[0]['id']}")["status"] == "succeeded"


def test_wrong_tokens_malformed_bodies_and_gone_bookings(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(days=3))
    token = stack["tasks_auth_token"]
    assert w.task_request("remind_24h", None)[0] == 403
    assert w.task_request("remind_24h", "wrong")[0] == 403
    utf8 = "ключ".encode().decode("latin-1")  # what a client sending UTF-8 bytes in the header puts on the wire
    status, _ = post(f"{w.fn}/tasks/remind_24h", b"{}", {"X-Tasks-Token": utf8})  # non-ASCII: 403, not 500
    assert status == 403
    assert w.task_request("remind_24h", token[:-1])[0] == 403 and w.task_request("remind_24h", token + "x")[0] == 403
    assert w.task_request("remind_24h", token, body={"booking_id": w.booking.id})[0] == 400
    assert post(f"{w.fn}/tasks/remind_24h", b"not json", {"X-Tasks-Token": token})[0] == 400
    assert w.task_request("no_such_kind", token)[0] == 400
    assert w.task_request("remind_24h", token, body={"booking_id": "gone00", "version": "1"}) == (200, {"outcome": "stale"})
    assert w.task_request("remind_24h", token, body={"booking_id": w.booking.id, "version": "1"}) == (
        200, {"outcome": "stale"})  # moved since
    assert http_get(f"{w.fn}/")[0] == 404 and http_get(f"{w.fn}/tasks/remind_24h")[0] == 405
    assert w.sent(w.owner_id) == [] and w.sent(w.vet_id) == []


def test_forged_and_stale_video_webhooks_change_nothing(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(days=3))
    video = w.stack.video
    event = video.participant_event("participant.joined", rules.room_name(w.booking.id), user_id="vet")
    url = f"{w.fn}/webhooks/video"
    headers, body = video.signed(event, secret="Zm9yZ2VkLXNlY3JldC1vZi10aGUtYXR0YWNrZXI=")
    assert post(url, body, headers)[0] == 403
    headers, body = video.signed(event, timestamp=time.time() - 3600)
    assert post(url, body, headers)[0] == 403
    headers, body = video.signed(event)
    assert post(url, body + b" ", headers)[0] == 403  # the body changed after signing
    assert post(url, body, {"Content-Type": "application/json"})[0] == 403  # unsigned
    assert w.collection(f"consultations/{w.booking.id}/video_events") == []
    assert post(url, body, headers) == (200, {"outcome": "done"})  # the genuine one
    assert post(url, body, headers) == (200, {"outcome": "already"})


def test_a_forged_yookassa_notification_changes_nothing(stack, local_stack):
    yk = local_stack.stack.yookassa
    fn = stack["functions"]["booking_callbacks"].rstrip("/")
    pending = yk.create_payment(99000, status="pending")["id"]
    # a notification saying "succeeded" for a payment YooKassa's API shows pending: not believed
    body = json.dumps({**yk.notification("payment.succeeded", pending),
                       "object": {**yk.notification("payment.succeeded", pending)["object"], "status": "succeeded"}})
    status, answer = post(f"{fn}/webhooks/yookassa", body.encode(),
                          {"Content-Type": "application/json", "X-Forwarded-For": "185.71.76.10"})
    assert (status, answer) == (200, {"outcome": "ignored"})
    assert firestore_run(lambda c, s: _exists(c, f"provider_payments/{pending}.succeeded")) is False
    # from outside YooKassa's networks: refused before anything is read
    assert yk.deliver_notification(f"{fn}/webhooks/yookassa", "payment.succeeded", pending,
                                   source_ip="203.0.113.7") == 403
    assert post(f"{fn}/webhooks/yookassa", b"[]", {"X-Forwarded-For": "185.71.76.10"})[0] == 400
    # a caller naming YooKassa's address first: Google's front end appends the caller's own, which counts
    assert post(f"{fn}/webhooks/yookassa", body.encode(), {"Content-Type": "application/json",
                                                          "X-Forwarded-For": "185.71.76.10, 203.0.113.7"})[0] == 403
    assert post(f"{fn}/webhooks/yookassa", b"[]", {"X-Forwarded-For": "203.0.113.7, 185.71.76.10"})[0] == 400
    paid = yk.create_payment(99000)["id"]
    assert yk.deliver_notification(f"{fn}/webhooks/yookassa", "payment.succeeded", paid) == 200
    assert firestore_run(lambda c, s: _exists(c, f"provider_payments/{paid}.succeeded")) is True


def at_once(call, times: int) -> list:
    """call() made `times` times at the same moment (one delivery duplicated)."""
    def run(ready):
        ready()
        return call()

    return together([run] * times)


def test_duplicated_deliveries_at_once_act_once(stack, local_stack):
    """Six deliveries of one task at the same moment (Cloud Tasks is at-least-once): the 'Join' links go to
    each person once; the vet's no-show refunds once and tells each once."""
    token = stack["tasks_auth_token"]
    w = World(stack, local_stack, lead=timedelta(minutes=-1))
    answers = at_once(lambda: w.task_request("send_links", token), 6)
    # each person's link is claimed by one delivery (the owner's and the vet's may go from two)
    assert {status for status, _ in answers} == {200} and {body["outcome"] for _, body in answers} == {"done", "already"}
    assert len(w.sent(w.owner_id)) == 1 and len(w.sent(w.vet_id)) == 1
    w = World(stack, local_stack, lead=timedelta(minutes=-11))
    answers = at_once(lambda: w.task_request("no_show_check", token), 6)
    assert {status for status, _ in answers} == {200}
    assert w.booking_status() == "no_show_vet" and len(w.stack.yookassa.refunds(w.yk_payment)) == 1
    assert len(w.doc(f"payments/{w.charge_id}")["refunds"]) == 1
    assert len(w.sent(w.owner_id)) == 1 and len(w.sent(w.vet_id)) == 1


def test_webhooks_replayed_at_once_count_once(stack, local_stack):
    w = World(stack, local_stack, lead=timedelta(minutes=-1))
    video = w.stack.video
    headers, body = video.signed(video.participant_event("participant.joined", rules.room_name(w.booking.id),
                                                         user_id="vet"))
    answers = at_once(lambda: post(f"{w.fn}/webhooks/video", body, headers), 6)
    assert sorted(answers, key=str) == [(200, {"outcome": "already"})] * 5 + [(200, {"outcome": "done"})]
    assert len(w.collection(f"consultations/{w.booking.id}/video_events")) == 1
    yk, hook = w.stack.yookassa, f"{w.fn}/webhooks/yookassa"
    note = yk.notification("payment.succeeded", w.yk_payment)
    from_yookassa = {"Content-Type": "application/json", "X-Forwarded-For": "185.71.76.10"}
    answers = at_once(lambda: post(hook, json.dumps(note).encode(), from_yookassa), 6)
    assert sorted(answers, key=str) == [(200, {"outcome": "already"})] * 5 + [(200, {"outcome": "done"})]
    # a payment the shop does not have (YooKassa's API answers 404): acknowledged, nothing recorded
    unknown = "2f0b0b0b-000f-5000-8000-1b2b3b4b5b6b"
    forged = json.dumps({**note, "object": {**note["object"], "id": unknown}}).encode()
    assert post(hook, forged, from_yookassa) == (200, {"outcome": "ignored"})
    assert firestore_run(lambda c, s: _exists(c, f"provider_payments/{unknown}.succeeded")) is False


@pytest.mark.parametrize("cancel_after", [0.0, 0.05, 0.15])
def test_the_vets_cancellation_racing_the_no_show_check_refunds_once(stack, local_stack, cancel_after):
    """At T+10 min the vet cancels as the no-show check runs: whichever wins, one refund, the owner told once."""
    import httpx

    from infra.local.bot_api_double import UpdateFactory
    from shared.bot.webhook import SECRET_HEADER

    w = World(stack, local_stack, lead=timedelta(minutes=-11))
    cancel = UpdateFactory(w.bot).callback(f"bk:vr:{w.booking.id}:illness", user_id=w.vet_id)

    def vet_cancels(ready):
        ready()
        time.sleep(cancel_after)
        return httpx.post(stack["functions"]["telegram_webhook"], json=cancel, timeout=60,
                          headers={SECRET_HEADER: stack["webhook_secret"]}).status_code

    def task_runs(ready):
        ready()
        return w.task_request("no_show_check", stack["tasks_auth_token"])

    answers = together([task_runs, vet_cancels])
    assert answers[0][0] == 200 and answers[1] == 200
    assert w.booking_status() in ("cancelled", "no_show_vet")
    assert len(w.stack.yookassa.refunds(w.yk_payment)) == 1
    ledger = w.doc(f"payments/{w.charge_id}")
    assert ledger["status"] == "refunded" and len(ledger["refunds"]) == 1
    assert len(w.sent(w.owner_id)) == 1


async def _exists(client, path: str) -> bool:
    return (await client.document(path).get()).exists


def test_a_payment_applied_by_the_payments_service_schedules_its_consultation(stack, local_stack):
    """The payments code (successful_payment) schedules the tasks through the real queue; the room task
    then reaches booking_callbacks at its time."""
    from shared.services.payments import PaymentsConfig, Refunder, apply_successful_payment

    w = World(stack, local_stack, lead=timedelta(minutes=15, seconds=6), paid=False)

    async def pay(client, stats):
        from shared.adapters.firestore_bookings import FirestoreBookings

        return await apply_successful_payment(
            FirestoreBookings(client, stats), Refunder(None, None, lambda: datetime.now(timezone.utc)), PaymentsConfig(),
            payload=w.booking.id, charge_id=w.charge_id, provider_charge_id=w.yk_payment, payer_id=w.owner_id,
            amount=150000, currency="RUB", now=datetime.now(timezone.utc), tasks=w.queue())

    result = firestore_run(pay)
    assert result.booking.status == BookingStatus.CONFIRMED
    w.booking = result.booking
    assert w.queued("create_room") and w.queued("send_links") and w.queued("no_show_check")
    wait_for(lambda: rules.room_name(w.booking.id) in w.stack.video.rooms, timeout=30)
    wait_for(lambda: len(w.sent(w.owner_id)) == 1 and len(w.sent(w.vet_id)) == 1, timeout=30)  # the 15-min reminder

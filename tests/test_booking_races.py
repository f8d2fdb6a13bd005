"""Booking and payment writes racing double taps and erasure, posted in parallel straight to the webhook
function of the local stack (as test_races does for the owner's own records), state read back from the
Firestore emulator and the stack's YooKassa double:

- a double tap on a booked consultation's Cancel: one cancellation, one refund, every other press told
  once that it is already cancelled;
- an owner's erasure and their successful_payment posted together (and one a little after the other):
  the charge ends refunded, reconcile finds nothing, nothing of the owner is left but the pseudonymised
  ledger, nothing is sent to them afterwards;
- a vet's erasure and an owner's successful_payment for a time with that vet, likewise;
- a double tap on the vet list's "next" (the pages shown are kept in the dialog): page 1 once, the pages
  kept as seen, each loser told once.
"""
from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from infra.local.owner_chat import OwnerChat
from shared.domain import slots as slot_rules
from shared.domain.pets import Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Area, Vet, VetStatus
from tests.booking_harness import mentions
from tests.test_races import (assert_callbacks_answered_once, client, db, last_seq, post_together,  # noqa: F401
                              records_of, sent_to, with_pet)

pytestmark = pytest.mark.e2e

_PEOPLE = itertools.count(871_000_001)   # Telegram-sized ids: what is left of a person is found by their id


@pytest.fixture
def yookassa(local_stack):
    return local_stack.stack.yookassa


def run(coro_fn):
    """coro_fn(client, stats) on a fresh loop with an AsyncClient on the stack's emulator."""
    from shared.adapters.firestore_repositories import OpStats

    async def main():
        client = firestore.AsyncClient()
        try:
            return await coro_fn(client, OpStats())
        finally:
            client.close()

    return asyncio.run(main())


def person(client, lang: str = "ru", user_id: int | None = None) -> OwnerChat:
    """A consented person (`user_id`: from another module's own range of ids)."""
    chat = OwnerChat(client, user_id=user_id or next(_PEOPLE), language_code=lang)
    chat.send("/start")
    chat.press("Согласен")
    return chat


def a_vet(client, user_id: int | None = None) -> tuple[OwnerChat, Vet]:
    """A consented person who is an active vet, open all day every day (the stack's clock is the real one)."""
    chat = person(client, user_id=user_id)
    hours = Schedule(timezone="Europe/Moscow", weekly={d: parse_hours("00:00-24:00") for d in range(7)},
                     slot_minutes=30, horizon_days=7)
    vet = Vet(id=chat.user_id, full_name="Ирина Соколова", city="Казань", education="КГАВМ", experience_years=8,
              species=(Species.DOG,), areas=(Area.GENERAL,), languages=("ru",), bio="Собаки.", price_kopecks=150000,
              timezone="Europe/Moscow", status=VetStatus.ACTIVE, schedule=hours)

    async def create(c, stats):
        from shared.adapters.firestore_vets import FirestoreVets

        await FirestoreVets(c, stats).create(vet)

    run(create)
    return chat, vet


def slot_ahead(vet: Vet, days: float = 2) -> datetime:
    """A free slot of the vet at least `days` ahead (cancelling it refunds everything)."""
    now = datetime.now(timezone.utc)
    return next(s.start for s in slot_rules.free_slots(vet.schedule, [], now) if s.start >= now + timedelta(days=days))


def invoice_for(chat: OwnerChat, vet: Vet, start: datetime) -> dict:
    chat.send("/consult")
    chat.send("Чешет ухо третий день")
    chat.send_update(chat.updates.callback(f"cs:s:{vet.id}:{start:%Y%m%d%H%M}", user_id=chat.user_id), "[time]")
    return [m for m in chat.client.messages(chat.user_id) if "invoice" in m][-1]


_UPDATE_IDS = itertools.count(2_000_000_000 + secrets.randbelow(10**9))


def build_payment(client, yookassa, chat: OwnerChat, invoice: dict) -> dict:
    """The pre-checkout query and the successful payment Telegram would send, with update ids of their own
    (the double numbers its payments from a fixed base, which other tests' updates in the same emulator
    may have used: the webhook would take them for redeliveries)."""
    payment = yookassa.create_payment(invoice["invoice"]["total_amount"])
    built = client.pay(invoice, chat.user_id, deliver=False, provider_payment_charge_id=payment["id"])
    for key in ("pre_checkout", "successful_payment"):
        built[key] = dict(built[key], update_id=next(_UPDATE_IDS))
    return built


def confirmed_booking(stack, client, db, yookassa, vet: Vet, owner_id: int | None = None) -> tuple[OwnerChat, str, str]:
    """A new owner's paid consultation with the vet (at their first free time 2 days ahead, which must be
    free): the owner's chat, the booking's id and YooKassa's payment id."""
    chat = with_pet(person(client, user_id=owner_id))
    invoice = invoice_for(chat, vet, slot_ahead(vet))
    booking_id = held_by(db, chat.user_id)
    built = build_payment(client, yookassa, chat, invoice)
    assert post_together(stack, [built["pre_checkout"]]) == [200]
    assert post_together(stack, [built["successful_payment"]]) == [200]
    assert booking(db, booking_id)["status"] == "confirmed"
    return chat, booking_id, built["provider_payment_charge_id"]


def held_by(db, owner_id: int) -> str:
    [snap] = db.collection("bookings").where(filter=firestore.FieldFilter("owner_id", "==", owner_id)).where(
        filter=firestore.FieldFilter("status", "==", "held")).stream()
    return snap.id


def booking(db, booking_id: str) -> dict:
    return db.document(f"bookings/{booking_id}").get().to_dict()


def entries(db, provider_payment_id: str) -> list[dict]:
    return [d.to_dict() | {"id": d.id} for d in db.collection("payments")
            .where(filter=firestore.FieldFilter("provider_payment_charge_id", "==", provider_payment_id)).stream()]


def reconcile() -> list:
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.services import payments

    return run(lambda c, stats: payments.reconcile(FirestoreBookings(c, stats)))


def left_of(db, person_id: int) -> list[str]:
    """Every document of the consultations' collections that still names the person (id or id in a string)."""
    return [d.reference.path for name in ("bookings", "payments", "slot_locks", "vet_calendars", "vets", "conclusions")
            for d in db.collection(name).stream() if str(person_id) in d.id or mentions(d.to_dict(), person_id)]


def forget_update(chat: OwnerChat) -> dict:
    chat.send("/privacy")
    chat.press("Удалить мои данные")
    message, data = chat._find_button("Да, удалить всё")
    return chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)


def settle(db, person_id: int) -> None:
    deadline = time.monotonic() + 30
    while (records_of(db, person_id) or left_of(db, person_id)) and time.monotonic() < deadline:
        time.sleep(0.3)


# ---- a double tap on Cancel --------------------------------------------------------------------------

ALREADY_CANCELLED = "Эта консультация уже отменена."


@pytest.mark.parametrize("presses", [2, 6])
def test_a_double_tap_on_cancel_refunds_once_and_tells_each_loser_why_once(stack, client, db, yookassa, presses):
    """Of racing Cancel presses one cancels and refunds (its message, its press answered without a popup);
    every other is told once that the consultation is already cancelled, however far the winner got (a
    loser that read the booking before the winner's commit and its ledger entry after it included)."""
    _, vet = a_vet(client)
    for _ in range(3):
        chat, booking_id, payment_id = confirmed_booking(stack, client, db, yookassa, vet)
        chat.send("/bookings")
        chat.press("Отменить")
        taps = [chat.updates.callback(f"bk:cy:{booking_id}", user_id=chat.user_id) for _ in range(presses)]
        since = last_seq(client)
        assert post_together(stack, taps) == [200] * presses
        assert len(yookassa.refunds(payment_id)) == 1
        assert booking(db, booking_id)["status"] == "cancelled"
        texts = [c["params"]["text"] for c in sent_to(client, chat.user_id, since)]
        assert len(texts) == 1 and "Консультация отменена" in texts[0], texts
        assert_callbacks_answered_once(client, taps)
        ids = {u["callback_query"]["id"] for u in taps}
        answers = sorted((c["params"].get("text") or "") for c in client.calls("answerCallbackQuery", since=since)
                         if c["params"]["callback_query_id"] in ids)
        assert answers == [""] + [ALREADY_CANCELLED] * (presses - 1), answers
        [entry] = entries(db, payment_id)
        assert entry["status"] == "refunded" and len(entry["refunds"]) == 1
    assert reconcile() == []


# ---- erasure racing a payment --------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "vet"])
def test_erasure_racing_a_successful_payment_refunds_it_and_leaves_nothing(stack, client, db, yookassa, who):
    orders = set()
    for pay_after, forget_after in ((0.0, 0.0), (0.0, 0.0), (0.0, 0.1), (1.5, 0.0)):
        vet_chat, vet = a_vet(client)
        chat = with_pet(person(client))
        invoice = invoice_for(chat, vet, slot_ahead(vet))
        booking_id = held_by(db, chat.user_id)
        built = build_payment(client, yookassa, chat, invoice)
        assert post_together(stack, [built["pre_checkout"]]) == [200]
        erased = chat if who == "owner" else vet_chat
        forget = forget_update(erased)
        since = last_seq(client)
        statuses = post_together(stack, [built["successful_payment"], forget], delays=[pay_after, forget_after])
        assert statuses == [200, 200]
        settle(db, erased.user_id)
        settled = last_seq(client)
        [entry] = entries(db, built["provider_payment_charge_id"])
        assert entry["status"] == "refunded" and sum(r["amount"] for r in entry["refunds"]) == entry["amount"], entry
        assert len(yookassa.refunds(built["provider_payment_charge_id"])) == 1
        orders.add(booking(db, booking_id)["status"])   # cancelled: paid first; expired: erased first
        assert records_of(db, erased.user_id) == [] and left_of(db, erased.user_id) == []
        assert reconcile() == []
        said = [c["params"].get("text", "") for c in sent_to(client, erased.user_id, since)]
        assert any("удалены" in t for t in said), said
        if who == "owner":
            assert (entry["owner_id"], entry["charge_id"].startswith("e")) == (0, True)
        else:
            assert entry["vet_id"] == 0
            owner_said = [c["params"].get("text", "") for c in sent_to(client, chat.user_id, since)]
            assert any("Приносим извинения" in t or "Вернули" in t for t in owner_said), owner_said
        time.sleep(0.5)
        assert sent_to(client, erased.user_id, settled) == []
    assert orders == {"cancelled", "expired"}, orders


# ---- a double tap on the vet list's "next" -----------------------------------------------------------

@pytest.mark.parametrize("presses", [2, 6])
def test_a_double_tap_on_next_shows_the_next_page_once_and_keeps_the_pages_straight(stack, client, db, presses):
    """The list's page is part of the consult dialog (the vets shown per page, for the page after): of racing
    "next" presses one moves the dialog on, every press is answered once, and the dialog keeps pages 0 and 1
    as the owner saw them, whoever won."""
    for _ in range(6):  # with any the session's other tests made: 2 pages at least
        a_vet(client)
    chat = with_pet(person(client))
    chat.send("/consult")
    chat.send("Чешет ухо третий день")
    message, data = chat._find_button("Ещё врачи")
    first = listed(chat)
    assert data == "cs:l:1" and len(first) == 5
    taps = [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
            for _ in range(presses)]
    since = last_seq(client)
    assert post_together(stack, taps) == [200] * presses
    assert_callbacks_answered_once(client, taps)
    said = [c["params"].get("text", "") for c in sent_to(client, chat.user_id, since)]
    assert sum(text.startswith("Врачи для") for text in said) == 1, said  # page 1, once
    popups = [c for c in client.calls("answerCallbackQuery", since=since) if "устарела" in c["params"].get("text", "")]
    assert len(popups) + sum("уже сделан" in text for text in said) == presses - 1, said  # each loser told once
    second = listed(chat)
    assert second and not set(second) & set(first)
    draft = db.document(f"users/{chat.user_id}").get().to_dict()["dialog"]["draft"]
    assert [p["vets"] for p in draft["pages"]] == [first, second], (draft["pages"], first, second)


def listed(chat: OwnerChat) -> list[int]:
    """The vets of the newest list the owner sees, in its order."""
    for message in reversed(chat.messages()):
        vets = [int(data.split(":")[2]) for _, data in chat.buttons(message) if data.startswith("cs:v:")]
        if vets:
            return vets
    return []

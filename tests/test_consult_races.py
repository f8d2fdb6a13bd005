"""Consultation buttons pressed several times at once, posted straight to the local stack's webhook
function from threads released together (tests/test_races.py's way), state read back from the emulator.

- a double tap on a time of /consult: one hold, one summary and invoice; every other press answered once
  as an outdated button, never told that the time was "just taken" (it was taken by the owner's own
  press) nor shown the day's times again; another owner pressing that time is told it was just taken;
- several times of /consult pressed at once: one owner holds one time, so one hold stays (the dialog's,
  with its one invoice) and the others are let go, each loser told once that the step is taken;
- the stars under a conclusion pressed several times at once: one rating, counted once in the vet's record
  and listing card, the other presses answered as outdated;
- the owner's and the vet's cancellation of one consultation at once: one cancellation, one refund, each
  of the two told once;
- the Mini App's API on the stack: one time held at once by three owners (each twice) - one 201, the rest
  409 and nothing held; several times held at once by one owner (two screens) - one hold stands, the
  newest, the others let go; a time pressed in the chat and another held in the Mini App at once - one
  hold stands; one booking cancelled at once by its owner and its vet - one 200, one refund, the
  vet told once.
"""
from __future__ import annotations

import functools
import itertools
from zoneinfo import ZoneInfo

import httpx
import pytest
from google.cloud import firestore

from tests.test_booking_races import (a_vet, booking, confirmed_booking, person, slot_ahead,  # noqa: F401
                                      yookassa)
from tests.test_conclusion_races import seed as conclusion_at_its_last_step
from tests.test_races import client, db  # noqa: F401 - the fixtures: the stack's Bot API double, Firestore
from infra.local.bot_api_double import UpdateFactory
from tests.miniapp_harness import signed_init_data
from tests.test_races import (assert_callbacks_answered_once, last_seq, post_together, post_update, sent_to, together,
                              with_pet)

pytestmark = pytest.mark.e2e

# ids of this module's own (the helpers' module is imported a second time under another name, with its
# own count of ids, when both run in one session)
_PEOPLE = itertools.count(872_000_001)

OUTDATED = "Эта кнопка устарела."
JUST_TAKEN = "Это время только что заняли — выберите другое."
STEP_TAKEN = "Этот шаг уже сделан"


def bookings_of(db, owner_id: int) -> list[dict]:
    return [d.to_dict() | {"id": d.id} for d in
            db.collection("bookings").where(filter=firestore.FieldFilter("owner_id", "==", owner_id)).stream()]


def time_button(chat, vet, start) -> tuple[dict, str]:
    """The consult dialog at the vet's day of `start` (Moscow, the owner's zone): its message and the time's data."""
    chat.send("/consult")
    chat.send("Чешет ухо третий день")
    chat.press_data(f"cs:d:{vet.id}:{start.astimezone(ZoneInfo('Europe/Moscow')):%Y%m%d}")
    message, data, _ = chat._find(None, f"cs:s:{vet.id}:{start:%Y%m%d%H%M}", None)
    return message, data


@pytest.mark.parametrize("presses", [2, 6])
def test_a_double_tap_on_a_time_holds_it_once_and_tells_no_one_it_was_taken(stack, client, db, presses):
    _, vet = a_vet(client, next(_PEOPLE))
    chat = with_pet(person(client, user_id=next(_PEOPLE)))
    start = slot_ahead(vet)
    message, data = time_button(chat, vet, start)
    taps = [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
            for _ in range(presses)]
    since = last_seq(client)
    assert post_together(stack, taps) == [200] * presses
    assert_callbacks_answered_once(client, taps)
    [held] = bookings_of(db, chat.user_id)
    assert held["status"] == "held" and held["vet_id"] == vet.id
    assert len(client.calls("sendInvoice", since=since)) == 1
    ids = {u["callback_query"]["id"] for u in taps}
    answers = sorted(c["params"].get("text") or "" for c in client.calls("answerCallbackQuery", since=since)
                     if c["params"]["callback_query_id"] in ids)
    assert answers == [""] + [OUTDATED] * (presses - 1), answers
    said = [c["params"].get("text", "") for c in sent_to(client, chat.user_id, since)]
    assert len(said) == 1 and said[0].startswith("Консультация онлайн"), said  # the summary, nothing else
    dialog = db.document(f"users/{chat.user_id}").get().to_dict()["dialog"]
    assert (dialog["step"], dialog["draft"]["booking_id"]) == ("c_pay", held["id"])

    other = with_pet(person(client, user_id=next(_PEOPLE)))  # the time is taken for anybody else
    message, _ = time_button(other, vet, slot_ahead(vet, days=3))
    since = last_seq(client)
    taken = other.updates.callback(data, message_id=message["message_id"], user_id=other.user_id)
    assert post_together(stack, [taken]) == [200]
    [answer] = [c["params"].get("text") for c in client.calls("answerCallbackQuery", since=since)]
    assert answer == JUST_TAKEN and bookings_of(db, other.user_id) == []
    assert any(JUST_TAKEN in c["params"].get("text", "") for c in sent_to(client, other.user_id, since))


@pytest.mark.parametrize("times", [2, 4])
def test_times_pressed_at_once_leave_one_hold_with_its_invoice(stack, client, db, times):
    _, vet = a_vet(client, next(_PEOPLE))
    for day in range(3):  # times of their own each round (the rounds' holds stay)
        chat = with_pet(person(client, user_id=next(_PEOPLE)))
        chat.send("/consult")
        chat.send("Чешет ухо третий день")
        starts = [slot_ahead(vet, days=2 + day + n * 0.25) for n in range(times)]
        taps = [chat.updates.callback(f"cs:s:{vet.id}:{start:%Y%m%d%H%M}", user_id=chat.user_id) for start in starts]
        since = last_seq(client)
        assert post_together(stack, taps) == [200] * times
        assert_callbacks_answered_once(client, taps)
        booked = bookings_of(db, chat.user_id)
        assert len(booked) == times  # each press held its time; all but one were let go
        [held] = [b for b in booked if b["status"] == "held"]
        assert {b["status"] for b in booked if b is not held} <= {"expired"}
        # presses that overlap: one invoice. A press the machine delays until another's step has committed
        # is a new choice made at the payment step (the owner may change the time there): it gets its own
        # invoice and lets the earlier hold go. Either way the standing hold has exactly one invoice.
        invoices = [c["params"]["payload"] for c in client.calls("sendInvoice", since=since)]
        assert invoices.count(held["id"]) == 1 and all(
            b["status"] == "expired" for b in booked if b["id"] in invoices and b is not held), invoices
        dialog = db.document(f"users/{chat.user_id}").get().to_dict()["dialog"]
        assert (dialog["step"], dialog["draft"]["booking_id"]) == ("c_pay", held["id"])
        said = [c["params"].get("text", "") for c in sent_to(client, chat.user_id, since)]
        assert sum(text.startswith("Консультация онлайн") for text in said) == len(invoices), said
        popups = [c for c in client.calls("answerCallbackQuery", since=since) if c["params"].get("text") == OUTDATED]
        told = len(popups) + sum(STEP_TAKEN in text for text in said)
        assert len(invoices) + told == times, said  # each press held its time with an invoice, or was told once


# ---- after the call, and cancelling ------------------------------------------------------------------

@pytest.mark.parametrize("stars", [[5, 5], [5, 4, 3, 5, 1, 2]])
def test_stars_pressed_at_once_rate_the_vet_once(stack, client, db, stars):
    owner = person(client, user_id=next(_PEOPLE))
    _, vet = a_vet(client, next(_PEOPLE))
    booking_id = conclusion_at_its_last_step(db, owner.user_id, vet.id)
    factory = UpdateFactory(client)
    assert post_together(stack, [factory.callback("cn:s", user_id=vet.id)]) == [200]  # the conclusion is sent
    taps = [factory.callback(f"cr:r:{booking_id}:{n}", user_id=owner.user_id) for n in stars]
    since = last_seq(client)
    assert post_together(stack, taps) == [200] * len(stars)
    assert_callbacks_answered_once(client, taps)
    answers = [c["params"].get("text") for c in client.calls("answerCallbackQuery", since=since)]
    [thanks] = [a for a in answers if a.startswith("Спасибо! Ваша оценка")]
    # a loser that read the conclusion after the winner's commit is told it is rated already
    assert all(a in (OUTDATED, "Вы уже оценили эту консультацию.") for a in answers if a != thanks), answers
    rated = db.document(f"conclusions/{booking_id}").get().to_dict()["rating"]["stars"]
    assert thanks.endswith("⭐" * rated) and rated in stars
    record = db.document(f"vets/{vet.id}").get().to_dict()
    card = db.document("vet_directory/dog").get().to_dict()["vets"][str(vet.id)]
    assert (record["rating_sum"], record["rating_count"]) == (card["rating_sum"], card["rating_count"]) == (rated, 1)


def test_the_owner_and_the_vet_cancelling_at_once_cancel_and_refund_once(stack, client, db, yookassa):
    for _ in range(3):
        vet_chat, vet = a_vet(client, next(_PEOPLE))
        chat, booking_id, payment_id = confirmed_booking(stack, client, db, yookassa, vet, next(_PEOPLE))
        taps = [chat.updates.callback(f"bk:cy:{booking_id}", user_id=chat.user_id)] + [
            vet_chat.updates.callback(f"bk:vr:{booking_id}:illness", user_id=vet.id) for _ in range(2)]
        since = last_seq(client)
        assert post_together(stack, taps) == [200] * 3
        assert_callbacks_answered_once(client, taps)
        assert booking(db, booking_id)["status"] == "cancelled"
        assert len(yookassa.refunds(payment_id)) == 1
        answers = sorted(c["params"].get("text") or "" for c in client.calls("answerCallbackQuery", since=since))
        assert answers == ["", "Эта консультация уже отменена.", "Эта консультация уже отменена."], answers
        assert len(sent_to(client, chat.user_id, since)) == 1 and len(sent_to(client, vet.id, since)) == 1


# ---- the Mini App's API --------------------------------------------------------------------------------

def api_call(stack, method: str, path: str, user_id: int, body: dict, ready) -> tuple[int, dict]:
    """One call for `together` to the stack's Mini App API, signed as Telegram signs that user's initData."""
    auth = {"Authorization": "tma " + signed_init_data(user_id, stack["bot_token"])}
    with httpx.Client(timeout=60) as http:
        ready()
        response = http.request(method, stack["miniapp_api"].rstrip("/") + path, json=body, headers=auth)
    return response.status_code, response.json()


def api_together(stack, calls: list[tuple[str, str, int, dict]]) -> list[tuple[int, dict]]:
    """(method, path, user, body) each called at the same moment."""
    return together([functools.partial(api_call, stack, *c) for c in calls])


def test_one_time_held_at_once_in_the_mini_app_by_three_owners(stack, client, db):
    _, vet = a_vet(client, next(_PEOPLE))
    owners = [with_pet(person(client, user_id=next(_PEOPLE))).user_id for _ in range(3)]
    pets = {o: next(iter(db.collection(f"users/{o}/pets").stream())).id for o in owners}
    start = f"{slot_ahead(vet):%Y-%m-%dT%H:%M:%SZ}"
    answers = api_together(stack, [("POST", "/api/bookings", o, {"pet": pets[o], "vet": vet.id, "start": start,
                                                                   "reason": "Чешет ухо"}) for o in owners * 2])
    [won] = [body["booking"] for status, body in answers if status == 201]
    assert sorted(status for status, _ in answers) == [201] + [409] * 5
    assert all(body["error"] == "conflict" for status, body in answers if status == 409)
    held = [d.to_dict() for d in db.collection("bookings").where(
        filter=firestore.FieldFilter("vet_id", "==", vet.id)).stream()]
    assert [(b["status"], b["start"]) for b in held] == [("held", slot_ahead(vet))] and won["status"] == "held"


@pytest.mark.parametrize("times", [2, 4])
def test_times_held_at_once_in_the_mini_app_by_one_owner_leave_one_hold(stack, client, db, times):
    """From two screens at once: the newest hold stands, the others are let go; a request that sees its
    hold let go answers 409 'superseded' (one that answered 201 first finds it gone at the invoice)."""
    _, vet = a_vet(client, next(_PEOPLE))
    for day in range(3):
        owner = with_pet(person(client, user_id=next(_PEOPLE))).user_id
        pet = next(iter(db.collection(f"users/{owner}/pets").stream())).id
        starts = [f"{slot_ahead(vet, days=2 + day + n * 0.25):%Y-%m-%dT%H:%M:%SZ}" for n in range(times)]
        answers = api_together(stack, [("POST", "/api/bookings", owner, {"pet": pet, "vet": vet.id, "start": start,
                                                                         "reason": "Чешет ухо"}) for start in starts])
        assert {status for status, _ in answers} <= {201, 409}, answers
        assert all(body["error"] == "superseded" and body["message"] for status, body in answers if status == 409)
        booked = bookings_of(db, owner)
        assert len(booked) == times  # each request held its time
        [held] = [b for b in booked if b["status"] == "held"]
        assert {b["status"] for b in booked if b is not held} == {"expired"}
        assert held["id"] in {body["booking"]["id"] for status, body in answers if status == 201}


def test_a_time_pressed_in_the_chat_and_another_held_in_the_mini_app_at_once_leave_one_hold(stack, client, db):
    """The chat's press keeps its hold once its step commits and lets older ones go; the Mini App's keeps the
    newest: both order holds by the store's time of the write, so one stands (by the request's clock, a
    hold written after the other's look was 'older' and both stayed, about one round in 20)."""
    _, vet = a_vet(client, next(_PEOPLE))
    for day in range(4):
        chat = with_pet(person(client, user_id=next(_PEOPLE)))
        pet = next(iter(db.collection(f"users/{chat.user_id}/pets").stream())).id
        chat.send("/consult")
        chat.send("Чешет ухо третий день")
        in_chat, in_app = slot_ahead(vet, days=2 + day), slot_ahead(vet, days=2 + day + 0.25)
        tap = chat.updates.callback(f"cs:s:{vet.id}:{in_chat:%Y%m%d%H%M}", user_id=chat.user_id)
        body = {"pet": pet, "vet": vet.id, "start": f"{in_app:%Y-%m-%dT%H:%M:%SZ}", "reason": "Чешет ухо"}
        pressed, (status, _) = together([functools.partial(post_update, stack, tap),
                                         functools.partial(api_call, stack, "POST", "/api/bookings", chat.user_id, body)])
        assert pressed == 200 and status in (201, 409)
        booked = bookings_of(db, chat.user_id)
        assert len(booked) == 2  # each held its time; one was let go
        assert sorted(b["status"] for b in booked) == ["expired", "held"], booked


def test_one_booking_cancelled_at_once_in_the_mini_app_by_its_owner_and_its_vet(stack, client, db, yookassa):
    _, vet = a_vet(client, next(_PEOPLE))
    chat, booking_id, payment_id = confirmed_booking(stack, client, db, yookassa, vet, next(_PEOPLE))
    since = last_seq(client)
    path = f"/api/bookings/{booking_id}/cancel"
    answers = api_together(stack, [("POST", path, chat.user_id, {})] * 3 + [("POST", path, vet.id, {"reason": "illness"})])
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409], answers
    [(_, done)] = [a for a in answers if a[0] == 200]
    assert done["booking"]["status"] == "cancelled" and done["refunded"] is True
    assert booking(db, booking_id)["status"] == "cancelled" and len(yookassa.refunds(payment_id)) == 1
    told = sent_to(client, vet.id, since) if done["booking"]["role"] == "owner" else sent_to(client, chat.user_id, since)
    assert len(told) == 1, told  # the other party, once

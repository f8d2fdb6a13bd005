"""Consultation buttons pressed several times at once, posted straight to the local stack's webhook
function from threads released together (tests/test_races.py's way), state read back from the emulator.

- a double tap on a time of /consult: one hold, one summary and invoice; every other press answered once
  as an outdated button, never told that the time was "just taken" (it was taken by the owner's own
  press) nor shown the day's times again; another owner pressing that time is told it was just taken;
- several times of /consult pressed at once: one owner holds one time, so one hold stays (the dialog's,
  with the one invoice sent) and the others are let go, each loser told once that the step is taken.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from google.cloud import firestore

from tests.test_booking_races import a_vet, person, slot_ahead
from tests.test_races import client, db  # noqa: F401 - the fixtures: the stack's Bot API double, Firestore
from tests.test_races import assert_callbacks_answered_once, last_seq, post_together, sent_to, with_pet

pytestmark = pytest.mark.e2e

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
    _, vet = a_vet(client)
    chat = with_pet(person(client))
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

    other = with_pet(person(client))  # the time is taken for anybody else
    message, _ = time_button(other, vet, slot_ahead(vet, days=3))
    since = last_seq(client)
    taken = other.updates.callback(data, message_id=message["message_id"], user_id=other.user_id)
    assert post_together(stack, [taken]) == [200]
    [answer] = [c["params"].get("text") for c in client.calls("answerCallbackQuery", since=since)]
    assert answer == JUST_TAKEN and bookings_of(db, other.user_id) == []
    assert any(JUST_TAKEN in c["params"].get("text", "") for c in sent_to(client, other.user_id, since))


@pytest.mark.parametrize("times", [2, 4])
def test_times_pressed_at_once_leave_one_hold_with_its_invoice(stack, client, db, times):
    _, vet = a_vet(client)
    for day in range(3):  # times of their own each round (the rounds' holds stay)
        chat = with_pet(person(client))
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
        [invoice] = client.calls("sendInvoice", since=since)
        assert invoice["params"]["payload"] == held["id"]
        dialog = db.document(f"users/{chat.user_id}").get().to_dict()["dialog"]
        assert (dialog["step"], dialog["draft"]["booking_id"]) == ("c_pay", held["id"])
        said = [c["params"].get("text", "") for c in sent_to(client, chat.user_id, since)]
        assert sum(text.startswith("Консультация онлайн") for text in said) == 1, said
        popups = [c for c in client.calls("answerCallbackQuery", since=since) if c["params"].get("text") == OUTDATED]
        assert len(popups) + sum(STEP_TAKEN in text for text in said) == times - 1, said  # each loser told once

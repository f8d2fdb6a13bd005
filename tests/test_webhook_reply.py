"""What rides in the webhook's response (shared.bot.request): a press's answer (IN_RESPONSE), or, in a
dialog, the next question (request.last_word: after a press, the pressed question edited into it) while
the press's answer goes as a request as the step commits. One request fewer per update on the critical path, each press still answered exactly
once, the order of what the person reads kept, and nothing lost when the response is thrown away."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.bot.webhook import TelegramWebhook
from shared.domain.bookings import BookingStatus
from shared.services.unit_of_work import StaleUpdate
from tests import fakes
from tests.bot_harness import NOW, SECRET, TOKEN, BotHarness
from tests.consultation_fakes import FakeBookings, booking

USER = 7101


@pytest.fixture
async def harness():
    with BotApiDouble(TOKEN) as double:
        h = BotHarness(double)
        # the production webhook (bootstrap.WebhookInstance) answers presses in its response
        h.webhook = TelegramWebhook(h.app, SECRET, h.services.update_log, h.services.clock, reply_in_response=True)
        yield h
        await h.app.shutdown()


async def deliver(harness, update: dict):
    """Posts the update and, like Telegram, executes the call the webhook answered with."""
    status, answer = await harness.webhook.handle(SECRET, json.dumps(update).encode())
    if isinstance(answer, dict):
        assert harness.double.webhook_reply(answer) == 200
    return status, answer


def sent(double, since: int) -> list[tuple[str, str]]:
    return [(c["method"], c["source"]) for c in double.calls(since=since)]


async def onboard_and_open_the_form(harness):
    for update in (harness.updates.command("start", user_id=USER), harness.updates.callback("consent:yes:ru", user_id=USER),
                   harness.updates.callback("pet:add", user_id=USER)):
        assert (await deliver(harness, update))[0] == 200


async def test_a_dialog_press_is_answered_at_once_and_its_next_question_rides_in_the_response(harness):
    await onboard_and_open_the_form(harness)
    seq = harness._seq()
    update = harness.updates.callback("f:species:cat", user_id=USER)
    status, answer = await deliver(harness, update)
    assert status == 200
    # the pressed question becomes the next one, the answer chosen kept above it
    assert answer["method"] == "editMessageText" and answer["chat_id"] == USER
    assert answer["message_id"] == update["callback_query"]["message"]["message_id"]
    assert answer["text"] == "✓ Вид: 🐱 Кошка\n\nКак зовут питомца?" and "reply_markup" not in answer
    # the answer went as a request of its own, the question came last, from Telegram executing the response
    assert sent(harness.double, seq) == [("answerCallbackQuery", "http"), ("editMessageText", "webhook_reply")]
    [message] = [m for m in harness.double.messages(USER) if m["message_id"] == answer["message_id"]]
    assert message["text"] == answer["text"] and not message.get("reply_markup")  # no buttons left to press
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_a_press_on_a_question_out_of_reach_gets_its_next_question_as_a_new_message(harness):
    """Telegram sends no content for a message the bot cannot reach any more: nothing to edit."""
    await onboard_and_open_the_form(harness)
    update = harness.updates.callback("f:species:cat", user_id=USER)
    update["callback_query"]["message"] = {"chat": {"id": USER, "type": "private"}, "message_id": 1, "date": 0}
    status, answer = await deliver(harness, update)
    assert answer["method"] == "sendMessage" and answer["text"] == "✓ Вид: 🐱 Кошка\n\nКак зовут питомца?"


async def test_a_refused_edit_of_the_pressed_question_sends_the_next_one(harness):
    """Without the response (the harness's own webhook), the edit is a request; refused (the question was
    deleted meanwhile), the next question comes as a new message."""
    plain = BotHarness(harness.double)
    await plain.onboard(USER + 1)
    await plain.press("pet:add", USER + 1)
    update = plain.updates.callback("f:species:dog", user_id=USER + 1)
    update["callback_query"]["message"]["message_id"] += 1000  # no such message
    seq = plain._seq()
    assert await plain.deliver(update) == 200
    calls = [(c["method"], c["status"]) for c in plain.double.calls(since=seq) if c["method"] != "answerCallbackQuery"]
    assert calls == [("editMessageText", 400), ("sendMessage", 200)]
    assert plain.replies(seq)[-1] == "✓ Вид: 🐶 Собака\n\nКак зовут питомца?"
    await plain.app.shutdown()


async def test_a_typed_answer_gets_its_next_question_in_the_response_and_a_redelivery_nothing(harness):
    await onboard_and_open_the_form(harness)
    await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    seq = harness._seq()
    update = harness.updates.message("Мурка", user_id=USER)
    status, answer = await deliver(harness, update)
    assert status == 200 and answer["method"] == "sendMessage" and "Мурка" in answer["text"]
    assert answer["reply_markup"]["inline_keyboard"]  # the breed question's buttons go with it
    assert sent(harness.double, seq) == [("sendMessage", "webhook_reply")]
    assert await deliver(harness, update) == (200, "duplicate")  # a redelivery: no second answer of any kind


async def test_a_message_after_the_last_word_sends_it_first(harness):
    """A rejected answer: the reason, then the question again, in that order (the question goes as a
    request once something follows it; here nothing does, so it rides in the response after the reason)."""
    await onboard_and_open_the_form(harness)
    await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    seq = harness._seq()
    status, answer = await deliver(harness, harness.updates.message("x" * 200, user_id=USER))  # too long a name
    texts = [c["params"]["text"] for c in harness.double.calls(since=seq, method="sendMessage")]
    assert texts[-1] == answer["text"] == "Как зовут питомца?" and len(texts) == 2
    assert [src for _, src in sent(harness.double, seq)] == ["http", "webhook_reply"]


async def test_an_outdated_button_gets_its_text_in_the_response(harness):
    await onboard_and_open_the_form(harness)
    status, answer = await deliver(harness, harness.updates.callback("f:sex:female", user_id=USER))  # not asked
    assert answer["method"] == "answerCallbackQuery" and answer["text"]
    assert harness.double.calls(method="answerCallbackQuery")[-1]["params"]["text"] == answer["text"]


async def test_a_step_taken_meanwhile_still_answers_once(harness, monkeypatch):
    await onboard_and_open_the_form(harness)

    async def stale(self):
        raise StaleUpdate()

    monkeypatch.setattr(fakes.FakeUnitOfWork, "commit", stale)
    seq = harness._seq()
    status, answer = await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    assert status == 200
    methods = [m for m, _ in sent(harness.double, seq)]
    assert methods.count("answerCallbackQuery") == 1
    assert "Как зовут питомца?" not in str(answer)  # the step was not ours: no next question
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_the_question_goes_even_when_the_answer_was_undelivered(harness, caplog):
    await onboard_and_open_the_form(harness)
    harness.double.inject_error("answerCallbackQuery", 429, retry_after=120, count=5)  # past the send budget
    seq = harness._seq()
    with caplog.at_level(logging.ERROR, logger="shared.bot.webhook"):
        status, answer = await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    # the answer is lost (logged; the button's spinner stops by itself); the question, in no order with it,
    # still rides in the response
    assert status == 200 and answer["text"].endswith("Как зовут питомца?")
    assert "reply undelivered" in caplog.text and "answerCallbackQuery (429)" in caplog.text


async def test_an_infrastructure_failure_after_the_step_still_delivers_its_question(harness, monkeypatch):
    """The webhook's 500 throws its response away: the question it would have carried goes as a request,
    and the redelivery finds the step taken (its answer to the press is refused by Telegram, as the first
    delivery's answer stands: harmless, and nothing else is said twice)."""
    await onboard_and_open_the_form(harness)
    update = harness.updates.callback("f:species:cat", user_id=USER)
    real = harness.app.process_update

    async def broken(update):
        await real(update)
        raise RuntimeError("the loop died")  # after the step committed and the question was kept

    monkeypatch.setattr(harness.app, "process_update", broken)
    seq = harness._seq()
    with pytest.raises(RuntimeError):
        await deliver(harness, update)  # a 500: Telegram ignores the body and delivers the update again
    monkeypatch.setattr(harness.app, "process_update", real)
    status, answer = await harness.webhook.handle(SECRET, json.dumps(update).encode())
    assert status == 200 and answer["method"] == "answerCallbackQuery"  # "outdated": the step was taken
    harness.double.webhook_reply(answer)
    questions = [c["params"]["text"] for c in harness.double.calls(since=seq, method="editMessageText")]
    assert questions == ["✓ Вид: 🐱 Кошка\n\nКак зовут питомца?"]
    faults = harness.double.callback_query_faults()
    assert faults["unanswered"] == [] and [q["id"] for q in faults["answered_twice"]] == [update["callback_query"]["id"]]


async def test_a_pre_checkout_query_is_answered_in_the_response(harness):
    """Telegram waits 10 s for it: the answer (ok for the payer's live hold, else why not) rides in the response."""
    await deliver(harness, harness.updates.command("start", user_id=USER))
    await deliver(harness, harness.updates.callback("consent:yes:ru", user_id=USER))
    held = booking(BookingStatus.HELD, start=NOW + timedelta(days=1), owner_id=USER, charge_id=None,
                   hold_expires_at=NOW + timedelta(minutes=10))
    harness.services = replace(harness.services, bookings=FakeBookings(held))
    harness.app.bot_data["services"] = harness.services
    seq = harness._seq()
    update = harness.updates.pre_checkout_query(held.id, 150000, "RUB", user_id=USER)
    status, answer = await deliver(harness, update)
    assert (status, answer) == (200, {"method": "answerPreCheckoutQuery", "ok": True,
                                      "pre_checkout_query_id": update["pre_checkout_query"]["id"]})
    assert sent(harness.double, seq) == [("answerPreCheckoutQuery", "webhook_reply")]
    [query] = harness.double.pre_checkout_answers(update["pre_checkout_query"]["id"])
    assert [a["ok"] for a in query["answers"]] == [True] and query["refused"] == []
    status, answer = await deliver(harness, harness.updates.pre_checkout_query(held.id, 100, "RUB", user_id=USER))
    assert answer["method"] == "answerPreCheckoutQuery" and answer["ok"] is False and answer["error_message"]

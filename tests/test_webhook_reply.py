"""A button press's answer rides in the webhook's response (shared.bot.request.IN_RESPONSE): one request
fewer per press, each press still answered exactly once, and nothing else ever leaves that way."""
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


async def test_a_press_is_answered_in_the_response_and_nothing_else_is(harness):
    await onboard_and_open_the_form(harness)
    seq = harness._seq()
    update = harness.updates.callback("f:species:cat", user_id=USER)
    status, answer = await deliver(harness, update)
    assert status == 200
    assert answer == {"method": "answerCallbackQuery", "callback_query_id": update["callback_query"]["id"]}
    calls = sent(harness.double, seq)
    # the keyboard's removal and the next question went as requests of their own (in either order: they do
    # not wait for each other); the answer came last, from Telegram executing the response
    assert sorted(calls[:2]) == [("editMessageReplyMarkup", "http"), ("sendMessage", "http")]
    assert calls[2:] == [("answerCallbackQuery", "webhook_reply")]
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_text_and_commands_answer_with_a_word_not_a_call(harness):
    await onboard_and_open_the_form(harness)
    await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    update = harness.updates.message("Мурка", user_id=USER)
    assert await deliver(harness, update) == (200, "ok")
    assert await deliver(harness, update) == (200, "duplicate")  # a redelivery: no second answer of any kind


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
    assert status == 200 and answer["method"] == "answerCallbackQuery"
    assert [m for m, _ in sent(harness.double, seq)].count("answerCallbackQuery") == 1
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_the_answer_goes_even_when_a_reply_was_undelivered(harness, caplog):
    await onboard_and_open_the_form(harness)
    harness.double.inject_error("sendMessage", 429, retry_after=120, count=5)  # past the send budget
    with caplog.at_level(logging.ERROR, logger="shared.bot.webhook"):
        status, answer = await deliver(harness, harness.updates.callback("f:species:cat", user_id=USER))
    assert status == 200 and answer["method"] == "answerCallbackQuery"
    assert "reply undelivered" in caplog.text and "sendMessage (429)" in caplog.text
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_an_infrastructure_failure_leaves_the_press_for_the_redelivery(harness, monkeypatch):
    await onboard_and_open_the_form(harness)
    update = harness.updates.callback("f:species:cat", user_id=USER)
    real = harness.app.process_update

    async def broken(update):
        await real(update)
        raise RuntimeError("the loop died")  # after the handler answered (in the response to come)

    monkeypatch.setattr(harness.app, "process_update", broken)
    with pytest.raises(RuntimeError):
        await deliver(harness, update)  # a 500: Telegram ignores the body and delivers the update again
    monkeypatch.setattr(harness.app, "process_update", real)
    status, answer = await deliver(harness, update)
    assert status == 200 and answer["method"] == "answerCallbackQuery"  # answered on the redelivery, once
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


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

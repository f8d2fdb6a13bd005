"""Routing of payment and Mini App updates through the consent gate (onboarding.require_consent).

A pre_checkout_query has no chat and no message: it must reach the payment handlers of a consented payer,
and every one is answered (Telegram cancels the payment after 10 s): refused with a reason for a payer who
has not consented, refused by fallback when no handler answers it or the handler fails. A successful
payment and web_app_data arrive as messages.
"""
from __future__ import annotations

import pytest
from telegram.ext import MessageHandler, PreCheckoutQueryHandler, filters

from infra.local.bot_api_double import BotApiDouble
from shared.i18n import t
from tests.bot_harness import TOKEN, BotHarness

PAYER, STRANGER = 8101, 8102


@pytest.fixture
async def bot():
    with BotApiDouble(TOKEN) as double:
        harness = BotHarness(double)
        await harness.onboard(PAYER)
        yield harness
        await harness.app.shutdown()


def _answers(bot, since=0):
    return [c["params"] for c in bot.double.calls(since=since) if c["method"] == "answerPreCheckoutQuery"]


def _since(bot):
    calls = bot.double.calls()
    return calls[-1]["seq"] if calls else 0


def _ok(params) -> bool:
    return params["ok"] in (True, "true", "True", 1)


def _first_in_group_0(bot, handler):
    """As a feature registered before fallback (its catch-all message handler) would be."""
    bot.app.handlers[0].insert(0, handler)


async def test_a_consented_payers_pre_checkout_query_reaches_the_payment_handler(bot):
    seen = []

    async def checkout(update, context):
        seen.append((update.pre_checkout_query.invoice_payload, context.owner.id))
        await update.pre_checkout_query.answer(ok=True)

    _first_in_group_0(bot, PreCheckoutQueryHandler(checkout))  # before the payments feature's own
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=PAYER))
    assert seen == [("booking:b1", PAYER)]
    (answer,) = _answers(bot, since)
    assert _ok(answer)
    assert not [c for c in bot.double.calls(since=since) if c["method"] == "sendMessage"]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_an_unconsented_payer_is_answered_no_with_the_reason(bot, lang):
    seen = []

    async def checkout(update, context):
        seen.append(update)

    _first_in_group_0(bot, PreCheckoutQueryHandler(checkout))  # before the payments feature's own
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=STRANGER,
                                                     language_code=lang))
    (answer,) = _answers(bot, since)
    assert not _ok(answer) and answer["error_message"] == t(lang, "payment.need_consent")
    assert seen == [] and not await bot.services.owners.get(STRANGER)  # nothing stored, nothing else sent
    assert [c["method"] for c in bot.double.calls(since=since)] == ["answerPreCheckoutQuery"]


async def test_a_pre_checkout_query_no_handler_answers_is_refused_not_left_to_time_out(bot):
    bot.crash_ok = True  # "answered by no payment handler" is logged as an error
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=PAYER))
    (answer,) = _answers(bot, since)
    assert not _ok(answer) and answer["error_message"] == t("ru", "payment.unavailable")

    async def forgets(update, context):  # a handler that answers nothing
        pass

    _first_in_group_0(bot, PreCheckoutQueryHandler(forgets))  # before the payments feature's own
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b2", 150000, "RUB", user_id=PAYER))
    (answer,) = _answers(bot, since)
    assert not _ok(answer)


async def test_a_failing_payment_handler_still_answers_exactly_once(bot):
    async def fails(update, context):
        raise RuntimeError("provider down")

    _first_in_group_0(bot, PreCheckoutQueryHandler(fails))  # before the payments feature's own
    bot.crash_ok = True
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=PAYER))
    (answer,) = _answers(bot, since)
    assert not _ok(answer) and answer["error_message"] == t("ru", "payment.unavailable")
    assert [r.getMessage().split(":")[0] for r in bot.crashes] == ["handler failed"]


async def test_a_handler_that_answers_and_then_fails_is_not_answered_twice(bot):
    async def answers_then_fails(update, context):
        await update.pre_checkout_query.answer(ok=True)
        raise RuntimeError("after the answer")

    _first_in_group_0(bot, PreCheckoutQueryHandler(answers_then_fails))  # before the payments feature's own
    bot.crash_ok = True
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=PAYER))
    (answer,) = _answers(bot, since)
    assert _ok(answer)


async def test_a_successful_payment_reaches_its_handler_even_from_a_payer_who_erased_their_data(bot):
    seen = []

    async def paid(update, context):
        seen.append((update.message.successful_payment.telegram_payment_charge_id,
                     context.owner.id if context.owner else None))

    _first_in_group_0(bot, MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    await bot.deliver(bot.updates.successful_payment("booking:b1", 150000, "RUB", user_id=PAYER, charge_id="ch1"))
    since = _since(bot)
    await bot.deliver(bot.updates.successful_payment("booking:b2", 150000, "RUB", user_id=STRANGER, charge_id="ch2"))
    assert seen == [("ch1", PAYER), ("ch2", None)]
    assert not bot.double.calls(since=since)  # no consent prompt in answer to a payment


async def test_a_successful_payment_nobody_handles_is_logged_not_answered_as_not_understood(bot):
    bot.crash_ok = True
    bot.app.handlers[0][:] = [h for h in bot.app.handlers[0]  # as if the payments feature were not there
                              if getattr(h.callback, "__module__", "") != "shared.bot.handlers.payments"]
    since = _since(bot)
    await bot.deliver(bot.updates.successful_payment("booking:b1", 150000, "RUB", user_id=PAYER))
    assert not bot.double.calls(since=since)
    assert "successful payment" in bot.crashes[-1].getMessage()


def _web_app_data(bot, user_id):
    update = bot.updates.message("x", user_id=user_id)
    message = update["message"]
    del message["text"]
    message["web_app_data"] = {"data": '{"slot": "s1"}', "button_text": "Book"}
    return update


async def test_web_app_data_passes_as_a_message_of_a_consented_owner(bot):
    seen = []

    async def mini_app(update, context):
        seen.append((update.message.web_app_data.data, context.owner.id))

    _first_in_group_0(bot, MessageHandler(filters.StatusUpdate.WEB_APP_DATA, mini_app))
    await bot.deliver(_web_app_data(bot, PAYER))
    assert seen == [('{"slot": "s1"}', PAYER)]
    replies = await bot.deliver(_web_app_data(bot, STRANGER)) and bot.replies(0)
    assert len(seen) == 1 and any(t("ru", "consent.text") in text for text in replies)


async def test_when_the_gate_itself_fails_the_query_is_refused_and_no_handler_runs_unchecked(bot):
    seen = []

    async def checkout(update, context):
        seen.append(update)

    async def down(owner_id):
        raise RuntimeError("firestore down")

    _first_in_group_0(bot, PreCheckoutQueryHandler(checkout))  # before the payments feature's own
    _first_in_group_0(bot, MessageHandler(filters.ALL, checkout))
    bot.services.owners.get = down
    bot.crash_ok = True
    since = _since(bot)
    await bot.deliver(bot.updates.pre_checkout_query("booking:b1", 150000, "RUB", user_id=PAYER))
    await bot.deliver(bot.updates.message("hello", user_id=PAYER))
    (answer,) = _answers(bot, since)
    assert not _ok(answer) and seen == []

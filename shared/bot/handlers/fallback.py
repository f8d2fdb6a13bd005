"""Whatever no feature handled: unknown commands, outdated buttons, stickers and the like; and the
payment updates no payments handler took (a pre-checkout query is refused, never left to time out)."""
from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.ext import (Application, ApplicationHandlerStop, CallbackQueryHandler, MessageHandler,
                          PreCheckoutQueryHandler, filters)

from shared.bot.context import BotContext
from shared.bot.handlers.pet_dialog import ask_current
from shared.bot.request import ask_redelivery, is_undelivered
from shared.services.unit_of_work import OwnerGone, StaleUpdate

log = logging.getLogger(__name__)
# After every feature's group: the safety net for pre-checkout queries runs whatever group their
# handler is in, and answers only one nobody answered.
LAST_GROUP = 100


async def unknown_command(update: Update, context: BotContext) -> None:
    await update.message.reply_text(context.t("err.unknown_command"))


async def outdated_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.t("err.outdated_button"))


async def unhandled_checkout(update: Update, context: BotContext) -> None:
    """A pre-checkout query still unanswered after every group (no payment handler registered, none for
    this invoice, or one that forgot): refuse it, so nobody is charged and Telegram is answered in time."""
    query = update.pre_checkout_query
    if context.bot.was_answered(query.id):
        return
    log.error("pre-checkout query answered by no payment handler")
    await query.answer(ok=False, error_message=context.t("payment.unavailable"))


async def unhandled_payment(update: Update, context: BotContext) -> None:
    """A successful payment no payment handler took: money was taken, so an operator must see it (the log
    names no one); the payer is not told "not understood"."""
    log.error("successful payment taken by no payment handler (update %s)", update.update_id)


async def other_message(update: Update, context: BotContext) -> None:
    """A sticker, voice note, location...: say what we understand, and repeat an open question."""
    await update.message.reply_text(context.t("err.not_understood"))
    if context.owner and context.owner.dialog:
        await ask_current(update, context)


async def on_error(update: object, context: BotContext) -> None:
    """Answers the failed update once, then stops it: no later group runs after a failure (after a failed
    consent gate that would be a handler running unchecked; after a refused pre-checkout query, a second
    answer)."""
    if not isinstance(update, Update):
        return
    if await _payment_unrecorded(update, context):
        # Telegram took the money: the update must come again until the charge is in the ledger (nothing
        # is said now; the redelivery confirms or refunds, once)
        ask_redelivery("successful payment not recorded")
        log.warning("successful payment not recorded: %s; given back for redelivery", type(context.error).__name__)
        raise ApplicationHandlerStop
    try:
        await _answer_failure(update, context)
    except Exception as err:  # noqa: BLE001 — the type only, like any failure (messages name people)
        log.error("answering a failed update failed: %s", type(err).__name__)
    raise ApplicationHandlerStop


async def _payment_unrecorded(update: Update, context: BotContext) -> bool:
    """A successful payment whose charge the ledger lacks (or cannot be read now): its handler failed
    before recording it (a Firestore outage, contention that outlasted the retries)."""
    paid = update.message.successful_payment if update.message else None
    if paid is None:
        return False
    bookings = getattr(context.services, "bookings", None)
    try:
        return bookings is None or await bookings.ledger(paid.telegram_payment_charge_id) is None
    except Exception:  # noqa: BLE001 - unknown: ask for it again (applying a charge twice changes nothing)
        return True


async def _answer_failure(update: Update, context: BotContext) -> None:
    error = context.error
    checkout = update.pre_checkout_query
    if checkout is not None and not context.bot.was_answered(checkout.id):
        try:  # Telegram cancels the payment unless it is answered within 10 s: refuse it now
            await checkout.answer(ok=False, error_message=context.t("payment.unavailable"))
        except Exception as err:  # noqa: BLE001 — reported below with the error that brought us here
            log.error("refusing a pre-checkout query failed: %s", type(err).__name__)
    query = update.callback_query
    unanswered = query is not None and not context.bot.was_answered(query.id)
    if isinstance(error, OwnerGone):  # erased meanwhile: nothing was written, nothing is said
        if unanswered:
            await query.answer()
        return
    if isinstance(error, StaleUpdate):  # a racing update of the same person took this step first
        if unanswered:
            await query.answer(context.t("err.outdated_button"))
        elif update.effective_chat:
            await update.effective_chat.send_message(context.t("err.step_taken"))
        return
    if is_undelivered(error):  # Telegram unreachable: the webhook logs it; another send would fail too
        return
    # The type and where it happened, not the message: messages carry owners' texts and document paths
    # with their Telegram ids.
    log.error("handler failed: %s\n%s", type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
    if unanswered:
        await query.answer()
    if update.effective_chat:
        await update.effective_chat.send_message(context.t("err.internal"))


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(CallbackQueryHandler(outdated_button))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, unhandled_payment))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, other_message))
    app.add_handler(PreCheckoutQueryHandler(unhandled_checkout), group=LAST_GROUP)
    app.add_error_handler(on_error)

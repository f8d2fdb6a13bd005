"""Whatever no feature handled: unknown commands, outdated buttons, stickers and the like."""
from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from shared.bot.context import BotContext
from shared.bot.handlers.pet_dialog import ask_current
from shared.bot.request import is_undelivered
from shared.services.unit_of_work import OwnerGone, StaleUpdate

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: BotContext) -> None:
    await update.message.reply_text(context.t("err.unknown_command"))


async def outdated_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.t("err.outdated_button"))


async def other_message(update: Update, context: BotContext) -> None:
    """A sticker, voice note, location...: say what we understand, and repeat an open question."""
    await update.message.reply_text(context.t("err.not_understood"))
    if context.owner and context.owner.dialog:
        await ask_current(update, context)


async def on_error(update: object, context: BotContext) -> None:
    error = context.error
    if not isinstance(update, Update):
        return
    query = update.callback_query
    unanswered = query is not None and not context.bot.was_answered(query.id)
    if isinstance(error, OwnerGone):  # erased meanwhile: nothing was written, nothing is said
        if unanswered:
            await query.answer()
        return
    if isinstance(error, StaleUpdate):  # a racing update of the same person took this step first
        if unanswered:
            await query.answer(context.t("err.outdated_button"))
        else:
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
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, other_message))
    app.add_error_handler(on_error)

"""Answering a button press: edit the message it came from, or send a new one when that message is gone."""
from __future__ import annotations

import asyncio
from typing import Awaitable

from telegram import InlineKeyboardMarkup, Update
from telegram._utils.types import ReplyMarkup
from telegram.error import BadRequest

from shared.bot import request


async def edit_or_send(update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    try:
        await update.callback_query.edit_message_text(text, reply_markup=reply_markup)
    except BadRequest as err:
        if "not modified" not in err.message.lower():  # deleted, too old, or from another chat
            await update.effective_chat.send_message(text, reply_markup=reply_markup)
    except TypeError:  # the pressed message is inaccessible to the bot (Telegram sends no content)
        await update.effective_chat.send_message(text, reply_markup=reply_markup)


async def drop_keyboard(update: Update) -> None:
    """Removes the buttons under an answered question so they cannot be pressed twice; best effort."""
    try:
        await update.callback_query.edit_message_reply_markup(reply_markup=None)
    except (BadRequest, TypeError):
        pass


async def together(*steps: Awaitable) -> None:
    """Runs independent steps of one update at once (Bot API calls that need not wait for each other or
    for the commit) and returns when all are done; then raises the first failure, in argument order, so
    the error handler sees the step that matters most (put the one that commits first). Unlike a bare
    gather, nothing is left running behind the update when one step fails."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def send_last(update: Update, text: str, reply_markup: ReplyMarkup | None = None) -> None:
    """Sends the update's last message (a dialog's next question, the record it saved) as its last word
    (request.last_word): in the webhook's response when nothing else took it, else as a request. For
    messages whose id is never needed again (their buttons carry their answers): no Message comes back."""
    chat_id = update.effective_chat.id
    if not request.last_word("sendMessage", {"chat_id": chat_id, "text": text, "reply_markup": reply_markup}):
        await update.get_bot().send_message(chat_id, text, reply_markup=reply_markup)


async def replace_pressed(update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """The pressed message becomes `text` (a dialog's next question, or the record it saved), its buttons
    with it: one edit, as the update's last word (request.last_word: in the webhook's response when nothing
    else took it), so a press costs one request besides (its answer). A new message when the pressed one is
    out of reach (Telegram sent no content) or the edit is refused."""
    message = update.callback_query.message
    if message is None or not message.is_accessible:
        await send_last(update, text, reply_markup)
        return
    params = {"chat_id": message.chat.id, "message_id": message.message_id, "text": text, "reply_markup": reply_markup}
    if not request.last_word("editMessageText", params):
        await edit_or_send(update, text, reply_markup)


async def answer_now(query) -> None:
    """Answers a button press with a request sent at once (request.sent_now), not in the webhook's response.
    Telegram refuses a second answer: that is a redelivery of an update whose first delivery answered
    before it failed (the webhook's 500), and nothing is left to do."""
    with request.sent_now():
        try:
            await query.answer()
        except BadRequest as err:
            if "query is too old" not in err.message.lower():
                raise

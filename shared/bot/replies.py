"""Answering a button press: edit the message it came from, or send a new one when that message is gone."""
from __future__ import annotations

import asyncio
from typing import Awaitable

from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest


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

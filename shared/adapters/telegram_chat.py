"""The few Bot API calls the photo pipeline makes, behind a small class (python-telegram-bot inside).

Used by the webhook (download the owner's file, progress message) and by the triage function (edit
the progress message into the result). The services hand it notices (data); the renderer it is built
with (shared/bot/triage_messages.render) makes their text and buttons in the owner's language. Tests give
the services a fake with the same methods (tests/fakes.FakeChat, which renders the same way).
"""
from __future__ import annotations

from shared.domain.photos import MAX_DOWNLOAD_BYTES, PhotoRejected


def _markup(buttons):
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data) for text, data in row]
                                 for row in buttons])


class BotChat:
    """``render(language, notice) -> (text, buttons)``; buttons: rows of (text, callback_data) or None."""

    def __init__(self, bot, render):
        self.bot = bot
        self.render = render

    async def chat_action(self, chat_id: int) -> None:
        from telegram.error import TelegramError

        try:
            await self.bot.send_chat_action(chat_id, "typing")
        except TelegramError:  # progress is a courtesy: never fail the work for it
            pass

    async def send(self, chat_id: int, notice, *, language: str) -> int:
        return await self._send(chat_id, *self.render(language, notice))

    async def _send(self, chat_id: int, text: str, buttons=None) -> int:
        msg = await self.bot.send_message(chat_id, text, reply_markup=_markup(buttons))
        return msg.message_id

    async def edit(self, chat_id: int, message_id: int, notice, *, language: str) -> None:
        """Edits a message; editing to the same content again (a redelivery) is not an error."""
        from telegram.error import BadRequest

        text, buttons = self.render(language, notice)

        try:
            await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                             reply_markup=_markup(buttons))
        except BadRequest as err:
            msg = str(err).lower()
            if "not modified" in msg:
                return
            if "not found" in msg or "can't be edited" in msg:
                await self._send(chat_id, text, buttons)  # the owner deleted it: answer anyway
                return
            raise

    async def download(self, file_id: str) -> bytes:
        """getFile + download through the Bot API file URL; PhotoRejected if Telegram will not give it."""
        from telegram.error import BadRequest

        try:
            tg_file = await self.bot.get_file(file_id)
        except BadRequest as err:
            if "too big" in str(err).lower():
                raise PhotoRejected("photo.too_big", mb=MAX_DOWNLOAD_BYTES // (1024 * 1024)) from None
            raise PhotoRejected("photo.unavailable") from None
        if tg_file.file_size and tg_file.file_size > MAX_DOWNLOAD_BYTES:
            raise PhotoRejected("photo.too_big", mb=MAX_DOWNLOAD_BYTES // (1024 * 1024))
        data = bytes(await tg_file.download_as_bytearray())
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise PhotoRejected("photo.too_big", mb=MAX_DOWNLOAD_BYTES // (1024 * 1024))
        return data

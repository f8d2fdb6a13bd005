"""Telegram's webhook delivery: authenticate, deduplicate, hand the update to the Application."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging

from telegram import Update
from telegram.ext import Application

from shared.bot.request import delivery_scope

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # real updates are a few KB
# Time the Bot API calls of one update may spend on retries (see shared.bot.request): Telegram's webhook
# timeout is undocumented; client libraries keep their answer within ~10 s, so do we, with room to spare.
SEND_BUDGET = 8.0

log = logging.getLogger(__name__)


class TelegramWebhook:
    def __init__(self, app: Application, secret: str, update_log, clock, owners=None,
                 reply_in_response: bool = False):
        self._app = app
        # A button press's answer goes back in the response, for Telegram to execute (request.IN_RESPONSE);
        # then the response is that call's parameters (a dict, sent as JSON) instead of a word.
        self._reply_in_response = reply_in_response
        self._secret = secret
        self._update_log = update_log
        self._clock = clock
        self._owners = owners
        # update_id -> the sender's owner read, started alongside the claim (see BotContext.load_owner)
        self.prefetched: dict[int, asyncio.Future] = {}

    async def handle(self, secret_header: str | None, body: bytes) -> tuple[int, str | dict]:
        if not hmac.compare_digest((secret_header or "").encode(), self._secret.encode()):
            return 403, "forbidden"
        if len(body) > MAX_BODY:
            return 413, "too large"
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, "not json"
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if type(update_id) is not int:
            return 400, "no update_id"
        sender = _sender_id(payload)
        owner_read = asyncio.ensure_future(self._owners.get(sender)) if self._owners and sender else None
        claim = asyncio.ensure_future(self._update_log.claim(update_id, self._clock()))
        try:
            await self._app.initialize()  # once per instance (getMe), alongside the claim; then a no-op
        except Exception:
            if await claim:
                await self._update_log.release(update_id)  # Telegram will redeliver
            raise
        if not await claim:
            if owner_read:
                owner_read.cancel()
            return 200, "duplicate"
        if owner_read:
            self.prefetched[update_id] = owner_read
        try:
            update = Update.de_json(payload, self._app.bot)
        except Exception as exc:  # a shape PTB cannot parse will not parse on redelivery either
            log.warning("unparseable update %s: %s", update_id, type(exc).__name__)
            self.prefetched.pop(update_id, None)
            return 200, "ignored"
        try:
            with delivery_scope(SEND_BUDGET, may_reply=self._reply_in_response) as delivery:
                await self._app.process_update(update)
        except Exception:
            # Handler errors go to the error handler; what reaches here is our infrastructure failing,
            # so give the update back for Telegram to redeliver. A last word was said after the step
            # committed, and the 500 throws the response away: it goes as a request (the redelivery finds
            # the step taken).
            await self._update_log.release(update_id)
            if delivery.last_word:
                await self._app.bot.request.send_last_word(self._app.bot.base_url, delivery)
            raise
        finally:
            self.prefetched.pop(update_id, None)
            query = update.callback_query or update.pre_checkout_query
            if query:
                self._app.bot.forget_answer(query.id)
        if delivery.redeliver:  # a handler asked for it (request.ask_redelivery): not consumed
            await self._update_log.release(update_id)
            log.error("update %s given back for redelivery: %s", update_id, delivery.redeliver)
            return 500, "retry"
        status, word = self._undelivered(update_id, delivery) if delivery.failed else (200, "ok")
        return status, delivery.reply or word  # the press's answer goes all the same

    @staticmethod
    def _undelivered(update_id: int, delivery) -> tuple[int, str]:
        """A reply Telegram did not take within the budget, retries included (shared.bot.request).

        The update is consumed all the same (200): its state was committed before the reply was sent
        (handlers save, then tell), so a redelivery would run the handler on the next step's state and
        take the step twice.
        The dialog is resumable instead: /help, or an answer the open question cannot take, asks it
        again. What was lost is logged as an error, by method and reason, never by content.
        """
        lost = [f"{c.method} ({c.reason})" for c in delivery.undelivered] + [f"{m} (upload)" for m in delivery.lost]
        log.error("reply undelivered for update %s: %s", update_id, ", ".join(lost))
        return 200, "reply undelivered"


def _sender_id(payload: dict) -> int | None:
    """The Telegram user behind a message, a button press or a payment, read before PTB parses the update."""
    for key in ("message", "callback_query", "pre_checkout_query"):
        body = payload.get(key)
        sender = body.get("from") if isinstance(body, dict) else None
        user_id = sender.get("id") if isinstance(sender, dict) else None
        if type(user_id) is int:
            return user_id
    return None

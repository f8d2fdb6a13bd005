"""Builds the python-telegram-bot Application for webhook mode: no Updater, state kept in Firestore."""
from __future__ import annotations

import ssl

from telegram import Update
from telegram.ext import Application, ContextTypes, ExtBot, TypeHandler
from telegram.request import HTTPXRequest

from shared.bot.context import BotContext
from shared.bot.request import RetryingRequest
from shared.bot.handlers import fallback, onboarding, pet_dialog, pets
from shared.bot.handlers import photo
from shared.bot.handlers import booking_ops, bookings, conclusion, consult, diary, payments, reminders
from shared.bot.handlers import vet_application, vet_ops, vet_schedule


class AnswerTrackingBot(ExtBot):
    """Knows which button presses and pre-checkout queries were answered: Telegram refuses a second
    answer, and the error handler must answer one only if the failed handler had not."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with self._unfrozen():
            self._answered: set[str] = set()

    async def answer_callback_query(self, callback_query_id: str, *args, **kwargs) -> bool:
        self._answered.add(callback_query_id)
        return await super().answer_callback_query(callback_query_id, *args, **kwargs)

    async def answer_pre_checkout_query(self, pre_checkout_query_id: str, *args, **kwargs) -> bool:
        self._answered.add(pre_checkout_query_id)
        return await super().answer_pre_checkout_query(pre_checkout_query_id, *args, **kwargs)

    def was_answered(self, callback_query_id: str) -> bool:
        return callback_query_id in self._answered

    def forget_answer(self, callback_query_id: str) -> None:
        """Called when the update is done (ids are unique: nothing else would remove it)."""
        self._answered.discard(callback_query_id)


def build_application(token: str, api_base: str, services, ops_ids: frozenset[int] = frozenset(),
                      ops_chat_id: int | None = None, miniapp_url: str = "") -> Application:
    """``ops_ids``: the Telegram ids of operations staff (Settings.ops_user_ids; BotContext.is_ops);
    ``ops_chat_id``: where ops are told what needs them (Settings.ops_chat_id; handlers.vet_ops);
    ``miniapp_url``: the Mini App (MINIAPP_URL), which /pets and /consult offer as a web_app button."""
    # PTB builds two HTTP clients (calls and getUpdates); each would load the CA bundle on its own,
    # a measurable part of a cold start, so they share one TLS context.
    tls = {"verify": ssl.create_default_context()}
    bot = AnswerTrackingBot(token, base_url=f"{api_base}/bot", base_file_url=f"{api_base}/file/bot",
                            request=RetryingRequest(httpx_kwargs=tls),
                            get_updates_request=HTTPXRequest(connection_pool_size=1, httpx_kwargs=tls))
    app = (
        Application.builder()
        .bot(bot)
        .updater(None)
        .context_types(ContextTypes(context=BotContext))
        .build()
    )
    app.bot_data["services"] = services
    app.bot_data["ops_ids"] = frozenset(ops_ids)
    app.bot_data["ops_chat_id"] = ops_chat_id
    app.bot_data["miniapp_url"] = miniapp_url
    # group -1: the consent gate and router (onboarding.require_consent says which updates pass).
    # group 0: the features, in order. Payment handlers (PreCheckoutQueryHandler, a MessageHandler on
    # filters.SUCCESSFUL_PAYMENT) and web_app_data handlers (filters.StatusUpdate.WEB_APP_DATA) go
    # here with their feature, before fallback (whose catch-all message handler would take them).
    # group fallback.LAST_GROUP: a pre-checkout query nobody answered is refused there.
    app.add_handler(TypeHandler(Update, onboarding.require_consent), group=-1)
    # order matters: the text handlers chain - vet_ops takes replies to its reason requests, then
    # vet_application's answers its steps and hands the rest to vet_schedule, diary and pet_dialog in
    # turn; vet_application's photo handler hands photos outside its dialog to photo; fallback last
    # conclusion's message handler takes only replies to a consultation's messages (relayed to the other
    # party), so it goes before every text and photo handler; its dialogs' typed answers come through
    # pet_dialog.ANSWERERS at the end of the text chain
    for feature in (onboarding, pets, reminders, conclusion, vet_ops, booking_ops, vet_application, vet_schedule,
                    consult, payments, bookings, diary, pet_dialog, photo, fallback):
        feature.register(app)
    return app

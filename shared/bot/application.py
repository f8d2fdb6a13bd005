"""Builds the python-telegram-bot Application for webhook mode: no Updater, state kept in Firestore."""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from shared.bot.context import BotContext
from shared.bot.handlers import fallback, onboarding, pet_dialog, pets
from shared.bot.handlers import photo
from shared.bot.handlers import diary, reminders


def build_application(token: str, api_base: str, services) -> Application:
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{api_base}/bot")
        .base_file_url(f"{api_base}/file/bot")
        .updater(None)
        .context_types(ContextTypes(context=BotContext))
        .build()
    )
    app.bot_data["services"] = services
    app.add_handler(TypeHandler(Update, onboarding.require_consent), group=-1)
    # order matters: diary before pet_dialog (its text handler answers diary steps and hands the rest
    # to pet_dialog.on_text), fallback last
    for feature in (onboarding, pets, reminders, diary, pet_dialog, photo, fallback):
        feature.register(app)
    return app

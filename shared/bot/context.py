"""The per-update context handlers get: the acting owner (read once per update) and translations."""
from __future__ import annotations

from telegram.ext import Application, CallbackContext, ExtBot

from shared.domain.owners import Owner, language_for
from shared.i18n import t


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """PTB builds one context per update, so the owner loaded by `load_owner` is this update's owner."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None):
        super().__init__(application, chat_id, user_id)
        self.owner: Owner | None = None
        self.language = "ru"

    @property
    def services(self):
        return self.application.bot_data["services"]

    def t(self, key: str, **params) -> str:
        return t(self.language, key, **params)

    async def load_owner(self, update_id: int, user) -> None:
        """The webhook usually started this read while claiming the update; otherwise read it now."""
        prefetched = self.application.bot_data.get("prefetched", {}).get(update_id)
        self.owner = await (prefetched if prefetched is not None else self.services.owners.get(user.id))
        self.language = self.owner.language if self.owner else language_for(user.language_code)

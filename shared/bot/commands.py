"""The bot's command menu in each language (setMyCommands with language_code)."""
from __future__ import annotations

from telegram import Bot, BotCommand, BotCommandScopeChat

from shared.domain.owners import SUPPORTED_LANGUAGES
from shared.i18n import t

MENU = ("start", "pets", "addpet", "consult", "bookings", "diary", "weight", "vaccines", "food", "activity",
        "timezone", "language", "help", "cancel", "privacy", "vet")
# A verified vet's chat gets these too (published when ops approve them); anyone else who types them is
# told how to become a vet.
VET_MENU = MENU + ("schedule", "pause", "resume")


def commands(lang: str, vet: bool = False) -> list[BotCommand]:
    return [BotCommand(name, t(lang, f"command.{name}")) for name in VET_MENU if vet or name in MENU]


class CommandMenu:
    def __init__(self, bot: Bot):
        self._bot = bot

    async def publish_all(self) -> None:
        """Default menu in Russian (our first language), plus one per supported client language."""
        await self._bot.set_my_commands(commands(SUPPORTED_LANGUAGES[0]))
        for lang in SUPPORTED_LANGUAGES:
            await self._bot.set_my_commands(commands(lang), language_code=lang)

    async def publish_for(self, chat_id: int, lang: str, vet: bool = False) -> None:
        """An owner who picked a language other than their client's gets the menu in it too; a verified
        vet gets the vet's commands as well."""
        await self._bot.set_my_commands(commands(lang, vet), scope=BotCommandScopeChat(chat_id))

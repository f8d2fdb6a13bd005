"""Ops step: publish the bot's command menu in every language (run by deploy.sh and the local demo)."""
import asyncio

from telegram import Bot

from shared.bot.commands import CommandMenu
from shared.config import Settings


async def main() -> None:
    settings = Settings.from_env()
    async with Bot(settings.bot_token, base_url=f"{settings.telegram_api_base}/bot") as bot:
        await CommandMenu(bot).publish_all()


if __name__ == "__main__":
    asyncio.run(main())

"""The scripted owner conversation: brings the local stack up, plays an owner, prints the chat."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from infra.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def publish_commands(info: dict) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": info["bot_token"], "TELEGRAM_WEBHOOK_SECRET": info["webhook_secret"],
           "TELEGRAM_API_BASE": info["telegram_api_base"], "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "infra.publish_commands"], env=env, check=True, cwd=ROOT)


def profiles(chat: OwnerChat) -> None:
    """Onboarding and pet profiles (issue 2)."""
    chat.send("/start")
    chat.press("Согласен")
    chat.press("Добавить питомца")
    chat.press("Кошка")
    chat.send("М" * 500)              # a 500-character name
    chat.send("Мурка")
    chat.press("Британская")
    chat.press("Девочка")
    chat.send("01.01.2030")           # a birth date in the future
    chat.send("3 года")
    chat.send("abc")                  # not a weight
    chat.send("45")                   # no cat weighs 45 kg
    chat.send("4,2")
    chat.press("Да")
    chat.send("/addpet")
    chat.press("Собака")
    chat.send("Шарик")
    chat.send("Дворняга")
    chat.press("Мальчик")
    chat.press("Не знаю")
    chat.send("18")
    chat.press("Нет")
    chat.send("/pets")
    chat.press("Мурка")
    chat.press("Изменить")
    chat.press("Вес")
    chat.send("4,5 кг")
    chat.send("/pets")
    chat.press("Шарик")
    chat.press("Удалить")
    chat.press("Да, удалить")
    chat.send("/pets")
    chat.send("/fly")                 # an unknown command
    chat.send("/language")
    chat.press("English")
    chat.send("/help")


def main() -> int:
    with LocalStack(ROOT).running() as info:
        publish_commands(info)
        client = BotApiDoubleClient(info["telegram_api_base"])
        chat = OwnerChat(client, user_id=700001, language_code="ru", first_name="Анна")
        profiles(chat)
        print("\n".join(chat.transcript))
        menus = client.calls(method="setMyCommands")
        print(f"\n(command menus published: {', '.join(c['params'].get('language_code', 'default') for c in menus)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The bot with fake repositories and the in-process Bot API double: fast tests of handlers."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from infra.local.bot_api_double import BotApiDouble, UpdateFactory
from shared.bootstrap import WebhookServices
from shared.bot.application import build_application
from shared.bot.handlers import fallback
from shared.bot.webhook import TelegramWebhook
from tests.fakes import (FakeDiary, FakeOwners, FakePets, FakePhotoStorage, FakeReminders, FakeStats,
                         FakeTriageResults, FakeUnitOfWork, FakeUpdateLog, FakeVets)

TOKEN = "123456:UNIT-TEST"
SECRET = "unit-secret"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


class BotHarness:
    """`services` is the webhook's frozen container over fakes (reach into the fakes through it); the
    clock is the harness's: set `harness.clock` to move it."""

    def __init__(self, double: BotApiDouble):
        self.double = double
        self.clock = lambda: NOW
        self.services = WebhookServices(
            owners=FakeOwners(), pets=FakePets(), diary=FakeDiary(), reminders=FakeReminders(),
            triage=FakeTriageResults(), photos=FakePhotoStorage(), vets=FakeVets(), update_log=FakeUpdateLog(),
            stats=FakeStats(),
            clock=lambda: self.clock(), unit_of_work=lambda owner: FakeUnitOfWork(self.services, owner))
        self.app = build_application(TOKEN, double.base_url, self.services)
        self.webhook = TelegramWebhook(self.app, SECRET, self.services.update_log, self.services.clock)
        self.updates = UpdateFactory(double)
        self.crashes: list[logging.LogRecord] = []  # what fallback.on_error logged as a handler failure
        self.crash_ok = False  # a test of that path sets it

    async def deliver(self, update: dict, secret: str = SECRET) -> int:
        """Fails the test when a handler raised: the webhook still answers 200 then (the error handler,
        fallback.on_error, logs the failure and tells the person "something went wrong")."""
        crashes = _Recorder()
        fallback.log.addHandler(crashes)
        try:
            status, _ = await self.webhook.handle(secret, json.dumps(update).encode())
        finally:
            fallback.log.removeHandler(crashes)
        self.crashes += crashes.records
        assert self.crash_ok or not crashes.records, crashes.records[0].getMessage()
        return status

    async def say(self, text: str, user_id: int, lang: str = "ru") -> list[str]:
        """Sends text (or a /command) and returns the texts the bot sent or edited in reply."""
        seq = self._seq()
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            update = self.updates.command(command, args, user_id=user_id, language_code=lang)
        else:
            update = self.updates.message(text, user_id=user_id, language_code=lang)
        assert await self.deliver(update) == 200
        return self.replies(seq)

    async def press(self, data: str, user_id: int, lang: str = "ru") -> list[str]:
        seq = self._seq()
        assert await self.deliver(self.updates.callback(data, user_id=user_id, language_code=lang)) == 200
        return self.replies(seq)

    def replies(self, since: int) -> list[str]:
        return [c["params"].get("text") or "" for c in self.double.calls(since=since)
                if c["method"] in ("sendMessage", "editMessageText", "answerCallbackQuery") and
                (c["params"].get("text"))]

    def last_buttons(self, user_id: int) -> dict[str, str]:
        """Text → callback data of the newest inline keyboard the owner sees."""
        for message in reversed(self.double.messages(user_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard")
            if rows:
                return {b["text"]: b["callback_data"] for row in rows for b in row}
        return {}

    def _seq(self) -> int:
        return self.double.last_seq()

    async def onboard(self, user_id: int, lang: str = "ru") -> None:
        await self.say("/start", user_id, lang)
        await self.press(f"consent:yes:{lang}", user_id, lang)

    async def add_pet(self, user_id: int, species="cat", name="Мурка", weight="4,2", lang="ru") -> str:
        await self.press("pet:add", user_id, lang)
        await self.press(f"f:species:{species}", user_id, lang)
        await self.say(name, user_id, lang)
        await self.press("f:breed:skip", user_id, lang)
        await self.press("f:sex:female", user_id, lang)
        await self.say("3", user_id, lang)
        await self.say(weight, user_id, lang)
        await self.press("f:neutered:yes", user_id, lang)
        pets = await self.services.pets.list(user_id)
        return next(p.id for p in pets if p.name == name)


class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

"""The one place that wires configuration, real clients, repositories and the bot together."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from shared.config import Settings


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    """What handlers and use cases are given: repositories and clients, no globals."""

    owners: object
    pets: object
    update_log: object
    stats: object
    clock: Callable[[], datetime] = utcnow
    commands: object = None


class LoopThread:
    """One asyncio loop per instance, in its own thread.

    functions-framework calls us from worker threads; async clients (PTB's httpx, Firestore's gRPC)
    must stay on the loop they were created on, so every request runs its coroutine here.
    """

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="event-loop", daemon=True).start()

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def firestore_services(settings: Settings) -> Services:
    from google.cloud import firestore

    from shared.adapters.firestore_repositories import (
        FirestoreOwners, FirestorePets, FirestoreUpdateLog, OpStats,
    )

    client = firestore.AsyncClient(project=settings.project)
    stats = OpStats()
    return Services(owners=FirestoreOwners(client, stats), pets=FirestorePets(client, stats),
                    update_log=FirestoreUpdateLog(client, stats), stats=stats)


class WebhookInstance:
    """Everything a telegram_webhook instance keeps between requests."""

    def __init__(self, settings: Settings):
        from shared.bot.application import build_application
        from shared.bot.commands import CommandMenu
        from shared.bot.webhook import TelegramWebhook

        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(firestore_services, settings))
        self.app = build_application(settings.bot_token, settings.telegram_api_base, self.services)
        self.services.commands = CommandMenu(self.app.bot)
        self.webhook = TelegramWebhook(self.app, settings.webhook_secret, self.services.update_log,
                                       self.services.clock)

    def handle(self, secret_header: str | None, body: bytes) -> tuple[int, str]:
        return self.runner.run(self.webhook.handle(secret_header, body))


async def _on_loop(factory, *args):
    return factory(*args)

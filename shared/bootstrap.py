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
    diary: object = None        # health diary entries (issue 3)
    reminders: object = None    # due vaccination/treatment reminders (issue 3)
    photos: object = None   # photo triage: Cloud Storage for cleaned photos (PhotoStorage)
    triage: object = None   # photo triage: results in the pet's record (FirestoreTriage)
    # owner -> the unit of work of one update of theirs (its repositories stage writes; commit() applies)
    unit_of_work: Callable[[object], object] | None = None


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

    from shared.adapters.firestore_uow import FirestoreUnitOfWork

    client = firestore.AsyncClient(project=settings.project)
    stats = OpStats()
    services = Services(owners=FirestoreOwners(client, stats), pets=FirestorePets(client, stats),
                        update_log=FirestoreUpdateLog(client, stats), stats=stats,
                        unit_of_work=lambda owner: FirestoreUnitOfWork(client, stats, owner))
    _add_triage(services, client, stats, settings)
    _add_diary(services, client, stats)
    return services


def _add_diary(services: Services, client, stats) -> None:
    """Health diary and reminders repositories (issue 3)."""
    from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders

    services.diary = FirestoreDiary(client, stats)
    services.reminders = FirestoreReminders(client, stats)


def _add_triage(services: Services, client, stats, settings: Settings) -> None:
    """Photo triage repositories; the Storage client inside PhotoStorage is created on first use."""
    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.adapters.photo_storage import PhotoStorage

    services.triage = FirestoreTriage(client, stats)
    services.photos = PhotoStorage(settings.photos_bucket, settings.project)


class WebhookInstance:
    """Everything a telegram_webhook instance keeps between requests."""

    def __init__(self, settings: Settings):
        if not settings.webhook_secret:  # without it anyone could post updates as Telegram
            raise RuntimeError("missing configuration: TELEGRAM_WEBHOOK_SECRET")
        _require_photo_path_key(settings)  # intake and erasure name photos by it
        from shared.bot.application import build_application
        from shared.bot.commands import CommandMenu
        from shared.bot.webhook import TelegramWebhook

        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(firestore_services, settings))
        self.app = build_application(settings.bot_token, settings.telegram_api_base, self.services)
        self.services.commands = CommandMenu(self.app.bot)
        self.webhook = TelegramWebhook(self.app, settings.webhook_secret, self.services.update_log,
                                       self.services.clock, owners=self.services.owners)
        self.app.bot_data["prefetched"] = self.webhook.prefetched

    def handle(self, secret_header: str | None, body: bytes) -> tuple[int, str]:
        return self.runner.run(self.webhook.handle(secret_header, body))


class JobsInstance:
    """Everything a scheduled_jobs instance keeps between requests: Firestore and a bare Bot (no
    Application, no handlers: the cold path stays light)."""

    def __init__(self, settings: Settings):
        from telegram import Bot

        from shared.bot.handlers.reminders import ReminderSender

        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(firestore_services, settings))
        self.bot = Bot(settings.bot_token, base_url=f"{settings.telegram_api_base}/bot",
                       base_file_url=f"{settings.telegram_api_base}/file/bot")
        self.sender = ReminderSender(self.bot)

    def run(self, job: str, now: datetime | None = None) -> dict:
        return self.runner.run(self._run(job, now or self.services.clock()), timeout=280)

    async def _run(self, job: str, now: datetime) -> dict:
        from shared.services import reminders as reminder_service

        if job != "due_reminders":
            raise KeyError(job)
        result = await reminder_service.due_reminders(self.services.reminders, self.sender, now,
                                                      stats=self.services.stats)
        return {"job": job, "now": now.isoformat(), **result.as_dict()}


async def _on_loop(factory, *args):
    return factory(*args)


class TriageInstance:
    """Everything a photo_triage instance keeps between events: clients, the bot and the model (loaded once)."""

    def __init__(self, settings: Settings, model_loader: Callable[[], object] | None = None):
        from telegram import Bot

        from shared.adapters import images
        from shared.adapters.telegram_chat import BotChat

        _require_photo_path_key(settings)  # a photo's path must name its owner's folder
        self.settings = settings
        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(firestore_services, settings))
        self.bot = Bot(settings.bot_token, base_url=f"{settings.telegram_api_base}/bot",
                       base_file_url=f"{settings.telegram_api_base}/file/bot")
        self.chat = BotChat(self.bot)
        self.images = images
        self.model = (model_loader or _load_skin_model)()

    def handle(self, event) -> str:
        """One storage event (a triage.ObjectEvent); raises triage.BadEvent for another bucket."""
        from shared.services import triage as triage_service

        s = self.services
        return self.runner.run(triage_service.handle_object_event(
            event, bucket=self.settings.photos_bucket, pets=s.pets, results=s.triage, storage=s.photos,
            chat=self.chat, model=self.model, images=self.images, clock=s.clock), timeout=110)


def _require_photo_path_key(settings: Settings) -> None:
    if not settings.photo_path_key:
        raise RuntimeError("missing configuration: PHOTO_PATH_KEY")


def _load_skin_model():
    """The shipped ONNX model (SKIN_MODEL_DIR overrides the version); None if none is shipped, so the
    function answers "automatic analysis unavailable" instead of failing every event."""
    import logging
    import os

    from shared.adapters.skin_model import SkinModel

    model_dir = os.environ.get("SKIN_MODEL_DIR") or None
    try:
        model = SkinModel.load(model_dir)
    except FileNotFoundError:
        logging.getLogger(__name__).error("no skin model found: triage answers 'unavailable'")
        return None
    # One warm-up run: the first session.run pays for allocations; pay it at instance start, not per owner.
    from PIL import Image

    model.predict(Image.new("RGB", (model.input_size, model.input_size), (128, 100, 90)))
    return model

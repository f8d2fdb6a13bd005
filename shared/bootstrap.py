"""The one place that wires configuration, real clients, repositories and the bot together.

Each function has its own container (a frozen dataclass typed with the Protocols of
shared/services/repositories.py) built in one place, with only what that function uses:
WebhookServices (webhook_services), JobsServices (jobs_services), TriageServices (triage_services).
Nothing is set on a container after it is built. A new function (booking callbacks, the Mini App's API)
gets its own container and builder here; a new repository goes only into the containers of the functions
that use it (tests/test_containers.py keeps each container to what its function reads).
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from shared.config import CallbacksSettings, MiniAppSettings, Settings

if TYPE_CHECKING:  # the containers' types: a function imports for real only the adapters and rules it runs
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_conclusions import FirestoreConclusions, LabelPhotos
    from shared.domain.owners import Owner
    from shared.services.consultation_tasks import Bookings, Consultations, Participants, ProviderLedger
    from shared.services.payments import PaymentsConfig
    from shared.services.ports import PaymentProvider, TaskQueue, VideoRooms
    from shared.services.repositories import (
        Calendars, Diary, Owners, Pets, PhotoStore, Reminders, StagedOwners, Stats, TriageRecords, UnitOfWork,
        UpdateLog, Vets,
    )


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def service_clock(settings: Settings) -> Callable[[], datetime]:
    """The functions' clock: utcnow, or on the local stack (Settings.clock_file) the real time moved on by
    the seconds the stack's clock mover wrote to that file (LocalStack.move_clock: tests and the demo play a
    consultation days ahead - the vet's conclusion after the call, the video provider's webhooks)."""
    if not settings.clock_file:
        return utcnow
    from pathlib import Path

    path = Path(settings.clock_file)

    def moved() -> datetime:
        try:
            offset = float(path.read_text() or 0)
        except (OSError, ValueError):  # no file: the clock is not moved
            offset = 0.0
        return utcnow() + timedelta(seconds=offset)

    return moved


@dataclass(frozen=True, kw_only=True)
class WebhookServices:
    """What the telegram_webhook function's handlers and use cases are given, built once per instance
    (bootstrap.webhook_services) and never changed: an owner's update sees a copy whose repositories are
    its unit of work's (BotContext.load_owner, dataclasses.replace). Bot API helpers (the command menu,
    the photo chat) are no services: the bot layer makes them from the update's bot."""

    owners: Owners | StagedOwners   # Owners outside an update's unit of work, StagedOwners inside it
    pets: Pets
    diary: Diary
    reminders: Reminders
    triage: TriageRecords           # photo records and triage results
    photos: PhotoStore              # cleaned photos (Cloud Storage), vets' documents and portraits too
    vets: Vets                      # vets' applications, decisions, hours
    update_log: UpdateLog           # processed update ids (each update at most once)
    # owner -> the unit of work of one update of theirs (its repositories stage writes; commit() applies)
    unit_of_work: Callable[[Owner], UnitOfWork]
    stats: Stats
    # consultations: bookings, slot locks and the payments ledger; how this deployment takes money; the
    # provider's API for refunds (None: Stars, or no shop configured); the queue of hold-expiry and
    # consultation tasks (None: not configured; reads treat a run-out hold as free anyway)
    bookings: FirestoreBookings | None = None     # None only in tests of other features
    payments: PaymentsConfig | None = None
    payment_provider: PaymentProvider | None = None
    tasks: TaskQueue | None = None
    # after the call: conclusions, ratings and kept labels (their writes staged in an update's unit of work:
    # UnitOfWork.conclusions), and the kept labels' photos; None only in tests of other features
    conclusions: FirestoreConclusions | None = None
    label_photos: LabelPhotos | None = None
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True, kw_only=True)
class JobsServices:
    """What the scheduled_jobs function is given: reminders, and the vets' calendars it prunes (no bot
    layer, no telegram.ext)."""

    reminders: Reminders
    calendars: Calendars
    stats: Stats
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True, kw_only=True)
class TriageServices:
    """What the photo_triage function is given: the pet, its photo records and results, the photos."""

    pets: Pets
    triage: TriageRecords
    photos: PhotoStore
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True, kw_only=True)
class CallbacksServices:
    """What the booking_callbacks function is given: the bookings (and their payments ledger), its own
    consultation records, what the payment provider confirmed, who the participants are, and the two
    providers. Typed with the ports of services.consultation_tasks and services.ports."""

    bookings: Bookings                  # the bookings code's repository (FirestoreBookings)
    consultations: Consultations        # room, attendance, messages sent, follow-up
    ledger: ProviderLedger              # payments and refunds as YooKassa's API showed them
    participants: Participants          # languages, zones and names for the messages
    video: VideoRooms                   # Daily or LiveKit (VIDEO_PROVIDER)
    payments: PaymentProvider | None    # YooKassa; None when the deployment has no shop configured
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True, kw_only=True)
class MiniAppServices:
    """What the miniapp_api function is given (shared/miniapp/api.py): the owner's records (pets, diary,
    reminders a renamed or deleted pet takes along, photos a deleted pet takes along), the vets, bookings and
    payments of consultations, the triage results and photos a vet's patient card shows, and the unit of
    work an owner's (or a vet's) writes commit through, as the webhook's do; the consultation's record and
    the video provider (the room page's room and token; None: no provider configured), the kept labels'
    photos (a conclusion's label)."""

    owners: Owners                  # read once per request (who is asking); never written here
    pets: Pets
    diary: Diary
    reminders: Reminders
    triage: TriageRecords           # the patient card's triage photo link
    photos: PhotoStore              # a deleted pet's photos; the patient card's photo link
    vets: Vets
    unit_of_work: Callable[[Owner], UnitOfWork]
    stats: Stats
    bookings: FirestoreBookings
    payments: PaymentsConfig
    payment_provider: PaymentProvider | None = None
    tasks: TaskQueue | None = None
    consultations: Consultations | None = None
    video: VideoRooms | None = None
    label_photos: LabelPhotos | None = None
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True, kw_only=True)
class OpsServices:
    """What the ops command line (infra/ops.py) is given: vets and their photos, and owners (a vet's
    language, to tell them of a decision)."""

    vets: Vets
    photos: PhotoStore
    owners: Owners
    clock: Callable[[], datetime] = utcnow


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


def _firestore(settings: Settings):
    """One Firestore client per instance, and the counter of its reads and writes."""
    from google.cloud import firestore

    from shared.adapters.firestore_repositories import OpStats

    return firestore.AsyncClient(project=settings.project), OpStats()


def webhook_services(settings: Settings) -> WebhookServices:
    from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders
    from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, FirestoreUpdateLog
    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.adapters.firestore_uow import FirestoreUnitOfWork
    from shared.adapters.firestore_vets import FirestoreVets
    from shared.adapters.photo_storage import PhotoStorage

    from shared.adapters.firestore_conclusions import FirestoreConclusions, LabelPhotos

    client, stats = _firestore(settings)
    photos = PhotoStorage(settings.photos_bucket, settings.project)  # its Storage client: on first use
    return WebhookServices(
        owners=FirestoreOwners(client, stats), pets=FirestorePets(client, stats),
        diary=FirestoreDiary(client, stats), reminders=FirestoreReminders(client, stats),
        triage=FirestoreTriage(client, stats), photos=photos,
        vets=FirestoreVets(client, stats), update_log=FirestoreUpdateLog(client, stats),
        unit_of_work=lambda owner: FirestoreUnitOfWork(client, stats, owner), stats=stats,
        conclusions=FirestoreConclusions(client, stats), label_photos=LabelPhotos(photos),
        clock=service_clock(settings), **_consultations(settings, client, stats))


def _consultations(settings: Settings, client, stats) -> dict:
    """Bookings, the payment mode, YooKassa (refunds) when its shop is configured, the task queue."""
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.services.payments import PaymentsConfig

    provider, tasks = _payment_provider(settings), None
    if settings.tasks_token and settings.callbacks_url:
        from shared.adapters.cloud_tasks import CloudTasksQueue

        tasks = CloudTasksQueue(settings.tasks_queue, settings.callbacks_url, settings.tasks_token,
                                service_account=settings.tasks_service_account or None,
                                emulator_host=settings.tasks_emulator_host or None)
    payments = PaymentsConfig(mode=settings.payments_mode, provider_token=settings.provider_token,
                              kopecks_per_star=settings.star_price_kopecks, fee_percent=settings.fee_percent,
                              vat_code=settings.vat_code, late_cancel_refund_percent=settings.late_cancel_refund_percent,
                              vet_price_bounds=(settings.vet_price_min, settings.vet_price_max))
    return dict(bookings=FirestoreBookings(client, stats), payments=payments, payment_provider=provider, tasks=tasks)


def _payment_provider(settings: Settings):
    """YooKassa (refunds, payment look-ups) when money goes through it and its shop is configured; else None."""
    if settings.payments_mode == "provider" and settings.yookassa_shop_id and settings.yookassa_secret_key:
        from shared.adapters.yookassa import YooKassa

        return YooKassa(settings.yookassa_shop_id, settings.yookassa_secret_key, settings.yookassa_api_url)
    return None


def jobs_services(settings: Settings) -> JobsServices:
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_diary import FirestoreReminders

    client, stats = _firestore(settings)
    return JobsServices(reminders=FirestoreReminders(client, stats), calendars=FirestoreBookings(client, stats),
                        stats=stats, clock=service_clock(settings))


def miniapp_services(settings: Settings, callbacks: CallbacksSettings | None = None) -> MiniAppServices:
    """`callbacks`: the video provider's settings (as booking_callbacks'), when one is configured."""
    from shared.adapters.firestore_conclusions import LabelPhotos
    from shared.adapters.firestore_consultations import FirestoreConsultations
    from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders
    from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets
    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.adapters.firestore_uow import FirestoreUnitOfWork
    from shared.adapters.firestore_vets import FirestoreVets
    from shared.adapters.photo_storage import PhotoStorage

    client, stats = _firestore(settings)
    photos = PhotoStorage(settings.photos_bucket, settings.project)
    return MiniAppServices(
        owners=FirestoreOwners(client, stats), pets=FirestorePets(client, stats), diary=FirestoreDiary(client, stats),
        reminders=FirestoreReminders(client, stats), triage=FirestoreTriage(client, stats),
        photos=photos, vets=FirestoreVets(client, stats),
        unit_of_work=lambda owner: FirestoreUnitOfWork(client, stats, owner), stats=stats,
        consultations=FirestoreConsultations(client, stats), label_photos=LabelPhotos(photos),
        video=_video_rooms(callbacks) if callbacks is not None and video_configured(callbacks) else None,
        clock=service_clock(settings), **_consultations(settings, client, stats))


def ops_services(project: str, photos_bucket: str) -> OpsServices:
    """For the ops command line, which needs no bot token (FIRESTORE_EMULATOR_HOST and STORAGE_EMULATOR_HOST
    point it at the local stack, as they do every client)."""
    from google.cloud import firestore

    from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
    from shared.adapters.firestore_vets import FirestoreVets
    from shared.adapters.photo_storage import PhotoStorage

    client, stats = firestore.AsyncClient(project=project), OpStats()
    return OpsServices(vets=FirestoreVets(client, stats), photos=PhotoStorage(photos_bucket, project),
                       owners=FirestoreOwners(client, stats))


def triage_services(settings: Settings) -> TriageServices:
    from shared.adapters.firestore_repositories import FirestorePets
    from shared.adapters.firestore_triage import FirestoreTriage
    from shared.adapters.photo_storage import PhotoStorage

    client, stats = _firestore(settings)  # nobody reads this function's counts (yet)
    return TriageServices(pets=FirestorePets(client, stats), triage=FirestoreTriage(client, stats),
                          photos=PhotoStorage(settings.photos_bucket, settings.project))


def callbacks_services(settings: Settings, callbacks: CallbacksSettings) -> CallbacksServices:
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_consultations import FirestoreConsultations, FirestoreProviderLedger
    from shared.adapters.firestore_repositories import FirestoreOwners
    from shared.adapters.firestore_vets import FirestoreVets
    from shared.services.consultation_tasks import RepositoryParticipants

    client, stats = _firestore(settings)  # nobody reads this function's counts (yet)
    return CallbacksServices(
        bookings=FirestoreBookings(client, stats), consultations=FirestoreConsultations(client, stats),
        ledger=FirestoreProviderLedger(client, stats),
        participants=RepositoryParticipants(FirestoreOwners(client, stats), FirestoreVets(client, stats)),
        video=_video_rooms(callbacks), payments=_payment_provider(settings), clock=service_clock(settings))


def video_configured(callbacks: CallbacksSettings) -> bool:
    """Whether the chosen video provider has what its adapter needs (the Mini App runs without one)."""
    if callbacks.video_provider == "livekit":
        return bool(callbacks.livekit_url and callbacks.livekit_api_key and callbacks.livekit_api_secret
                    and callbacks.livekit_join_page)
    return bool(callbacks.daily_api_key)


def _video_rooms(callbacks: CallbacksSettings):
    """Daily.co or LiveKit (imported only when chosen: livekit-api is heavy and deployed only with it)."""
    if callbacks.video_provider == "livekit":
        from shared.adapters.livekit_video import LiveKitRooms

        return LiveKitRooms(callbacks.livekit_url, callbacks.livekit_api_key, callbacks.livekit_api_secret,
                            join_page=callbacks.livekit_join_page)
    from shared.adapters.daily_video import DailyRooms

    return DailyRooms(callbacks.daily_api_key, callbacks.daily_api_url, domain=callbacks.daily_domain or None,
                      webhook_secret=callbacks.daily_webhook_secret or None)


class WebhookInstance:
    """Everything a telegram_webhook instance keeps between requests."""

    def __init__(self, settings: Settings):
        if not settings.webhook_secret:  # without it anyone could post updates as Telegram
            raise RuntimeError("missing configuration: TELEGRAM_WEBHOOK_SECRET")
        _require_photo_path_key(settings)  # intake and erasure name photos by it
        from shared.bot.application import build_application
        from shared.bot.webhook import TelegramWebhook

        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(webhook_services, settings))
        self.app = build_application(settings.bot_token, settings.telegram_api_base, self.services,
                                     ops_ids=settings.ops_user_ids, ops_chat_id=settings.ops_chat_id,
                                     miniapp_url=MiniAppSettings.from_env().url)
        # a press's answer rides in the webhook's response (shared.bot.request.IN_RESPONSE)
        self.webhook = TelegramWebhook(self.app, settings.webhook_secret, self.services.update_log,
                                       self.services.clock, owners=self.services.owners, reply_in_response=True)
        self.app.bot_data["prefetched"] = self.webhook.prefetched

    def handle(self, secret_header: str | None, body: bytes) -> tuple[int, str | dict]:
        return self.runner.run(self.webhook.handle(secret_header, body))


class JobsInstance:
    """Everything a scheduled_jobs instance keeps between requests: Firestore and a bare Bot (no
    Application, no handlers: the cold path stays light)."""

    JOBS = ("due_reminders", "prune_calendars")

    def __init__(self, settings: Settings):
        from telegram import Bot

        from shared.bot.reminder_messages import ReminderSender

        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(jobs_services, settings))
        self.bot = Bot(settings.bot_token, base_url=f"{settings.telegram_api_base}/bot",
                       base_file_url=f"{settings.telegram_api_base}/file/bot")
        self.sender = ReminderSender(self.bot)

    def run(self, job: str, now: datetime | None = None) -> dict:
        return self.runner.run(self._run(job, now or self.services.clock()), timeout=280)

    async def _run(self, job: str, now: datetime) -> dict:
        if job == "due_reminders":
            from shared.services import reminders as reminder_service

            result = await reminder_service.due_reminders(self.services.reminders, self.sender, now,
                                                          stats=self.services.stats)
        elif job == "prune_calendars":
            from shared.services import calendars as calendar_service

            result = await calendar_service.prune_calendars(self.services.calendars, now)
        else:
            raise KeyError(job)
        return {"job": job, "now": now.isoformat(), **result.as_dict()}


class CallbacksInstance:
    """Everything a booking_callbacks instance keeps between requests: Firestore, the providers and a bare
    Bot (no Application, no handlers: the cold path stays light)."""

    def __init__(self, settings: Settings, callbacks: CallbacksSettings):
        if not settings.tasks_token:  # without it anyone could run a task
            raise RuntimeError("missing configuration: TASKS_AUTH_TOKEN")
        from shared.bot.consultation_messages import ConsultationNotifier
        from shared.services.consultation_tasks import LedgerRefunds, TaskPorts
        from shared.services.payments import Refunder

        self.callbacks = callbacks
        self.runner = LoopThread()
        self.services = s = self.runner.run(_on_loop(callbacks_services, settings, callbacks))
        self._settings = settings
        self._bot = None  # a telegram.Bot, made on first use (see bot)
        refunds = LedgerRefunds(s.bookings, Refunder(s.payments, self._refund_stars, s.clock))
        self.ports = TaskPorts(bookings=s.bookings, consultations=s.consultations, participants=s.participants,
                               notifier=ConsultationNotifier(lambda: self.bot), video=s.video, refunds=refunds)

    @property
    def bot(self):
        """A bare Bot, made when a task first sends something (on the instance's loop, one at a time)."""
        if self._bot is None:
            from telegram import Bot

            base = self._settings.telegram_api_base
            self._bot = Bot(self._settings.bot_token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
        return self._bot

    async def _refund_stars(self, user_id: int, charge_id: str) -> None:
        from telegram.error import BadRequest

        try:
            await self.bot.refund_star_payment(user_id, charge_id)
        except BadRequest as err:
            if "already_refunded" not in str(err).lower():
                raise

    def now(self, eta: datetime | None = None) -> datetime:
        """The clock; with ALLOW_CLOCK_OVERRIDE (local stack only) a task run ahead of its time (the
        stack's clock mover uses RunTask) reads the time as its ETA."""
        now = self.services.clock()
        if self.callbacks.clock_override and eta is not None and eta > now:
            return eta
        return now

    def run_task(self, task, eta: datetime | None = None) -> str:
        from shared.services import consultation_tasks as svc

        return self.runner.run(svc.run_task(task, self.ports, self.now(eta)), timeout=50).value

    def video_webhook(self, headers: dict[str, str], body: bytes) -> str:
        """Raises WebhookRejected for a forged or stale delivery."""
        from shared.services import consultation_tasks as svc

        event = self.services.video.parse_webhook(headers, body, self.services.clock())
        return self.runner.run(svc.video_event(event, self.services.consultations), timeout=30).value

    def payment_notification(self, event: str, object_id: str) -> str:
        from shared.services import consultation_tasks as svc

        s = self.services
        if s.payments is None:
            raise RuntimeError("missing configuration: YOOKASSA_SHOP_ID / YOOKASSA_SECRET_KEY")
        return self.runner.run(svc.payment_notification(event, object_id, s.payments, s.ledger, s.clock()),
                               timeout=50).value


class MiniAppInstance:
    """Everything a miniapp_api instance keeps between requests: Firestore, the API's router and a bare Bot
    (invoice links, notices to the other party of a change), made on first use."""

    def __init__(self, settings: Settings, miniapp: MiniAppSettings):
        _require_photo_path_key(settings)  # a deleted pet's photos are found by it
        from shared.miniapp.api import MiniAppApi

        self.settings = settings
        self.miniapp = miniapp
        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(miniapp_services, settings, CallbacksSettings.from_env()))
        self._bot = None
        self.api = MiniAppApi(self.services, bot_token=settings.bot_token, ops_ids=settings.ops_user_ids,
                              max_age=miniapp.init_data_max_age, bot=lambda: self.bot)

    @property
    def bot(self):
        if self._bot is None:
            from telegram import Bot

            base = self.settings.telegram_api_base
            self._bot = Bot(self.settings.bot_token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
        return self._bot

    def handle(self, request) -> tuple[int, dict]:
        """One /api/ request (shared.miniapp.router.Request)."""
        return self.runner.run(self.api.handle(request), timeout=50)


async def _on_loop(factory, *args):
    return factory(*args)


class TriageInstance:
    """Everything a photo_triage instance keeps between events: clients, the bot and the model (loaded once)."""

    def __init__(self, settings: Settings, model_loader: Callable[[], object] | None = None):
        from telegram import Bot

        from shared.adapters import images
        from shared.adapters.telegram_chat import BotChat
        from shared.bot.triage_messages import render

        _require_photo_path_key(settings)  # a photo's path must name its owner's folder
        self.settings = settings
        self.runner = LoopThread()
        self.services = self.runner.run(_on_loop(triage_services, settings))
        self.bot = Bot(settings.bot_token, base_url=f"{settings.telegram_api_base}/bot",
                       base_file_url=f"{settings.telegram_api_base}/file/bot")
        self.chat = BotChat(self.bot, render)
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

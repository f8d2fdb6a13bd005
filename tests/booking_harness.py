"""The bot on the Firestore emulator with the in-process Bot API and YooKassa doubles and a clock the
test moves: the /consult flow and its payments end to end through the webhook adapter, racing updates
delivered at once (asyncio, as one function instance runs them)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from infra.local.bot_api_double import BotApiDouble, UpdateFactory
from infra.local.yookassa_double import YooKassaDouble
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders
from shared.adapters.firestore_repositories import FirestoreOwners, FirestorePets, FirestoreUpdateLog, OpStats
from shared.adapters.firestore_triage import FirestoreTriage
from shared.adapters.firestore_uow import FirestoreUnitOfWork
from shared.adapters.firestore_vets import FirestoreVets
from shared.adapters.yookassa import RetryPolicy, YooKassa
from shared.bootstrap import WebhookServices
from shared.bot.application import build_application
from shared.bot.webhook import TelegramWebhook
from shared.domain.owners import Dialog, Owner
from shared.domain.pets import Pet, Sex, Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Area, Vet, VetStatus
from shared.services.payments import PaymentsConfig
from tests.bot_harness import SECRET, BotHarness
from tests.fakes import FakePhotoStorage

TOKEN = "123456:BOOKING-TEST"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)   # Tuesday, 12:00 in Moscow
PROVIDER_TOKEN = "381764678:TEST:100"


def schedule(**changes) -> Schedule:
    fields = dict(timezone="Europe/Moscow", weekly={d: parse_hours("09:00-18:00") for d in range(7)}, slot_minutes=30)
    return Schedule(**{**fields, **changes})


def vet(vet_id: int, *, status=VetStatus.ACTIVE, hours=None, species=("dog", "cat"), areas=("general",),
        price=150000, name=None) -> Vet:
    return Vet(id=vet_id, full_name=name or f"Врач {vet_id}", city="Казань", education="КГАВМ", experience_years=7,
               species=tuple(Species(s) for s in species), areas=tuple(Area(a) for a in areas), languages=("ru",),
               bio="Кошки и собаки.", price_kopecks=price, timezone="Europe/Moscow", status=status,
               schedule=hours if hours is not None else (schedule() if status == VetStatus.ACTIVE else None))


@pytest.fixture
def double():
    """The Bot API double (test modules import these fixtures with the harness)."""
    with BotApiDouble(TOKEN) as d:
        yield d


@pytest.fixture
def yookassa():
    with YooKassaDouble() as d:
        yield d


@pytest.fixture
async def client(clean_firestore):
    c = firestore.AsyncClient(project=clean_firestore["project"])
    yield c
    c.close()


def mentions(data, person_id: int) -> bool:
    """Whether stored data (a document, or its id) names a person: their Telegram id as a number or inside
    any string (use Telegram-sized ids in tests, so that no hex digest or UUID contains one by chance)."""
    if isinstance(data, dict):
        return any(mentions(k, person_id) or mentions(v, person_id) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return any(mentions(v, person_id) for v in data)
    if isinstance(data, bool):
        return False
    if isinstance(data, int):
        return data == person_id
    return isinstance(data, str) and str(person_id) in data


class BookingBot(BotHarness):
    """BotHarness's delivery (a handler's failure fails the test) over real repositories."""

    def __init__(self, client: firestore.AsyncClient, double: BotApiDouble, yookassa: YooKassaDouble | None,
                 mode: str = "provider"):
        self.now = NOW
        self.double = double
        self.yookassa = yookassa
        self.client = client
        self.stats = stats = OpStats()
        provider = None
        if yookassa is not None:
            provider = YooKassa(yookassa.shop_id, yookassa.secret_key, base_url=yookassa.api_url,
                                retry=RetryPolicy(attempts=2, backoff=0.01, deadline=2))
        self.services = WebhookServices(
            owners=FirestoreOwners(client, stats), pets=FirestorePets(client, stats), diary=FirestoreDiary(client, stats),
            reminders=FirestoreReminders(client, stats), triage=FirestoreTriage(client, stats),
            photos=FakePhotoStorage(), vets=FirestoreVets(client, stats), update_log=FirestoreUpdateLog(client, stats),
            unit_of_work=lambda owner: FirestoreUnitOfWork(client, stats, owner), stats=stats,
            clock=lambda: self.now, bookings=FirestoreBookings(client, stats),
            payments=PaymentsConfig(mode=mode, provider_token=PROVIDER_TOKEN if mode == "provider" else "",
                                    fee_percent=20),
            payment_provider=provider)
        self.app = build_application(TOKEN, double.base_url, self.services)
        self.webhook = TelegramWebhook(self.app, SECRET, self.services.update_log, self.services.clock,
                                       owners=self.services.owners)
        self.app.bot_data["prefetched"] = self.webhook.prefetched
        self.updates = UpdateFactory(double)
        self.crashes: list[logging.LogRecord] = []
        self.crash_ok = False

    # ---- seeding (what the onboarding and pet form would have written) --------------------------------

    async def owner(self, user_id: int, dialog: Dialog | None = None, pets: int = 1, tz: str | None = None) -> list[Pet]:
        owners = self.services.owners
        await owners.create(Owner(id=user_id, language="ru", consent_at=NOW - timedelta(days=1), timezone=tz))
        added = []
        for n in range(pets):
            added.append(await self.services.pets.add(Pet(id="", owner_id=user_id, species=Species.DOG,
                                                           name=f"Рекс{n or ''}", sex=Sex.MALE, weight_kg=12.0)))
        if dialog is not None:
            ref = owners.ref(user_id)
            await ref.update({"dialog": {"name": dialog.name, "step": dialog.step, "draft": dialog.draft}})
        return added

    async def vets(self, *vets: Vet) -> None:
        for v in vets:
            await self.services.vets.create(v)

    # ---- talking ------------------------------------------------------------------------------------

    async def together(self, updates: list[dict], at_once: int | None = None) -> list[int]:
        """Delivers the updates concurrently: all at once, or `at_once` in flight at any moment (one
        function instance takes about 80 at a time; the in-process Bot API client's pool is the limit here)."""
        await self.app.initialize()  # a warm instance (getMe once), as a race hits one in production
        gate = asyncio.Semaphore(at_once or len(updates) or 1)

        async def one(update: dict) -> int:
            async with gate:
                return await self.deliver(update)

        return list(await asyncio.gather(*(one(u) for u in updates)))

    def seq(self) -> int:
        return self.double.last_seq()

    async def say(self, text: str, user_id: int) -> list[str]:
        since = self.seq()
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            update = self.updates.command(command, args, user_id=user_id)
        else:
            update = self.updates.message(text, user_id=user_id)
        assert await self.deliver(update) == 200
        return self.texts(user_id, since)

    async def press(self, data: str, user_id: int) -> list[str]:
        since = self.seq()
        assert await self.deliver(self.updates.callback(data, user_id=user_id)) == 200
        return self.texts(user_id, since)

    def texts(self, user_id: int, since: int) -> list[str]:
        out = []
        for c in self.double.calls(since=since):
            p = c["params"]
            if c["method"] == "answerCallbackQuery" and p.get("text"):
                out.append(p["text"])
            elif str(p.get("chat_id")) == str(user_id) and c["method"] in ("sendMessage", "editMessageText"):
                out.append(p.get("text") or "")
            elif str(p.get("chat_id")) == str(user_id) and c["method"] == "sendInvoice":
                out.append(f"INVOICE {p['currency']} {p['prices'][0]['amount']}")
        return out

    def buttons(self, user_id: int) -> dict[str, str]:
        """Text -> callback data of the newest message with buttons the person sees (pay buttons: 'PAY')."""
        for message in reversed(self.double.messages(user_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard")
            if rows:
                return {b["text"]: b.get("callback_data", "PAY") for row in rows for b in row}
        return {}

    def invoices(self, user_id: int) -> list[dict]:
        return [m for m in self.double.messages(user_id) if "invoice" in m]


async def pay(bot: BookingBot, user_id: int, invoice: dict, charge_id: str | None = None,
              times: int = 1) -> dict:
    """Pays an invoice message as Telegram would, through the in-process webhook: the pre-checkout query,
    then (answered ok) the successful payment, delivered `times` times at once."""
    built = bot.double.pay(invoice, user_id, deliver=False, yookassa=bot.yookassa, charge_id=charge_id)
    assert await bot.deliver(built["pre_checkout"]) == 200
    qid = built["pre_checkout"]["pre_checkout_query"]["id"]
    [query] = bot.double.pre_checkout_answers(qid)
    built["answer"] = query["answers"][0] if query["answers"] else None
    if built["answer"] and built["answer"]["ok"]:
        copies = [dict(built["successful_payment"], update_id=built["successful_payment"]["update_id"] + n * 7919)
                  for n in range(times)]
        assert await bot.together(copies) == [200] * times
    return built

"""The Mini App's API in process, over the same Firestore emulator, clock and Bot API double as the bot of
tests/booking_harness.py: a request is MiniAppApi.handle of a Request carrying initData signed here."""
from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode

from telegram import Bot

from shared.bootstrap import MiniAppServices
from shared.miniapp import init_data
from shared.miniapp.api import MiniAppApi
from shared.miniapp.router import Request
from tests.booking_harness import TOKEN, BookingBot

OPS_ID = 7_300_000_001


def signed_init_data(user_id: int, token: str = TOKEN, *, auth_date: int | None = None, language: str = "ru") -> str:
    user = json.dumps({"id": user_id, "first_name": "Тест", "language_code": language}, ensure_ascii=False,
                      separators=(",", ":"))
    pairs = {"query_id": f"AAQ{user_id}", "user": user, "auth_date": str(auth_date or int(time.time()) - 5)}
    return urlencode([*pairs.items(), ("hash", init_data.sign(pairs, token))], quote_via=quote)


class MiniApp:
    """`video`: the VideoRooms the room page gets (e.g. DailyRooms on a DailyDouble); None: none configured."""

    def __init__(self, bot: BookingBot, ops_ids: frozenset[int] = frozenset({OPS_ID}), video=None):
        from shared.adapters.firestore_conclusions import LabelPhotos
        from shared.adapters.firestore_consultations import FirestoreConsultations

        s = bot.services
        self.bot_harness = bot
        self.services = MiniAppServices(
            owners=s.owners, pets=s.pets, diary=s.diary, reminders=s.reminders, triage=s.triage, photos=s.photos,
            vets=s.vets, unit_of_work=s.unit_of_work, stats=s.stats, bookings=s.bookings, payments=s.payments,
            payment_provider=s.payment_provider, tasks=None, clock=s.clock,
            consultations=FirestoreConsultations(bot.client, s.stats), video=video,
            label_photos=s.label_photos or LabelPhotos(s.photos))
        self._bot = Bot(TOKEN, base_url=f"{bot.double.base_url}/bot")
        self.api = MiniAppApi(self.services, bot_token=TOKEN, ops_ids=ops_ids, max_age=3600, bot=lambda: self._bot)

    async def call(self, method: str, path: str, user: int | None = None, body=None, *, auth: str | None = None,
                   query: dict | None = None) -> tuple[int, dict]:
        headers = {}
        if auth is not None:
            headers["authorization"] = auth
        elif user is not None:
            headers["authorization"] = "tma " + signed_init_data(user)
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        return await self.api.handle(Request(method, path.split("?")[0], headers, query or _query(path), raw))


def _query(path: str) -> dict:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(path.split("?", 1)[1])) if "?" in path else {}


async def dump(client) -> dict[str, dict]:
    """Every document in the emulator, by path (what 'nothing written' compares)."""
    out: dict[str, dict] = {}

    async def walk(collection):
        async for doc in collection.stream():
            data = doc.to_dict()
            out[doc.reference.path] = {k: v for k, v in data.items()}
            async for sub in doc.reference.collections():
                await walk(sub)

    async for top in client.collections():
        await walk(top)
    return out

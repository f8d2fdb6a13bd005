"""The Mini App's JSON API (the contract: shared/miniapp/API.md): a router over the bot's use cases.

Every `/api/` request is authenticated by Telegram initData (shared.miniapp.init_data) before anything is
read; its user is the acting person. The use cases are the bot's (services.pets, diary, booking,
cancellations) with the same rules, and an owner's writes go through the same unit of work as their bot
updates (adapters.firestore_uow): staged, then one batch conditional on the owner's record as this request
read it. So a Mini App request of an owner races correctly with that owner's bot updates (a write that does
not move a dialog is committed again on the new version) and with erasure (/privacy deletes users/{id}
first: the commit fails, OwnerGone, nothing lands; 410). Holds and bookings are the bookings code's own
conditional batches, which need the owner's and the vet's records to exist (adapters.firestore_bookings).

Who may see what: a pet is looked up under the acting owner only (another owner's pet id is 404, like a
missing one); a booking is shown to its owner, its vet or ops (services.booking.owned_booking), 404 to
anyone else; the vet sees the pet's card as booked, never the owner's id or pet id.

The endpoints are one module per feature (pets_api, diary_api, consult_api, vet_api; the door, the request
and its errors in router, the shared shapes in json_shapes), each registering its routes; MiniAppApi composes
them with "who am I" below.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from shared.domain.roles import is_vet
from shared.miniapp.consult_api import ConsultApi
from shared.miniapp.diary_api import DiaryApi
from shared.miniapp.endpoints import Endpoints
from shared.miniapp.pets_api import PetsApi
from shared.miniapp.router import AddRoute, Request, Router, Who
from shared.miniapp.vet_api import VetApi

if TYPE_CHECKING:
    from shared.bootstrap import MiniAppServices


class MeApi(Endpoints):
    def register(self, route: AddRoute) -> None:
        route("GET", r"/api/me", self.me, owner=False)

    # ---- who am I --------------------------------------------------------------------------------------
    async def me(self, who: Who, req: Request) -> tuple[int, dict]:
        vet = await self._vet_record(who)
        roles = (["owner"] if who.owner else []) + (["vet"] if vet and is_vet(vet.status) else []) + \
            (["ops"] if who.ops else [])
        return 200, {"user_id": who.id, "registered": who.owner is not None, "language": who.language,
                     "timezone": who.owner.timezone if who.owner else None, "roles": roles,
                     "currency": self.s.payments.currency.value}


class MiniAppApi(Router):
    """One instance per function instance; `handle` is called on its event loop."""

    def __init__(self, services: MiniAppServices, *, bot_token: str, ops_ids: frozenset[int], max_age: int,
                 bot: Callable[[], Any], wall_clock: Callable[[], float] = time.time):
        super().__init__(services, bot_token=bot_token, ops_ids=ops_ids, max_age=max_age, wall_clock=wall_clock)
        for feature in (MeApi, PetsApi, DiaryApi, ConsultApi, VetApi):
            feature(services, ops_ids=ops_ids, bot=bot).register(self.route)

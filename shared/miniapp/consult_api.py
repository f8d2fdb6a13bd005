"""The Mini App API's consultations (shared/miniapp/API.md): a pet's vets, a vet's calendar, the hold and its
invoice, the owner's and vet's bookings, cancelling (with its refund) and rescheduling, and the video room -
through the bot's use cases (services.booking, payments, cancellations, consultation_tasks); the other party is
told in the chat as the bot's buttons tell them."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.domain.bookings import BookingStatus, HoldSuperseded, Party, Price, SlotTaken
from shared.domain.pets import InvalidInput
from shared.domain.roles import is_vet
from shared.i18n import t
from shared.bot.notice_context import NoticeContext
from shared.miniapp.endpoints import Endpoints
from shared.miniapp.json_shapes import money, utc_time
from shared.miniapp.router import ID, NOT_FOUND, AddRoute, ApiError, Request, Who

log = logging.getLogger(__name__)

CALENDAR_DAYS = 14
_VET_ID = r"\d{1,15}"
SHOWN_MAX = 200  # vets the app says it showed on earlier pages: 40 pages of 5


def _parse_time(value: Any, field_name: str) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, "invalid", field=field_name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid", field=field_name) from None
    if moment.tzinfo is None:
        raise ApiError(400, "invalid", field=field_name)
    return moment.astimezone(timezone.utc)


def _parse_shown(value: str) -> list[int]:
    """`shown=<id>,<id>,...`: the vets the app listed on the pages before this one."""
    ids = value.split(",") if value else []
    if len(ids) > SHOWN_MAX or not all(re.fullmatch(_VET_ID, i) for i in ids):
        raise ApiError(400, "invalid", field="shown")
    return [int(i) for i in ids]


class ConsultApi(Endpoints):
    def register(self, route: AddRoute) -> None:
        route("GET", rf"/api/pets/(?P<pet>{ID})/vets", self.vets)
        route("GET", rf"/api/vets/(?P<vet>{_VET_ID})/calendar", self.calendar)
        route("GET", r"/api/bookings", self.bookings)
        route("POST", r"/api/bookings", self.hold)
        route("GET", rf"/api/bookings/(?P<b>{ID})", self.booking)
        route("POST", rf"/api/bookings/(?P<b>{ID})/invoice", self.invoice)
        route("GET", rf"/api/bookings/(?P<b>{ID})/cancel", self.cancel_terms)
        route("POST", rf"/api/bookings/(?P<b>{ID})/cancel", self.cancel)
        route("GET", rf"/api/bookings/(?P<b>{ID})/reschedule", self.reschedule_options)
        route("POST", rf"/api/bookings/(?P<b>{ID})/reschedule", self.reschedule)
        route("GET", rf"/api/bookings/(?P<b>{ID})/room", self.room)

    # ---- helpers ---------------------------------------------------------------------------------------
    def _invalid(self, err: InvalidInput, field_name: str | None = None) -> ApiError:
        code = err.code
        if code == "booking.err.not_found":
            return NOT_FOUND
        if code in ("booking.err.already_cancelled", "booking.err.rescheduled_once", "booking.err.not_held",
                    "booking.err.transition"):
            return ApiError(409, "conflict", key=code, params=err.params)
        if code == "schedule.err.slot_taken":  # taken before this request looked: as if it lost the write
            return ApiError(409, "conflict", key="booking.err.just_taken")
        return ApiError(400, "invalid", field=field_name, key=code, params=err.params)

    def _vet_card(self, vet, price: Price, next_slot) -> dict:
        return {"id": vet.id, "name": vet.full_name, "city": vet.city, "experience_years": vet.experience_years,
                "areas": [a.value for a in vet.areas], "languages": list(vet.languages), "bio": getattr(vet, "bio", None),
                "rating": round(vet.rating, 2) if vet.rating else None, "ratings": vet.rating_count,
                "price": money(price), "next_slot": utc_time(next_slot.start) if next_slot else None,
                "slot_minutes": vet.schedule.slot_minutes if vet.schedule else None}

    @staticmethod
    def _days(slots, tz: str | None) -> list[dict]:
        from shared.domain.slots import by_day

        return [{"date": day.isoformat(),
                 "slots": [{"start": utc_time(s.start), "end": utc_time(s.end)} for s in day_slots]}
                for day, day_slots in by_day(slots, tz).items()]

    async def vets(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.domain.vets import Area
        from shared.services import booking as booking_service

        try:
            page = int(req.query.get("page", "0"))
            area = Area(req.query["area"]) if req.query.get("area") else None
        except ValueError:
            raise ApiError(400, "invalid", field="page" if "area" not in req.query else "area") from None
        shown = _parse_shown(req.query.get("shown", ""))
        found = await self._pet(who, pet)
        result = await booking_service.list_vets(self.s.vets, self.s.bookings, found.species, self.s.clock(),
                                                 self.s.payments.pricing, area=area, page=page, shown=shown)
        return 200, {"vets": [self._vet_card(o.vet, o.price, o.next_slot) for o in result.offers],
                     "page": result.page, "pages": result.pages, "widened": result.widened}

    async def calendar(self, who: Who, req: Request, vet: str) -> tuple[int, dict]:
        from shared.domain.pets import Species
        from shared.services import booking as booking_service

        try:
            days = int(req.query.get("days", CALENDAR_DAYS))
        except ValueError:
            days = 0
        if not 1 <= days <= 28:
            raise ApiError(400, "invalid", field="days")
        if req.query.get("pet"):
            species = (await self._pet(who, req.query["pet"])).species
        else:
            try:
                species = Species(req.query.get("species", ""))
            except ValueError:
                raise ApiError(400, "invalid", field="pet") from None
        now = self.s.clock()
        try:
            found, slots = await booking_service.vet_slots(self.s.vets, self.s.bookings, int(vet), species, now)
        except InvalidInput:
            raise NOT_FOUND from None  # not bookable (or no such vet) for this species: nothing to show
        until = now + timedelta(days=days)
        slots = [s for s in slots if s.start < until]
        tz = who.owner.timezone
        return 200, {"vet": self._vet_card(found, self.s.payments.pricing.price(found), slots[0] if slots else None),
                     "timezone": tz, "days": self._days(slots, tz)}

    async def hold(self, who: Who, req: Request) -> tuple[int, dict]:
        from shared.domain.bookings import check_reason
        from shared.services import booking as booking_service

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        pet_id, vet_id = body.get("pet"), body.get("vet")
        if not isinstance(pet_id, str) or not re.fullmatch(ID, pet_id):
            raise ApiError(400, "invalid", field="pet")
        if isinstance(vet_id, bool) or not isinstance(vet_id, int):
            raise ApiError(400, "invalid", field="vet")
        start = _parse_time(body.get("start"), "start")
        reason = body.get("reason")
        try:
            reason = check_reason(reason if isinstance(reason, str) else "")
        except InvalidInput as err:
            raise ApiError(400, "invalid", field="reason", key=err.code, params=err.params) from None
        terms_ok = self.s.payments.currency.value == "XTR" or self.s.payments.provider_token
        if not terms_ok:
            raise ApiError(503, "payments_unavailable", key="booking.err.payments_unavailable")
        pet = await self._pet(who, pet_id)
        request = booking_service.HoldRequest(owner_id=who.id, pet=pet, vet_id=vet_id, start=start, reason=reason)
        try:
            held = await booking_service.hold_slot(self.s.vets, self.s.bookings, request, self.s.clock(),
                                                   self.s.payments.pricing, tasks=self.s.tasks)
        except SlotTaken:
            raise ApiError(409, "conflict", key="booking.err.just_taken") from None
        except HoldSuperseded:
            raise ApiError(409, "superseded", key="booking.err.other_time_held") from None
        except InvalidInput as err:
            raise self._invalid(err, "vet" if err.code == "booking.err.vet_unavailable" else "start") from None
        return 201, {"booking": await self._booking_json(who, held, Party.OWNER)}

    async def bookings(self, who: Who, req: Request) -> tuple[int, dict]:
        from shared.services import cancellations

        now = self.s.clock()
        names: dict = {}
        mine = await cancellations.owner_bookings(self.s.bookings, who.id, now)
        vet = await self._vet_record(who)
        theirs = await cancellations.vet_bookings(self.s.bookings, who.id, now) if vet and is_vet(vet.status) else []
        return 200, {"as_owner": [await self._booking_json(who, b, Party.OWNER, names) for b in mine],
                     "as_vet": [await self._booking_json(who, b, Party.VET, names) for b in theirs]}

    async def booking(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        booking, party = await self._booking(who, b)
        return 200, {"booking": await self._booking_json(who, booking, party)}

    async def invoice(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        """An invoice link for the owner's live hold, with the same terms and payload (the booking id) as the
        bot's sendInvoice: the payment reaches the webhook's pre-checkout and successful-payment handlers."""
        from telegram import LabeledPrice

        from shared.bot.handlers.consult import when
        from shared.services import payments as payment_service

        booking, party = await self._booking(who, b)
        if party is not Party.OWNER:
            raise NOT_FOUND if booking.owner_id != who.id else ApiError(403, "forbidden")
        if not booking.hold_live(self.s.clock()):
            raise ApiError(409, "conflict", key="booking.err.not_held")
        terms = payment_service.invoice_terms(booking, self.s.payments)
        if terms.currency != "XTR" and not terms.provider_token:
            raise ApiError(503, "payments_unavailable", key="booking.err.payments_unavailable")
        vet = await self.s.vets.get(booking.vet_id)
        lang, tz = who.language, who.owner.timezone
        title = t(lang, "booking.invoice_title")[:32]
        description = t(lang, "booking.invoice_description", vet=vet.full_name if vet else "",
                        when=when(lang, booking.start, tz), pet=booking.pet.get("name", ""))[:255]
        link = await self.bot().create_invoice_link(
            title=title, description=description, payload=terms.payload, provider_token=terms.provider_token or None,
            currency=terms.currency, prices=[LabeledPrice(title, terms.amount)], need_email=terms.need_email or None,
            send_email_to_provider=terms.send_email_to_provider or None, provider_data=terms.provider_data)
        return 200, {"invoice_link": link}

    def _refunder(self):
        from telegram.error import BadRequest

        from shared.services.payments import Refunder

        async def stars(user_id: int, charge_id: str) -> None:
            try:
                await self.bot().refund_star_payment(user_id, charge_id)
            except BadRequest as err:
                if "CHARGE_ALREADY_REFUNDED" not in err.message.upper():
                    raise

        return Refunder(self.s.payment_provider, stars, self.s.clock)

    async def cancel_terms(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        from shared.services import cancellations

        booking, party = await self._booking(who, b)
        if booking.status is BookingStatus.HELD and party is Party.OWNER:
            return 200, {"refund": money(Price(0, booking.price.currency))}
        try:
            terms = await cancellations.cancel_terms(self.s.bookings, self.s.payments, b, who.id, self.s.clock(),
                                                     ops=self.ops_ids)
        except InvalidInput as err:
            raise self._invalid(err) from None
        return 200, {"refund": money(Price(terms.refund, booking.price.currency))}

    async def cancel(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        from shared.domain.bookings import VetCancelReason
        from shared.services import booking as booking_service
        from shared.services import cancellations

        body = req.json()
        booking, party = await self._booking(who, b)
        now = self.s.clock()
        if booking.status is BookingStatus.HELD:
            if party is not Party.OWNER:
                raise ApiError(409, "conflict", key="booking.err.not_cancellable")
            try:
                await booking_service.release_hold(self.s.bookings, b, who.id, now)
            except InvalidInput as err:
                raise self._invalid(err) from None
            booking, _ = await self._booking(who, b)
            return 200, {"booking": await self._booking_json(who, booking, party),
                         "refund": money(Price(0, booking.price.currency)), "refunded": False}
        reason = None
        if party is Party.VET:
            try:
                reason = VetCancelReason((body or {}).get("reason") if isinstance(body, dict) else None)
            except ValueError:
                raise ApiError(400, "invalid", field="reason", key="booking.err.vet_reason_needed") from None
        try:
            done = await cancellations.cancel(self.s.bookings, self._refunder(), self.s.payments, b, who.id, now,
                                              as_party=party, reason=reason, ops=self.ops_ids)
        except InvalidInput as err:
            raise self._invalid(err) from None
        await self._tell(lambda ctx, m: (m.tell_owner_vet_cancelled(ctx, done) if done.by is Party.VET else
                                         m.tell_vet(ctx, done.booking, m.CANCELLED, cancelled=done)))
        return 200, {"booking": await self._booking_json(who, done.booking, party),
                     "refund": money(Price(done.refund, booking.price.currency)), "refunded": done.refunded}

    async def reschedule_options(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        from shared.services import cancellations

        await self._booking(who, b)  # 404 for strangers before anything else is said
        try:
            _, _, free = await cancellations.reschedule_options(self.s.vets, self.s.bookings, b, who.id, self.s.clock())
        except InvalidInput as err:
            if err.code == "booking.err.not_found":
                raise ApiError(403, "forbidden") from None  # a party, but not the owner
            raise self._invalid(err) from None
        return 200, {"days": self._days(free, who.owner.timezone)}

    async def reschedule(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        from shared.services import cancellations

        body = req.json()
        start = _parse_time(body.get("start") if isinstance(body, dict) else None, "start")
        booking, party = await self._booking(who, b)
        if party is not Party.OWNER:
            raise ApiError(403, "forbidden")
        try:
            moved = await cancellations.reschedule(self.s.vets, self.s.bookings, b, who.id, start, self.s.clock(),
                                                   tasks=self.s.tasks)
        except SlotTaken:
            raise ApiError(409, "conflict", key="booking.err.just_taken") from None
        except InvalidInput as err:
            raise self._invalid(err, "start") from None
        await self._tell(lambda ctx, m: m.tell_vet(ctx, moved.booking, m.MOVED, old_start=moved.old_start))
        return 200, {"booking": await self._booking_json(who, moved.booking, party)}

    async def room(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        """The video room of a booking for its owner or its vet (ops are no participant), from the links' time
        to the slot's end: the room and token the chat's 'Join' link carries (services.consultation_tasks)."""
        from shared.services import consultation_tasks as tasks
        from shared.services.ports import Role

        booking, party = await self._booking(who, b)
        if party is Party.OPS:
            raise NOT_FOUND
        if self.s.video is None or self.s.consultations is None:
            raise ApiError(503, "video_unavailable")
        ports = tasks.RoomPorts(self.s.consultations, tasks.RepositoryParticipants(self.s.owners, self.s.vets),
                                self.s.video)
        try:
            room, join = await tasks.join_room(booking, Role(party.value), ports, self.s.clock())
        except tasks.RoomClosed:
            raise NOT_FOUND from None  # before T-10 min, after the end, not confirmed: nothing to join
        return 200, {"provider": self.s.video.provider, "url": join.url, "token": join.token,
                     "join_url": join.link, "ends_at": utc_time(room.expires_at)}

    async def _tell(self, send) -> None:
        """The other party of a change is told in the chat, as the bot's own buttons tell them (handlers.bookings);
        a notice that cannot go out is logged, the change stands."""
        from shared.bot.handlers import bookings as messages

        try:
            await send(NoticeContext(self.bot(), self.s), messages)
        except Exception:  # noqa: BLE001 - the change is made; the notice is best effort, as in the bot
            log.exception("a booking notice from the mini app was not sent")

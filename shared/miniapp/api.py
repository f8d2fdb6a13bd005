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
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from shared.domain.bookings import Booking, BookingStatus, Party, Price, SlotTaken
from shared.domain.owners import Owner
from shared.domain.pets import EDITABLE_FIELDS, InvalidInput, Pet
from shared.domain.roles import is_ops, is_vet
from shared.i18n import t
from shared.miniapp import init_data
from shared.services.unit_of_work import OwnerGone, StaleUpdate

if TYPE_CHECKING:
    from shared.bootstrap import MiniAppServices

log = logging.getLogger(__name__)

CALENDAR_DAYS = 14
MAX_BODY = 16 * 1024
_ID = r"[A-Za-z0-9]{1,40}"
_VET_ID = r"\d{1,15}"


class ApiError(Exception):
    def __init__(self, status: int, error: str, *, field: str | None = None, key: str | None = None,
                 params: dict | None = None, message: str | None = None):
        super().__init__(error)
        self.status, self.error, self.field, self.key, self.params = status, error, field, key, params or {}
        self.message = message  # the text as the bot words it, when it is more than the key with its params


NOT_FOUND = ApiError(404, "not_found")
MAX_PHOTO = 20 * 1024 * 1024     # an upload's body (the photo itself is checked like the chat's: photo.too_big)
_PHOTO_ID = r"[0-9a-f]{32}"


@dataclass(frozen=True)
class FileBody:
    """An answer that is a file, not JSON (the PDF export)."""

    data: bytes
    content_type: str
    filename: str


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]          # lower-case names
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        if len(self.body) > MAX_BODY:
            raise ApiError(400, "bad_json")
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_json") from None


@dataclass
class Who:
    """The acting person of one request: their Telegram user, owner record (None: never agreed) and roles."""

    user: init_data.WebAppUser
    owner: Owner | None
    ops: bool
    language: str
    _vet: Any = ...

    @property
    def id(self) -> int:
        return self.user.id


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(price: Price) -> dict:
    return {"amount": price.amount, "currency": price.currency.value}


def pet_json(pet: Pet) -> dict:
    return {"id": pet.id, "name": pet.name, "species": pet.species.value, "breed": pet.breed,
            "sex": pet.sex.value, "birth_date": pet.birth_date.isoformat() if pet.birth_date else None,
            "birth_date_approximate": pet.birth_date_approximate, "weight_kg": pet.weight_kg,
            "neutered": pet.neutered.value}


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


# which field a whole-record error is about (domain.pets.check_pet)
_RECORD_FIELDS = {"err.record_weight_species": "weight_kg", "err.record_age_species": "birth_date",
                  "err.date_in_future": "birth_date"}


def pet_changes(body: Any, today: date, base: dict | None) -> dict:
    """The draft changes a JSON body asks for, field by field through the bot's own parsers (domain.pet_form);
    ApiError 400 `invalid` with the field at the first bad one. `base`: the pet's draft when editing."""
    from shared.domain import pet_form

    if not isinstance(body, dict):
        raise ApiError(400, "bad_json")
    allowed = set(EDITABLE_FIELDS) | {"birth_date_approximate", "age"}
    if "age" in body:  # the bot's birth-date step as typed ("3 года", "8 months", "01.05.2020")
        if "birth_date" in body and body["birth_date"] not in (None, ""):
            raise ApiError(400, "invalid", field="birth_date", key="err.date_invalid")
        body = {**{k: v for k, v in body.items() if k != "age"}, "birth_date": body["age"]}
    for name in body:
        if name not in allowed:
            raise ApiError(400, "invalid", field=str(name)[:40], key="err.unknown_field")
    if base is None:
        for required in ("species", "name"):
            if body.get(required) in (None, ""):
                raise ApiError(400, "invalid", field=required, key="err.required")
    changes: dict = {}
    current = lambda: {**(base or {}), **changes}  # noqa: E731

    def parse(name: str, call):
        try:
            changes.update(call())
        except InvalidInput as err:
            raise ApiError(400, "invalid", field=name, key=err.code, params=err.params) from None

    for name in ("species", "sex", "neutered"):
        if name in body:
            value = body[name]
            if not isinstance(value, str):
                raise ApiError(400, "invalid", field=name, key="err.use_buttons")
            parse(name, lambda n=name, v=value: pet_form.answer_choice(n, v))
    if "name" in body:
        if not isinstance(body["name"], str):
            raise ApiError(400, "invalid", field="name", key="err.name_empty")
        parse("name", lambda: pet_form.answer_text("name", body["name"], current(), today))
    for name in ("breed", "birth_date", "weight_kg"):
        if name not in body:
            continue
        value = body[name]
        if value is None or value == "":
            changes[name] = None
            if name == "birth_date":
                changes["birth_date_approximate"] = False
            continue
        if name == "weight_kg" and not isinstance(value, str):  # a number, or the text as typed ("4,2", "350 г")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ApiError(400, "invalid", field=name, key="err.weight_invalid")
            value = repr(float(value))
        elif not isinstance(value, str):
            raise ApiError(400, "invalid", field=name)
        parse(name, lambda n=name, v=value: pet_form.answer_text(n, v, current(), today))
    if "birth_date_approximate" in body and changes.get("birth_date") and isinstance(body["birth_date_approximate"], bool):
        changes["birth_date_approximate"] = body["birth_date_approximate"]
    return changes


# ---- a vet's schedule: JSON <-> domain.schedule (the bot's parsers and checks) ----------------------------
# which field a schedule setting's error is about
_SCHEDULE_FIELDS = {"schedule.err.timezone": "timezone", "schedule.err.slot_length": "slot_minutes",
                    "schedule.err.buffer": "buffer_minutes", "schedule.err.notice": "notice_minutes",
                    "schedule.err.horizon": "horizon_days", "schedule.err.daily_cap": "daily_cap",
                    "schedule.err.too_many_overrides": "overrides"}


def schedule_json(vet) -> dict:
    from shared.domain import schedule as rules

    sch = vet.schedule or rules.Schedule(vet.timezone)
    return {"status": vet.status.value, "timezone": sch.timezone,
            "weekly": [[str(h) for h in sch.weekly.get(day, ())] for day in rules.WEEKDAYS],
            "overrides": [{"date": day.isoformat(), "hours": [str(h) for h in hours]}
                          for day, hours in sorted(sch.overrides.items())],
            "slot_minutes": sch.slot_minutes, "buffer_minutes": sch.buffer_minutes,
            "notice_minutes": int(sch.min_notice.total_seconds() // 60), "horizon_days": sch.horizon_days,
            "daily_cap": sch.daily_cap,
            "choices": {"slot_minutes": list(rules.SLOT_LENGTHS), "buffer_minutes": list(rules.BUFFERS)}}


def schedule_error(err: InvalidInput, lang: str) -> ApiError:
    """A refused schedule: 400 with the field (weekly.<0-6>, overrides.<date> or the setting) and the bot's words."""
    from shared.bot import vet_messages

    day = err.params.get("day")
    if isinstance(day, int) and not isinstance(day, bool):
        name = f"weekly.{day}"
    elif isinstance(day, str) and day:
        name = f"overrides.{day}"
    else:
        name = _SCHEDULE_FIELDS.get(err.code)
    return ApiError(400, "invalid", field=name, key=err.code, params=err.params,
                    message=vet_messages.error(lang, err))


def schedule_changes(body: dict, current, today: date, lang: str) -> dict:
    """What a PUT body changes (keys left out stay as they are): each day's hours as "HH:MM-HH:MM" strings
    read by the bot's parser (domain.schedule.parse_hours), override dates as the bot's override step reads
    them (not past, within a year); ApiError 400 with the field at the first bad one. The whole schedule is
    checked again when it is made (overlaps, inverted hours, a slot longer than a stretch)."""
    from shared.domain import schedule as rules

    allowed = {"timezone", "weekly", "overrides", "slot_minutes", "buffer_minutes", "notice_minutes",
               "horizon_days", "daily_cap"}
    for name in body:
        if name not in allowed:
            raise ApiError(400, "invalid", field=str(name)[:40], key="err.unknown_field")
    slot = body.get("slot_minutes", current.slot_minutes)

    def hours(value, day, name: str):
        if not isinstance(value, list) or not all(isinstance(h, str) and len(h) <= 40 for h in value) \
                or len(value) > rules.MAX_HOURS_PER_DAY:
            raise ApiError(400, "invalid", field=name, key="schedule.err.hours_format", params={"text": ""})
        try:
            return rules.parse_hours(", ".join(value), slot if isinstance(slot, int) else rules.GRID_MINUTES) \
                if value else ()
        except InvalidInput as err:
            err.params["day"] = day
            raise schedule_error(err, lang) from None

    changes: dict = {}
    if "weekly" in body:
        weekly = body["weekly"]
        if not isinstance(weekly, list) or len(weekly) != 7:
            raise ApiError(400, "invalid", field="weekly")
        changes["weekly"] = {day: hours(value, day, f"weekly.{day}") for day, value in enumerate(weekly)}
    if "overrides" in body:
        items = body["overrides"]
        if not isinstance(items, list) or len(items) > rules.MAX_OVERRIDES:
            raise ApiError(400, "invalid", field="overrides")
        overrides = {}
        for item in items:
            raw = item.get("date") if isinstance(item, dict) else None
            if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise ApiError(400, "invalid", field="overrides", key="err.date_invalid")
            try:
                day = rules.parse_override_date(raw, today)
            except InvalidInput as err:
                raise ApiError(400, "invalid", field=f"overrides.{raw}", key=err.code, params=err.params) from None
            overrides[day] = hours(item.get("hours"), day.isoformat(), f"overrides.{raw}")
        changes["overrides"] = overrides
    for name in ("slot_minutes", "buffer_minutes", "horizon_days", "notice_minutes", "daily_cap"):
        if name not in body:
            continue
        value = body[name]
        if name == "daily_cap" and value is None:
            changes["daily_cap"] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            code = ("schedule.err.slot_length" if name == "slot_minutes" else "schedule.err.buffer"
                    if name == "buffer_minutes" else "schedule.err.horizon" if name == "horizon_days" else
                    "schedule.err.notice" if name == "notice_minutes" else "schedule.err.daily_cap")
            raise ApiError(400, "invalid", field=name, key=code)
        if name == "notice_minutes":
            changes["min_notice"] = timedelta(minutes=value)
        else:
            changes[name] = value
    if "timezone" in body:
        if not isinstance(body["timezone"], str):
            raise ApiError(400, "invalid", field="timezone", key="schedule.err.timezone")
        changes["timezone"] = body["timezone"]
    return changes


# ---- the vet's conclusion ------------------------------------------------------------------------------

def conclusion_json(c) -> dict:
    label = c.label
    return {"summary": c.summary, "recommendations": c.recommendations,
            "follow_up": c.follow_up.isoformat() if c.follow_up else None, "written_at": _time(c.written_at),
            "label": None if label is None else {"verdict": label.verdict.value, "area": label.area.value,
                                                 "ai_label": label.ai_label, "label": label.label}}


def label_question_json(lang: str, question) -> dict:
    """What the vet is asked about the AI's answer (the bot's cn:v / cn:c buttons): `answers` are "right"
    (only when the AI named a class), "cannot_tell" or one of `classes`."""
    from shared.bot.handlers.conclusion import _class_name
    from shared.domain import conclusions as rules

    area = question.area.value
    return {"area": area, "ai_label": question.ai_label,
            "ai_label_name": _class_name(lang, area, question.ai_label) if question.ai_label else None,
            "classes": [{"id": c, "name": _class_name(lang, area, c)} for c in question.classes],
            "answers": ([rules.RIGHT] if question.ai_label else []) + [rules.CANNOT_TELL]}


def conclusion_fields(body: dict, question) -> dict:
    """write_conclusion's arguments from a POST body, each checked by the bot's dialog's rules so a refusal
    names its field; the answer on the AI's label is required exactly when the booking came from a triage
    answer with classes to choose from (the bot's dialog asks it then, and only then)."""
    from shared.domain import conclusions as rules

    allowed = {"summary", "recommendations", "follow_up", "answer"}
    for name in body:
        if name not in allowed:
            raise ApiError(400, "invalid", field=str(name)[:40], key="err.unknown_field")
    fields = {}
    for name in ("summary", "recommendations", "answer"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, "invalid", field=name)
        fields[name] = value or ("" if name != "answer" else None)
    follow_up = body.get("follow_up")
    if follow_up in (None, ""):
        fields["follow_up"] = None
    else:
        try:
            fields["follow_up"] = date.fromisoformat(follow_up) if isinstance(follow_up, str) else None
        except ValueError:
            fields["follow_up"] = None
        if fields["follow_up"] is None:
            raise ApiError(400, "invalid", field="follow_up", key="err.date_invalid")
    for name, check in (("summary", rules.check_summary), ("recommendations", rules.check_recommendations)):
        if fields[name] or name == "summary":
            try:
                fields[name] = check(fields[name])
            except InvalidInput as err:
                raise ApiError(400, "invalid", field=name, key=err.code, params=err.params) from None
    if (question is None) != (fields["answer"] is None):
        raise ApiError(400, "invalid", field="answer", key="err.use_buttons")
    return fields


def conclusion_error(err: InvalidInput) -> ApiError:
    code = err.code
    if code == "booking.err.not_found":
        return NOT_FOUND
    if code in ("conclusion.err.already", "conclusion.err.not_held", "conclusion.err.not_started"):
        return ApiError(409, "conflict", key=code, params=err.params)
    field_name = "follow_up" if code.startswith("conclusion.err.follow_up") else "answer"  # the rest checked before
    return ApiError(400, "invalid", field=field_name, key=code, params=err.params)


class MiniAppApi:
    """One instance per function instance; `handle` is called on its event loop."""

    def __init__(self, services: MiniAppServices, *, bot_token: str, ops_ids: frozenset[int], max_age: int,
                 bot: Callable[[], Any], wall_clock: Callable[[], float] = time.time):
        self.s = services
        self.bot_token = bot_token
        self.ops_ids = ops_ids
        self.max_age = max_age
        self.bot = bot                  # a telegram.Bot, made on first use (invoices, notices)
        self.wall_clock = wall_clock    # initData's age is real time, not the stack's moved clock
        self.routes: list[tuple[str, re.Pattern, Callable[..., Awaitable[tuple[int, dict]]], bool]] = []
        r = self._route
        r("GET", r"/api/me", self.me, owner=False)
        r("GET", r"/api/pets", self.list_pets)
        r("POST", r"/api/pets", self.add_pet)
        r("GET", rf"/api/pets/(?P<pet>{_ID})", self.get_pet)
        r("PATCH", rf"/api/pets/(?P<pet>{_ID})", self.edit_pet)
        r("DELETE", rf"/api/pets/(?P<pet>{_ID})", self.delete_pet)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/weights", self.weights)
        r("POST", rf"/api/pets/(?P<pet>{_ID})/weights", self.add_weight)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/treatments", self.treatments)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/week", self.week)
        r("POST", rf"/api/pets/(?P<pet>{_ID})/treatments", self.add_treatment)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/meals", self.meals)
        r("POST", rf"/api/pets/(?P<pet>{_ID})/meals", self.add_meal)
        r("POST", rf"/api/pets/(?P<pet>{_ID})/activity", self.add_activity)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/export\.pdf", self.export_pdf)
        r("POST", rf"/api/pets/(?P<pet>{_ID})/photos", self.add_photo)
        r("GET", rf"/api/photos/(?P<photo>{_PHOTO_ID})", self.photo)
        r("GET", rf"/api/pets/(?P<pet>{_ID})/vets", self.vets)
        r("GET", rf"/api/vets/(?P<vet>{_VET_ID})/calendar", self.calendar)
        r("GET", r"/api/bookings", self.bookings)
        r("POST", r"/api/bookings", self.hold)
        r("GET", rf"/api/bookings/(?P<b>{_ID})", self.booking)
        r("POST", rf"/api/bookings/(?P<b>{_ID})/invoice", self.invoice)
        r("GET", rf"/api/bookings/(?P<b>{_ID})/cancel", self.cancel_terms)
        r("POST", rf"/api/bookings/(?P<b>{_ID})/cancel", self.cancel)
        r("GET", rf"/api/bookings/(?P<b>{_ID})/reschedule", self.reschedule_options)
        r("POST", rf"/api/bookings/(?P<b>{_ID})/reschedule", self.reschedule)
        r("GET", rf"/api/bookings/(?P<b>{_ID})/patient", self.patient)
        r("GET", rf"/api/bookings/(?P<b>{_ID})/room", self.room)
        r("GET", r"/api/vet/schedule", self.vet_schedule)
        r("PUT", r"/api/vet/schedule", self.set_vet_schedule)
        r("GET", r"/api/vet/bookings", self.vet_bookings)
        r("GET", rf"/api/vet/bookings/(?P<b>{_ID})", self.vet_booking)
        r("POST", rf"/api/vet/bookings/(?P<b>{_ID})/conclusion", self.conclusion)

    def _route(self, method: str, pattern: str, handler, owner: bool = True) -> None:
        self.routes.append((method, re.compile(pattern + "/?$"), handler, owner))

    # ---- the door ---------------------------------------------------------------------------------------
    async def handle(self, req: Request) -> tuple[int, dict]:
        """(status, JSON body) for an /api/ request."""
        matched = [(m, rx.match(req.path), h, own) for m, rx, h, own in self.routes]
        matched = [x for x in matched if x[1]]
        if not matched:
            return 404, {"error": "not_found"}
        # the check first: without valid initData nothing is read, not even whether the route exists for
        # the method
        try:
            data = init_data.validate(init_data.from_header(req.headers.get("authorization")), self.bot_token,
                                      max_age=self.max_age, now=self.wall_clock())
        except init_data.InitDataError as err:
            log.info("mini app request refused: %s", err.reason)
            return 401, {"error": "unauthorized"}
        for method, match, handler, needs_owner in matched:
            if method == req.method:
                break
        else:
            return 405, {"error": "method_not_allowed"}
        who = Who(data.user, None, is_ops(data.user.id, self.ops_ids),
                  "en" if (data.user.language_code or "").startswith("en") else "ru")
        try:
            who.owner = await self.s.owners.get(who.id)
            if who.owner is not None and not who.owner.has_consented:
                who.owner = None
            if who.owner is not None:
                who.language = who.owner.language
            if needs_owner and who.owner is None:
                raise ApiError(403, "not_registered")
            return await handler(who, req, **match.groupdict())
        except ApiError as err:
            return err.status, self._error(who, err)
        except OwnerGone:
            return 410, {"error": "gone"}
        except StaleUpdate:
            return 409, {"error": "conflict"}

    def _error(self, who: Who, err: ApiError) -> dict:
        body: dict = {"error": err.error}
        if err.field:
            body["field"] = err.field
        if err.key and err.message:
            body.update(key=err.key, message=err.message)
        elif err.key:
            body["key"] = err.key
            try:
                params = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in err.params.items()}
                body["message"] = t(who.language, err.key, **params)
            except Exception:  # noqa: BLE001 - a key without a catalog entry: the key says it
                body["message"] = err.key
        return body

    # ---- helpers ---------------------------------------------------------------------------------------
    def _uow(self, who: Who):
        return self.s.unit_of_work(who.owner)

    def _today(self, who: Who) -> date:
        from shared.services.reminders import today_for

        return today_for(who.owner, self.s.clock())

    async def _pet(self, who: Who, pet_id: str, pets=None) -> Pet:
        from shared.services.pets import PetNotFound, owned_pet

        try:
            return await owned_pet(pets or self.s.pets, who.id, pet_id)
        except PetNotFound:
            raise NOT_FOUND from None

    async def _vet_record(self, who: Who):
        if who._vet is ...:
            who._vet = await self.s.vets.get(who.id)
        return who._vet

    def _invalid(self, err: InvalidInput, field_name: str | None = None) -> ApiError:
        code = err.code
        if code == "booking.err.not_found":
            return NOT_FOUND
        if code in ("booking.err.already_cancelled", "booking.err.rescheduled_once", "booking.err.not_held",
                    "booking.err.transition"):
            return ApiError(409, "conflict", key=code, params=err.params)
        return ApiError(400, "invalid", field=field_name, key=code, params=err.params)

    async def _booking(self, who: Who, booking_id: str) -> tuple[Booking, Party]:
        from shared.services.booking import owned_booking

        try:
            return await owned_booking(self.s.bookings, booking_id, who.id, ops=who.ops)
        except InvalidInput:
            raise NOT_FOUND from None

    async def _booking_json(self, who: Who, booking: Booking, party: Party, vet_names: dict | None = None) -> dict:
        from shared.domain.bookings import check_reschedule

        now = self.s.clock()
        names = vet_names if vet_names is not None else {}
        if booking.vet_id not in names:
            vet = await self.s.vets.get(booking.vet_id) if booking.vet_id else None
            names[booking.vet_id] = vet.full_name if vet else ""
        pet = {k: booking.pet.get(k) for k in ("name", "species", "breed", "sex", "birth_date",
                                               "birth_date_approximate", "weight_kg", "neutered")}
        if party is Party.OWNER:
            pet["id"] = booking.pet_id
        can_reschedule = False
        if party is Party.OWNER and booking.status is BookingStatus.CONFIRMED:
            try:
                check_reschedule(booking, now)
                can_reschedule = True
            except InvalidInput:
                pass
        can_cancel = (booking.status is BookingStatus.CONFIRMED and booking.start > now) or \
            (party is Party.OWNER and booking.hold_live(now))
        return {"id": booking.id, "status": booking.status.value, "role": party.value,
                "start": _time(booking.start), "end": _time(booking.end),
                "vet": {"id": booking.vet_id, "name": names[booking.vet_id]}, "pet": pet, "reason": booking.reason,
                "price": _money(booking.price),
                "hold_expires_at": _time(booking.hold_expires_at) if booking.status is BookingStatus.HELD else None,
                "can_cancel": can_cancel, "can_reschedule": can_reschedule}

    def _vet_card(self, vet, price: Price, next_slot) -> dict:
        return {"id": vet.id, "name": vet.full_name, "city": vet.city, "experience_years": vet.experience_years,
                "areas": [a.value for a in vet.areas], "languages": list(vet.languages), "bio": getattr(vet, "bio", None),
                "rating": round(vet.rating, 2) if vet.rating else None, "ratings": vet.rating_count,
                "price": _money(price), "next_slot": _time(next_slot.start) if next_slot else None,
                "slot_minutes": vet.schedule.slot_minutes if vet.schedule else None}

    @staticmethod
    def _days(slots, tz: str | None) -> list[dict]:
        from shared.domain.slots import by_day

        return [{"date": day.isoformat(), "slots": [{"start": _time(s.start), "end": _time(s.end)} for s in day_slots]}
                for day, day_slots in by_day(slots, tz).items()]

    # ---- who am I --------------------------------------------------------------------------------------
    async def me(self, who: Who, req: Request) -> tuple[int, dict]:
        vet = await self._vet_record(who)
        roles = (["owner"] if who.owner else []) + (["vet"] if vet and is_vet(vet.status) else []) + \
            (["ops"] if who.ops else [])
        return 200, {"user_id": who.id, "registered": who.owner is not None, "language": who.language,
                     "timezone": who.owner.timezone if who.owner else None, "roles": roles,
                     "currency": self.s.payments.currency.value}

    # ---- pets ------------------------------------------------------------------------------------------
    async def list_pets(self, who: Who, req: Request) -> tuple[int, dict]:
        return 200, {"pets": [pet_json(p) for p in await self.s.pets.list(who.id)]}

    async def add_pet(self, who: Who, req: Request) -> tuple[int, dict]:
        from shared.services import pets as pet_service

        today = self._today(who)
        draft = pet_changes(req.json(), today, None)
        uow = self._uow(who)
        try:
            pet = await pet_service.add_pet(uow.pets, who.id, draft, today)
        except InvalidInput as err:
            raise ApiError(400, "invalid", field=_RECORD_FIELDS.get(err.code), key=err.code, params=err.params) from None
        await uow.commit()
        return 201, {"pet": pet_json(pet)}

    async def get_pet(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        return 200, {"pet": pet_json(await self._pet(who, pet))}

    async def edit_pet(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.domain.pet_form import draft_from_pet
        from shared.services import pets as pet_service

        today = self._today(who)
        body = req.json()
        uow = self._uow(who)
        found = await self._pet(who, pet, uow.pets)
        changes = pet_changes(body, today, draft_from_pet(found))
        try:
            updated = await pet_service.edit_pet(uow.pets, uow.reminders, who.id, found.id, changes, today)
        except InvalidInput as err:
            raise ApiError(400, "invalid", field=_RECORD_FIELDS.get(err.code), key=err.code, params=err.params) from None
        except pet_service.PetNotFound:
            raise NOT_FOUND from None
        await uow.commit()
        return 200, {"pet": pet_json(updated)}

    async def delete_pet(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.services import pets as pet_service

        uow = self._uow(who)
        try:
            removed = await pet_service.remove_pet(uow.pets, who.id, pet)
        except pet_service.PetNotFound:
            raise NOT_FOUND from None
        await uow.commit()  # as the bot's delete: the pet first (records under it cannot be written after)
        await pet_service.remove_pet_records(uow.pets, uow.reminders, self.s.photos, who.id, removed.id)
        return 200, {"deleted": removed.id}

    # ---- diary -----------------------------------------------------------------------------------------
    async def weights(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        since = None
        if req.query.get("since"):
            try:
                since = date.fromisoformat(req.query["since"])
            except ValueError:
                raise ApiError(400, "invalid", field="since") from None
        found = await self._pet(who, pet)
        entries = await self.s.diary.weights(who.id, found.id, since=since)
        return 200, {"weights": [{"id": e.id, "date": e.on.isoformat(), "kg": e.kg}
                                 for e in sorted(entries, key=lambda e: e.on)]}

    async def add_weight(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.domain import diary as diary_rules
        from shared.services import diary as diary_service

        body = req.json()
        kg = body.get("kg") if isinstance(body, dict) else None
        if isinstance(kg, bool) or not isinstance(kg, (int, float)):
            raise ApiError(400, "invalid", field="kg", key="err.weight_invalid")
        uow = self._uow(who)
        found = await self._pet(who, pet, uow.pets)
        try:
            kg = diary_rules.parse_diary_weight(repr(float(kg)), found.species)
            _, entry, warning = await diary_service.record_weight(uow.pets, uow.diary, who.id, found.id, kg,
                                                                  self._today(who))
        except InvalidInput as err:
            raise ApiError(400, "invalid", field="kg", key=err.code, params=err.params) from None
        await uow.commit()
        note = None
        if warning is not None:  # the bot's words for it (handlers.diary), and the numbers
            from shared.bot.render import weight as weight_text
            from shared.bot.reminder_messages import format_date

            key = "diary.weight_warning_loss" if warning.change < 0 else "diary.weight_warning_gain"
            lang = who.language
            note = {"key": key, "message": t(lang, key, name=found.name, percent=f"{abs(warning.change) * 100:.0f}",
                                              since=format_date(lang, warning.since),
                                              before=weight_text(lang, warning.from_kg)),
                    "change": round(warning.change, 4), "since": warning.since.isoformat(),
                    "from_kg": warning.from_kg, "to_kg": warning.to_kg}
        return 201, {"weight": {"id": entry.id, "date": entry.on.isoformat(), "kg": entry.kg}, "warning": note}

    def _treatment(self, tr, today: date) -> dict:
        from shared.domain.diary import due_status

        return {"id": tr.id, "kind": tr.kind.value, "product": tr.product, "given_on": tr.given_on.isoformat(),
                "next_due": tr.next_due.isoformat() if tr.next_due else None, "status": due_status(tr, today).value}

    async def treatments(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        found = await self._pet(who, pet)
        today = self._today(who)
        return 200, {"treatments": [self._treatment(tr, today) for tr in await self.s.diary.treatments(who.id, found.id)]}

    async def week(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.domain import nutrition
        from shared.services import diary as diary_service
        from shared.services.pets import PetNotFound

        today = self._today(who)
        try:
            week = await diary_service.week_summary(self.s.pets, self.s.diary, who.id, pet, today)
        except PetNotFound:
            raise NOT_FOUND from None
        need = nutrition.energy_requirement(week.pet, week.pet.weight_kg, today, nutrition.Activity.NORMAL)
        return 200, {"first": week.first.isoformat(), "last": week.last.isoformat(),
                     "weights": [{"id": e.id, "date": e.on.isoformat(), "kg": e.kg} for e in week.weights],
                     "minutes": week.minutes, "mood": week.average("mood"), "appetite": week.average("appetite"),
                     "kcal_per_day": week.kcal_per_day,
                     "requirement_kcal": getattr(need, "kcal", None) if need is not None else None,
                     "due": [self._treatment(tr, today) for tr in week.due]}

    async def add_treatment(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        """A vaccination or treatment as the bot's /vaccines logs it (services.diary.record_treatment: its
        reminders planned, older ones of the same product retired). `next_due`: a date, null for none, left
        out for the species' usual interval (the bot's proposed date)."""
        from shared.domain import diary as rules
        from shared.domain.diary import Kind
        from shared.services import diary as diary_service
        from shared.services import reminders as reminder_service

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        _only(body, {"kind", "product", "given_on", "next_due"})
        try:
            kind = Kind(body.get("kind"))
        except ValueError:
            raise ApiError(400, "invalid", field="kind", key="err.use_buttons") from None
        if not isinstance(body.get("product"), str):
            raise ApiError(400, "invalid", field="product", key="diary.err.product_empty")
        today = self._today(who)
        given = _date(body.get("given_on", today.isoformat()), "given_on")
        uow = self._uow(who)
        found = await self._pet(who, pet, uow.pets)
        if "next_due" not in body:
            next_due = rules.propose_next_due(found.species, kind, given)
        else:
            next_due = None if body["next_due"] in (None, "") else _date(body["next_due"], "next_due")
        owner, _ = await reminder_service.ensure_timezone(uow.owners, who.owner, who.user.language_code)
        try:
            treatment = await diary_service.record_treatment(uow.pets, uow.diary, uow.reminders, owner, who.id,
                                                             found.id, kind, body["product"], given, next_due,
                                                             self.s.clock())
        except InvalidInput as err:
            field_name = ("product" if "product" in err.code else "next_due" if "due" in err.code else "given_on")
            raise ApiError(400, "invalid", field=field_name, key=err.code, params=err.params) from None
        await uow.commit()
        return 201, {"treatment": self._treatment(treatment, today)}

    async def meals(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        """Today's meals against the daily energy need (the bot's /food), and the foods to pick from."""
        from shared.domain import nutrition
        from shared.services import diary as diary_service
        from shared.services.pets import PetNotFound

        today = self._today(who)
        try:
            day = await diary_service.day_calories(self.s.pets, self.s.diary, who.id, pet, today)
        except PetNotFound:
            raise NOT_FOUND from None
        return 200, {"date": today.isoformat(), "meals": [_meal_json(m) for m in day.meals],
                     "total_kcal": round(day.total, 1), "activity": day.activity.value,
                     "requirement_kcal": round(day.requirement.kcal) if day.requirement else None,
                     "foods": [{"id": f.id, "name": f.name(who.language), "kcal_per_100g": f.kcal_per_100g}
                               for f in nutrition.foods_for(day.pet.species)]}

    async def add_meal(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        """A meal of today: `{"food_id", "grams"}` (a food of the list) or `{"name", "kcal_per_100g", "grams"}`
        (the bot's free meal), with the bot's limits."""
        from shared.domain import nutrition
        from shared.domain.diary import Meal
        from shared.domain.pets import visible_text
        from shared.services import diary as diary_service

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        _only(body, {"food_id", "name", "kcal_per_100g", "grams"})
        grams = _number(body.get("grams"), 0, nutrition.MEAL_MAX_GRAMS)
        if grams is None:
            raise ApiError(400, "invalid", field="grams", key="diary.err.grams_invalid",
                           params={"max": nutrition.MEAL_MAX_GRAMS})
        uow = self._uow(who)
        found = await self._pet(who, pet, uow.pets)
        if body.get("food_id") is not None:
            food = {f.id: f for f in nutrition.foods_for(found.species)}.get(body["food_id"])
            if food is None:
                raise ApiError(400, "invalid", field="food_id", key="err.use_buttons")
            name, kcal, food_id = food.name(who.language), food.kcal_per_100g, food.id
        else:
            kcal = _number(body.get("kcal_per_100g"), nutrition.KCAL_RANGE[0] - 1e-9, nutrition.KCAL_RANGE[1])
            if kcal is None:
                raise ApiError(400, "invalid", field="kcal_per_100g", key="diary.err.free_meal")
            raw = body.get("name")
            try:
                name = visible_text(" ".join(re.sub(r"[\x00-\x1f\x7f]", " ", raw).split())) if isinstance(raw, str) else ""
            except InvalidInput as err:
                raise ApiError(400, "invalid", field="name", key=err.code) from None
            if not 1 <= len(name) <= 40:
                raise ApiError(400, "invalid", field="name", key="diary.err.free_meal")
            food_id = None
        meal = await diary_service.record_meal(uow.pets, uow.diary, who.id, found.id,
                                               Meal("", self._today(who), name, grams, kcal, food_id))
        await uow.commit()
        return 201, {"meal": _meal_json(meal)}

    async def add_activity(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        """Today's activity, mood and appetite (1-5) and a note, as the bot's /activity records them."""
        from shared.domain import diary as rules
        from shared.domain.diary import ActivityLog
        from shared.services import diary as diary_service

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        _only(body, {"minutes", "mood", "appetite", "notes"})
        if not any(body.get(k) not in (None, "") for k in ("minutes", "mood", "appetite", "notes")):
            raise ApiError(400, "invalid", field="minutes", key="diary.err.minutes_invalid",
                           params={"max": rules.ACTIVITY_MAX_MINUTES})
        values: dict = {}
        if body.get("minutes") is not None:
            minutes = _number(body["minutes"], -1, rules.ACTIVITY_MAX_MINUTES, whole=True)
            if minutes is None:
                raise ApiError(400, "invalid", field="minutes", key="diary.err.minutes_invalid",
                               params={"max": rules.ACTIVITY_MAX_MINUTES})
            values["minutes"] = int(minutes)
        for name in ("mood", "appetite"):
            if body.get(name) is not None:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int) or value not in rules.SCALE:
                    raise ApiError(400, "invalid", field=name, key="err.use_buttons")
                values[name] = value
        if body.get("notes") not in (None, ""):
            try:
                values["notes"] = rules.parse_notes(body["notes"] if isinstance(body["notes"], str) else "")
            except InvalidInput as err:
                raise ApiError(400, "invalid", field="notes", key=err.code, params=err.params) from None
        today = self._today(who)
        uow = self._uow(who)
        found = await self._pet(who, pet, uow.pets)
        log_entry = await diary_service.record_activity(uow.pets, uow.diary, who.id, found.id,
                                                        ActivityLog("", today, **values), today)
        await uow.commit()
        return 201, {"activity": {"id": log_entry.id, "date": log_entry.on.isoformat(), "minutes": log_entry.minutes,
                                  "mood": log_entry.mood, "appetite": log_entry.appetite, "notes": log_entry.notes}}

    async def export_pdf(self, who: Who, req: Request, pet: str) -> tuple[int, FileBody]:
        """The clinic PDF the bot's /diary sends (handlers.diary.record_pdf), in the owner's language."""
        from shared.bot.handlers.diary import record_pdf
        from shared.services import diary as diary_service
        from shared.services.pets import PetNotFound

        try:
            record = await diary_service.pet_record(self.s.pets, self.s.diary, who.id, pet)
        except PetNotFound:
            raise NOT_FOUND from None
        pdf = await asyncio.to_thread(record_pdf, who.language, record, self._today(who))
        return 200, FileBody(pdf, "application/pdf", f"{record.pet.name}.pdf")

    async def add_photo(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        """A photo for triage (`?area=skin|eye|other`; the body is the image, or a multipart form with one
        file): the bot's intake (services.triage.accept_photo) checks and cleans it (EXIF and GPS gone, upright,
        re-encoded), records it and stores it where the chat's photos go, so the photo_triage trigger runs on
        it; its answer reaches the owner's chat as a new message, and GET /api/photos/{id} shows it. A photo
        intake refuses is a 400 with the chat's reason."""
        from shared.bot.handlers.photo import _clean  # the bot's cleaner (adapters.images.clean_photo)
        from shared.domain.photos import Area, PhotoRejected, check_declared_size
        from shared.services import triage as triage_service

        try:
            area = Area(req.query.get("area", "skin"))
        except ValueError:
            raise ApiError(400, "invalid", field="area", key="err.use_buttons") from None
        data = uploaded_file(req)
        try:
            check_declared_size(len(data))
        except PhotoRejected as err:
            raise ApiError(400, "invalid", field="photo", key=err.code, params=err.params) from None
        chat = _UploadChat(data)
        name = await triage_service.accept_photo(
            pets=self.s.pets, records=self.s.triage, storage=self.s.photos, chat=chat, clean=_clean,
            owner_id=who.id, chat_id=who.id, language=who.language, pet_id=pet, area=area,
            file=triage_service.IncomingFile("upload", len(data)))
        if name is None:
            raise chat.refusal()
        photo_id = name.rsplit("/", 1)[1].removesuffix(".jpg")
        return 202, {"photo": {"id": photo_id, "pet": pet, "area": area.value, "status": "analysing", "result": None}}

    async def photo(self, who: Who, req: Request, photo: str) -> tuple[int, dict]:
        """A photo's triage as the chat shows it: analysing, or the result with the chat's text."""
        from shared.bot import triage_messages

        for pet in await self.s.pets.list(who.id):
            record = await self.s.triage.photo_record(who.id, pet.id, photo)
            if record is None:
                continue
            result = next((r for r in await self.s.triage.list(who.id, pet.id)
                           if r.photo_path.endswith(f"/{photo}.jpg")), None)
            body = {"id": photo, "pet": pet.id, "area": record.area.value,
                    "status": "analysing" if result is None else "done", "result": None}
            if result is not None:
                body["result"] = {
                    "id": result.id, "outcome": result.outcome.value, "urgency": result.urgency.value,
                    "findings": [{"label": label, "name": triage_messages.label_name(who.language, label),
                                  "p": round(p, 4)} for label, p in result.findings],
                    "quality_issues": [q.value for q in result.quality_issues],
                    "confidence": result.confidence, "contagious_to_people": result.contagious_to_people,
                    "text": triage_messages.result_text(who.language, result)}
            return 200, {"photo": body}
        raise NOT_FOUND

    # ---- consultations ---------------------------------------------------------------------------------
    async def vets(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        from shared.domain.vets import Area
        from shared.services import booking as booking_service

        try:
            page = int(req.query.get("page", "0"))
            area = Area(req.query["area"]) if req.query.get("area") else None
        except ValueError:
            raise ApiError(400, "invalid", field="page" if "area" not in req.query else "area") from None
        found = await self._pet(who, pet)
        result = await booking_service.list_vets(self.s.vets, self.s.bookings, found.species, self.s.clock(),
                                                 self.s.payments.pricing, area=area, page=page)
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
        if not isinstance(pet_id, str) or not re.fullmatch(_ID, pet_id):
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
        except InvalidInput as err:
            raise ApiError(400, "invalid", field="vet" if err.code == "booking.err.vet_unavailable" else "start",
                           key=err.code, params=err.params) from None
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
            return 200, {"refund": _money(Price(0, booking.price.currency))}
        try:
            terms = await cancellations.cancel_terms(self.s.bookings, self.s.payments, b, who.id, self.s.clock(),
                                                     ops=self.ops_ids)
        except InvalidInput as err:
            raise self._invalid(err) from None
        return 200, {"refund": _money(Price(terms.refund, booking.price.currency))}

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
                         "refund": _money(Price(0, booking.price.currency)), "refunded": False}
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
                     "refund": _money(Price(done.refund, booking.price.currency)), "refunded": done.refunded}

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

    async def patient(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        booking, party = await self._booking(who, b)
        if party is Party.OWNER:
            raise ApiError(403, "forbidden")
        return 200, await self._patient_json(who, booking, party)

    async def _patient_json(self, who: Who, booking: Booking, party: Party) -> dict:
        """The vet's card of a booking's patient (services.cancellations.patient_card, as the bot's notice):
        the pet as booked, the triage answer and its photo link, the diary's week, the current treatments."""
        from shared.services import cancellations

        vet_id = booking.vet_id if party is Party.OPS else who.id
        today = self.s.clock().date()
        try:
            card = await cancellations.patient_card(self.s.bookings, self.s.pets, self.s.diary, self.s.triage,
                                                    self.s.photos, booking.id, vet_id, today, booking=booking)
        except InvalidInput:
            raise NOT_FOUND from None
        pet = pet_json(card.pet)
        pet.pop("id", None)
        week = card.week
        return {"booking": await self._booking_json(who, booking, party), "pet": pet, "triage": booking.triage,
                "photo_url": card.photo_url,
                "weights": [{"date": e.on.isoformat(), "kg": e.kg} for e in (week.weights if week else [])],
                "week": None if week is None else {
                    "first": week.first.isoformat(), "last": week.last.isoformat(), "minutes": week.minutes,
                    "mood": week.average("mood"), "appetite": week.average("appetite"),
                    "kcal_per_day": week.kcal_per_day},
                "treatments": [self._treatment(tr, today) for tr in card.treatments]}

    # ---- a vet's own screens ---------------------------------------------------------------------------
    async def _vet(self, who: Who):
        """The acting person's vet record if they act as a vet (verified, active or paused); else 403."""
        vet = await self._vet_record(who)
        if vet is None or not is_vet(vet.status):
            raise ApiError(403, "forbidden")
        return vet

    async def vet_schedule(self, who: Who, req: Request) -> tuple[int, dict]:
        return 200, {"schedule": schedule_json(await self._vet(who))}

    async def set_vet_schedule(self, who: Who, req: Request) -> tuple[int, dict]:
        """The vet's hours and settings, checked whole by domain.schedule as the bot's /schedule checks them;
        the first hours a verified vet publishes make them bookable (services.vets.set_schedule)."""
        from shared.domain.schedule import Schedule
        from shared.domain.slots import local_today
        from shared.domain.vets import VetStatus
        from shared.services import vets as vet_service

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        uow = self._uow(who)
        vet = await uow.vets.get(who.id)
        if vet is None or not is_vet(vet.status):
            raise ApiError(403, "forbidden")
        current = vet.schedule or Schedule(vet.timezone)
        now = self.s.clock()
        changes = schedule_changes(body, current, local_today(current, now), who.language)
        try:
            updated = await vet_service.set_schedule(uow.vets, vet.id, current.with_changes(**changes), now)
        except InvalidInput as err:
            raise schedule_error(err, who.language) from None
        await uow.commit()
        return 200, {"schedule": schedule_json(updated),
                     "published": vet.status == VetStatus.VERIFIED and updated.status == VetStatus.ACTIVE}

    async def vet_bookings(self, who: Who, req: Request) -> tuple[int, dict]:
        from shared.services import cancellations

        await self._vet(who)
        names: dict = {}
        found = await cancellations.vet_bookings(self.s.bookings, who.id, self.s.clock())
        return 200, {"bookings": [await self._booking_json(who, b, Party.VET, names) for b in found]}

    async def _vets_booking(self, who: Who, b: str) -> Booking:
        await self._vet(who)
        booking, party = await self._booking(who, b)
        if party is not Party.VET:
            raise ApiError(403, "forbidden")  # its owner, or ops: a vet's screen is the booking's vet's
        return booking

    async def vet_booking(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        """The patient card with what the conclusion form needs: whether it can be written now, the one
        written, and the label question of a booking made from a triage answer."""
        from shared.domain import conclusions as rules

        booking = await self._vets_booking(who, b)
        card = await self._patient_json(who, booking, Party.VET)
        found = await self._uow(who).conclusions.get(booking.id)
        written = found[0].conclusion if found else None
        try:
            rules.check_can_conclude(booking, who.id, self.s.clock())
            can_conclude = written is None
        except InvalidInput:
            can_conclude = False
        question = rules.label_question(booking)
        return 200, {**card, "can_conclude": can_conclude,
                     "conclusion": None if written is None else conclusion_json(written),
                     "label_question": None if question is None else label_question_json(who.language, question)}

    async def conclusion(self, who: Who, req: Request, b: str) -> tuple[int, dict]:
        """The vet's conclusion, once, through the bot's use case (services.conclusions.write_conclusion: the
        booking completed, the diary entry, the follow-up reminders, the label in one commit); then the owner
        is told in the chat as the bot's 'Send' tells them (with the rating buttons, the label question)."""
        from shared.bot.handlers import conclusion as messages
        from shared.services import conclusions as svc

        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json")
        from shared.domain import conclusions as rules

        booking = await self._vets_booking(who, b)
        fields = conclusion_fields(body, rules.label_question(booking))
        uow = self._uow(who)
        try:
            written = await svc.write_conclusion(
                conclusions=uow.conclusions, diary=uow.diary, reminders=uow.reminders, owners=self.s.owners,
                pets=uow.pets, vets=uow.vets, triage=self.s.triage, booking_id=booking.id, vet_id=who.id,
                now=self.s.clock(), **fields)
        except InvalidInput as err:
            raise conclusion_error(err) from None
        await uow.commit()
        if self.s.label_photos is not None:
            await svc.store_label_photo(self.s.label_photos, written.kept_label)
        delivered = False
        try:
            delivered = await messages.tell_owner(_NoticeContext(self.bot(), self.s), written)
        except Exception:  # noqa: BLE001 - written and committed; the notice is best effort, as in the bot
            log.exception("a conclusion from the mini app was not sent")
        return 201, {"conclusion": conclusion_json(written.conclusion), "delivered": delivered,
                     "in_diary": written.in_diary, "reminder_set": written.reminder_set}


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
                     "join_url": join.link, "ends_at": _time(room.expires_at)}

    async def _tell(self, send) -> None:
        """The other party of a change is told in the chat, as the bot's own buttons tell them (handlers.bookings);
        a notice that cannot go out is logged, the change stands."""
        from shared.bot.handlers import bookings as messages

        try:
            await send(_NoticeContext(self.bot(), self.s), messages)
        except Exception:  # noqa: BLE001 - the change is made; the notice is best effort, as in the bot
            log.exception("a booking notice from the mini app was not sent")


class _UploadChat:
    """services.triage's chat for a photo uploaded in the app: the file is the request's body; what intake
    would tell the chat of a refused photo becomes the API's answer instead, and no 'analysing' message is
    sent (the trigger then sends its answer to the owner's chat as a new message, as the app polls for it)."""

    def __init__(self, data: bytes):
        self.data = data
        self.notice = None

    async def chat_action(self, chat_id: int) -> None:
        return None

    async def download(self, file_id: str) -> bytes:
        return self.data

    async def send(self, chat_id: int, notice, *, language: str) -> int:
        from shared.services.triage import Analysing

        if not isinstance(notice, Analysing):
            self.notice = notice
        return 0

    async def edit(self, chat_id: int, message_id: int, notice, *, language: str) -> None:
        self.notice = notice

    def refusal(self) -> ApiError:
        from shared.services.triage import PetMissing, PhotoRefused

        if isinstance(self.notice, PhotoRefused):
            return ApiError(400, "invalid", field="photo", key=self.notice.code, params=self.notice.params)
        if isinstance(self.notice, PetMissing) or self.notice is None:
            return NOT_FOUND if self.notice is not None else ApiError(410, "gone")
        return ApiError(503, "storage_unavailable", key="triage.store_failed")


def uploaded_file(req: Request) -> bytes:
    """The image of an upload: the raw body, or the one file part of a multipart/form-data body."""
    if len(req.body) > MAX_PHOTO:
        raise ApiError(413, "too_large", field="photo")
    kind = req.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        if not req.body:
            raise ApiError(400, "invalid", field="photo", key="photo.not_image")
        return req.body
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + kind.encode("latin-1") + b"\r\n\r\n" + req.body)
    files = [part for part in message.iter_parts() if part.get_filename() is not None] \
        if message.is_multipart() else []
    if len(files) != 1:
        raise ApiError(400, "invalid", field="photo", key="photo.not_image")
    return files[0].get_payload(decode=True) or b""


def _only(body: dict, allowed: set[str]) -> None:
    for name in body:
        if name not in allowed:
            raise ApiError(400, "invalid", field=str(name)[:40], key="err.unknown_field")


def _date(value: Any, field_name: str) -> date:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else _bad_date(field_name)
    except ValueError:
        return _bad_date(field_name)


def _bad_date(field_name: str):
    raise ApiError(400, "invalid", field=field_name, key="err.date_invalid")


def _number(value: Any, above: float, at_most: float, whole: bool = False) -> float | None:
    """A JSON number in (above, at_most] (whole if asked); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and value != int(value)) \
            or not above < value <= at_most:
        return None
    return float(value)


def _meal_json(meal) -> dict:
    return {"id": meal.id, "date": meal.on.isoformat(), "name": meal.name, "grams": meal.grams,
            "kcal_per_100g": meal.kcal_per_100g, "kcal": round(meal.kcal, 1), "food_id": meal.food_id}


class _NoticeContext:
    """What handlers.bookings' notices read of a bot context: the bot, the services and the clock."""

    def __init__(self, bot, services):
        self.bot = bot
        self.services = services
        self.shared_services = services

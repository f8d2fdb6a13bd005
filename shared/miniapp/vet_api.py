"""The Mini App API's screens of a vet (shared/miniapp/API.md): their schedule (read, and changed with the
bot's /schedule checks), their upcoming bookings, a booking's patient card, and the conclusion written once
through the bot's use case (services.conclusions), the owner told in the chat as the bot's 'Send' tells them."""
from __future__ import annotations

import logging
import re
from datetime import date, timedelta

from shared.domain.bookings import Booking, Party
from shared.domain.pets import InvalidInput
from shared.domain.roles import is_vet
from shared.bot.notice_context import NoticeContext
from shared.miniapp.endpoints import Endpoints
from shared.miniapp.json_shapes import pet_json, treatment_json, utc_time
from shared.miniapp.router import ID, NOT_FOUND, AddRoute, ApiError, Request, Who

log = logging.getLogger(__name__)

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
            "follow_up": c.follow_up.isoformat() if c.follow_up else None, "written_at": utc_time(c.written_at),
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


class VetApi(Endpoints):
    def register(self, route: AddRoute) -> None:
        route("GET", rf"/api/bookings/(?P<b>{ID})/patient", self.patient)
        route("GET", r"/api/vet/schedule", self.vet_schedule)
        route("PUT", r"/api/vet/schedule", self.set_vet_schedule)
        route("GET", r"/api/vet/bookings", self.vet_bookings)
        route("GET", rf"/api/vet/bookings/(?P<b>{ID})", self.vet_booking)
        route("POST", rf"/api/vet/bookings/(?P<b>{ID})/conclusion", self.conclusion)

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
                "treatments": [treatment_json(tr, today) for tr in card.treatments]}

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
            delivered = await messages.tell_owner(NoticeContext(self.bot(), self.s), written)
        except Exception:  # noqa: BLE001 - written and committed; the notice is best effort, as in the bot
            log.exception("a conclusion from the mini app was not sent")
        return 201, {"conclusion": conclusion_json(written.conclusion), "delivered": delivered,
                     "in_diary": written.in_diary, "reminder_set": written.reminder_set}

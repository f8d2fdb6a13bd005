"""The Mini App API's diary of a pet (shared/miniapp/API.md): weights, treatments, meals, the day's activity,
the week, the clinic PDF, and the photo check - each through the bot's use cases (services.diary, services.triage)
with the bot's limits, in the owner's unit of work."""
from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

from shared.domain.pets import InvalidInput
from shared.i18n import t
from shared.miniapp.endpoints import Endpoints
from shared.miniapp.json_shapes import treatment_json
from shared.miniapp.router import ID, MAX_PHOTO, NOT_FOUND, AddRoute, ApiError, FileBody, Request, Who

_PHOTO_ID = r"[0-9a-f]{32}"


class DiaryApi(Endpoints):
    def register(self, route: AddRoute) -> None:
        route("GET", rf"/api/pets/(?P<pet>{ID})/weights", self.weights)
        route("POST", rf"/api/pets/(?P<pet>{ID})/weights", self.add_weight)
        route("GET", rf"/api/pets/(?P<pet>{ID})/treatments", self.treatments)
        route("GET", rf"/api/pets/(?P<pet>{ID})/week", self.week)
        route("POST", rf"/api/pets/(?P<pet>{ID})/treatments", self.add_treatment)
        route("GET", rf"/api/pets/(?P<pet>{ID})/meals", self.meals)
        route("POST", rf"/api/pets/(?P<pet>{ID})/meals", self.add_meal)
        route("POST", rf"/api/pets/(?P<pet>{ID})/activity", self.add_activity)
        route("GET", rf"/api/pets/(?P<pet>{ID})/export\.pdf", self.export_pdf)
        route("POST", rf"/api/pets/(?P<pet>{ID})/photos", self.add_photo)
        route("GET", rf"/api/photos/(?P<photo>{_PHOTO_ID})", self.photo)

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

    async def treatments(self, who: Who, req: Request, pet: str) -> tuple[int, dict]:
        found = await self._pet(who, pet)
        today = self._today(who)
        return 200, {"treatments": [treatment_json(tr, today) for tr in await self.s.diary.treatments(who.id, found.id)]}

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
                     "due": [treatment_json(tr, today) for tr in week.due]}

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
        return 201, {"treatment": treatment_json(treatment, today)}

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

"""The Mini App API's pets (shared/miniapp/API.md): the owner's pets listed, added, read, edited and deleted
through the bot's own use cases (services.pets) and parsers (domain.pet_form), in the owner's unit of work."""
from __future__ import annotations

from datetime import date
from typing import Any

from shared.domain.pets import EDITABLE_FIELDS, InvalidInput
from shared.miniapp.endpoints import Endpoints
from shared.miniapp.json_shapes import pet_json
from shared.miniapp.router import ID, NOT_FOUND, AddRoute, ApiError, Request, Who

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


class PetsApi(Endpoints):
    def register(self, route: AddRoute) -> None:
        route("GET", r"/api/pets", self.list_pets)
        route("POST", r"/api/pets", self.add_pet)
        route("GET", rf"/api/pets/(?P<pet>{ID})", self.get_pet)
        route("PATCH", rf"/api/pets/(?P<pet>{ID})", self.edit_pet)
        route("DELETE", rf"/api/pets/(?P<pet>{ID})", self.delete_pet)

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

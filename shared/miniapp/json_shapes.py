"""The JSON shapes several of the Mini App API's features answer with (shared/miniapp/API.md, "Shapes"):
times ISO-8601 UTC with `Z`, money in minor units with its currency, a pet, a treatment."""
from __future__ import annotations

from datetime import date, datetime, timezone

from shared.domain.bookings import Price
from shared.domain.pets import Pet


def utc_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(price: Price) -> dict:
    return {"amount": price.amount, "currency": price.currency.value}


def pet_json(pet: Pet) -> dict:
    return {"id": pet.id, "name": pet.name, "species": pet.species.value, "breed": pet.breed,
            "sex": pet.sex.value, "birth_date": pet.birth_date.isoformat() if pet.birth_date else None,
            "birth_date_approximate": pet.birth_date_approximate, "weight_kg": pet.weight_kg,
            "neutered": pet.neutered.value}


def treatment_json(tr, today: date) -> dict:
    from shared.domain.diary import due_status

    return {"id": tr.id, "kind": tr.kind.value, "product": tr.product, "given_on": tr.given_on.isoformat(),
            "next_due": tr.next_due.isoformat() if tr.next_due else None, "status": due_status(tr, today).value}

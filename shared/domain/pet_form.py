"""The add/edit pet form: which question comes next and how an answer becomes a field value.

A draft is a JSON-safe dict (it is stored in Firestore between messages).
"""
from __future__ import annotations

from datetime import date

from shared.domain.pets import (
    InvalidInput, Neutered, Pet, Sex, Species, check_pet, parse_birth_date, parse_breed, parse_name, parse_weight,
)

ADD_STEPS = ("species", "name", "breed", "sex", "birth_date", "weight_kg", "neutered")
# Answers given with buttons; typed text there gets the buttons again.
CHOICE_FIELDS = {"species": Species, "sex": Sex, "neutered": Neutered}
SKIPPABLE = {"breed", "birth_date", "weight_kg"}

COMMON_BREEDS = {
    Species.CAT: ("british_shorthair", "scottish_fold", "maine_coon", "siberian", "sphynx", "persian"),
    Species.DOG: ("labrador", "german_shepherd", "yorkshire_terrier", "chihuahua", "spitz", "french_bulldog"),
}


def next_step(step: str) -> str | None:
    index = ADD_STEPS.index(step) + 1
    return ADD_STEPS[index] if index < len(ADD_STEPS) else None


def species_of(draft: dict) -> Species:
    return Species(draft.get("species", Species.OTHER.value))


def answer_choice(field: str, value: str) -> dict:
    """A button press for a choice field; raises InvalidInput for values no keyboard offers."""
    try:
        return {field: CHOICE_FIELDS[field](value).value}
    except (KeyError, ValueError):
        raise InvalidInput("err.use_buttons") from None


def answer_text(field: str, text: str, draft: dict, today: date) -> dict:
    """Typed text for `field`; returns the draft changes or raises InvalidInput."""
    if field in CHOICE_FIELDS:
        raise InvalidInput("err.use_buttons")
    if field == "name":
        return {"name": parse_name(text)}
    if field == "breed":
        return {"breed": parse_breed(text)}
    if field == "weight_kg":
        return {"weight_kg": parse_weight(text, species_of(draft))}
    if field == "birth_date":
        born, approximate = parse_birth_date(text, species_of(draft), today)
        return {"birth_date": born.isoformat(), "birth_date_approximate": approximate}
    raise InvalidInput("err.use_buttons")


def skip(field: str) -> dict:
    if field not in SKIPPABLE:
        raise InvalidInput("err.use_buttons")
    return {field: None}


def pet_from_draft(owner_id: int, draft: dict, pet_id: str = "") -> Pet:
    born = draft.get("birth_date")
    return Pet(
        id=pet_id,
        owner_id=owner_id,
        species=Species(draft["species"]),
        name=draft["name"],
        breed=draft.get("breed"),
        sex=Sex(draft.get("sex", Sex.UNKNOWN.value)),
        birth_date=date.fromisoformat(born) if born else None,
        birth_date_approximate=bool(draft.get("birth_date_approximate")),
        weight_kg=draft.get("weight_kg"),
        neutered=Neutered(draft.get("neutered", Neutered.UNKNOWN.value)),
    )


def checked_pet(owner_id: int, draft: dict, today: date, pet_id: str = "") -> Pet:
    """The pet a draft makes, checked as the whole record it will be saved as (domain.pets.check_pet):
    what adding a pet and every edit go through; `pet_from_draft` alone also reads stored records."""
    return check_pet(pet_from_draft(owner_id, draft, pet_id), today)


def draft_from_pet(pet: Pet) -> dict:
    return {
        "species": pet.species.value,
        "name": pet.name,
        "breed": pet.breed,
        "sex": pet.sex.value,
        "birth_date": pet.birth_date.isoformat() if pet.birth_date else None,
        "birth_date_approximate": pet.birth_date_approximate,
        "weight_kg": pet.weight_kg,
        "neutered": pet.neutered.value,
    }

"""Pet profile use cases. Every call names the acting owner; a pet is only ever looked up under them."""
from __future__ import annotations

import hashlib
import hmac
from datetime import date

from shared.config import photo_path_key
from shared.domain.pet_form import checked_pet, draft_from_pet
from shared.domain.pets import Pet


class PetNotFound(LookupError):
    """No such pet for this owner (it may exist for someone else: we never say)."""


async def add_pet(pets, owner_id: int, draft: dict, today: date) -> Pet:
    """Saves the pet a finished add dialog describes; InvalidInput (and nothing saved) if the record is
    not valid as a whole (domain.pets.check_pet)."""
    return await pets.add(checked_pet(owner_id, draft, today))


async def owned_pet(pets, owner_id: int, pet_id: str) -> Pet:
    pet = await pets.get(owner_id, pet_id)
    if pet is None or pet.owner_id != owner_id:
        raise PetNotFound(pet_id)
    return pet


async def edit_pet(pets, reminders, owner_id: int, pet_id: str, changes: dict, today: date) -> Pet:
    """Applies validated draft changes (see domain.pet_form) to an owner's pet; its pending reminders
    take a new name with it (they carry it so that the job sends them without reading the pet)."""
    pet = await owned_pet(pets, owner_id, pet_id)
    # the whole record the change makes is checked, not only the field: InvalidInput, nothing written
    updated = checked_pet(owner_id, {**draft_from_pet(pet), **changes}, today, pet_id=pet.id)
    await pets.update(updated)
    if updated.name != pet.name:
        for rem in await reminders.active_for_owner(owner_id, pet.id):
            await reminders.amend(rem.id, {"pet_name": updated.name})
    return updated


PHOTOS_FOLDER = "photos/"


def photo_owner_folder(owner_id: int) -> str:
    """The owner's folder in the photos bucket: an HMAC-SHA256 of the id under PHOTO_PATH_KEY (128 bits, hex).
    Object names end up in logs (ours, the Storage emulator's, Cloud Storage's): they carry no Telegram id,
    and without the key nobody can tell whose folder it is, yet erasure still finds an owner's photos by prefix."""
    return hmac.new(photo_path_key(), str(int(owner_id)).encode(), hashlib.sha256).hexdigest()[:32]


def photo_prefix(owner_id: int, pet_id: str | None = None) -> str:
    """Where an owner's (or one pet's) cleaned photos are stored: photos/{owner folder}/[{pet}/]."""
    folder = f"{PHOTOS_FOLDER}{photo_owner_folder(owner_id)}/"
    return f"{folder}{pet_id}/" if pet_id else folder


async def remove_pet(pets, owner_id: int, pet_id: str) -> Pet:
    """Deletes the pet's document (in an update: once committed, writes under it fail); then call
    `remove_pet_records`."""
    pet = await owned_pet(pets, owner_id, pet_id)
    await pets.delete(owner_id, pet.id)
    return pet


async def remove_pet_records(pets, reminders, photos, owner_id: int, pet_id: str) -> None:
    """All that hung on a deleted pet: reminders first (none may fire for it), diary, triage results,
    photos."""
    await reminders.delete_for(owner_id, pet_id)
    await pets.delete_records(owner_id, pet_id)
    await photos.delete_prefix(photo_prefix(owner_id, pet_id))

"""Vet use cases: apply, ops decisions, hours, pause/resume, who is offered, demo vets, erasure.

Repositories and stores are arguments (`vets`: FirestoreVets or a fake; `storage`: the photos bucket's
PhotoStorage). Inside a person's update they stage writes that the update's unit of work commits; a save
of a vet read before someone else changed it raises StaleUpdate and writes nothing (that is how two
parallel "approve" presses record one decision). Nothing here renders: the bot and the CLI do.

Who may act is checked here, not only by the buttons: `decide` takes the ops allow-list and refuses
anyone else (NotOps) before reading anything; a vet's own actions name the vet (the acting person's id).

Photos of an application are cleaned by the caller (adapters.images.clean_photo) and stored privately in
the photos bucket, in folders keyed like owners' photos (services.pets.photo_owner_folder: no Telegram id
in a name): vet-documents/{folder}/{random}.jpg (diplomas, licences: ops only, never shown to owners) and
vet-portraits/{folder}/{random}.jpg (the portrait owners see). Erasure deletes both folders; the photo
trigger of that bucket ignores them (not an owner's photo path).
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Collection

from shared.domain.pets import InvalidInput, Species
from shared.domain.schedule import Schedule
from shared.domain.slots import local_today
from shared.domain.vets import (
    DEFAULT_PRICE_BOUNDS, Action, Area, Vet, VetStatus, vet_from_application,
)
from shared.services.pets import photo_owner_folder

DOCUMENTS_FOLDER, PORTRAITS_FOLDER = "vet-documents/", "vet-portraits/"
KINDS = {"document": DOCUMENTS_FOLDER, "portrait": PORTRAITS_FOLDER}


class VetNotFound(LookupError):
    """No vet record for this id."""


class NotOps(PermissionError):
    """The acting person is not on the ops allow-list: nothing was read or changed."""


# ---- photos of an application --------------------------------------------------------------------

def photo_folder(vet_id: int, kind: str) -> str:
    return f"{KINDS[kind]}{photo_owner_folder(vet_id)}/"


def is_vet_photo(vet_id: int, name: str) -> bool:
    """Whether a stored name is one of this vet's document or portrait names (names in a dialog's draft
    come from our own code, but a draft is data: never serve another person's file from it)."""
    return any(name.startswith(photo_folder(vet_id, kind)) and name.endswith(".jpg") and "/" not in
               name[len(photo_folder(vet_id, kind)):] for kind in KINDS)


async def store_photo(storage, vet_id: int, kind: str, cleaned_jpeg: bytes) -> str:
    """Stores an already cleaned JPEG (no EXIF) privately; returns its name. No metadata: the name's
    folder is all that ties it to the vet."""
    name = f"{photo_folder(vet_id, kind)}{secrets.token_hex(16)}.jpg"
    return await storage.put(name, cleaned_jpeg, {})


async def photo(storage, vet: Vet, name: str) -> bytes:
    """One of the vet's stored photos (ops read documents; owners only ever get `vet.portrait`)."""
    if name not in (*vet.documents, vet.portrait) or not is_vet_photo(vet.id, name):
        raise VetNotFound(name)
    return await storage.get(name)


# ---- the application ---------------------------------------------------------------------------

async def apply(vets, storage, vet_id: int, fields: dict, now: datetime,
                price_bounds: tuple[int, int] = DEFAULT_PRICE_BOUNDS) -> Vet:
    """Saves an application checked whole (InvalidInput otherwise, nothing saved). A rejected vet may
    apply again (their history kept, the old photos deleted); anyone else who applied already gets
    vet.err.already_applied."""
    application = vet_from_application(vet_id, fields, now, price_bounds)
    if not all(is_vet_photo(vet_id, name) for name in (*application.documents, application.portrait)):
        raise InvalidInput("vet.err.documents_needed")
    existing = await vets.get(vet_id)
    if existing is None:
        await vets.create(application)
        return application
    if existing.status != VetStatus.REJECTED:
        raise InvalidInput("vet.err.already_applied", status=existing.status.value)
    vet = existing.reapplied(application)
    await vets.save(vet)
    for name in {*existing.documents, existing.portrait} - {*vet.documents, vet.portrait} - {None}:
        await storage.delete(name)
    return vet


async def pending(vets) -> list[Vet]:
    """Applications waiting for ops."""
    return await vets.with_status(VetStatus.APPLIED)


async def get(vets, vet_id: int) -> Vet:
    vet = await vets.get(vet_id)
    if vet is None:
        raise VetNotFound(vet_id)
    return vet


async def decide(vets, vet_id: int, action: Action, by: int, now: datetime, ops: Collection[int],
                 reason: str | None = None) -> Vet:
    """An ops decision (approve, reject with a reason, suspend with a reason, reinstate), recorded with who,
    when and why. NotOps for anyone not on the allow-list (checked first: nothing read, nothing written);
    VetNotFound; InvalidInput from the domain (vet.err.transition when it was decided already);
    StaleUpdate when another decision was written since the vet was read."""
    if action not in (Action.APPROVE, Action.REJECT, Action.SUSPEND, Action.REINSTATE):
        raise ValueError(f"not an ops decision: {action}")
    if type(by) is not int or by not in ops:
        raise NotOps(by)
    vet = (await get(vets, vet_id)).decide(action, by, now, reason)
    await vets.save(vet)
    return vet


# ---- the vet's own settings --------------------------------------------------------------------

async def set_schedule(vets, vet_id: int, schedule: Schedule, now: datetime) -> Vet:
    """The vet's hours and booking settings (checked by domain.schedule when the Schedule was made);
    dated overrides already past are dropped. A verified vet's first hours make them active."""
    vet = await get(vets, vet_id)
    updated = vet.with_schedule(schedule.pruned(local_today(schedule, now)), now)
    await vets.save(updated)
    return updated


async def pause(vets, vet_id: int, now: datetime) -> Vet:
    """No new bookings from now on; bookings made stay as they are (bookings are not touched here)."""
    return await _own(vets, vet_id, Action.PAUSE, now)


async def resume(vets, vet_id: int, now: datetime) -> Vet:
    return await _own(vets, vet_id, Action.RESUME, now)


async def _own(vets, vet_id: int, action: Action, now: datetime) -> Vet:
    vet = (await get(vets, vet_id)).decide(action, vet_id, now)
    await vets.save(vet)
    return vet


# ---- owners' side ------------------------------------------------------------------------------

async def bookable(vets, species: Species, area: Area | None = None) -> list[Vet]:
    """The vets an owner may be offered for a pet of `species`: active, with hours, treating it."""
    return [v for v in await vets.bookable(species, area) if v.bookable]


async def rebuild_directory(vets) -> dict[Species, tuple[int, int]]:
    """Ops' repair of the vet directory (the listing cards owners' vet lists read): every species' cards
    written afresh from the vets' records. Per species: (vets listed, the document's bytes of 1 MiB)."""
    return await vets.rebuild_directory()


# ---- demo data and erasure ---------------------------------------------------------------------

async def create_demo_vet(vets, storage, vet_id: int, profile: dict, photo_jpeg: bytes, schedule: Schedule,
                          ops_id: int, ops: Collection[int], now: datetime) -> Vet:
    """A demo vet for the local stack and the demo, made the way a real one is: apply (marked demo) ->
    an ops approval -> hours published. `photo_jpeg` (a cleaned JPEG) serves as their document and
    portrait. Seeding twice returns the vet made the first time."""
    existing = await vets.get(vet_id)
    if existing is not None:
        return existing
    document = await store_photo(storage, vet_id, "document", photo_jpeg)
    portrait = await store_photo(storage, vet_id, "portrait", photo_jpeg)
    await apply(vets, storage, vet_id, {**profile, "documents": [document], "portrait": portrait, "demo": True}, now)
    await decide(vets, vet_id, Action.APPROVE, ops_id, now, ops)
    return await set_schedule(vets, vet_id, schedule, now)


async def forget_vet(vets, storage, vet_id: int) -> None:
    """Erasure of a vet's personal data: the record first (updates still in flight then fail to save it),
    then their documents and portrait, uploads of abandoned applications included."""
    await vets.delete(vet_id)
    for kind in KINDS:
        await storage.delete_prefix(photo_folder(vet_id, kind))

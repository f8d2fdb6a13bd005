"""Owner use cases: consent, language, dialog state, erasure."""
from __future__ import annotations

from datetime import datetime

from shared.domain.owners import Dialog, Owner
from shared.services.pets import photo_prefix
from shared.services.vets import forget_vet


async def give_consent(owners, owner_id: int, language: str, now: datetime) -> Owner:
    """Creates the owner's record; a second press (or a racing one) keeps the first consent."""
    created = await owners.create(Owner(id=owner_id, language=language, consent_at=now))
    return created or await owners.get(owner_id)


async def set_language(owners, reminders, owner: Owner, language: str) -> Owner:
    """The owner's language, and their pending reminders' (the job sends them as stored)."""
    updated = owner.with_changes(language=language)
    await owners.save(updated)
    for rem in await reminders.active_for_owner(owner.id):
        await reminders.amend(rem.id, {"language": language})
    return updated


async def set_dialog(owners, owner: Owner, dialog: Dialog | None) -> Owner:
    if dialog != owner.dialog:  # skip a write when nothing changed
        await owners.set_dialog(owner.id, dialog)
    return owner.with_changes(dialog=dialog)


async def forget_owner(owners, reminders, photos, owner_id: int, vets=None, erase_bookings=None) -> list:
    """Right to erasure: the owner, every pet and record, pending reminders and stored photos; if they are
    a vet, their vet record, documents and portrait (services.vets.forget_vet); then their bookings
    (`erase_bookings(person id)`, services.cancellations.erase_bookings: holds let go, bookings not over
    cancelled with full refunds, the rest and the ledger kept without them), whose cancellations it returns
    for the other parties to be told.

    The owner's record goes first (owners.forget): every update of theirs still running then fails to
    commit, so what is deleted after it cannot come back. A photo uploaded by such an update after the
    prefix was emptied is removed by the storage trigger, which finds no owner for it; a vet's photo
    uploaded then is deleted by the update that stored it (it finds no owner, or fails to commit). Bookings
    come after the owner's and the vet's records: a hold needs both to exist, so none appears after."""
    await owners.forget(owner_id)
    if vets is not None:
        await forget_vet(vets, photos, owner_id)
    cancelled = await erase_bookings(owner_id) if erase_bookings is not None else []
    await reminders.delete_for(owner_id)
    await photos.delete_prefix(photo_prefix(owner_id))
    return cancelled

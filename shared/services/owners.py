"""Owner use cases: consent, language, dialog state, erasure."""
from __future__ import annotations

from datetime import datetime

from shared.domain.owners import Dialog, Owner
from shared.services.pets import photo_prefix


async def give_consent(owners, owner_id: int, language: str, now: datetime) -> Owner:
    owner = Owner(id=owner_id, language=language, consent_at=now)
    await owners.save(owner)
    return owner


async def set_language(owners, owner: Owner, language: str) -> Owner:
    updated = owner.with_changes(language=language)
    await owners.save(updated)
    return updated


async def set_dialog(owners, owner: Owner, dialog: Dialog | None) -> Owner:
    if dialog != owner.dialog:  # skip a write when nothing changed
        await owners.set_dialog(owner.id, dialog)
    return owner.with_changes(dialog=dialog)


async def forget_owner(owners, reminders, photos, owner_id: int) -> None:
    """Right to erasure: the owner, every pet and record, pending reminders and stored photos."""
    await reminders.delete_for(owner_id)
    await owners.forget(owner_id)
    await photos.delete_prefix(photo_prefix(owner_id))

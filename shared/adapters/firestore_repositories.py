"""Firestore repositories: the only place that knows how owners and pets are laid out as documents.

Layout: users/{telegram_user_id} holds the owner (language, consent, dialog state);
users/{id}/pets/{pet_id} holds their pets, so a pet can only be reached through its owner's path;
processed_updates/{update_id} remembers which Telegram updates were handled.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.owners import Dialog, Owner
from shared.domain.pet_form import draft_from_pet, pet_from_draft
from shared.domain.pets import Pet


@dataclass
class OpStats:
    """Counts document reads and writes, the units Firestore bills and our budget per update."""

    reads: int = 0
    writes: int = 0

    def reset(self) -> None:
        self.reads = self.writes = 0


class FirestoreOwners:
    def __init__(self, client: firestore.AsyncClient, stats: OpStats):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats

    async def get(self, owner_id: int) -> Owner | None:
        self._stats.reads += 1
        snap = await self._users.document(str(owner_id)).get()
        return _owner_from(owner_id, snap.to_dict()) if snap.exists else None

    async def save(self, owner: Owner) -> None:
        self._stats.writes += 1
        await self._users.document(str(owner.id)).set(_owner_to(owner), merge=True)

    async def set_dialog(self, owner_id: int, dialog: Dialog | None) -> None:
        self._stats.writes += 1
        value = None if dialog is None else {"name": dialog.name, "step": dialog.step, "draft": dialog.draft}
        await self._users.document(str(owner_id)).update({"dialog": value})

    async def forget(self, owner_id: int) -> None:
        """Deletes the owner with everything under them: pets, diary entries, triage results."""
        self._stats.writes += await self._client.recursive_delete(self._users.document(str(owner_id)))


class FirestorePets:
    def __init__(self, client: firestore.AsyncClient, stats: OpStats):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats

    def _pets(self, owner_id: int):
        return self._users.document(str(owner_id)).collection("pets")

    async def list(self, owner_id: int) -> list[Pet]:
        pets = [_pet_from(owner_id, snap.id, snap.to_dict())
                async for snap in self._pets(owner_id).order_by("created_at").stream()]
        self._stats.reads += max(1, len(pets))  # an empty query still costs one read
        return pets

    async def get(self, owner_id: int, pet_id: str) -> Pet | None:
        if not _is_valid_id(pet_id):
            return None
        self._stats.reads += 1
        snap = await self._pets(owner_id).document(pet_id).get()
        return _pet_from(owner_id, pet_id, snap.to_dict()) if snap.exists else None

    async def add(self, pet: Pet) -> Pet:
        self._stats.writes += 1
        ref = self._pets(pet.owner_id).document()
        await ref.create({**_pet_to(pet), "created_at": firestore.SERVER_TIMESTAMP})
        return pet.with_changes(id=ref.id)

    async def update(self, pet: Pet) -> None:
        self._stats.writes += 1
        await self._pets(pet.owner_id).document(pet.id).update(_pet_to(pet))

    async def delete(self, owner_id: int, pet_id: str) -> None:
        """Deletes the pet with its diary and triage subcollections (Firestore keeps orphans otherwise)."""
        if _is_valid_id(pet_id):
            self._stats.writes += await self._client.recursive_delete(self._pets(owner_id).document(pet_id))


class FirestoreUpdateLog:
    """At-most-once processing of Telegram updates: a claim document per update_id, expired by a TTL policy."""

    RETENTION = timedelta(days=2)  # Telegram gives up redelivering well within a day

    def __init__(self, client: firestore.AsyncClient, stats: OpStats):
        self._updates = client.collection("processed_updates")
        self._stats = stats

    async def claim(self, update_id: int, now: datetime) -> bool:
        self._stats.writes += 1
        try:
            await self._updates.document(str(update_id)).create(
                {"claimed_at": now, "expires_at": now + self.RETENTION})
        except gexc.AlreadyExists:
            return False
        return True

    async def release(self, update_id: int) -> None:
        """Lets Telegram's redelivery try again after a failure of ours."""
        self._stats.writes += 1
        await self._updates.document(str(update_id)).delete()


def _is_valid_id(doc_id: str) -> bool:
    # Ids come from callback data a client can forge: keep them to what we generate.
    return bool(doc_id) and len(doc_id) <= 40 and doc_id.isalnum()


def _owner_to(owner: Owner) -> dict:
    dialog = owner.dialog
    return {
        "language": owner.language,
        "consent_at": owner.consent_at,
        "timezone": owner.timezone,
        "dialog": None if dialog is None else {"name": dialog.name, "step": dialog.step, "draft": dialog.draft},
    }


def _owner_from(owner_id: int, data: dict) -> Owner:
    raw = data.get("dialog")
    dialog = Dialog(raw["name"], raw["step"], raw.get("draft") or {}) if raw else None
    return Owner(id=owner_id, language=data.get("language", "ru"), consent_at=data.get("consent_at"),
                 dialog=dialog, timezone=data.get("timezone"))


# A pet document holds the same JSON-safe fields as the pet form's draft.
_pet_to = draft_from_pet


def _pet_from(owner_id: int, pet_id: str, data: dict) -> Pet:
    return pet_from_draft(owner_id, data, pet_id=pet_id)

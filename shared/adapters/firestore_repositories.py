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

from shared.adapters.firestore_writes import DIRECT
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
    """Reads owners; creates one at consent and erases one. Every other write to an owner's record goes
    through a unit of work (firestore_uow.py), conditional on the version read here."""

    def __init__(self, client: firestore.AsyncClient, stats: OpStats):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats

    def ref(self, owner_id: int):
        return self._users.document(str(owner_id))

    async def get(self, owner_id: int) -> Owner | None:
        self._stats.reads += 1
        snap = await self.ref(owner_id).get()
        return owner_from(owner_id, snap) if snap.exists else None

    async def create(self, owner: Owner) -> Owner | None:
        """The record made at consent; None if it exists already (a second press of "I agree")."""
        self._stats.writes += 1
        try:
            result = await self.ref(owner.id).create(_owner_to(owner))
        except gexc.AlreadyExists:
            return None
        return owner.with_changes(version=result.update_time)

    async def forget(self, owner_id: int) -> None:
        """Deletes the owner with everything under them: pets, diary entries, triage results.

        The owner's document goes first: from then on every write of an update still in flight fails its
        precondition (it names the version it read), so nothing new appears below while the tree is
        deleted, and nothing written before escapes the recursive delete that follows."""
        self._stats.writes += 1
        await self.ref(owner_id).delete()
        self._stats.writes += await self._client.recursive_delete(self.ref(owner_id))


class FirestorePets:
    def __init__(self, client: firestore.AsyncClient, stats: OpStats, writes=DIRECT):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats
        self._writes = writes

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
        await self._writes.create(ref, {**_pet_to(pet), "created_at": firestore.SERVER_TIMESTAMP})
        return pet.with_changes(id=ref.id)

    async def update(self, pet: Pet) -> None:
        self._stats.writes += 1
        await self._writes.update(self._pets(pet.owner_id).document(pet.id), _pet_to(pet))

    async def delete(self, owner_id: int, pet_id: str) -> None:
        """The pet's document: in a unit of work, a write that commits with the owner's precondition, so
        that updates which read the pet before fail theirs; then `delete_records` clears what hung on it."""
        if _is_valid_id(pet_id):
            self._stats.writes += 1
            await self._writes.delete(self._pets(owner_id).document(pet_id))

    async def delete_records(self, owner_id: int, pet_id: str) -> None:
        """The deleted pet's diary and triage subcollections (Firestore keeps orphans otherwise)."""
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
    return {"language": owner.language, "consent_at": owner.consent_at, "timezone": owner.timezone,
            "dialog": dialog_to(owner.dialog)}


def dialog_to(dialog: Dialog | None) -> dict | None:
    return None if dialog is None else {"name": dialog.name, "step": dialog.step, "draft": dialog.draft}


def owner_from(owner_id: int, snap) -> Owner:
    data = snap.to_dict()
    raw = data.get("dialog")
    dialog = Dialog(raw["name"], raw["step"], raw.get("draft") or {}) if raw else None
    return Owner(id=owner_id, language=data.get("language", "ru"), consent_at=data.get("consent_at"),
                 dialog=dialog, timezone=data.get("timezone"), label_consent=data.get("label_consent"),
                 version=snap.update_time)


# A pet document holds the same JSON-safe fields as the pet form's draft.
_pet_to = draft_from_pet


def _pet_from(owner_id: int, pet_id: str, data: dict) -> Pet:
    return pet_from_draft(owner_id, data, pet_id=pet_id)

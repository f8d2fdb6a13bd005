"""Triage results and photo records in Firestore: users/{owner}/pets/{pet}/triage/{result_id} and
users/{owner}/pets/{pet}/photos/{photo_id}.

A photo's record is written by intake before the upload, in one batch with writes to the owner's and the
pet's documents that must find them: erasure deletes the owner's document first, so a photo arriving
meanwhile is never recorded (and the trigger deletes an object whose owner or record it does not find).

A result lives under its owner's pet, so it can only be reached through the owner's own path; its id
is derived from the stored object's name and generation, and it is written with create(), so a
redelivered storage event can never produce a second result. Whoever sends it to the owner first claims
that with a conditional write (a lease), so two deliveries at once cannot both answer.
"""
from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud.firestore import SERVER_TIMESTAMP

from shared.domain.photos import Area, PhotoRecord
from shared.domain.pets import Species
from shared.domain.triage import Outcome, QualityIssue, TriageResult, Urgency


def _valid_id(doc_id: str) -> bool:
    return bool(doc_id) and len(doc_id) <= 40 and doc_id.isalnum()


class FirestoreTriage:
    def __init__(self, client, stats=None):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats

    def _count(self, reads: int = 0, writes: int = 0) -> None:
        if self._stats is not None:
            self._stats.reads += reads
            self._stats.writes += writes

    def _ref(self, owner_id: int, pet_id: str, rid: str):
        return (self._users.document(str(owner_id)).collection("pets").document(pet_id)
                .collection("triage").document(rid))

    def _photo_ref(self, owner_id: int, pet_id: str, photo_id: str):
        return (self._users.document(str(owner_id)).collection("pets").document(pet_id)
                .collection("photos").document(photo_id))

    async def create_photo(self, record: PhotoRecord) -> bool:
        """Writes a photo's record; False (nothing written) if the owner's or the pet's document is gone."""
        owner = self._users.document(str(record.owner_id))
        batch = self._client.batch()
        batch.create(self._photo_ref(record.owner_id, record.pet_id, record.photo_id), {
            "progress_message_id": record.progress_message_id, "area": record.area.value,
            "language": record.language, "created_at": SERVER_TIMESTAMP})
        # an update's precondition is that the document exists (the client refuses an explicit exists=True)
        for parent in (owner, owner.collection("pets").document(record.pet_id)):
            batch.update(parent, {"photo_at": SERVER_TIMESTAMP})
        self._count(writes=3)
        try:
            await batch.commit()
        except gexc.NotFound:
            return False
        return True

    async def photo_record(self, owner_id: int, pet_id: str, photo_id: str) -> PhotoRecord | None:
        """The photo's record, if both it and its owner's document exist (one round trip)."""
        if not (_valid_id(pet_id) and _valid_id(photo_id)):
            return None
        owner_ref, ref = self._users.document(str(owner_id)), self._photo_ref(owner_id, pet_id, photo_id)
        self._count(reads=2)
        found = {snap.reference.path: snap async for snap in self._client.get_all([owner_ref, ref]) if snap.exists}
        if owner_ref.path not in found or ref.path not in found:
            return None
        d = found[ref.path].to_dict()
        mid = d.get("progress_message_id")
        return PhotoRecord(owner_id=owner_id, pet_id=pet_id, photo_id=photo_id, area=Area(d.get("area", "skin")),
                           language=d.get("language") if d.get("language") in ("ru", "en") else "ru",
                           progress_message_id=mid if isinstance(mid, int) else None)

    async def delete_photo(self, owner_id: int, pet_id: str, photo_id: str) -> None:
        if _valid_id(pet_id) and _valid_id(photo_id):
            self._count(writes=1)
            await self._photo_ref(owner_id, pet_id, photo_id).delete()

    async def create(self, result: TriageResult) -> bool:
        """Stores a new result; False if one with this id exists already (a redelivered event)."""
        self._count(writes=1)
        try:
            await self._ref(result.owner_id, result.pet_id, result.id).create({**to_doc(result), "notified": False})
        except gexc.AlreadyExists:
            return False
        return True

    async def get(self, owner_id: int, pet_id: str, rid: str) -> tuple[TriageResult, bool] | None:
        """(result, notified) for this owner's pet, or None."""
        if not (_valid_id(pet_id) and _valid_id(rid)):
            return None
        self._count(reads=1)
        snap = await self._ref(owner_id, pet_id, rid).get()
        if not snap.exists:
            return None
        data = snap.to_dict()
        return from_doc(owner_id, pet_id, rid, data), bool(data.get("notified"))

    async def claim_answer(self, owner_id: int, pet_id: str, rid: str, now: datetime, lease_until: datetime) -> bool:
        """The right to send the owner this result: only if nobody did, nor holds an unexpired claim.

        The update's precondition is the update_time we read (as reminders are claimed): of deliveries
        racing for it exactly one write lands, without a transaction's locks and retries.
        """
        ref = self._ref(owner_id, pet_id, rid)
        self._count(reads=1)
        snap = await ref.get()
        data = snap.to_dict() if snap.exists else None
        held = data and data.get("answering_until")
        if not data or data.get("notified") or (held and held > now):
            return False
        self._count(writes=1)
        try:
            await ref.update({"answering_until": lease_until},
                             option=self._client.write_option(last_update_time=snap.update_time))
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return False
        return True

    async def mark_notified(self, owner_id: int, pet_id: str, rid: str) -> None:
        self._count(writes=1)
        await self._ref(owner_id, pet_id, rid).update({"notified": True})

    async def list(self, owner_id: int, pet_id: str, limit: int = 20) -> list[TriageResult]:
        if not _valid_id(pet_id):
            return []
        col = self._users.document(str(owner_id)).collection("pets").document(pet_id).collection("triage")
        out = [from_doc(owner_id, pet_id, s.id, s.to_dict())
               async for s in col.order_by("created_at", direction="DESCENDING").limit(limit).stream()]
        self._count(reads=max(1, len(out)))
        return out


def to_doc(r: TriageResult) -> dict:
    return {
        "photo_path": r.photo_path,
        "area": r.area.value,
        "species": r.species.value,
        "outcome": r.outcome.value,
        "urgency": r.urgency.value,
        "findings": [{"label": label, "p": round(float(p), 4)} for label, p in r.findings],
        "quality_issues": [q.value for q in r.quality_issues],
        "contagious_to_people": r.contagious_to_people,
        "confidence": r.confidence,
        "top_label": r.top_label,
        "model_version": r.model_version,
        "created_at": r.created_at,
    }


def from_doc(owner_id: int, pet_id: str, rid: str, d: dict) -> TriageResult:
    created = d.get("created_at")
    return TriageResult(
        id=rid, owner_id=owner_id, pet_id=pet_id, photo_path=d.get("photo_path", ""),
        area=Area(d.get("area", "skin")), species=Species(d.get("species", "other")),
        outcome=Outcome(d["outcome"]), urgency=Urgency(d.get("urgency", "none")),
        findings=[(f["label"], float(f["p"])) for f in d.get("findings") or []],
        quality_issues=[QualityIssue(q) for q in d.get("quality_issues") or []],
        contagious_to_people=bool(d.get("contagious_to_people")),
        confidence=d.get("confidence"), top_label=d.get("top_label"), model_version=d.get("model_version", ""),
        created_at=created if isinstance(created, datetime) else None,
    )

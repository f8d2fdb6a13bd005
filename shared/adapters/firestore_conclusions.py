"""Conclusions, ratings and kept labels in Firestore; the label photos in Cloud Storage.

Layout:
- ``conclusions/{booking id}`` (top level: a consultation is two people's): owner_id, vet_id, pet_id,
  summary, recommendations, follow_up ("YYYY-MM-DD" | null), written_at, label {verdict, area, species,
  ai_label, label} | null (the vet's word on the AI's answer), label_kept, rating {stars, comment, at} | null.
- ``labels/{label id}``: labelled data kept with the owner's consent, no personal data: class, area,
  species, verdict, ai_label, kept_on (a month); and ``owner_key``, a keyed hash (PHOTO_PATH_KEY) that
  nobody can trace to a person without the key, so revoking consent and erasure find an owner's labels.
  The label id is a keyed hash of the booking: one label per consultation, however often it is kept.
  Its photo is ``labels/{label id}.jpg`` in the photos bucket (the triage trigger ignores that folder).

Inside a person's update the writes are staged in that update's unit of work (firestore_uow.py) and land
together with everything else the update does: writing a conclusion creates it (a second one fails the
batch), completes the booking conditional on the booking as read, and adds the owner's diary entry and
follow-up reminders (their repositories, same batch); a rating updates the conclusion conditional on it
as read and adds to the vet's rating_sum/rating_count (record and listing card) in the same batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_bookings import booking_from, booking_id_ok
from shared.adapters.firestore_vets import add_rating
from shared.adapters.firestore_writes import DIRECT
from shared.domain.bookings import Booking, BookingStatus
from shared.domain.conclusions import Conclusion, LabelVerdict, Rating, Verdict
from shared.domain.photos import Area
from shared.domain.vets import Vet

LABELS_FOLDER = "labels/"


@dataclass(frozen=True)
class ConclusionRecord:
    conclusion: Conclusion
    label_kept: bool = False
    rating: Rating | None = None


@dataclass(frozen=True)
class KeptLabel:
    id: str
    label: str
    area: str
    species: str
    verdict: str


def _label_to(v: LabelVerdict | None) -> dict | None:
    if v is None:
        return None
    return {"verdict": v.verdict.value, "area": v.area.value, "species": v.species, "ai_label": v.ai_label,
            "label": v.label}


def _label_from(d: dict | None) -> LabelVerdict | None:
    if not d:
        return None
    return LabelVerdict(Verdict(d["verdict"]), Area(d["area"]), d.get("species") or "other", d.get("ai_label"),
                        d.get("label"))


def record_from(booking_id: str, d: dict) -> ConclusionRecord:
    follow = d.get("follow_up")
    raw = d.get("rating")
    rating = Rating(int(raw["stars"]), raw.get("comment"), raw.get("at")) if raw else None
    conclusion = Conclusion(booking_id=booking_id, owner_id=int(d["owner_id"]), vet_id=int(d["vet_id"]),
                            pet_id=d["pet_id"], summary=d["summary"], recommendations=d.get("recommendations") or "",
                            follow_up=date.fromisoformat(follow) if follow else None, written_at=d.get("written_at"),
                            label=_label_from(d.get("label")))
    return ConclusionRecord(conclusion, bool(d.get("label_kept")), rating)


class FirestoreConclusions:
    def __init__(self, client: firestore.AsyncClient, stats, writes=DIRECT):
        self._client = client
        self._stats = stats
        self._writes = writes
        self._col = client.collection("conclusions")
        self._bookings = client.collection("bookings")
        self._labels = client.collection("labels")

    # ---- reads ---------------------------------------------------------------------------------------

    async def booking(self, booking_id: str) -> tuple[Booking, object] | None:
        """The booking and its version (the update time its writes here are conditional on)."""
        if not booking_id_ok(booking_id):
            return None
        self._stats.reads += 1
        snap = await self._bookings.document(booking_id).get()
        return (booking_from(snap.id, snap.to_dict()), snap.update_time) if snap.exists else None

    async def get(self, booking_id: str) -> tuple[ConclusionRecord, object] | None:
        if not booking_id_ok(booking_id):
            return None
        self._stats.reads += 1
        snap = await self._col.document(booking_id).get()
        return (record_from(snap.id, snap.to_dict()), snap.update_time) if snap.exists else None

    async def labels_of(self, owner_key: str) -> list[str]:
        query = self._labels.where(filter=FieldFilter("owner_key", "==", owner_key))
        ids = [s.id async for s in query.stream()]
        self._stats.reads += max(1, len(ids))
        return ids

    async def labels(self) -> list[KeptLabel]:
        """Every kept label (the export reads them all)."""
        found = [KeptLabel(s.id, s.get("label"), s.get("area"), s.get("species"), s.get("verdict"))
                 async for s in self._labels.stream()]
        self._stats.reads += max(1, len(found))
        return found

    # ---- writes (staged inside an update) ------------------------------------------------------------

    async def add(self, conclusion: Conclusion, booking: Booking, booking_version, now: datetime,
                  label_kept: bool = False) -> None:
        """The conclusion (created: a second one fails the batch) and its booking completed (conditional on
        the booking as read: a cancellation or no-show recorded meanwhile fails the batch)."""
        completed = booking.moved_to(BookingStatus.COMPLETED)
        self._stats.writes += 2
        await self._writes.create(self._col.document(conclusion.booking_id), {
            "owner_id": conclusion.owner_id, "vet_id": conclusion.vet_id, "pet_id": conclusion.pet_id,
            "summary": conclusion.summary, "recommendations": conclusion.recommendations,
            "follow_up": conclusion.follow_up.isoformat() if conclusion.follow_up else None,
            "written_at": conclusion.written_at, "label": _label_to(conclusion.label), "label_kept": label_kept,
            "rating": None})
        await self._writes.update(self._bookings.document(booking.id), {
            "status": completed.status.value,
            "history": firestore.ArrayUnion([{"at": now, "status": completed.status.value, "note": "conclusion"}])},
            option=self._client.write_option(last_update_time=booking_version))

    async def rate(self, booking_id: str, version, rating: Rating, vet: Vet | None) -> None:
        """The rating on the conclusion (conditional on it as read: rated once) and, when the vet's record
        exists (`vet` as read), their rating_sum/rating_count and their listing card's in the same batch."""
        self._stats.writes += 1
        await self._writes.update(self._col.document(booking_id),
                                  {"rating": {"stars": rating.stars, "comment": rating.comment, "at": rating.at}},
                                  option=self._client.write_option(last_update_time=version))
        if vet is not None:
            self._stats.writes += await add_rating(self._client, self._writes, vet, rating.stars)

    async def comment(self, booking_id: str, version, comment: str) -> None:
        self._stats.writes += 1
        await self._writes.update(self._col.document(booking_id), {"rating.comment": comment},
                                  option=self._client.write_option(last_update_time=version))

    async def keep_label(self, label_id: str, owner_key: str, verdict: LabelVerdict, month: str,
                         booking_id: str | None = None, version=None) -> None:
        """The label document (created: kept once); with `booking_id`, the conclusion marked label_kept
        (conditional on it as read)."""
        self._stats.writes += 1
        await self._writes.create(self._labels.document(label_id), {
            "label": verdict.label, "area": verdict.area.value, "species": verdict.species,
            "verdict": verdict.verdict.value, "ai_label": verdict.ai_label, "kept_on": month, "owner_key": owner_key})
        if booking_id is not None:
            self._stats.writes += 1
            await self._writes.update(self._col.document(booking_id), {"label_kept": True},
                                      option=self._client.write_option(last_update_time=version))

    async def delete_label(self, label_id: str) -> None:
        self._stats.writes += 1
        await self._labels.document(label_id).delete()  # direct: revoking and erasure do not wait


class LabelPhotos:
    """The kept labels' photos in the photos bucket (over adapters.photo_storage.PhotoStorage)."""

    def __init__(self, storage):
        self._storage = storage

    @staticmethod
    def name(label_id: str) -> str:
        return f"{LABELS_FOLDER}{label_id}.jpg"

    async def copy_in(self, source: str, label_id: str) -> None:
        """Copies a cleaned photo (no EXIF, stored by intake) to the label's name; once (a copy made before
        stays)."""
        from google.api_core.exceptions import PreconditionFailed

        data = await self._storage.get(source)
        try:
            await self._storage.put(self.name(label_id), data, {"label": "1"})
        except PreconditionFailed:
            pass

    async def delete(self, label_id: str) -> None:
        await self._storage.delete(self.name(label_id))

    async def get(self, label_id: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return await self._storage.get(self.name(label_id))
        except NotFound:
            return None


"""Firestore repositories for the health diary and its reminders.

Layout:
- users/{owner}/pets/{pet}/weights/{id}      {on: "YYYY-MM-DD", kg, created_at}
- users/{owner}/pets/{pet}/treatments/{id}   {kind, product, given_on, next_due, reminders_off, followed_by}
- users/{owner}/pets/{pet}/meals/{id}        {on, name, grams, kcal_per_100g, food_id}
- users/{owner}/pets/{pet}/activity/{id}     {on, minutes, mood, appetite, notes}
- users/{owner}/pets/{pet}/consultations/{booking id}  {on, vet_name, summary, recommendations, follow_up}:
  a vet's conclusion, written by the vet's update (services.conclusions) in the batch that completes it
  Diary entries live under the pet, so they are reached only through the owner's path.
- reminders/{owner}-{pet}-{treatment}-{step}  top level, so the job finds due ones with one indexed
  query (status IN [pending, sending], fire_at <= now; composite index status+fire_at) instead of a
  scan of pets. The id is deterministic: scheduling twice creates nothing twice.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_writes import DIRECT
from shared.domain.diary import ActivityLog, ConsultationNote, Kind, Meal, Treatment, WeightEntry
from shared.domain.reminders import ACTIVE, Reminder, Status, Step

log = logging.getLogger(__name__)


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class FirestoreDiary:
    def __init__(self, client: firestore.AsyncClient, stats, writes=DIRECT):
        self._client = client
        self._users = client.collection("users")
        self._stats = stats
        self._writes = writes

    def _pet(self, owner_id: int, pet_id: str):
        return self._users.document(str(owner_id)).collection("pets").document(pet_id)

    def _col(self, owner_id: int, pet_id: str, name: str):
        return self._pet(owner_id, pet_id).collection(name)

    async def _stream(self, query) -> list:
        snaps = [s async for s in query.stream()]
        self._stats.reads += max(1, len(snaps))
        return snaps

    async def _add(self, owner_id: int, pet_id: str, name: str, data: dict, doc_id: str | None = None) -> str:
        self._stats.writes += 1
        col = self._col(owner_id, pet_id, name)
        ref = col.document(doc_id) if doc_id else col.document()
        await self._writes.require(self._pet(owner_id, pet_id))
        await self._writes.create(ref, {**data, "created_at": firestore.SERVER_TIMESTAMP})
        return ref.id

    # weights
    async def add_weight(self, owner_id: int, pet_id: str, entry: WeightEntry) -> WeightEntry:
        doc_id = await self._add(owner_id, pet_id, "weights", {"on": entry.on.isoformat(), "kg": entry.kg})
        return WeightEntry(doc_id, entry.on, entry.kg)

    async def weights(self, owner_id: int, pet_id: str, since: date | None = None) -> list[WeightEntry]:
        query = self._col(owner_id, pet_id, "weights")
        if since:
            query = query.where(filter=FieldFilter("on", ">=", since.isoformat()))
        snaps = await self._stream(query)
        # Two weighings on one day: the later one is the current weight (sorted here, no extra index).
        snaps.sort(key=lambda s: (s.get("on"), s.get("created_at")))
        return [WeightEntry(s.id, date.fromisoformat(s.get("on")), s.get("kg")) for s in snaps]

    # treatments
    async def add_treatment(self, owner_id: int, pet_id: str, tr: Treatment, doc_id: str | None = None) -> Treatment:
        """With `doc_id`, raises AlreadyExists if that record was made before (a renewal pressed twice)."""
        new_id = await self._add(owner_id, pet_id, "treatments", _treatment_to(tr), doc_id)
        return tr.with_changes(id=new_id)

    async def treatment(self, owner_id: int, pet_id: str, treatment_id: str) -> Treatment | None:
        if not (treatment_id and treatment_id.isalnum() and len(treatment_id) <= 40):
            return None
        self._stats.reads += 1
        snap = await self._col(owner_id, pet_id, "treatments").document(treatment_id).get()
        return _treatment_from(snap.id, snap.to_dict()) if snap.exists else None

    async def update_treatment(self, owner_id: int, pet_id: str, treatment_id: str, changes: dict) -> None:
        self._stats.writes += 1
        await self._writes.update(self._col(owner_id, pet_id, "treatments").document(treatment_id), changes)

    async def treatments(self, owner_id: int, pet_id: str) -> list[Treatment]:
        snaps = await self._stream(self._col(owner_id, pet_id, "treatments").order_by("given_on"))
        return [_treatment_from(s.id, s.to_dict()) for s in snaps]

    # meals
    async def add_meal(self, owner_id: int, pet_id: str, meal: Meal) -> Meal:
        doc_id = await self._add(owner_id, pet_id, "meals", {
            "on": meal.on.isoformat(), "name": meal.name, "grams": meal.grams,
            "kcal_per_100g": meal.kcal_per_100g, "food_id": meal.food_id})
        return Meal(doc_id, meal.on, meal.name, meal.grams, meal.kcal_per_100g, meal.food_id)

    async def meals(self, owner_id: int, pet_id: str, first: date, last: date) -> list[Meal]:
        query = (self._col(owner_id, pet_id, "meals").where(filter=FieldFilter("on", ">=", first.isoformat()))
                 .where(filter=FieldFilter("on", "<=", last.isoformat())))
        snaps = await self._stream(query)
        return [Meal(s.id, date.fromisoformat(s.get("on")), s.get("name"), s.get("grams"), s.get("kcal_per_100g"),
                     s.get("food_id")) for s in snaps]

    # activity and mood
    async def add_activity(self, owner_id: int, pet_id: str, log: ActivityLog) -> ActivityLog:
        doc_id = await self._add(owner_id, pet_id, "activity", {
            "on": log.on.isoformat(), "minutes": log.minutes, "mood": log.mood, "appetite": log.appetite,
            "notes": log.notes})
        return ActivityLog(doc_id, log.on, log.minutes, log.mood, log.appetite, log.notes)

    async def activity(self, owner_id: int, pet_id: str, first: date | None = None,
                       last: date | None = None) -> list[ActivityLog]:
        query = self._col(owner_id, pet_id, "activity")
        if first:
            query = query.where(filter=FieldFilter("on", ">=", first.isoformat()))
        if last:
            query = query.where(filter=FieldFilter("on", "<=", last.isoformat()))
        snaps = await self._stream(query.order_by("on"))
        return [ActivityLog(s.id, date.fromisoformat(s.get("on")), s.get("minutes"), s.get("mood"),
                            s.get("appetite"), s.get("notes")) for s in snaps]

    # consultations (vets' conclusions)
    async def add_consultation(self, owner_id: int, pet_id: str, note: ConsultationNote) -> ConsultationNote:
        """Created with the booking's id: a conclusion lands in the diary once."""
        await self._add(owner_id, pet_id, "consultations", {
            "on": note.on.isoformat(), "vet_name": note.vet_name, "summary": note.summary,
            "recommendations": note.recommendations,
            "follow_up": note.follow_up.isoformat() if note.follow_up else None}, doc_id=note.id)
        return note

    async def consultations(self, owner_id: int, pet_id: str, first: date | None = None,
                            last: date | None = None) -> list[ConsultationNote]:
        query = self._col(owner_id, pet_id, "consultations")
        if first:
            query = query.where(filter=FieldFilter("on", ">=", first.isoformat()))
        if last:
            query = query.where(filter=FieldFilter("on", "<=", last.isoformat()))
        snaps = await self._stream(query.order_by("on"))
        return [ConsultationNote(s.id, date.fromisoformat(s.get("on")), s.get("vet_name") or "", s.get("summary"),
                                 s.get("recommendations") or "", _d(s.get("follow_up"))) for s in snaps]


def _treatment_to(tr: Treatment) -> dict:
    return {"kind": tr.kind.value, "product": tr.product, "given_on": tr.given_on.isoformat(),
            "next_due": tr.next_due.isoformat() if tr.next_due else None, "reminders_off": tr.reminders_off,
            "followed_by": tr.followed_by}


def _treatment_from(doc_id: str, data: dict) -> Treatment:
    return Treatment(id=doc_id, kind=Kind(data["kind"]), product=data["product"],
                     given_on=date.fromisoformat(data["given_on"]), next_due=_d(data.get("next_due")),
                     reminders_off=bool(data.get("reminders_off")), followed_by=data.get("followed_by"))


class FirestoreReminders:
    """Reminder documents. `due()` returns (reminder, update_time) pairs: `claim()` uses update_time
    as a precondition, so of two overlapping job runs exactly one wins each reminder."""

    def __init__(self, client: firestore.AsyncClient, stats, writes=DIRECT):
        self._client = client
        self._col = client.collection("reminders")
        self._stats = stats
        self._writes = writes

    async def schedule(self, reminders: list[Reminder]) -> int:
        """Deterministic ids: scheduling twice creates nothing twice (in a unit of work a clash fails the
        whole commit, so the callers schedule only for a treatment they are creating)."""
        created = 0
        for rem in reminders:
            self._stats.writes += 1
            try:
                await self._writes.create(self._col.document(rem.id), _reminder_to(rem))
                created += 1
            except gexc.AlreadyExists:
                pass
        return created

    async def due(self, now: datetime, limit: int) -> list[tuple[Reminder, object]]:
        query = (self._col.where(filter=FieldFilter("status", "in", list(ACTIVE)))
                 .where(filter=FieldFilter("fire_at", "<=", now)).order_by("fire_at").limit(limit))
        snaps = [s async for s in query.stream()]
        self._stats.reads += max(1, len(snaps))
        found = []
        for snap in snaps:
            try:
                found.append((_reminder_from(snap.id, snap.to_dict()), snap.update_time))
            except (KeyError, ValueError, TypeError):  # one bad document must not stop everyone's reminders
                log.error("reminder %s unreadable: marked failed", hashlib.sha256(snap.id.encode()).hexdigest()[:12])
                self._stats.writes += 1
                await snap.reference.update({"status": Status.FAILED.value})
        return found

    async def claim(self, reminder_id: str, update_time, lease_until: datetime) -> bool:
        """Pending -> sending, only if nobody touched the document since we read it."""
        self._stats.writes += 1
        try:
            await self._col.document(reminder_id).update(
                {"status": Status.SENDING.value, "fire_at": lease_until, "attempts": firestore.Increment(1)},
                option=self._client.write_option(last_update_time=update_time))
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return False
        return True

    async def set_status(self, reminder_id: str, status: Status, fire_at: datetime | None = None) -> bool:
        """Moves a reminder on. Direct: False if it does not exist. In a unit of work the caller has read
        it, and a reminder deleted since fails the commit."""
        changes: dict = {"status": status.value}
        if fire_at is not None:
            changes["fire_at"] = fire_at
        if status == Status.SENT:
            changes["sent_at"] = firestore.SERVER_TIMESTAMP
        self._stats.writes += 1
        try:
            await self._writes.update(self._col.document(reminder_id), changes)
        except gexc.NotFound:
            return False
        return True

    async def snooze(self, reminder_id: str, until: datetime) -> bool:
        """Pending again at `until`, only if it is still in play (not done, dismissed or gone) and nobody
        changed it since it was read here (the read's update_time is the write's precondition)."""
        self._stats.reads += 1
        snap = await self._col.document(reminder_id).get()
        if not snap.exists or snap.get("status") not in ACTIVE + (Status.SENT.value,):
            return False
        self._stats.writes += 1
        try:
            await self._writes.update(snap.reference, {"status": Status.PENDING.value, "fire_at": until},
                                      option=self._client.write_option(last_update_time=snap.update_time))
        except (gexc.FailedPrecondition, gexc.NotFound):
            return False
        return True

    async def get(self, reminder_id: str) -> Reminder | None:
        self._stats.reads += 1
        snap = await self._col.document(reminder_id).get()
        return _reminder_from(snap.id, snap.to_dict()) if snap.exists else None

    async def get_many(self, reminder_ids: list[str]) -> list[Reminder]:
        """The ones that exist, in one round trip."""
        self._stats.reads += len(reminder_ids)
        snaps = [s async for s in self._client.get_all([self._col.document(rid) for rid in reminder_ids])]
        return [_reminder_from(s.id, s.to_dict()) for s in snaps if s.exists]

    async def active_for_owner(self, owner_id: int, pet_id: str | None = None) -> list[Reminder]:
        query = self._col.where(filter=FieldFilter("owner_id", "==", owner_id))
        if pet_id:
            query = query.where(filter=FieldFilter("pet_id", "==", pet_id))
        query = query.where(filter=FieldFilter("status", "in", list(ACTIVE)))
        snaps = [s async for s in query.stream()]
        self._stats.reads += max(1, len(snaps))
        return [_reminder_from(s.id, s.to_dict()) for s in snaps]

    async def delete_for(self, owner_id: int, pet_id: str | None = None) -> None:
        """Erasure: every reminder of an owner (or of one pet), whatever its status."""
        query = self._col.where(filter=FieldFilter("owner_id", "==", owner_id))
        if pet_id:
            query = query.where(filter=FieldFilter("pet_id", "==", pet_id))
        async for snap in query.stream():
            self._stats.reads += 1
            self._stats.writes += 1
            await snap.reference.delete()

    async def amend(self, reminder_id: str, changes: dict) -> None:
        """A pending reminder follows its owner's and pet's changes (time zone, language, pet's name)."""
        self._stats.writes += 1
        try:
            await self._writes.update(self._col.document(reminder_id), changes)
        except gexc.NotFound:
            pass


def _reminder_to(rem: Reminder) -> dict:
    return {
        "owner_id": rem.owner_id, "pet_id": rem.pet_id, "treatment_id": rem.treatment_id, "step": rem.step.value,
        "due_on": rem.due_on.isoformat(), "fire_at": rem.fire_at, "chat_id": rem.chat_id, "language": rem.language,
        "pet_name": rem.pet_name, "kind": rem.kind, "product": rem.product, "timezone": rem.timezone,
        "status": rem.status.value, "attempts": 0,
    }


def _reminder_from(doc_id: str, data: dict) -> Reminder:
    return Reminder(
        id=doc_id, owner_id=data["owner_id"], pet_id=data["pet_id"], treatment_id=data["treatment_id"],
        step=Step(data["step"]), due_on=date.fromisoformat(data["due_on"]), fire_at=data["fire_at"],
        chat_id=data["chat_id"], language=data["language"], pet_name=data["pet_name"], kind=data["kind"],
        product=data["product"], timezone=data["timezone"], status=Status(data["status"]))

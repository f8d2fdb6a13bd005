"""Firestore repository of vets: the only place that knows how a vet is laid out as a document.

Layout: vets/{telegram user id}
  {full_name, city, education, species: [...], areas: [...], experience_years, languages: [...], bio,
   price_kopecks, timezone, status, decisions: [{action, by, at, reason}], schedule: {...} | null,
   documents: [storage names], portrait: storage name, rating_sum, rating_count, demo, written_at}
  schedule: {timezone, weekly: {"0".."6": [{start, end}, ...]}, overrides: {"YYYY-MM-DD": [{start, end}]},
             slot_minutes, buffer_minutes, min_notice_minutes, horizon_days, daily_cap}
  (hours in minutes of the vet's day, 0 = Monday; an override with no hours is a day off)

Writes go through a `Writes` (firestore_writes.py): inside a person's update they are staged and
committed with that update's unit of work. A vet's first save is a create() (a second application fails
it); every later save is conditional on the version the vet was read at (its update_time), so of two
decisions taken on one reading (two ops pressing "approve" at once) exactly one is written: the other's
commit fails: StaleUpdate, from the unit of work's commit or, for a direct write, from save() itself.

`bookable` reads active vets treating a species with one query (status ==, species array-contains; the
composite index is in infra/firestore.indexes.json) and keeps those with hours (and the area).
"""
from __future__ import annotations

from datetime import date, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_writes import DIRECT
from shared.domain.pets import Species
from shared.domain.schedule import Hours, Schedule
from shared.domain.vets import Action, Area, Decision, Vet, VetStatus
from shared.services.unit_of_work import StaleUpdate

COLLECTION = "vets"


class FirestoreVets:
    ABORTED_ATTEMPTS = 3

    def __init__(self, client: firestore.AsyncClient, stats, writes=DIRECT):
        self._client = client
        self._vets = client.collection(COLLECTION)
        self._stats = stats
        self._writes = writes

    def _ref(self, vet_id: int):
        return self._vets.document(str(int(vet_id)))

    async def get(self, vet_id: int) -> Vet | None:
        if type(vet_id) is not int or vet_id <= 0:
            return None
        self._stats.reads += 1
        snap = await self._ref(vet_id).get()
        return vet_from(snap) if snap.exists else None

    async def create(self, vet: Vet) -> None:
        """The first application; if the vet exists meanwhile, nothing is written: StaleUpdate (at once,
        or from the commit of the unit of work that staged it)."""
        self._stats.writes += 1
        try:
            await self._writes.create(self._ref(vet.id), {**vet_to(vet), "written_at": firestore.SERVER_TIMESTAMP})
        except gexc.AlreadyExists:
            raise StaleUpdate() from None

    async def save(self, vet: Vet) -> None:
        """The vet as changed, only if the stored one is still the version `vet` was read at; else
        nothing is written: StaleUpdate (at once, or from the commit of the unit of work)."""
        if vet.version is None:
            raise ValueError("save() needs a vet read from the repository (its version)")
        option = self._client.write_option(last_update_time=vet.version)
        for attempt in range(self.ABORTED_ATTEMPTS):
            self._stats.writes += 1
            try:
                await self._writes.update(self._ref(vet.id), {**vet_to(vet), "written_at": firestore.SERVER_TIMESTAMP},
                                          option=option)
                return
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise StaleUpdate() from None
            except gexc.Aborted:  # contention, nothing written: the precondition still decides the retry
                if attempt == self.ABORTED_ATTEMPTS - 1:
                    raise StaleUpdate() from None

    async def delete(self, vet_id: int) -> None:
        """Erasure: the vet's document (their storage objects are the service's to delete)."""
        self._stats.writes += 1
        await self._writes.delete(self._ref(vet_id))

    async def with_status(self, status: VetStatus, limit: int = 100) -> list[Vet]:
        """Vets in one state (applications waiting for ops), oldest first by id (no extra index)."""
        query = self._vets.where(filter=FieldFilter("status", "==", status.value)).limit(limit)
        return await self._list(query)

    async def bookable(self, species: Species, area: Area | None = None) -> list[Vet]:
        """Active vets with hours who treat `species` (and `area`, when given)."""
        query = (self._vets.where(filter=FieldFilter("status", "==", VetStatus.ACTIVE.value))
                 .where(filter=FieldFilter("species", "array_contains", Species(species).value)))
        return [v for v in await self._list(query) if v.bookable and v.treats(Species(species), area)]

    async def _list(self, query) -> list[Vet]:
        snaps = [s async for s in query.stream()]
        self._stats.reads += max(1, len(snaps))  # an empty query still costs one read
        return sorted((vet_from(s) for s in snaps), key=lambda v: v.id)


# ---- documents <-> domain -------------------------------------------------------------------------

def vet_to(vet: Vet) -> dict:
    return {
        "full_name": vet.full_name, "city": vet.city, "education": vet.education,
        "species": [s.value for s in vet.species], "areas": [a.value for a in vet.areas],
        "experience_years": vet.experience_years, "languages": list(vet.languages), "bio": vet.bio,
        "price_kopecks": vet.price_kopecks, "timezone": vet.timezone, "status": vet.status.value,
        "decisions": [{"action": d.action.value, "by": d.by, "at": d.at, "reason": d.reason} for d in vet.decisions],
        "schedule": schedule_to(vet.schedule) if vet.schedule else None,
        "documents": list(vet.documents), "portrait": vet.portrait,
        "rating_sum": vet.rating_sum, "rating_count": vet.rating_count, "demo": vet.demo,
    }


def vet_from(snap) -> Vet:
    data = snap.to_dict()
    return Vet(
        id=int(snap.id), full_name=data["full_name"], city=data["city"], education=data["education"],
        species=tuple(Species(s) for s in data.get("species") or ()),
        areas=tuple(Area(a) for a in data.get("areas") or ()),
        experience_years=data.get("experience_years", 0), languages=tuple(data.get("languages") or ()),
        bio=data.get("bio", ""), price_kopecks=data["price_kopecks"], timezone=data["timezone"],
        status=VetStatus(data["status"]),
        decisions=tuple(Decision(Action(d["action"]), d["by"], d["at"], d.get("reason"))
                        for d in data.get("decisions") or ()),
        schedule=schedule_from(data["schedule"]) if data.get("schedule") else None,
        documents=tuple(data.get("documents") or ()), portrait=data.get("portrait"),
        rating_sum=data.get("rating_sum", 0), rating_count=data.get("rating_count", 0),
        demo=bool(data.get("demo")), version=snap.update_time)


def schedule_to(schedule: Schedule) -> dict:
    return {
        "timezone": schedule.timezone,
        "weekly": {str(day): _hours_to(hours) for day, hours in schedule.weekly.items()},
        "overrides": {day.isoformat(): _hours_to(hours) for day, hours in schedule.overrides.items()},
        "slot_minutes": schedule.slot_minutes, "buffer_minutes": schedule.buffer_minutes,
        "min_notice_minutes": schedule.min_notice // timedelta(minutes=1), "horizon_days": schedule.horizon_days,
        "daily_cap": schedule.daily_cap,
    }


def schedule_from(data: dict) -> Schedule:
    return Schedule(
        timezone=data["timezone"],
        weekly={int(day): _hours_from(hours) for day, hours in (data.get("weekly") or {}).items()},
        overrides={date.fromisoformat(day): _hours_from(hours) for day, hours in (data.get("overrides") or {}).items()},
        slot_minutes=data["slot_minutes"], buffer_minutes=data["buffer_minutes"],
        min_notice=timedelta(minutes=data["min_notice_minutes"]), horizon_days=data["horizon_days"],
        daily_cap=data.get("daily_cap"))


def _hours_to(hours) -> list[dict]:
    # Firestore stores no arrays of arrays: each stretch is a map
    return [{"start": h.start, "end": h.end} for h in hours]


def _hours_from(raw) -> tuple[Hours, ...]:
    return tuple(Hours(h["start"], h["end"]) for h in raw)

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
composite index is in infra/firestore.indexes.json) and keeps those with hours (and the area): a read per
vet, for ops and checks.

The vet directory: vet_directory/{species} = {vets: {vet id: card}}, the listing card (domain VetCard) of
every bookable vet treating that species, so a page of the vet list costs one read however many vets
there are (`listing`). card: {full_name, city, species, areas, experience_years, languages, price_kopecks,
timezone, rating_sum, rating_count, demo, schedule}, the schedule as in vets/{id} with each day's hours as
text ("540-780 840-1080", minutes) or null when that text would pass CARD_HOURS_MAX_BYTES (the list then
reads that vet's record when it needs their hours). Kept in step with the records, never behind them:
- every write of a vet here (create, save, delete) goes in one batch with the card's: set in the
  document of each species the vet treats while bookable, else deleted (set with merge on the field path
  vets.{id}: cards of different vets never overwrite each other, whoever commits first); a save is
  conditional on the record as read, so two changes of one vet cannot cross;
- a rating adds to the record and to the card in one batch (`add_rating`, Increment on both: a card's
  rating is the record's, whatever the order). A rating landing while the vet is not listed leaves an
  entry without a name, which `listing` skips and the vet's next save or erasure replaces or deletes;
- bookings never write it (calendars are vet_calendars/{id}).
`rebuild_directory` (ops: python -m infra.ops vets rebuild-directory) writes every species' document
afresh from the records in one transaction.

Size: a document holds at most 1 MiB. A card is ~0.55 KB for a typical vet (a name in Cyrillic, two
species, weekly hours, a few dated changes) and at most ~2.6 KB (every text field at its longest in
4-byte characters, every area and language, hours at CARD_HOURS_MAX_BYTES: tests/test_vet_directory.py
checks it with `stored_bytes`), so one species' document holds ~1,800 typical vets and never fewer than
400; `rebuild_directory` reports each document's size. Past that, a species' cards would be sharded
(vet_directory/{species}-{n} by vet id, a read per shard on the list).
"""
from __future__ import annotations

from datetime import date, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.adapters.firestore_writes import DIRECT, DirectWrites, StagedWrites
from shared.domain.pets import Species
from shared.domain.schedule import Hours, Schedule
from shared.domain.vets import Action, Area, Decision, Vet, VetCard, VetStatus
from shared.services.unit_of_work import StaleUpdate

COLLECTION = "vets"
DIRECTORY = "vet_directory"
CARD_HOURS_MAX_BYTES = 1536  # ~7 days of 12 stretches each; longer hours stay in the record only


class FirestoreVets:
    ABORTED_ATTEMPTS = 3

    def __init__(self, client: firestore.AsyncClient, stats, writes=DIRECT):
        self._client = client
        self._vets = client.collection(COLLECTION)
        self._directory = client.collection(DIRECTORY)
        self._stats = stats
        self._writes = writes

    def _ref(self, vet_id: int):
        return self._vets.document(str(int(vet_id)))

    async def _commit(self, stage) -> None:
        """`stage(writes)` writes a vet's record and cards: into the update's unit of work when inside
        one, else as one batch committed now (never one without the other; a batch lost to contention,
        ABORTED, nothing written, is sent again: its preconditions still decide)."""
        if not isinstance(self._writes, DirectWrites):
            await stage(self._writes)
            return
        staged = StagedWrites()
        await stage(staged)
        for attempt in range(self.ABORTED_ATTEMPTS):
            batch = self._client.batch()
            staged.apply_to(batch)
            try:
                await batch.commit()
                return
            except gexc.Aborted:
                if attempt == self.ABORTED_ATTEMPTS - 1:
                    raise

    async def _cards(self, writes, vet_id: int, vet: Vet | None) -> None:
        """The vet's card, in the document of each species they treat: set while they are bookable, else
        deleted; with no vet (erasure), deleted from every species' document. A vet's species change only
        when a rejected vet applies again (never listed in between), so no other document has their card."""
        key = str(int(vet_id))
        card = card_to(vet) if vet is not None and vet.bookable else None
        for species in vet.species if vet is not None else Species:
            await writes.merge(self._directory.document(species.value),
                               {"vets": {key: card or firestore.DELETE_FIELD}}, [FieldPath("vets", key)])
            self._stats.writes += 1

    async def get(self, vet_id: int) -> Vet | None:
        if type(vet_id) is not int or vet_id <= 0:
            return None
        self._stats.reads += 1
        snap = await self._ref(vet_id).get()
        return vet_from(snap) if snap.exists else None

    async def create(self, vet: Vet) -> None:
        """The first application; if the vet exists meanwhile, nothing is written: StaleUpdate (at once,
        or from the commit of the unit of work that staged it)."""
        async def stage(writes):
            await writes.create(self._ref(vet.id), {**vet_to(vet), "written_at": firestore.SERVER_TIMESTAMP})
            if vet.bookable:  # made bookable at once (tests, benchmarks); an application is not listed
                await self._cards(writes, vet.id, vet)

        self._stats.writes += 1
        try:
            await self._commit(stage)
        except gexc.AlreadyExists:
            raise StaleUpdate() from None

    async def save(self, vet: Vet) -> None:
        """The vet as changed, only if the stored one is still the version `vet` was read at; else
        nothing is written: StaleUpdate (at once, or from the commit of the unit of work)."""
        if vet.version is None:
            raise ValueError("save() needs a vet read from the repository (its version)")
        option = self._client.write_option(last_update_time=vet.version)
        async def stage(writes):
            await writes.update(self._ref(vet.id), {**vet_to(vet), "written_at": firestore.SERVER_TIMESTAMP},
                                option=option)
            await self._cards(writes, vet.id, vet)

        self._stats.writes += 1
        try:
            await self._commit(stage)
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):  # Aborted: contention outlasted retries
            raise StaleUpdate() from None

    async def delete(self, vet_id: int) -> None:
        """Erasure: the vet's document and cards (their storage objects are the service's to delete)."""
        async def stage(writes):
            await writes.delete(self._ref(vet_id))
            await self._cards(writes, vet_id, None)

        self._stats.writes += 1
        await self._commit(stage)

    async def with_status(self, status: VetStatus, limit: int = 100) -> list[Vet]:
        """Vets in one state (applications waiting for ops), oldest first by id (no extra index)."""
        query = self._vets.where(filter=FieldFilter("status", "==", status.value)).limit(limit)
        return await self._list(query)

    async def bookable(self, species: Species, area: Area | None = None) -> list[Vet]:
        """Active vets with hours who treat `species` (and `area`, when given)."""
        query = (self._vets.where(filter=FieldFilter("status", "==", VetStatus.ACTIVE.value))
                 .where(filter=FieldFilter("species", "array_contains", Species(species).value)))
        return [v for v in await self._list(query) if v.bookable and v.treats(Species(species), area)]

    async def listing(self, species: Species) -> list[VetCard]:
        """The cards of the bookable vets treating `species`, by id: one read."""
        self._stats.reads += 1
        snap = await self._directory.document(Species(species).value).get()
        entries = ((snap.to_dict() or {}).get("vets") or {}) if snap.exists else {}
        return sorted((card_from(int(key), data) for key, data in entries.items() if "full_name" in data),
                      key=lambda c: c.id)

    async def rebuild_directory(self) -> dict[Species, tuple[int, int]]:
        """Every species' document written afresh from the vets' records, in one transaction (a vet's
        change committed meanwhile waits for it or makes it run again): cards of vets no longer bookable
        and rating entries of vets not listed go. Per species: (cards, the document's stored bytes)."""
        query = self._vets.where(filter=FieldFilter("status", "==", VetStatus.ACTIVE.value))

        @firestore.async_transactional
        async def rebuild(transaction) -> dict[Species, tuple[int, int]]:
            snaps = [s async for s in await transaction.get(query)]
            self._stats.reads += max(1, len(snaps))
            cards: dict[Species, dict] = {species: {} for species in Species}
            for vet in map(vet_from, snaps):
                for species in vet.species if vet.bookable else ():
                    cards[species][str(vet.id)] = card_to(vet)
            for species, entries in cards.items():
                transaction.set(self._directory.document(species.value), {"vets": entries})
            self._stats.writes += len(cards)
            return {species: (len(entries), document_bytes(DIRECTORY, species.value, {"vets": entries}))
                    for species, entries in cards.items()}

        return await rebuild(self._client.transaction())

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


async def add_rating(client: firestore.AsyncClient, writes, vet: Vet, stars: int) -> int:
    """Stages one rating of `vet` (as read): their record's rating_sum/rating_count and their card's in every
    species' directory document they treat, in the same writes (see the module's note). Writes staged."""
    add = {"rating_sum": firestore.Increment(stars), "rating_count": firestore.Increment(1)}
    await writes.update(client.collection(COLLECTION).document(str(vet.id)), add)
    for species in vet.species:
        await writes.merge(client.collection(DIRECTORY).document(species.value), {"vets": {str(vet.id): add}})
    return 1 + len(vet.species)


def card_to(vet: Vet) -> dict:
    hours = schedule_to(vet.schedule, _hours_text) if vet.schedule else None
    if hours is not None and stored_bytes(hours) > CARD_HOURS_MAX_BYTES:
        hours = None
    return {
        "full_name": vet.full_name, "city": vet.city, "species": [s.value for s in vet.species],
        "areas": [a.value for a in vet.areas], "experience_years": vet.experience_years,
        "languages": list(vet.languages), "price_kopecks": vet.price_kopecks, "timezone": vet.timezone,
        "rating_sum": vet.rating_sum, "rating_count": vet.rating_count, "demo": vet.demo, "schedule": hours,
    }


def card_from(vet_id: int, data: dict) -> VetCard:
    return VetCard(
        id=vet_id, full_name=data["full_name"], city=data.get("city", ""),
        species=tuple(Species(s) for s in data.get("species") or ()),
        areas=tuple(Area(a) for a in data.get("areas") or ()), experience_years=data.get("experience_years", 0),
        languages=tuple(data.get("languages") or ()), price_kopecks=data["price_kopecks"], timezone=data["timezone"],
        schedule=schedule_from(data["schedule"], _hours_parsed) if data.get("schedule") else None,
        rating_sum=data.get("rating_sum", 0), rating_count=data.get("rating_count", 0), demo=bool(data.get("demo")))


def stored_bytes(value) -> int:
    """Firestore's storage size of a value (its rules for document size: a string's UTF-8 bytes + 1, a
    number 8, a map its keys as strings plus its values, ...)."""
    if isinstance(value, str):
        return len(value.encode()) + 1
    if isinstance(value, dict):
        return sum(stored_bytes(str(k)) + stored_bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(stored_bytes(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 8  # int, float, timestamp


def document_bytes(collection: str, doc_id: str, data: dict) -> int:
    """A document's stored size: its name, its fields, 32 (Firestore's limit: 1 MiB = 1,048,576)."""
    return stored_bytes(collection) + stored_bytes(doc_id) + 16 + stored_bytes(data) + 32


def schedule_to(schedule: Schedule, day=None) -> dict:
    day = day or _hours_to
    return {
        "timezone": schedule.timezone,
        "weekly": {str(d): day(hours) for d, hours in schedule.weekly.items()},
        "overrides": {d.isoformat(): day(hours) for d, hours in schedule.overrides.items()},
        "slot_minutes": schedule.slot_minutes, "buffer_minutes": schedule.buffer_minutes,
        "min_notice_minutes": schedule.min_notice // timedelta(minutes=1), "horizon_days": schedule.horizon_days,
        "daily_cap": schedule.daily_cap,
    }


def schedule_from(data: dict, day=None) -> Schedule:
    day = day or _hours_from
    return Schedule(
        timezone=data["timezone"],
        weekly={int(d): day(hours) for d, hours in (data.get("weekly") or {}).items()},
        overrides={date.fromisoformat(d): day(hours) for d, hours in (data.get("overrides") or {}).items()},
        slot_minutes=data["slot_minutes"], buffer_minutes=data["buffer_minutes"],
        min_notice=timedelta(minutes=data["min_notice_minutes"]), horizon_days=data["horizon_days"],
        daily_cap=data.get("daily_cap"))


def _hours_to(hours) -> list[dict]:
    # Firestore stores no arrays of arrays: each stretch is a map
    return [{"start": h.start, "end": h.end} for h in hours]


def _hours_from(raw) -> tuple[Hours, ...]:
    return tuple(Hours(h["start"], h["end"]) for h in raw)


def _hours_text(hours) -> str:
    # the card's compact form: "540-780 840-1080" ("" a day off)
    return " ".join(f"{h.start}-{h.end}" for h in hours)


def _hours_parsed(text: str) -> tuple[Hours, ...]:
    return tuple(Hours(*map(int, stretch.split("-"))) for stretch in text.split())

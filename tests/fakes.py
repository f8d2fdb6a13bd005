"""In-memory stand-ins for the Firestore repositories, for unit tests of services and handlers."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from shared.domain.owners import Owner
from shared.domain.pets import Pet, Species


@dataclass
class FakeStats:
    reads: int = 0
    writes: int = 0


class FakeOwners:
    """Owners with a version number that each write bumps (Firestore's update_time)."""

    def __init__(self):
        self.owners: dict[int, Owner] = {}
        self._versions = itertools.count(1)

    async def get(self, owner_id):
        return self.owners.get(owner_id)

    async def create(self, owner):
        if owner.id in self.owners:
            return None
        return self.put(owner)

    def put(self, owner):
        """Stores the owner as given (tests seed owners with it)."""
        self.owners[owner.id] = owner.with_changes(version=next(self._versions))
        return self.owners[owner.id]

    async def forget(self, owner_id):
        self.owners.pop(owner_id, None)


class FakeUnitOfWork:
    """The bot's per-update unit of work over the fakes: entity writes apply at once (these fakes test
    handlers, not concurrency: that is tested against the emulator); the owner's changes apply at
    commit, with the same rules as FirestoreUnitOfWork."""

    def __init__(self, services, owner):
        from shared.services.unit_of_work import OwnerGone, StaleUpdate

        self._store, self._owner = services.owners, owner
        self._gone, self._stale = OwnerGone, StaleUpdate
        self.pets, self.diary, self.reminders = services.pets, services.diary, services.reminders
        self.vets = services.vets
        self.owners = self
        self._changes: dict = {}

    async def save(self, owner):
        self._changes.update(language=owner.language, timezone=owner.timezone)

    async def set_dialog(self, owner_id, dialog):
        self._changes["dialog"] = dialog

    async def commit(self):
        stored = self._store.owners.get(self._owner.id)
        if stored is None:
            raise self._gone()
        if "dialog" in self._changes and self._owner.dialog is not None and stored.dialog != self._owner.dialog:
            raise self._stale()
        self._owner = self._store.put(stored.with_changes(**self._changes))
        self._changes = {}
        return self._owner


class FakePets:
    def __init__(self):
        self.pets: dict[tuple[int, str], Pet] = {}
        self._ids = (f"pet{n}" for n in itertools.count(1))

    async def list(self, owner_id):
        return [p for (o, _), p in self.pets.items() if o == owner_id]

    async def get(self, owner_id, pet_id):
        return self.pets.get((owner_id, pet_id))

    async def add(self, pet):
        pet = pet.with_changes(id=next(self._ids))
        self.pets[(pet.owner_id, pet.id)] = pet
        return pet

    async def update(self, pet):
        self.pets[(pet.owner_id, pet.id)] = pet

    async def delete(self, owner_id, pet_id):
        self.pets.pop((owner_id, pet_id), None)

    async def delete_records(self, owner_id, pet_id):
        """The diary fakes keep entries per (owner, pet); nothing reaches them once the pet is gone."""


class FakeUpdateLog:
    def __init__(self):
        self.claimed: set[int] = set()

    async def claim(self, update_id, now):
        if update_id in self.claimed:
            return False
        self.claimed.add(update_id)
        return True

    async def release(self, update_id):
        self.claimed.discard(update_id)


# ---- health diary (issue 3) ----------------------------------------------------------------------

class FakeDiary:
    """In-memory FirestoreDiary: entries keyed by (owner, pet)."""

    def __init__(self):
        from collections import defaultdict

        self.weights_by = defaultdict(list)
        self.treatments_by = defaultdict(dict)
        self.meals_by = defaultdict(list)
        self.activity_by = defaultdict(list)
        self.consultations_by: dict = {}
        self._ids = (f"e{n}" for n in itertools.count(1))

    async def add_weight(self, owner_id, pet_id, entry):
        from shared.domain.diary import WeightEntry

        entry = WeightEntry(next(self._ids), entry.on, entry.kg)
        self.weights_by[(owner_id, pet_id)].append(entry)
        return entry

    async def weights(self, owner_id, pet_id, since=None):
        return sorted((e for e in self.weights_by[(owner_id, pet_id)] if since is None or e.on >= since),
                      key=lambda e: e.on)

    async def add_treatment(self, owner_id, pet_id, tr, doc_id=None):
        from google.api_core.exceptions import AlreadyExists

        doc_id = doc_id or next(self._ids)
        if doc_id in self.treatments_by[(owner_id, pet_id)]:
            raise AlreadyExists(doc_id)
        tr = tr.with_changes(id=doc_id)
        self.treatments_by[(owner_id, pet_id)][doc_id] = tr
        return tr

    async def treatment(self, owner_id, pet_id, treatment_id):
        return self.treatments_by[(owner_id, pet_id)].get(treatment_id)

    async def update_treatment(self, owner_id, pet_id, treatment_id, changes):
        tr = self.treatments_by[(owner_id, pet_id)][treatment_id]
        self.treatments_by[(owner_id, pet_id)][treatment_id] = tr.with_changes(**changes)

    async def treatments(self, owner_id, pet_id):
        return sorted(self.treatments_by[(owner_id, pet_id)].values(), key=lambda t: t.given_on)

    async def add_meal(self, owner_id, pet_id, meal):
        meal = type(meal)(next(self._ids), meal.on, meal.name, meal.grams, meal.kcal_per_100g, meal.food_id)
        self.meals_by[(owner_id, pet_id)].append(meal)
        return meal

    async def meals(self, owner_id, pet_id, first, last):
        return [m for m in self.meals_by[(owner_id, pet_id)] if first <= m.on <= last]

    async def add_activity(self, owner_id, pet_id, log):
        log = type(log)(next(self._ids), log.on, log.minutes, log.mood, log.appetite, log.notes)
        self.activity_by[(owner_id, pet_id)].append(log)
        return log

    async def activity(self, owner_id, pet_id, first=None, last=None):
        return [a for a in self.activity_by[(owner_id, pet_id)]
                if (first is None or a.on >= first) and (last is None or a.on <= last)]

    async def add_consultation(self, owner_id, pet_id, note):
        self.consultations_by.setdefault((owner_id, pet_id), {})[note.id] = note
        return note

    async def consultations(self, owner_id, pet_id, first=None, last=None):
        return sorted((c for c in self.consultations_by.get((owner_id, pet_id), {}).values()
                       if (first is None or c.on >= first) and (last is None or c.on <= last)), key=lambda c: c.on)


class FakeReminders:
    """In-memory FirestoreReminders with the same claim semantics (a version number as update_time)."""

    def __init__(self):
        self.docs: dict[str, dict] = {}

    async def delete_for(self, owner_id, pet_id=None):
        for rid, doc in list(self.docs.items()):
            if doc["rem"].owner_id == owner_id and pet_id in (None, doc["rem"].pet_id):
                del self.docs[rid]

    async def schedule(self, reminders):
        created = 0
        for rem in reminders:
            if rem.id not in self.docs:
                self.docs[rem.id] = {"rem": rem, "version": 0}
                created += 1
        return created

    async def due(self, now, limit):
        from shared.domain.reminders import ACTIVE

        due = sorted((d for d in self.docs.values() if d["rem"].status.value in ACTIVE and d["rem"].fire_at <= now),
                     key=lambda d: d["rem"].fire_at)[:limit]
        return [(d["rem"], d["version"]) for d in due]

    async def claim(self, reminder_id, update_time, lease_until):
        from shared.domain.reminders import Status

        doc = self.docs.get(reminder_id)
        if doc is None or doc["version"] != update_time:
            return False
        doc["rem"] = doc["rem"].with_changes(status=Status.SENDING, fire_at=lease_until)
        doc["version"] += 1
        return True

    async def set_status(self, reminder_id, status, fire_at=None):
        doc = self.docs.get(reminder_id)
        if doc is None:
            return False
        changes = {"status": status}
        if fire_at is not None:
            changes["fire_at"] = fire_at
        doc["rem"] = doc["rem"].with_changes(**changes)
        doc["version"] += 1
        return True

    async def snooze(self, reminder_id, until):
        from shared.domain.reminders import Status

        doc = self.docs.get(reminder_id)
        if doc is None or doc["rem"].status not in (Status.PENDING, Status.SENDING, Status.SENT):
            return False
        return await self.set_status(reminder_id, Status.PENDING, fire_at=until)

    async def get(self, reminder_id):
        doc = self.docs.get(reminder_id)
        return doc["rem"] if doc else None

    async def get_many(self, reminder_ids):
        return [self.docs[rid]["rem"] for rid in reminder_ids if rid in self.docs]

    async def active_for_owner(self, owner_id, pet_id=None):
        from shared.domain.reminders import ACTIVE

        return [d["rem"] for d in self.docs.values() if d["rem"].owner_id == owner_id
                and (pet_id is None or d["rem"].pet_id == pet_id) and d["rem"].status.value in ACTIVE]

    async def amend(self, reminder_id, changes):
        doc = self.docs.get(reminder_id)
        if doc:
            doc["rem"] = doc["rem"].with_changes(**changes)
            doc["version"] += 1


class FakeReminderSender:
    def __init__(self, fail_for=(), gone_for=()):
        self.sent = []
        self.fail_for, self.gone_for = set(fail_for), set(gone_for)

    async def send(self, reminder):
        from shared.services.reminders import RecipientGone

        if reminder.chat_id in self.gone_for:
            raise RecipientGone()
        if reminder.chat_id in self.fail_for:
            raise RuntimeError("telegram down")
        self.sent.append(reminder)


# ---- photo triage (issue 4) -----------------------------------------------------------------------

class FakeTriageResults:
    """users/{owner}/pets/{pet}/triage/{id}, with create() semantics, and the photo records beside them
    (written only while the owner's document exists: add an owner to `gone_owners` to erase it)."""

    def __init__(self):
        self.docs: dict[tuple[int, str, str], dict] = {}
        self.creates = 0
        self.photos: dict[tuple[int, str, str], object] = {}
        self.gone_owners: set[int] = set()

    async def create_photo(self, record):
        if record.owner_id in self.gone_owners:
            return False
        self.photos[(record.owner_id, record.pet_id, record.photo_id)] = record
        return True

    async def photo_record(self, owner_id, pet_id, photo_id):
        return None if owner_id in self.gone_owners else self.photos.get((owner_id, pet_id, photo_id))

    async def delete_photo(self, owner_id, pet_id, photo_id):
        self.photos.pop((owner_id, pet_id, photo_id), None)

    async def create(self, result):
        self.creates += 1
        key = (result.owner_id, result.pet_id, result.id)
        if key in self.docs:
            return False
        self.docs[key] = {"result": result, "notified": False}
        return True

    async def get(self, owner_id, pet_id, rid):
        doc = self.docs.get((owner_id, pet_id, rid))
        return (doc["result"], doc["notified"]) if doc else None

    async def claim_answer(self, owner_id, pet_id, rid, now, lease_until):
        doc = self.docs.get((owner_id, pet_id, rid))
        if not doc or doc["notified"] or (doc.get("answering_until") and doc["answering_until"] > now):
            return False
        doc["answering_until"] = lease_until
        return True

    async def mark_notified(self, owner_id, pet_id, rid):
        self.docs[(owner_id, pet_id, rid)]["notified"] = True

    async def list(self, owner_id, pet_id, limit=20):
        return [d["result"] for (o, p, _), d in self.docs.items() if o == owner_id and p == pet_id][:limit]


class FakePhotoStorage:
    """Objects by name: (bytes, metadata); every object is generation "1" unless `generations` says
    otherwise. `fail` makes uploads fail, `stat_error` (an exception) makes reading an object's state fail."""

    def __init__(self, fail: bool = False):
        self.objects: dict[str, tuple[bytes, dict]] = {}
        self.generations: dict[str, str] = {}
        self.fail = fail
        self.stat_error: Exception | None = None

    async def stat(self, name):
        if self.stat_error:
            raise self.stat_error
        return (self.generations.get(name, "1"), dict(self.objects[name][1])) if name in self.objects else None

    async def delete(self, name):
        self.objects.pop(name, None)

    async def put(self, name, data, metadata, content_type="image/jpeg"):
        if self.fail:
            raise OSError("storage down")
        self.objects[name] = (data, dict(metadata))
        return name

    async def get(self, name, generation=None):
        return self.objects[name][0]

    async def list_names(self, prefix):
        return sorted(name for name in self.objects if name.startswith(prefix))

    async def delete_prefix(self, prefix):
        doomed = [name for name in self.objects if name.startswith(prefix)]
        for name in doomed:
            del self.objects[name]
        return len(doomed)

    async def signed_url(self, name, valid):
        return f"https://storage.test/{name}?X-Goog-Expires={int(valid.total_seconds())}&X-Goog-Signature=fake"


class FakeChat:
    """The Bot API calls of the photo pipeline (shared/adapters/telegram_chat.BotChat), recorded: each
    notice rendered as BotChat renders it (text, buttons), with the notice itself."""

    def __init__(self, files: dict[str, bytes] | None = None, render=None):
        from shared.bot.triage_messages import render as triage_render

        self.render = render or triage_render
        self.files = dict(files or {})
        self.sent: list[dict] = []
        self.edits: list[dict] = []
        self.actions: list[int] = []
        self._ids = itertools.count(100)

    async def chat_action(self, chat_id):
        self.actions.append(chat_id)

    async def send(self, chat_id, notice, *, language):
        mid = next(self._ids)
        text, buttons = self.render(language, notice)
        self.sent.append({"chat_id": chat_id, "message_id": mid, "text": text, "buttons": buttons,
                          "notice": notice, "language": language})
        return mid

    async def edit(self, chat_id, message_id, notice, *, language):
        text, buttons = self.render(language, notice)
        self.edits.append({"chat_id": chat_id, "message_id": message_id, "text": text, "buttons": buttons,
                           "notice": notice, "language": language})

    async def download(self, file_id):
        from shared.domain.photos import MAX_DOWNLOAD_BYTES, PhotoRejected

        data = self.files[file_id]
        if len(data) > MAX_DOWNLOAD_BYTES:  # what getFile answers: "file is too big"
            raise PhotoRejected("photo.too_big", mb=20)
        return data


@dataclass
class FakeSkinPrediction:
    """Shaped like shared.adapters.skin_model.SkinPrediction."""

    ranked: list
    abstain: bool = False
    is_out_of_distribution: bool = False
    model_version: str = "fake-1"

    @property
    def label(self):
        return self.ranked[0][0]

    @property
    def confidence(self):
        return self.ranked[0][1]

    @property
    def probabilities(self):
        return dict(self.ranked)


class FakeSkinModel:
    def __init__(self, prediction: FakeSkinPrediction):
        self.prediction = prediction
        self.calls = 0
        self.photos: list = []

    def predict(self, photo: bytes):
        self.calls += 1
        self.photos.append(photo)
        return self.prediction


# ---- vets (consultations) -------------------------------------------------------------------------

class FakeVets:
    """In-memory FirestoreVets: one create per vet, saves conditional on the version read (StaleUpdate
    otherwise), like the Firestore repository's direct writes."""

    def __init__(self):
        self.vets: dict[int, object] = {}
        self._versions = itertools.count(1)

    async def get(self, vet_id):
        return self.vets.get(vet_id)

    async def create(self, vet):
        from shared.services.unit_of_work import StaleUpdate

        if vet.id in self.vets:
            raise StaleUpdate()
        self.vets[vet.id] = vet.with_changes(version=next(self._versions))

    async def save(self, vet):
        from shared.services.unit_of_work import StaleUpdate

        stored = self.vets.get(vet.id)
        if stored is None or stored.version != vet.version:
            raise StaleUpdate()
        self.vets[vet.id] = vet.with_changes(version=next(self._versions))

    async def delete(self, vet_id):
        self.vets.pop(vet_id, None)

    async def with_status(self, status, limit=100):
        return sorted((v for v in self.vets.values() if v.status == status), key=lambda v: v.id)[:limit]

    async def bookable(self, species, area=None):
        return sorted((v for v in self.vets.values() if v.bookable and v.treats(species, area)), key=lambda v: v.id)

    async def listing(self, species):
        return [v.card() for v in await self.bookable(species)]

    async def rebuild_directory(self):
        return {s: (len(await self.bookable(s)), 0) for s in Species}

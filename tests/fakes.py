"""In-memory stand-ins for the Firestore repositories, for unit tests of services and handlers."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from shared.domain.owners import Owner
from shared.domain.pets import Pet


@dataclass
class FakeStats:
    reads: int = 0
    writes: int = 0


class FakeOwners:
    def __init__(self):
        self.owners: dict[int, Owner] = {}

    async def get(self, owner_id):
        return self.owners.get(owner_id)

    async def save(self, owner):
        self.owners[owner.id] = owner

    async def set_dialog(self, owner_id, dialog):
        self.owners[owner_id] = self.owners[owner_id].with_changes(dialog=dialog)

    async def forget(self, owner_id):
        self.owners.pop(owner_id, None)


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


# ---- photo triage (issue 4) -----------------------------------------------------------------------

class FakeTriageResults:
    """users/{owner}/pets/{pet}/triage/{id}, with create() semantics."""

    def __init__(self):
        self.docs: dict[tuple[int, str, str], dict] = {}
        self.creates = 0

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

    async def mark_notified(self, owner_id, pet_id, rid):
        self.docs[(owner_id, pet_id, rid)]["notified"] = True

    async def list(self, owner_id, pet_id, limit=20):
        return [d["result"] for (o, p, _), d in self.docs.items() if o == owner_id and p == pet_id][:limit]


class FakePhotoStorage:
    def __init__(self, fail: bool = False):
        self.objects: dict[str, tuple[bytes, dict]] = {}
        self.fail = fail

    async def put(self, name, data, metadata, content_type="image/jpeg"):
        if self.fail:
            raise OSError("storage down")
        self.objects[name] = (data, dict(metadata))
        return name

    async def get(self, name, generation=None):
        return self.objects[name][0]


class FakeChat:
    """The Bot API calls of the photo pipeline (shared/adapters/telegram_chat.BotChat), recorded."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = dict(files or {})
        self.sent: list[dict] = []
        self.edits: list[dict] = []
        self.actions: list[int] = []
        self._ids = itertools.count(100)

    async def chat_action(self, chat_id):
        self.actions.append(chat_id)

    async def send(self, chat_id, text, buttons=None):
        mid = next(self._ids)
        self.sent.append({"chat_id": chat_id, "message_id": mid, "text": text, "buttons": buttons})
        return mid

    async def edit(self, chat_id, message_id, text, buttons=None):
        self.edits.append({"chat_id": chat_id, "message_id": message_id, "text": text, "buttons": buttons})

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

    def predict(self, image):
        self.calls += 1
        return self.prediction

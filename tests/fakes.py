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

"""How a repository's writes reach Firestore: at once, or staged for one atomic commit.

Repositories write through a `Writes`. Outside an update (the reminder job, tests, erasure) that is
`DIRECT`, which awaits each write. Inside an owner's update it is a `StagedWrites` of the update's
unit of work (firestore_uow.py), which only records the writes; the unit of work commits them in one
batch together with the owner document's precondition, so they land all together or not at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from google.cloud import firestore


class DirectWrites:
    async def create(self, ref, data: dict) -> None:
        await ref.create(data)

    async def update(self, ref, data: dict, option=None) -> None:
        await ref.update(data, option=option)

    async def delete(self, ref) -> None:
        await ref.delete()

    async def merge(self, ref, data: dict, fields: list | bool = True) -> None:
        """set() with merge: only `fields` (field paths, replaced whole) or, with True, the leaves given;
        the document is made if missing."""
        await ref.set(data, merge=fields)

    async def require(self, ref) -> None:
        """A direct write needs no guard: the caller read the parent just before."""


DIRECT = DirectWrites()


@dataclass
class _Write:
    kind: str          # create | update | delete | merge
    ref: object
    data: dict | None
    option: object = None  # a merge's fields


class StagedWrites:
    """Writes recorded for one batch. Updates of one document are merged into one write (Firestore
    applies a batch in order, but one write per document keeps the batch plain and cheaper)."""

    def __init__(self):
        self._writes: list[_Write] = []

    def __bool__(self) -> bool:
        return bool(self._writes)

    def clear(self) -> None:
        self._writes = []

    async def create(self, ref, data: dict) -> None:
        self._writes.append(_Write("create", ref, data))

    async def update(self, ref, data: dict, option=None) -> None:
        """A second update of a document staged already joins the first write, whose precondition (a
        create's, or the version the first update named) covers both: they were read in one update."""
        for w in self._writes:
            if w.ref.path == ref.path and w.kind in ("create", "update"):
                w.data = {**w.data, **data}
                return
        self._writes.append(_Write("update", ref, dict(data), option))

    async def delete(self, ref) -> None:
        self._writes = [w for w in self._writes if w.ref.path != ref.path]
        self._writes.append(_Write("delete", ref, None))

    async def merge(self, ref, data: dict, fields: list | bool = True) -> None:
        """A set() with merge (see DirectWrites.merge), kept as its own write: merges of one document
        (cards of several vets in a directory) apply in order."""
        self._writes.append(_Write("merge", ref, data, fields))

    async def require(self, ref) -> None:
        """The batch fails if `ref` no longer exists: a diary entry must not outlive its pet (an
        update fails on a missing document; a parent's absence would not stop a create below it)."""
        await self.update(ref, {"written_at": firestore.SERVER_TIMESTAMP})

    def apply_to(self, batch) -> None:
        for w in self._writes:
            if w.kind == "create":
                batch.create(w.ref, w.data)
            elif w.kind == "update":
                batch.update(w.ref, w.data, option=w.option)
            elif w.kind == "merge":
                batch.set(w.ref, w.data, merge=w.option)
            else:
                batch.delete(w.ref)

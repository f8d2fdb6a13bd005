"""One owner's update, committed as one: the unit of work the bot gives each update of a person.

Its repositories read as usual but only stage their writes. `commit()` sends them in one batch with
an update of the owner's document whose precondition is the version this update read. So:
- racing updates of one person cannot both advance a dialog: the second commit finds the owner's
  document changed, re-reads it, sees the dialog it acted on is gone and raises StaleUpdate — none of
  its writes (a second pet, a second weight) lands;
- an update whose writes do not depend on the dialog (a reminder's "done", a weight given with the
  command) is not refused for an unrelated change: it commits again on the version it re-read;
- erasure deletes the owner's document first, so a commit after it fails and re-reading finds no owner:
  OwnerGone, nothing written, and the bot sends nothing. A person who agrees again gets a new record
  (a new consent time) that no update still in flight from before can write to.
Staged writes under a pet also require the pet's document to exist (StagedWrites.require), so a
record cannot be left below a pet deleted meanwhile.
"""
from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_conclusions import FirestoreConclusions
from shared.adapters.firestore_diary import FirestoreDiary, FirestoreReminders
from shared.adapters.firestore_repositories import FirestorePets, dialog_to, owner_from
from shared.adapters.firestore_vets import FirestoreVets
from shared.adapters.firestore_writes import StagedWrites
from shared.domain.owners import Dialog, Owner
from shared.services.unit_of_work import OwnerGone, StaleUpdate

_UNCHANGED = object()
# Firestore answers a commit whose precondition failed with one of these; each means "look again".
_CONFLICTS = (gexc.FailedPrecondition, gexc.NotFound, gexc.AlreadyExists, gexc.Aborted)


class FirestoreUnitOfWork:
    MAX_ATTEMPTS = 5  # unrelated changes of one person's record between a read and a commit: rare

    def __init__(self, client: firestore.AsyncClient, stats, owner: Owner):
        self._client = client
        self._stats = stats
        self._ref = client.collection("users").document(str(owner.id))
        self._owner = owner
        self._writes = StagedWrites()
        self._fields: dict = {}
        self._dialog = _UNCHANGED
        self.owners = _StagedOwner(self)
        self.pets = FirestorePets(client, stats, self._writes)
        self.diary = FirestoreDiary(client, stats, self._writes)
        self.reminders = FirestoreReminders(client, stats, self._writes)
        self.vets = FirestoreVets(client, stats, self._writes)  # the person's own vet record, or ops deciding
        # a consultation's conclusion, rating and kept label: two people's records, written by one of them
        self.conclusions = FirestoreConclusions(client, stats, self._writes)

    @property
    def owner(self) -> Owner:
        """The owner as this update will leave it (staged changes included)."""
        dialog = self._owner.dialog if self._dialog is _UNCHANGED else self._dialog
        return self._owner.with_changes(dialog=dialog, **self._fields)

    async def commit(self) -> Owner:
        """Writes what was staged, all or nothing; returns the owner as stored now."""
        if not self._writes and not self._fields and self._dialog is _UNCHANGED:
            return self._owner
        advancing = self._dialog is not _UNCHANGED and self._owner.dialog is not None
        change = {**self._fields, "written_at": firestore.SERVER_TIMESTAMP}
        if self._dialog is not _UNCHANGED:
            change["dialog"] = dialog_to(self._dialog)
        version = self._owner.version
        for _ in range(self.MAX_ATTEMPTS):
            batch = self._client.batch()
            self._writes.apply_to(batch)
            batch.update(self._ref, change, option=self._client.write_option(last_update_time=version))
            try:
                results = await batch.commit()
            except _CONFLICTS:
                version = await self._look_again(version, advancing)
                continue
            self._stats.writes += len(results)
            committed = self.owner.with_changes(version=results[-1].update_time)
            self._owner, self._fields, self._dialog = committed, {}, _UNCHANGED
            self._writes.clear()
            return committed
        raise StaleUpdate()

    async def _look_again(self, tried, advancing: bool):
        """After a refused commit: the version to retry on, or why not."""
        self._stats.reads += 1
        snap = await self._ref.get()
        current = owner_from(self._owner.id, snap) if snap.exists else None
        if current is None or current.consent_at != self._owner.consent_at:  # erased (and maybe back)
            raise OwnerGone()
        if snap.update_time == tried:  # the owner is as read: another write of the batch was refused
            raise StaleUpdate()
        if advancing and current.dialog != self._owner.dialog:
            raise StaleUpdate()
        return snap.update_time

    # called by _StagedOwner
    def stage_fields(self, **fields) -> None:
        self._fields.update(fields)

    def stage_dialog(self, dialog: Dialog | None) -> None:
        self._dialog = dialog


class _StagedOwner:
    """The owners repository as the services see it inside a unit of work."""

    def __init__(self, uow: FirestoreUnitOfWork):
        self._uow = uow

    async def save(self, owner: Owner) -> None:
        current = self._uow.owner
        self._uow.stage_fields(**{name: getattr(owner, name) for name in ("language", "timezone", "label_consent")
                                  if getattr(owner, name) != getattr(current, name)})

    async def set_dialog(self, owner_id: int, dialog: Dialog | None) -> None:
        self._uow.stage_dialog(dialog)

"""The repositories and stores the use cases are given, as Protocols (structural: the Firestore adapters
and the fakes in tests/fakes.py implement them without inheriting; tests/test_containers.py checks that
every method named here exists on both).

The function containers (shared/bootstrap.py: WebhookServices, JobsServices, TriageServices) are typed
with these, so a use case, a handler or the Mini App's API can be given any implementation.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from shared.domain.diary import ActivityLog, Meal, Treatment, WeightEntry
from shared.domain.owners import Dialog, Owner
from shared.domain.pets import Pet, Species
from shared.domain.photos import PhotoRecord
from shared.domain.reminders import Reminder, Status
from shared.domain.triage import TriageResult
from shared.domain.vets import Area, Vet, VetCard, VetStatus


@runtime_checkable
class Stats(Protocol):
    """Document reads and writes counted (Firestore's billing units)."""

    reads: int
    writes: int


@runtime_checkable
class Owners(Protocol):
    """Owners outside an update's unit of work: read, create at consent, erase."""

    async def get(self, owner_id: int) -> Owner | None: ...

    async def create(self, owner: Owner) -> Owner | None: ...

    async def forget(self, owner_id: int) -> None: ...


@runtime_checkable
class StagedOwners(Protocol):
    """The owner's record inside a unit of work: changes are staged and written by its commit()."""

    async def save(self, owner: Owner) -> None: ...

    async def set_dialog(self, owner_id: int, dialog: Dialog | None) -> None: ...


@runtime_checkable
class Pets(Protocol):
    async def list(self, owner_id: int) -> list[Pet]: ...

    async def get(self, owner_id: int, pet_id: str) -> Pet | None: ...

    async def add(self, pet: Pet) -> Pet: ...

    async def update(self, pet: Pet) -> None: ...

    async def delete(self, owner_id: int, pet_id: str) -> None: ...

    async def delete_records(self, owner_id: int, pet_id: str) -> None: ...


@runtime_checkable
class UpdateLog(Protocol):
    """Which Telegram updates were taken (each is processed at most once)."""

    async def claim(self, update_id: int, now: datetime) -> bool: ...

    async def release(self, update_id: int) -> None: ...


@runtime_checkable
class Diary(Protocol):
    async def add_weight(self, owner_id: int, pet_id: str, entry: WeightEntry) -> WeightEntry: ...

    async def weights(self, owner_id: int, pet_id: str, since: date | None = None) -> list[WeightEntry]: ...

    async def add_treatment(self, owner_id: int, pet_id: str, tr: Treatment,
                            doc_id: str | None = None) -> Treatment: ...

    async def treatment(self, owner_id: int, pet_id: str, treatment_id: str) -> Treatment | None: ...

    async def update_treatment(self, owner_id: int, pet_id: str, treatment_id: str, changes: dict) -> None: ...

    async def treatments(self, owner_id: int, pet_id: str) -> list[Treatment]: ...

    async def add_meal(self, owner_id: int, pet_id: str, meal: Meal) -> Meal: ...

    async def meals(self, owner_id: int, pet_id: str, first: date, last: date) -> list[Meal]: ...

    async def add_activity(self, owner_id: int, pet_id: str, log: ActivityLog) -> ActivityLog: ...

    async def activity(self, owner_id: int, pet_id: str, first: date | None = None,
                       last: date | None = None) -> list[ActivityLog]: ...


@runtime_checkable
class Reminders(Protocol):
    async def schedule(self, reminders: list[Reminder]) -> int: ...

    async def due(self, now: datetime, limit: int) -> list[tuple[Reminder, object]]: ...

    async def claim(self, reminder_id: str, update_time, lease_until: datetime) -> bool: ...

    async def set_status(self, reminder_id: str, status: Status, fire_at: datetime | None = None) -> bool: ...

    async def snooze(self, reminder_id: str, until: datetime) -> bool: ...

    async def get(self, reminder_id: str) -> Reminder | None: ...

    async def get_many(self, reminder_ids: list[str]) -> list[Reminder]: ...

    async def active_for_owner(self, owner_id: int, pet_id: str | None = None) -> list[Reminder]: ...

    async def delete_for(self, owner_id: int, pet_id: str | None = None) -> None: ...

    async def amend(self, reminder_id: str, changes: dict) -> None: ...


@runtime_checkable
class TriageRecords(Protocol):
    """Photo records and triage results in the pet's record (users/{owner}/pets/{pet}/photos|triage)."""

    async def create_photo(self, record: PhotoRecord) -> bool: ...

    async def photo_record(self, owner_id: int, pet_id: str, photo_id: str) -> PhotoRecord | None: ...

    async def delete_photo(self, owner_id: int, pet_id: str, photo_id: str) -> None: ...

    async def create(self, result: TriageResult) -> bool: ...

    async def get(self, owner_id: int, pet_id: str, rid: str) -> tuple[TriageResult, bool] | None: ...

    async def claim_answer(self, owner_id: int, pet_id: str, rid: str, now: datetime,
                           lease_until: datetime) -> bool: ...

    async def mark_notified(self, owner_id: int, pet_id: str, rid: str) -> None: ...

    async def list(self, owner_id: int, pet_id: str, limit: int = 20) -> list[TriageResult]: ...


@runtime_checkable
class PhotoStore(Protocol):
    """Cleaned photos (Cloud Storage)."""

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str = "image/jpeg") -> str: ...

    async def get(self, name: str, generation: str | int | None = None) -> bytes: ...

    async def stat(self, name: str) -> tuple[str, dict[str, str]] | None: ...

    async def delete(self, name: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    async def list_names(self, prefix: str) -> list[str]: ...

    async def signed_url(self, name: str, valid: timedelta) -> str: ...


@runtime_checkable
class Vets(Protocol):
    """Vets (vets/{id}): a create per application, saves conditional on the version read (StaleUpdate);
    each write keeps the listing cards of bookable vets (the vet directory) in step in the same commit."""

    async def get(self, vet_id: int) -> Vet | None: ...

    async def create(self, vet: Vet) -> None: ...

    async def save(self, vet: Vet) -> None: ...

    async def delete(self, vet_id: int) -> None: ...

    async def with_status(self, status: VetStatus, limit: int = 100) -> list[Vet]: ...

    async def bookable(self, species: Species, area: Area | None = None) -> list[Vet]: ...

    async def listing(self, species: Species) -> list[VetCard]: ...

    async def rebuild_directory(self) -> dict[Species, tuple[int, int]]: ...


@runtime_checkable
class Calendars(Protocol):
    """Vets' calendars and slot locks (shared.adapters.firestore_bookings) as the job that prunes them sees
    them: what is over goes, every write conditional on what was read (services.calendars)."""

    async def calendar_vets(self) -> list[int]: ...

    async def prune_calendar(self, vet_id: int, now: datetime) -> tuple[int, int]: ...


@runtime_checkable
class UnitOfWork(Protocol):
    """One owner's update: repositories that stage writes, applied all or none by commit()."""

    owners: StagedOwners
    pets: Pets
    diary: Diary
    reminders: Reminders
    vets: Vets

    async def commit(self) -> Owner: ...

"""The prune_calendars job (services.calendars, FirestoreBookings.prune_calendar) against the Firestore
emulator: a vet's calendar keeps only its live entries and the past slot locks go, the bookings and the
ledger untouched; a second run changes nothing; a hold or a late payment committing between the prune's
read and its write is kept (the write is conditional on the calendar's update time); the scheduled
function answers the job with its counts."""
import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from shared.adapters.firestore_bookings import Contention, FirestoreBookings
from shared.adapters.firestore_repositories import OpStats
from shared.domain.bookings import BookingStatus
from shared.domain.slots import HOLD_TTL, PAST_KEPT, Busy, lock_cells, outdated, past_cells_bound
from shared.services.calendars import prune_calendars
from tests.test_firestore_bookings import hold_of, pay, repo  # noqa: F401 (repo: the fixture)
from tests.test_reminders_function import function_client  # noqa: F401 (the fixture)

P = datetime(2026, 12, 10, 3, 0, tzinfo=timezone.utc)  # when the job runs
VET = 9001
OTHER = 90011  # its cells' names start with VET's digits


# ---- the rules (domain.slots) ------------------------------------------------------------------------

def test_outdated_entries_are_run_out_holds_and_consultations_over_for_past_kept():
    end = P - PAST_KEPT
    assert outdated(Busy(end - timedelta(minutes=30), end), P)
    assert not outdated(Busy(end - timedelta(minutes=30), end + timedelta(minutes=1)), P)
    assert not outdated(Busy(end - timedelta(minutes=30), end - timedelta(minutes=10), buffer_minutes=15), P)
    assert outdated(Busy(P + timedelta(days=1), P + timedelta(days=1, minutes=30), expires_at=P), P)
    assert not outdated(Busy(P + timedelta(days=1), P + timedelta(days=1, minutes=30),
                             expires_at=P + timedelta(seconds=1)), P)
    assert not outdated(Busy(P - timedelta(minutes=10), P + timedelta(minutes=20)), P)  # under way


def test_the_past_cells_bound_names_the_first_kept_cell():
    bound = past_cells_bound(str(VET), P + timedelta(minutes=7))
    assert bound == f"{VET}-20261208T0300Z"
    ended = lock_cells(str(VET), P - PAST_KEPT - timedelta(minutes=15), P - PAST_KEPT)
    kept = lock_cells(str(VET), P - PAST_KEPT, P - PAST_KEPT + timedelta(minutes=15))
    assert ended[0] < bound <= kept[0] and f"{VET}-" < ended[0]
    assert not f"{VET}-" <= lock_cells(str(OTHER), P - timedelta(days=30), P)[0] < bound


# ---- on the emulator -----------------------------------------------------------------------------------

async def booked(repo, start, minutes=30, buffer=0, vet=VET, charge=None, booking_id=None):
    """A confirmed booking at `start`, held and paid a day before it."""
    at = start - timedelta(days=1)
    b = hold_of(repo, owner=7, start=start, minutes=minutes, buffer=buffer, vet=vet, now=at)
    b = await repo.hold(replace(b, id=booking_id) if booking_id else b, at)
    await pay(repo, b, charge=charge or f"ch-{b.id}", now=at + timedelta(minutes=1))
    return b


async def held(repo, start, at, vet=VET):
    """A hold made at `at` (live until at + HOLD_TTL)."""
    return await repo.hold(hold_of(repo, owner=8, start=start, vet=vet, now=at), at)


async def cells_of(repo) -> dict[str, str]:
    return {s.id: s.get("booking_id") async for s in repo._locks.stream()}


async def calendar_ids(repo, vet=VET) -> set[str]:
    snap = await repo._calendars.document(str(vet)).get()
    return set((snap.to_dict() or {}).get("busy") or {})


async def records(repo) -> tuple[dict, dict]:
    """Every booking and ledger document with its update time: what pruning must never change."""
    bookings = {s.id: (s.update_time, s.to_dict()) async for s in repo._bookings.stream()}
    ledger = {s.id: (s.update_time, s.to_dict()) async for s in repo._payments.stream()}
    return bookings, ledger


async def a_calendar_of_every_kind(repo) -> dict:
    day = timedelta(days=1)
    made = {
        # the id starts with a digit: a field path that needs quoting
        "long_over": await booked(repo, P - 3 * day, buffer=15, booking_id="0longover" + repo.new_id()[:10]),
        "over_lately": await booked(repo, P - day),                                 # within PAST_KEPT: kept
        "under_way": await booked(repo, P - timedelta(minutes=10)),
        "ahead": await booked(repo, P + 2 * day),
        "live_hold": await held(repo, P + 3 * day, at=P - timedelta(minutes=5)),
        "run_out_hold": await held(repo, P + 4 * day, at=P - timedelta(hours=1)),  # its expiry task never ran
        "past_run_out_hold": await held(repo, P - 5 * day, at=P - 6 * day),
        "other_vets_old": await booked(repo, P - 3 * day, vet=OTHER),
    }
    return made


async def test_a_calendar_is_pruned_to_its_live_entries_and_a_second_run_changes_nothing(repo):
    made = await a_calendar_of_every_kind(repo)
    before_cells = await cells_of(repo)
    before_records = await records(repo)

    entries, cells = await repo.prune_calendar(VET, P)

    assert await calendar_ids(repo) == {made[k].id for k in ("over_lately", "under_way", "ahead", "live_hold")}
    gone = {c for k in ("long_over", "past_run_out_hold") for c in made[k].cells}
    assert (entries, cells) == (3, len(gone))
    assert await cells_of(repo) == {c: b for c, b in before_cells.items() if c not in gone}
    assert all(c.startswith(f"{OTHER}-") for c in made["other_vets_old"].cells)
    assert await calendar_ids(repo, OTHER) == {made["other_vets_old"].id}  # another vet's: not this call's
    assert await records(repo) == before_records  # bookings and the ledger are records: untouched
    assert (await repo.get(made["run_out_hold"].id)).status is BookingStatus.HELD

    calendar = await repo._calendars.document(str(VET)).get()
    assert await repo.prune_calendar(VET, P) == (0, 0)
    assert (await repo._calendars.document(str(VET)).get()).update_time == calendar.update_time
    assert await cells_of(repo) == {c: b for c, b in before_cells.items() if c not in gone}

    # what the slot rules read is what it was: the pruned entries were free or long past for them
    assert {b for b in await repo.calendar(VET) if not outdated(b, P)} == set(await repo.calendar(VET))


class _RivalAfterRead:
    """The pruner's calendar collection: the first read of a calendar document is followed by `rival`'s
    commit (through another FirestoreBookings: another instance) before the pruner sees the snapshot, so
    the pruner's write comes after it, conditional on what it read."""

    def __init__(self, collection, rival):
        self._collection, self._rival, self.reads = collection, rival, 0

    def document(self, doc_id):
        ref, outer = self._collection.document(doc_id), self

        class Ref:
            async def get(self):
                snap = await ref.get()
                outer.reads += 1
                if outer._rival is not None:
                    rival, outer._rival = outer._rival, None
                    await rival()
                return snap

            def __getattr__(self, name):
                return getattr(ref, name)

        return Ref()


@pytest.fixture
async def pruner(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    yield FirestoreBookings(client, OpStats(), require_parties=False)
    client.close()


async def test_a_hold_committing_between_the_prunes_read_and_write_is_kept(repo, pruner):
    old = await booked(repo, P - timedelta(days=3))
    rival = hold_of(repo, owner=5, start=P + timedelta(days=1), now=P)
    pruner._calendars = _RivalAfterRead(pruner._calendars, lambda: repo.hold(rival, P))

    assert await pruner.prune_calendar(VET, P) == (1, len(old.cells))

    assert pruner._calendars.reads == 2  # its first write was refused: it read again and decided again
    assert await calendar_ids(repo) == {rival.id}
    assert set(rival.cells) <= set(await cells_of(repo))
    assert [b.expires_at for b in await repo.calendar(VET)] == [P + HOLD_TTL]


async def test_a_late_payment_committing_between_the_prunes_read_and_write_keeps_its_booking(repo, pruner):
    at = P - timedelta(hours=1)
    hold = await held(repo, P + timedelta(days=1), at=at)  # ran out at P - 50 min: outdated as read
    late = P + timedelta(seconds=1)
    pruner._calendars = _RivalAfterRead(pruner._calendars, lambda: pay(repo, hold, charge="late", now=late))

    assert await pruner.prune_calendar(VET, P) == (0, 0)

    assert (await repo.get(hold.id)).status is BookingStatus.CONFIRMED
    [entry] = await repo.calendar(VET)  # without the precondition the confirmed booking's entry went
    assert entry.start == hold.start and entry.expires_at is None


async def test_holds_released_together_with_the_prune_all_survive(repo, pruner):
    olds = [await booked(repo, P - timedelta(days=3, hours=n)) for n in range(5)]
    rivals = [hold_of(repo, owner=n, start=P + timedelta(days=1, hours=n), now=P) for n in range(20)]
    go = asyncio.Event()

    async def at_once(coro_fn):
        await go.wait()
        return await coro_fn()

    tasks = [asyncio.create_task(at_once(lambda: pruner.prune_calendar(VET, P)))]
    tasks += [asyncio.create_task(at_once(lambda b=b: repo.hold(b, P))) for b in rivals]
    go.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(not isinstance(r, Exception) for r in results[1:]), results
    assert isinstance(results[0], (tuple, Contention)), results[0]  # lost every round: it said so, wrote nothing

    # whatever the prune managed under contention, a run after it leaves exactly the live holds
    await pruner.prune_calendar(VET, P)
    assert await calendar_ids(repo) == {b.id for b in rivals}
    assert set(await cells_of(repo)) == {c for b in rivals for c in b.cells}
    assert {b.status for b in (await repo.get_many(b.id for b in olds)).values()} == {BookingStatus.CONFIRMED}


async def test_the_job_prunes_every_vet_and_one_bad_calendar_stops_no_other(repo):
    old = await booked(repo, P - timedelta(days=3))
    other_old = await booked(repo, P - timedelta(days=4), vet=OTHER)
    await repo._calendars.document("777").set({"busy": {"broken": {"start": P}}})  # no end: unreadable

    result = await prune_calendars(repo, P)

    assert result.as_dict() == {"vets": 3, "entries": 2, "cells": len(old.cells) + len(other_old.cells),
                                "failed": 1}
    assert await calendar_ids(repo) == set() and await calendar_ids(repo, OTHER) == set()
    assert (await prune_calendars(repo, P)).as_dict() == {"vets": 3, "entries": 0, "cells": 0, "failed": 1}


# ---- through the scheduled function ----------------------------------------------------------------------

def on_emulator(work):
    """`work(repo)` on a client of its own (asyncio.run closes the loop a client is bound to)."""
    import os

    async def go():
        client = firestore.AsyncClient(project=os.environ["GOOGLE_CLOUD_PROJECT"])
        try:
            return await work(FirestoreBookings(client, OpStats(), require_parties=False))
        finally:
            client.close()

    return asyncio.run(go())


def test_the_scheduled_function_answers_the_job_with_its_counts(function_client):
    client, _ = function_client

    async def seed(repo):
        return await booked(repo, P - timedelta(days=3)), await booked(repo, P + timedelta(days=1))

    async def left(repo):
        return await calendar_ids(repo), set(await cells_of(repo))

    old, ahead = on_emulator(seed)
    job = {"job": "prune_calendars", "now": P.isoformat()}

    assert client.post("/", json=job).status_code == 403
    assert client.post("/", json=job, headers={"X-Jobs-Token": "wrong"}).status_code == 403
    assert on_emulator(left) == ({old.id, ahead.id}, set(old.cells) | set(ahead.cells))
    response = client.post("/", json=job, headers={"X-Jobs-Token": "secret-jobs"})
    assert response.status_code == 200
    assert response.get_json() == {"job": "prune_calendars", "now": P.isoformat(), "vets": 1, "entries": 1,
                                   "cells": len(old.cells), "failed": 0}
    again = client.post("/", json=job, headers={"X-Jobs-Token": "secret-jobs"}).get_json()
    assert (again["entries"], again["cells"]) == (0, 0)
    assert on_emulator(left) == ({ahead.id}, set(ahead.cells))

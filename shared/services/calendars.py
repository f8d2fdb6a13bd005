"""The scheduled job prune_calendars (daily): vets' calendars and slot locks keep only what is live.

A vet's calendar document (vet_calendars/{vet}) gains an entry with every hold and booking and its slot
locks a cell per 15 minutes; without pruning both grow for as long as the vet works, and the document
(read whole by every vet list and calendar, and bounded at 1 MiB) with them. Each run removes, per vet,
the entries domain.slots.outdated names (holds that ran out, consultations over for PAST_KEPT) and the
cells before past_cells_bound, every write conditional on what it read (the adapter): a hold or payment
committing at the same moment is never lost, a second run finds nothing. The bookings and the payments
ledger are records and are not touched.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from shared.services.repositories import Calendars

log = logging.getLogger(__name__)


@dataclass
class PruneResult:
    vets: int = 0       # calendars looked at
    entries: int = 0    # calendar entries removed
    cells: int = 0      # slot lock cells deleted
    failed: int = 0     # vets left as they were this run (logged): the next run tries again

    def as_dict(self) -> dict:
        return asdict(self)


async def prune_calendars(calendars: Calendars, now: datetime, concurrency: int = 10) -> PruneResult:
    result = PruneResult()
    gate = asyncio.Semaphore(concurrency)

    async def one(vet_id: int) -> None:
        async with gate:
            try:
                entries, cells = await calendars.prune_calendar(vet_id, now)
            except Exception:  # one vet's calendar (contention, a bad entry) never stops the others'
                log.exception("pruning vet %s's calendar failed", vet_id)
                result.failed += 1
                return
            result.entries += entries
            result.cells += cells

    vets = await calendars.calendar_vets()
    result.vets = len(vets)
    await asyncio.gather(*(one(v) for v in vets))
    return result

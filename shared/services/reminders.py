"""Reminder use cases: the scheduled job that sends due reminders, and the owner's answers to them.

Exactly once per reminder and step, however often (and however concurrently) the job runs:
1. one indexed query finds reminders with status pending/sending and fire_at <= now (1 read each);
2. each is claimed with an update whose precondition is the update_time we read: if another run
   claimed it first, the document changed and Firestore refuses ours (FailedPrecondition) — no read,
   no Python-side check. The claim sets status "sending" and moves fire_at to a lease expiry;
3. after Telegram accepted the message the reminder becomes "sent". A run that dies between claim and
   send leaves a "sending" reminder whose lease expires, so the next run retries it (the only case in
   which an owner could get it twice is a crash after Telegram accepted and before "sent" was written).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from shared.domain import diary as rules
from shared.domain import reminders as rem_rules
from shared.domain.owners import Owner
from shared.domain.reminders import Reminder, Status, Step
from shared.services import diary as diary_service
from shared.services.pets import owned_pet

log = logging.getLogger(__name__)


class RecipientGone(Exception):
    """The owner blocked the bot or deleted the chat: never retry."""


@dataclass
class JobResult:
    found: int = 0
    sent: int = 0
    skipped: int = 0   # claimed by an overlapping run
    failed: int = 0    # recipient gone
    retry: int = 0     # will be retried later
    reads: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


async def due_reminders(reminders, sender, now: datetime, batch: int = 200, max_batches: int = 50,
                        concurrency: int = 20, stats=None) -> JobResult:
    result = JobResult()
    reads_before = stats.reads if stats else 0
    gate = asyncio.Semaphore(concurrency)  # Telegram allows ~30 messages/s per bot

    async def one(reminder: Reminder, update_time) -> None:
        async with gate:
            if not await reminders.claim(reminder.id, update_time, now + rem_rules.CLAIM_LEASE):
                result.skipped += 1
                return
            try:
                await sender.send(reminder)
            except RecipientGone:
                result.failed += 1
                await reminders.set_status(reminder.id, Status.FAILED)
                return
            except Exception as err:  # noqa: BLE001 — any failure: give it back for a later run
                # the id holds the owner's Telegram id: log a digest, enough to correlate, not to identify
                log.warning("reminder %s not sent: %s", hashlib.sha256(reminder.id.encode()).hexdigest()[:12],
                            type(err).__name__)
                result.retry += 1
                await reminders.set_status(reminder.id, Status.PENDING, fire_at=now + rem_rules.RETRY_DELAY)
                return
            await reminders.set_status(reminder.id, Status.SENT)
            result.sent += 1

    for _ in range(max_batches):
        page = await reminders.due(now, batch)
        result.found += len(page)
        await asyncio.gather(*(one(r, t) for r, t in page))
        if len(page) < batch:
            break
    if stats:
        result.reads = stats.reads - reads_before
    return result


async def mark_done(pets, diary, reminders, owner: Owner, chat_id: int, pet_id: str, treatment_id: str,
                    now: datetime):
    """"Done": logs the treatment as given today (same kind and product), schedules the next one from
    the default interval, and closes both steps of this reminder. Pressing it twice logs it once (the
    renewal's id is derived from the old record's; a racing second press fails its commit).
    Returns the new treatment, or None if it had already been logged."""
    pet = await owned_pet(pets, owner.id, pet_id)
    old = await diary.treatment(owner.id, pet.id, treatment_id)
    if old is None:
        raise LookupError(treatment_id)
    renewal = diary_service.renewal_id(old.id)
    new = None
    if await diary.treatment(owner.id, pet.id, renewal) is None:
        today = rem_rules.local_today(now, owner.timezone)
        interval = (old.next_due - old.given_on).days if old.next_due else None
        next_due = rules.propose_next_due(pet.species, old.kind, today)
        if interval and next_due is None:
            next_due = today + timedelta(days=interval)
        new = await diary_service.record_treatment(pets, diary, reminders, owner, chat_id, pet.id, old.kind,
                                                   old.product, today, next_due, now, doc_id=renewal)
    # An earlier press may have logged the renewal and died before the rest: finish it.
    if old.followed_by != renewal:
        await diary.update_treatment(owner.id, pet.id, old.id, {"followed_by": renewal})
    await _close_steps(reminders, owner.id, pet.id, old.id, Status.DONE)
    return new


async def _close_steps(reminders, owner_id: int, pet_id: str, treatment_id: str, status: Status) -> None:
    ids = [rem_rules.reminder_id(owner_id, pet_id, treatment_id, step) for step in Step]
    for rem in await reminders.get_many(ids):
        if rem.status != status:
            await reminders.set_status(rem.id, status)


async def dismiss(pets, diary, reminders, owner_id: int, pet_id: str, treatment_id: str) -> None:
    """"Not relevant": keep the record, stop reminding about it (a vet's follow-up: stop reminding)."""
    pet = await owned_pet(pets, owner_id, pet_id)
    if await diary.treatment(owner_id, pet.id, treatment_id) is not None:
        await diary.update_treatment(owner_id, pet.id, treatment_id, {"reminders_off": True})
    elif not any(r.kind == rem_rules.FOLLOW_UP for r in await reminders.get_many(
            [rem_rules.reminder_id(owner_id, pet.id, treatment_id, step) for step in Step])):
        raise LookupError(treatment_id)
    await _close_steps(reminders, owner_id, pet.id, treatment_id, Status.DISMISSED)


async def snooze(pets, reminders, owner: Owner, pet_id: str, treatment_id: str, step: str,
                 now: datetime) -> datetime:
    """"Later": the same reminder again tomorrow at the reminder hour."""
    pet = await owned_pet(pets, owner.id, pet_id)
    until = rem_rules.snooze_until(now, owner.timezone)
    rid = rem_rules.reminder_id(owner.id, pet.id, treatment_id, Step(step))
    # Only a reminder still in play: "later" on one already done or dismissed must not revive it.
    if not await reminders.snooze(rid, until):
        raise LookupError(rid)
    return until


async def set_timezone(owners, reminders, owner: Owner, tz: str) -> Owner:
    """Stores the owner's zone and moves their pending reminders to 10:00 in it."""
    if not rem_rules.is_valid_timezone(tz):
        raise ValueError(tz)
    updated = owner.with_changes(timezone=tz)
    await owners.save(updated)
    for rem in await reminders.active_for_owner(owner.id):
        if rem.status != Status.PENDING:
            continue
        day = rem.due_on - timedelta(days=1) if rem.step == Step.BEFORE else rem.due_on
        await reminders.amend(rem.id, {"fire_at": rem_rules.fire_time(day, tz), "timezone": tz})
    return updated


async def ensure_timezone(owners, owner: Owner, telegram_language: str | None) -> tuple[Owner, bool]:
    """Infers the zone from the client's language the first time one is needed (stored once).
    Returns the owner and whether it was just inferred (the bot then says how to change it)."""
    if owner.timezone:
        return owner, False
    updated = owner.with_changes(timezone=rem_rules.timezone_for_language(telegram_language))
    await owners.save(updated)
    return updated, True


def today_for(owner: Owner, now: datetime) -> date:
    return rem_rules.local_today(now, owner.timezone)

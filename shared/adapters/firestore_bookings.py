"""Bookings, slot locks, vets' calendars and the payments ledger in Firestore.

Layout (top level: a booking has two parties; services check who may see or change it):
- `bookings/{random id}`: owner_id, vet_id, pet_id, pet (a snapshot of the card), reason, triage_result_id,
  triage (its summary), photo_file_id, start/end (UTC), buffer_minutes, price {amount, currency},
  status, hold_expires_at, cells, charge_id, created_at, history [{at, status, note}].
- `slot_locks/{vet}-{YYYYMMDDTHHMM}Z` (domain.slots.lock_cells): {booking_id, vet_id, expires_at|null}.
  A hold writes all its cells in one batch of `create()`: of two consultations of one vet whose
  blocked time overlaps, whatever their lengths, only one can be written. A cell left by a hold that
  ran out (expires_at <= now) is free: it is taken over by an update whose precondition is the cell's
  update time as read, so of two writers only one takes it (and a late payment of the old hold, which
  would take it back the same way, loses or wins as a whole).
- `vet_calendars/{vet id}`: {busy: {booking id: {start, end, buffer_minutes, expires_at}}}: what the
  vet's live holds and bookings block, written in the same batch as their cells. One read gives a vet's
  whole calendar (a query of bookings would cost a read per booking). Entries of holds that ran out
  read as free and are removed by the expiry, by whoever takes their cells, and by `prune_calendar`
  (the scheduled job prune_calendars, daily), which also drops consultations long over and deletes their
  cells: the document holds what is live, not the vet's history (the bookings are that).
- `payments/{telegram_payment_charge_id}`: the ledger. Created in the same batch as the confirmation it
  pays for (or as the record of a refund it is owed), so a charge is applied once however often
  Telegram delivers it; refunds are appended with their idempotence keys. A cancellation owes back what
  the rules say in the batch that cancels (the split recomputed on what is kept).

Erasure (services.cancellations): a hold is written only while its owner's and its vet's records exist
(the batch deletes a field that is never there from each: that fails on a missing document and changes
nothing else, not even the update time the unit of work checks), and erasure deletes those records
first; so no booking of an erased person can appear after erasure looked for theirs. Their bookings are
then kept without them (`forget_party`: owner_id/vet_id 0 with a one-way pseudonym, the pet's card, the
reason and the triage dropped) and so are their ledger entries (`forget_in_ledger`).

No Firestore transactions: every change is a batch whose preconditions (create, last update time) make
a racing writer's batch fail as a whole; the loser reads again and decides again.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.field_path import FieldPath

from shared.domain.bookings import (ERASED, Booking, BookingStatus, Currency, PaymentOutcome, Price,  # noqa: F401
                                    SlotTaken, payment_outcome)
from shared.domain.pets import InvalidInput
from shared.domain.slots import Busy, as_utc, outdated, past_cells_bound
from shared.services.unit_of_work import OwnerGone

_CONFLICTS = (gexc.FailedPrecondition, gexc.NotFound, gexc.AlreadyExists, gexc.Aborted, gexc.Conflict)
_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
_CHARGE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_ATTEMPTS = 8
GUARD_FIELD = "booking_guard"  # never stored: deleting it from a record only requires the record to exist


class Contention(Exception):
    """Racing writers kept changing what this write depends on; nothing was written."""


def booking_id_ok(value: str) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def charge_doc_id(charge_id: str) -> str:
    """The ledger document of a charge: its id as Telegram gives it, or a digest if it is not a safe id."""
    if _CHARGE.match(charge_id) and not charge_id.startswith("__") and charge_id not in (".", ".."):
        return charge_id
    return "h" + hashlib.sha256(charge_id.encode()).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    charge_id: str
    booking_id: str
    owner_id: int
    vet_id: int
    amount: int
    currency: str
    provider_charge_id: str
    fee: int
    vet_share: int
    status: str                      # confirmed | refund_pending | refunded
    refund_due: int = 0
    refunds: tuple[dict, ...] = ()   # {id, amount, key, at}
    created_at: datetime | None = None
    owner_ref: str | None = None     # the payer's pseudonym once they erased their data (owner_id then 0)
    vet_ref: str | None = None       # the vet's, likewise
    forget_owner_when_refunded: bool = False  # erased while a refund was owed: owner_id kept until paid back
    receipt: dict | None = None      # the payment's 54-FZ receipt terms (vat_code, payment_subject, payment_mode,
                                     # the payer's email if given): a refund's receipt repeats them

    @property
    def refunded(self) -> int:
        return sum(r["amount"] for r in self.refunds)


@dataclass(frozen=True)
class Applied:
    """What applying a successful payment did."""

    outcome: PaymentOutcome
    booking: Booking
    ledger: LedgerEntry


def _booking_to(b: Booking) -> dict:
    return {
        "owner_id": b.owner_id, "vet_id": b.vet_id, "pet_id": b.pet_id, "pet": b.pet, "reason": b.reason,
        "triage_result_id": b.triage_result_id, "triage": b.triage, "photo_file_id": b.photo_file_id,
        "start": b.start, "end": b.end, "buffer_minutes": b.buffer_minutes,
        "price": {"amount": b.price.amount, "currency": b.price.currency.value}, "status": b.status.value,
        "hold_expires_at": b.hold_expires_at, "cells": list(b.cells), "charge_id": b.charge_id,
        "reschedules_left": b.reschedules_left,
    }


def booking_from(booking_id: str, data: dict) -> Booking:
    def utc(v):
        return as_utc(v) if isinstance(v, datetime) else None

    return Booking(
        id=booking_id, owner_id=int(data["owner_id"]), vet_id=int(data["vet_id"]), pet_id=data["pet_id"],
        start=utc(data["start"]), end=utc(data["end"]), buffer_minutes=int(data.get("buffer_minutes") or 0),
        price=Price(int(data["price"]["amount"]), Currency(data["price"]["currency"])),
        status=BookingStatus(data["status"]), hold_expires_at=utc(data.get("hold_expires_at")),
        cells=tuple(data.get("cells") or ()), reason=data.get("reason") or "",
        triage_result_id=data.get("triage_result_id"), charge_id=data.get("charge_id"),
        reschedules_left=int(data.get("reschedules_left", 1)), pet=dict(data.get("pet") or {}),
        triage=data.get("triage"), photo_file_id=data.get("photo_file_id"), created_at=utc(data.get("created_at")))


def _entry(b: Booking, expires_at: datetime | None) -> dict:
    return {"start": b.start, "end": b.end, "buffer_minutes": b.buffer_minutes, "expires_at": expires_at}


def _busy_of(item: dict) -> Busy:
    return Busy(item["start"], item["end"], int(item.get("buffer_minutes") or 0), item.get("expires_at"))


def _busy(data: dict | None) -> list[Busy]:
    return [_busy_of(item) for item in ((data or {}).get("busy") or {}).values()]


def _history(status: BookingStatus, at: datetime, note: str | None = None) -> dict:
    item = {"at": at, "status": status.value}
    if note:
        item["note"] = note
    return item


def ledger_from(snap) -> LedgerEntry:
    d = snap.to_dict()
    return LedgerEntry(charge_id=d["charge_id"], booking_id=d["booking_id"], owner_id=int(d["owner_id"]),
                       vet_id=int(d["vet_id"]), amount=int(d["amount"]), currency=d["currency"],
                       provider_charge_id=d.get("provider_payment_charge_id") or "", fee=int(d.get("fee") or 0),
                       vet_share=int(d.get("vet_share") or 0), status=d["status"],
                       refund_due=int(d.get("refund_due") or 0), refunds=tuple(d.get("refunds") or ()),
                       created_at=d.get("created_at"), owner_ref=d.get("owner_ref"), vet_ref=d.get("vet_ref"),
                       forget_owner_when_refunded=bool(d.get("forget_owner_when_refunded")), receipt=d.get("receipt"))


class FirestoreBookings:
    def __init__(self, client: firestore.AsyncClient, stats, require_parties: bool = True):
        """`require_parties`: holds are written only while the owner's and the vet's records exist (see the
        module's note on erasure); off only in tests of the slot mechanics that make no people."""
        self._client = client
        self._stats = stats
        self._require_parties = require_parties
        self._bookings = client.collection("bookings")
        self._locks = client.collection("slot_locks")
        self._calendars = client.collection("vet_calendars")
        self._payments = client.collection("payments")

    def new_id(self) -> str:
        return self._bookings.document().id

    # ---- reads -------------------------------------------------------------------------------------

    async def get(self, booking_id: str) -> Booking | None:
        if not booking_id_ok(booking_id):
            return None
        self._stats.reads += 1
        snap = await self._bookings.document(booking_id).get()
        return booking_from(snap.id, snap.to_dict()) if snap.exists else None

    async def calendar(self, vet_id: int) -> list[Busy]:
        """The vet's holds and bookings as the slot rules take them (one read)."""
        self._stats.reads += 1
        snap = await self._calendars.document(str(vet_id)).get()
        return _busy(snap.to_dict() if snap.exists else None)

    async def calendars(self, vet_ids: Iterable[int]) -> dict[int, list[Busy]]:
        """Several vets' calendars in one round trip (a read each)."""
        ids = list(dict.fromkeys(int(v) for v in vet_ids))
        out: dict[int, list[Busy]] = {v: [] for v in ids}
        if not ids:
            return out
        self._stats.reads += len(ids)
        async for snap in self._client.get_all([self._calendars.document(str(v)) for v in ids]):
            if snap.exists:
                out[int(snap.id)] = _busy(snap.to_dict())
        return out

    async def held_by(self, owner_id: int) -> list[Booking]:
        """The owner's bookings in status held (live or run out)."""
        query = self._bookings.where(filter=firestore.FieldFilter("owner_id", "==", owner_id)).where(
            filter=firestore.FieldFilter("status", "==", BookingStatus.HELD.value))
        found = [replace(booking_from(s.id, s.to_dict()), written_at=s.create_time) async for s in query.stream()]
        self._stats.reads += max(1, len(found))
        return found

    async def ledger(self, charge_id: str) -> LedgerEntry | None:
        self._stats.reads += 1
        snap = await self._payments.document(charge_doc_id(charge_id)).get()
        return ledger_from(snap) if snap.exists else None

    async def ledger_entries(self, since: datetime | None = None, status: str | None = None) -> list[LedgerEntry]:
        """The ledger, or only its entries made at or after `since` and in `status`: only those are read (both
        at once is a composite index, infra/firestore.indexes.json)."""
        query = self._payments
        if status is not None:
            query = query.where(filter=firestore.FieldFilter("status", "==", status))
        if since is not None:
            query = query.where(filter=firestore.FieldFilter("created_at", ">=", as_utc(since)))
        found = [ledger_from(s) async for s in query.stream()]
        self._stats.reads += max(1, len(found))
        return found

    async def paid_bookings(self) -> list[Booking]:
        """Bookings that were paid for (confirmed, and what confirmed ones become): for reconciliation."""
        paid = [s.value for s in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.CANCELLED,
                                  BookingStatus.NO_SHOW_VET, BookingStatus.NO_SHOW_OWNER)]
        query = self._bookings.where(filter=firestore.FieldFilter("status", "in", paid))
        found = [booking_from(s.id, s.to_dict()) async for s in query.stream()]
        self._stats.reads += max(1, len(found))
        return found

    async def get_many(self, booking_ids: Iterable[str]) -> dict[str, Booking]:
        ids = [i for i in dict.fromkeys(booking_ids) if booking_id_ok(i)]
        if not ids:
            return {}
        self._stats.reads += len(ids)
        return {s.id: booking_from(s.id, s.to_dict())
                async for s in self._client.get_all([self._bookings.document(i) for i in ids]) if s.exists}

    # ---- holds -----------------------------------------------------------------------------------------

    async def hold(self, booking: Booking, now: datetime) -> Booking:
        """Writes a new hold with its cells; SlotTaken if a live hold or booking has any of them."""
        if booking.status != BookingStatus.HELD or booking.hold_expires_at is None or not booking.cells:
            raise ValueError("a hold is a held booking with its cells and expiry")
        now = as_utc(now)
        data = {**_booking_to(booking), "created_at": now,
                "history": [_history(BookingStatus.HELD, now)]}
        cell = {"booking_id": booking.id, "vet_id": booking.vet_id, "expires_at": booking.hold_expires_at}
        batch = self._client.batch()
        for cell_id in booking.cells:
            batch.create(self._locks.document(cell_id), cell)
        batch.create(self._bookings.document(booking.id), data)
        batch.set(self._calendars.document(str(booking.vet_id)),
                  {"busy": {booking.id: _entry(booking, booking.hold_expires_at)}}, merge=True)
        self._guard(batch, booking)
        try:
            written = await batch.commit()
            self._stats.writes += len(booking.cells) + 2
            return replace(booking, created_at=now, written_at=written[len(booking.cells)].update_time)
        except _CONFLICTS as err:  # a cell exists, or the commit lost to contention (ABORTED): look at the cells
            await self._parties_exist(booking, err)
        # Some cell exists: free only if every existing one belongs to a hold that ran out.
        for _ in range(MAX_ATTEMPTS):
            snaps = await self._cells(booking.cells)
            if any(s.exists and _live(s.to_dict(), now) for s in snaps.values()):
                raise SlotTaken()
            batch = self._client.batch()
            stale = set()
            for cell_id in booking.cells:
                snap = snaps[cell_id]
                ref = self._locks.document(cell_id)
                if snap.exists:
                    stale.add(snap.get("booking_id"))
                    batch.update(ref, cell, option=self._client.write_option(last_update_time=snap.update_time))
                else:
                    batch.create(ref, cell)
            batch.create(self._bookings.document(booking.id), data)
            stale.discard(booking.id)
            batch.set(self._calendars.document(str(booking.vet_id)),
                      {"busy": {booking.id: _entry(booking, booking.hold_expires_at),
                                **{s: firestore.DELETE_FIELD for s in stale if booking_id_ok(s)}}}, merge=True)
            self._guard(batch, booking)
            try:
                written = await batch.commit()
            except _CONFLICTS as err:
                await self._parties_exist(booking, err)
                continue  # a cell changed since read: look again
            self._stats.writes += len(booking.cells) + 2
            return replace(booking, created_at=now, written_at=written[len(booking.cells)].update_time)
        raise Contention()

    def _guard(self, batch, booking: Booking) -> None:
        """The batch fails (NotFound) unless the owner's and the vet's records exist, and changes neither."""
        if self._require_parties:
            for ref in self._party_refs(booking):
                batch.update(ref, {GUARD_FIELD: firestore.DELETE_FIELD})

    def _party_refs(self, booking: Booking):
        return (self._client.collection("users").document(str(booking.owner_id)),
                self._client.collection("vets").document(str(booking.vet_id)))

    async def _parties_exist(self, booking: Booking, err: Exception) -> None:
        """After a refused hold: OwnerGone if the owner erased their data, booking.err.vet_unavailable if
        the vet did (a NotFound may also be a cell deleted meanwhile: then nothing is raised)."""
        if not (self._require_parties and isinstance(err, gexc.NotFound)):
            return
        self._stats.reads += 2
        owner, vet = await _get_both(self._client, *self._party_refs(booking))
        if not owner.exists:
            raise OwnerGone()
        if not vet.exists:
            raise InvalidInput("booking.err.vet_unavailable")

    async def _cells(self, cell_ids: Iterable[str]) -> dict:
        refs = [self._locks.document(c) for c in cell_ids]
        self._stats.reads += len(refs)
        return {s.id: s async for s in self._client.get_all(refs)}

    async def expire_hold(self, booking_id: str, now: datetime, note: str | None = None) -> bool:
        """held -> expired once the hold has run out (or at once with `note`, the owner letting it go);
        its cells and calendar entry are freed. False if it is not a held booking (a payment won)."""
        now = as_utc(now)
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 1
            snap = await self._bookings.document(booking_id).get() if booking_id_ok(booking_id) else None
            if snap is None or not snap.exists:
                return False
            booking = booking_from(snap.id, snap.to_dict())
            if booking.status != BookingStatus.HELD or (note is None and booking.hold_live(now)):
                return False
            cells = await self._cells(booking.cells)
            batch = self._client.batch()
            batch.update(snap.reference, {
                "status": BookingStatus.EXPIRED.value,
                "history": firestore.ArrayUnion([_history(BookingStatus.EXPIRED, now, note)])},
                option=self._client.write_option(last_update_time=snap.update_time))
            for c in cells.values():
                if c.exists and c.get("booking_id") == booking.id:
                    batch.delete(c.reference, option=self._client.write_option(last_update_time=c.update_time))
            batch.set(self._calendars.document(str(booking.vet_id)),
                      {"busy": {booking.id: firestore.DELETE_FIELD}}, merge=True)
            try:
                await batch.commit()
            except _CONFLICTS:
                continue
            self._stats.writes += 2 + len(cells)
            return True
        raise Contention()

    async def mark_no_show(self, booking_id: str, status: BookingStatus, now: datetime) -> bool:
        """confirmed -> no_show_vet / no_show_owner; False if it is not confirmed."""
        if status not in (BookingStatus.NO_SHOW_VET, BookingStatus.NO_SHOW_OWNER):
            raise ValueError(status)
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 1
            snap = await self._bookings.document(booking_id).get() if booking_id_ok(booking_id) else None
            if snap is None or not snap.exists or snap.get("status") != BookingStatus.CONFIRMED.value:
                return False
            try:
                await snap.reference.update(
                    {"status": status.value, "history": firestore.ArrayUnion([_history(status, as_utc(now))])},
                    option=self._client.write_option(last_update_time=snap.update_time))
            except _CONFLICTS:
                continue
            self._stats.writes += 1
            return True
        raise Contention()

    # ---- pruning (the scheduled job prune_calendars) ----------------------------------------------------

    async def calendar_vets(self) -> list[int]:
        """The vets that have a calendar document (a listing of their ids, no fields)."""
        vets = [int(ref.id) async for ref in self._calendars.list_documents() if ref.id.isdigit()]
        self._stats.reads += max(1, len(vets))
        return vets

    async def prune_calendar(self, vet_id: int, now: datetime) -> tuple[int, int]:
        """Keeps the vet's calendar and slot locks to what a read can still need (domain.slots.outdated,
        past_cells_bound); the bookings and the ledger are records and are never touched. Returns (calendar
        entries removed, cells deleted); run again, it finds nothing."""
        now = as_utc(now)
        return await self._prune_entries(vet_id, now), await self._prune_cells(vet_id, now)

    async def _prune_entries(self, vet_id: int, now: datetime) -> int:
        """The outdated entries removed in one update conditional on the calendar's update time as read:
        every hold, payment, move or cancellation writes the calendar document, so one committing meanwhile
        makes ours fail as a whole and it is decided again on what that one wrote (a new hold's entry is
        never in our list; a run-out hold paid late comes back permanent and is kept)."""
        ref = self._calendars.document(str(vet_id))
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 1
            snap = await ref.get()
            busy = (snap.to_dict() or {}).get("busy") or {} if snap.exists else {}
            old = [k for k, item in busy.items() if outdated(_busy_of(item), now)]
            if not old:
                return 0
            try:
                await ref.update({FieldPath("busy", k).to_api_repr(): firestore.DELETE_FIELD for k in old},
                                 option=self._client.write_option(last_update_time=snap.update_time))
            except _CONFLICTS:
                continue
            self._stats.writes += 1
            return len(old)
        raise Contention()

    async def _prune_cells(self, vet_id: int, now: datetime, page: int = 400) -> int:
        """The vet's cells that ended PAST_KEPT ago (a range of document names: "{vet}-" up to the first
        kept cell; no index), deleted a page per batch, each conditional on its update time as read."""
        name = FieldPath.document_id()
        query = (self._locks.where(filter=firestore.FieldFilter(name, ">=", self._locks.document(f"{vet_id}-")))
                 .where(filter=firestore.FieldFilter(name, "<", self._locks.document(past_cells_bound(str(vet_id), now))))
                 .limit(page))
        deleted = conflicts = 0
        while True:
            snaps = [s async for s in query.stream()]
            self._stats.reads += max(1, len(snaps))
            if not snaps:
                return deleted
            batch = self._client.batch()
            for c in snaps:
                batch.delete(c.reference, option=self._client.write_option(last_update_time=c.update_time))
            try:
                await batch.commit()
            except _CONFLICTS:  # a cell changed or went meanwhile (another run, an erasure): read again
                conflicts += 1
                if conflicts >= MAX_ATTEMPTS:
                    raise Contention() from None
                continue
            self._stats.writes += len(snaps)
            deleted += len(snaps)

    # ---- payments --------------------------------------------------------------------------------------

    async def apply_payment(self, booking_id: str, charge_id: str, payer_id: int, amount: int, currency: str,
                            provider_charge_id: str, split_of, now: datetime, receipt: dict | None = None) -> Applied | None:
        """Applies a successful payment once per charge: the ledger document is created in the same batch
        as the booking's confirmation with its cells made permanent (or, when the slot is gone or the charge
        does not fit, as the record of the refund it is owed). A redelivery finds the ledger: ALREADY.
        None if the booking does not exist (the caller refunds it without one)."""
        now = as_utc(now)
        ledger_ref = self._payments.document(charge_doc_id(charge_id))
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 2
            if not booking_id_ok(booking_id):
                return None
            bsnap, lsnap = await _get_both(self._client, self._bookings.document(booking_id), ledger_ref)
            if lsnap.exists:
                existing = ledger_from(lsnap)
                return Applied(PaymentOutcome.ALREADY,
                               booking_from(bsnap.id, bsnap.to_dict()) if bsnap.exists else None, existing)
            if not bsnap.exists:
                return None
            booking = booking_from(bsnap.id, bsnap.to_dict())
            cells = await self._cells(booking.cells)
            free = all(not c.exists or c.get("booking_id") == booking.id or not _live(c.to_dict(), now)
                       for c in cells.values())
            outcome = payment_outcome(booking, charge_id, payer_id, amount, currency, free, now)
            if outcome is PaymentOutcome.ALREADY:  # the booking names this charge but the ledger is gone
                raise RuntimeError(f"booking {booking_id} names a charge the ledger lacks")
            split = split_of(amount)
            confirm = outcome is PaymentOutcome.CONFIRM
            entry = LedgerEntry(charge_id=charge_id, booking_id=booking.id, owner_id=payer_id, vet_id=booking.vet_id,
                                amount=amount, currency=currency, provider_charge_id=provider_charge_id or "",
                                fee=split.fee if confirm else 0, vet_share=split.vet_share if confirm else 0,
                                status="confirmed" if confirm else "refund_pending",
                                refund_due=0 if confirm else amount, created_at=now, receipt=receipt)
            batch = self._client.batch()
            batch.create(ledger_ref, _ledger_to(entry))
            version = self._client.write_option(last_update_time=bsnap.update_time)
            if confirm:
                confirmed = booking.confirmed(charge_id)
                batch.update(bsnap.reference, {
                    "status": confirmed.status.value, "charge_id": charge_id, "hold_expires_at": None,
                    "history": firestore.ArrayUnion([_history(BookingStatus.CONFIRMED, now,
                                                              None if booking.hold_live(now) else "late payment")])},
                    option=version)
                stale = set()
                permanent = {"booking_id": booking.id, "vet_id": booking.vet_id, "expires_at": None}
                for cell_id in booking.cells:
                    c = cells[cell_id]
                    if c.exists:
                        if c.get("booking_id") != booking.id:
                            stale.add(c.get("booking_id"))
                        batch.update(c.reference, permanent,
                                     option=self._client.write_option(last_update_time=c.update_time))
                    else:
                        batch.create(c.reference, permanent)
                stale.discard(booking.id)
                batch.set(self._calendars.document(str(booking.vet_id)),
                          {"busy": {booking.id: _entry(booking, None),
                                    **{s: firestore.DELETE_FIELD for s in stale if booking_id_ok(s)}}}, merge=True)
                result = confirmed
            else:
                batch.update(bsnap.reference, {"history": firestore.ArrayUnion(
                    [{"at": now, "status": booking.status.value, "note": "payment to refund", "charge": charge_id}])},
                    option=version)
                result = booking
            try:
                await batch.commit()
            except _CONFLICTS:
                continue  # the ledger appeared (a redelivery won) or the booking or a cell changed: look again
            self._stats.writes += 2 + (len(booking.cells) + 1 if confirm else 0)
            return Applied(outcome, result, entry)
        raise Contention()

    async def record_orphan_charge(self, charge_id: str, booking_id: str, payer_id: int, amount: int,
                                   currency: str, provider_charge_id: str, now: datetime) -> LedgerEntry:
        """A charge whose booking does not exist: in the ledger as owed back in full (created once)."""
        entry = LedgerEntry(charge_id=charge_id, booking_id=booking_id[:40], owner_id=payer_id, vet_id=0,
                            amount=amount, currency=currency, provider_charge_id=provider_charge_id or "", fee=0,
                            vet_share=0, status="refund_pending", refund_due=amount, created_at=as_utc(now))
        ref = self._payments.document(charge_doc_id(charge_id))
        try:
            await ref.create(_ledger_to(entry))
            self._stats.writes += 1
            return entry
        except gexc.AlreadyExists:
            self._stats.reads += 1
            return ledger_from(await ref.get())

    async def record_refund(self, charge_id: str, refund: dict, settled: bool) -> LedgerEntry:
        """Appends a refund made through the provider or Telegram (once per refund id: a second record of
        the same refund changes nothing) and, when `settled`, marks what was owed as paid back."""
        def change(entry: LedgerEntry) -> dict | None:
            known = any(r.get("id") == refund["id"] for r in entry.refunds)
            if known and (not settled or entry.status == "refunded"):
                return None
            update: dict = {} if known else {"refunds": firestore.ArrayUnion([refund])}
            if settled:
                update.update(status="refunded", refund_due=0)
            return update

        return await self._change_ledger(charge_id, change)

    async def owe_refund(self, charge_id: str, amount: int, note: str) -> LedgerEntry:
        """A confirmed charge owes `amount` back (a cancellation, a vet's no-show): refund_pending until
        paid; a charge owed or paid back already stays as it is (the same refund, not another)."""
        return await self._change_ledger(charge_id, lambda entry: None if entry.status != "confirmed" else {
            "status": "refund_pending", "refund_due": amount, "refund_note": note})

    async def _change_ledger(self, charge_id: str, change) -> LedgerEntry:
        """Applies `change(entry)` (a field update, or None for nothing) conditional on the entry as read."""
        ref = self._payments.document(charge_doc_id(charge_id))
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 1
            snap = await ref.get()
            if not snap.exists:
                raise KeyError(charge_id)
            update = change(ledger_from(snap))
            if update is None:
                return ledger_from(snap)
            try:
                await ref.update(update, option=self._client.write_option(last_update_time=snap.update_time))
            except _CONFLICTS:
                continue
            self._stats.writes += 1
            self._stats.reads += 1
            return ledger_from(await ref.get())
        raise Contention()

    # ---- a person's bookings, cancellations, moves --------------------------------------------------------

    async def of_owner(self, owner_id: int) -> list[Booking]:
        """Every booking of the owner (any status), by start."""
        return await self._where("owner_id", owner_id)

    async def of_vet(self, vet_id: int) -> list[Booking]:
        """Every booking with the vet (any status), by start."""
        return await self._where("vet_id", vet_id)

    async def _where(self, field: str, person_id: int) -> list[Booking]:
        query = self._bookings.where(filter=firestore.FieldFilter(field, "==", int(person_id)))
        found = [booking_from(s.id, s.to_dict()) async for s in query.stream()]
        self._stats.reads += max(1, len(found))
        return sorted(found, key=lambda b: (b.start, b.id))

    async def cancel(self, booking_id: str, decide, split_of, now: datetime, note: str,
                     fields: dict | None = None) -> tuple[Booking, LedgerEntry]:
        """confirmed -> cancelled in one batch: the booking (conditional on its update time, with `fields`
        such as who cancelled and why), its cells and calendar entry freed, and its charge's ledger entry
        owing back `decide(booking)` (minor units; 0 leaves the entry as it is), its split made again on
        what is kept. `decide` is asked on every fresh read and raises InvalidInput when the booking cannot
        be cancelled (any more): of two racing cancellations the loser reads it cancelled. The refund itself
        is paid by the caller (services.payments.Refunder), from the entry returned."""
        now = as_utc(now)
        for _ in range(MAX_ATTEMPTS):
            snap, booking = await self._existing(booking_id)
            refund = decide(booking)
            cancelled = booking.moved_to(BookingStatus.CANCELLED)
            lsnap = await self._ledger_snap(booking.charge_id)
            entry = ledger_from(lsnap)
            if entry.status != "confirmed":
                again = await self._read(booking_id)
                if again is not None and again.update_time != snap.update_time:
                    continue  # a racing cancellation committed between the two reads: decide on what it left
                raise RuntimeError(f"booking {booking.id}: its charge is {entry.status}, not confirmed")
            cells = await self._cells(booking.cells)
            batch = self._client.batch()
            batch.update(snap.reference, {
                **(fields or {}), "status": cancelled.status.value,
                "history": firestore.ArrayUnion([_history(BookingStatus.CANCELLED, now, note)])},
                option=self._client.write_option(last_update_time=snap.update_time))
            if refund > 0:
                kept = split_of(entry.amount - refund)
                entry = replace(entry, status="refund_pending", refund_due=refund, fee=kept.fee,
                                vet_share=kept.vet_share)
                batch.update(lsnap.reference, {"status": entry.status, "refund_due": refund, "refund_note": note,
                                               "fee": kept.fee, "vet_share": kept.vet_share},
                             option=self._client.write_option(last_update_time=lsnap.update_time))
            self._release(batch, booking, cells)
            try:
                await batch.commit()
            except _CONFLICTS:
                continue  # a racing change of the booking, its charge or a cell: decide again
            self._stats.writes += 2 + (refund > 0) + len(cells)
            return cancelled, entry
        raise Contention()

    async def move(self, booking_id: str, decide, now: datetime) -> Booking:
        """A confirmed booking to another time of its vet, in one batch: `decide(booking)` returns it moved
        (InvalidInput when it may not move, asked on every fresh read); the new time's cells it does not
        hold yet are created or taken over from holds that ran out, the old time's cells it no longer needs
        are deleted, the booking and the vet's calendar changed. SlotTaken if a live hold or booking has
        any of the new cells."""
        now = as_utc(now)
        for _ in range(MAX_ATTEMPTS):
            snap, booking = await self._existing(booking_id)
            moved = decide(booking)
            cells = await self._cells(dict.fromkeys((*booking.cells, *moved.cells)))
            taken = [c for c in moved.cells if cells[c].exists and cells[c].get("booking_id") != booking.id
                     and _live(cells[c].to_dict(), now)]
            if taken:
                raise SlotTaken()
            batch = self._client.batch()
            permanent = {"booking_id": booking.id, "vet_id": booking.vet_id, "expires_at": None}
            stale = set()
            for cell_id in moved.cells:
                c = cells[cell_id]
                if not c.exists:
                    batch.create(c.reference, permanent)
                elif c.get("booking_id") != booking.id:
                    stale.add(c.get("booking_id"))
                    batch.update(c.reference, permanent, option=self._client.write_option(last_update_time=c.update_time))
            for cell_id in set(booking.cells) - set(moved.cells):
                c = cells[cell_id]
                if c.exists and c.get("booking_id") == booking.id:
                    batch.delete(c.reference, option=self._client.write_option(last_update_time=c.update_time))
            batch.update(snap.reference, {
                "start": moved.start, "end": moved.end, "buffer_minutes": moved.buffer_minutes,
                "cells": list(moved.cells), "reschedules_left": moved.reschedules_left,
                "history": firestore.ArrayUnion([{"at": now, "status": moved.status.value, "note": "moved",
                                                  "from": booking.start}])},
                option=self._client.write_option(last_update_time=snap.update_time))
            batch.set(self._calendars.document(str(booking.vet_id)),
                      {"busy": {booking.id: _entry(moved, None),
                                **{s: firestore.DELETE_FIELD for s in stale if booking_id_ok(s)}}}, merge=True)
            try:
                await batch.commit()
            except _CONFLICTS:
                continue
            self._stats.writes += 2 + len(cells)
            return moved
        raise Contention()

    def _release(self, batch, booking: Booking, cells: dict) -> None:
        """Frees what the booking blocks: its own cells (as read) and its calendar entry."""
        for c in cells.values():
            if c.exists and c.get("booking_id") == booking.id:
                batch.delete(c.reference, option=self._client.write_option(last_update_time=c.update_time))
        batch.set(self._calendars.document(str(booking.vet_id)), {"busy": {booking.id: firestore.DELETE_FIELD}},
                  merge=True)

    async def _read(self, booking_id: str):
        if not booking_id_ok(booking_id):
            return None
        self._stats.reads += 1
        snap = await self._bookings.document(booking_id).get()
        return snap if snap.exists else None

    async def _existing(self, booking_id: str):
        """The booking's snapshot and the booking; booking.err.not_found when there is none."""
        snap = await self._read(booking_id)
        if snap is None:
            raise InvalidInput("booking.err.not_found")
        return snap, booking_from(snap.id, snap.to_dict())

    async def _ledger_snap(self, charge_id: str | None):
        self._stats.reads += 1
        snap = await self._payments.document(charge_doc_id(charge_id or "")).get() if charge_id else None
        if snap is None or not snap.exists:
            raise RuntimeError(f"charge {charge_id!r} is not in the ledger")
        return snap

    # ---- erasure -----------------------------------------------------------------------------------------

    async def forget_party(self, booking_id: str, person_id: int, pseudonym: str, now: datetime) -> Booking | None:
        """Removes a person from one of their bookings that needs nothing more of them (not
        Booking.unsettled): as its owner, owner_id ERASED with their pseudonym, and the pet's card, the
        reason, the triage summary and the photo dropped; as its vet, vet_id ERASED with theirs, and the
        cell names (they carry the vet's id). Its vet's conclusion (conclusions/{booking}) goes in the same
        batch: deleted with its owner (the pet's medical record is theirs: their diary's copy went with
        their records), kept without its vet. Conditional on both as read. Returns the booking as it is
        now: unchanged while it is unsettled (the caller settles it and calls again); None when it is gone
        or the person is no longer in it."""
        now = as_utc(now)
        for _ in range(MAX_ATTEMPTS):
            snap = await self._read(booking_id)
            if snap is None:
                return None
            booking = booking_from(snap.id, snap.to_dict())
            if person_id not in (booking.owner_id, booking.vet_id):
                return None
            if booking.unsettled(now):
                return booking
            self._stats.reads += 1
            conclusion = await self._client.collection("conclusions").document(booking.id).get()
            batch = self._client.batch()
            change: dict = {}
            if booking.owner_id == person_id:
                change.update(owner_id=ERASED, owner_ref=pseudonym, pet_id="", pet={}, reason="", triage=None,
                              triage_result_id=None, photo_file_id=None)
            if booking.vet_id == person_id:
                change.update(vet_id=ERASED, vet_ref=pseudonym, cells=[])
            batch.update(snap.reference, change, option=self._client.write_option(last_update_time=snap.update_time))
            if conclusion.exists:
                version = self._client.write_option(last_update_time=conclusion.update_time)
                if booking.owner_id == person_id:
                    batch.delete(conclusion.reference, option=version)
                else:
                    batch.update(conclusion.reference, {"vet_id": ERASED, "vet_ref": pseudonym}, option=version)
            try:
                await batch.commit()
            except _CONFLICTS:
                continue
            self._stats.writes += 1 + conclusion.exists
            return booking_from(snap.id, {**snap.to_dict(), **change})
        raise Contention()

    async def forget_in_ledger(self, person_id: int, pseudonym: str, rekey, charge_id: str | None = None) -> int:
        """The person's ids in the ledger replaced by their pseudonym (every entry naming them as payer or
        vet, or only `charge_id`'s). A payer's entry also loses its Telegram charge id (it carries their
        Telegram id): it moves to payments/{rekey(charge id)}, and its booking's charge_id and history
        follow, in one batch. A payer owed a refund keeps both until it is paid back (Telegram Stars are
        refunded by user and charge id): the entry is only marked, and the refund's payer calls this again
        (services.payments.pay_back). Entries changed."""
        if charge_id is not None:
            self._stats.reads += 1
            snap = await self._payments.document(charge_doc_id(charge_id)).get()
            snaps = [snap] if snap.exists else []
        else:
            snaps = []
            for field in ("owner_id", "vet_id"):
                query = self._payments.where(filter=firestore.FieldFilter(field, "==", int(person_id)))
                snaps += [s async for s in query.stream()]
            self._stats.reads += max(1, len(snaps))
        changed = 0
        for snap in {s.id: s for s in snaps}.values():
            changed += await self._forget_entry(snap.id, person_id, pseudonym, rekey)
        return changed

    async def _forget_entry(self, doc_id: str, person_id: int, pseudonym: str, rekey) -> bool:
        ref = self._payments.document(doc_id)
        for _ in range(MAX_ATTEMPTS):
            self._stats.reads += 1
            snap = await ref.get()
            if not snap.exists:
                return False  # moved by a racing erasure of the same entry
            entry = ledger_from(snap)
            update: dict = {}
            payer = entry.owner_id == person_id
            if entry.vet_id == person_id:
                update.update(vet_id=ERASED, vet_ref=pseudonym)
            if payer and entry.status == "refund_pending":
                if not entry.forget_owner_when_refunded:
                    update.update(owner_ref=pseudonym, forget_owner_when_refunded=True)
                payer = False
            elif payer:
                update.update(owner_id=ERASED, owner_ref=pseudonym, forget_owner_when_refunded=firestore.DELETE_FIELD)
                if entry.receipt and "email" in entry.receipt:  # the payer's e-mail goes, the receipt's terms stay
                    update["receipt"] = {k: v for k, v in entry.receipt.items() if k != "email"}
            if not update:
                return False
            batch = self._client.batch()
            version = self._client.write_option(last_update_time=snap.update_time)
            if payer:
                new_id = rekey(entry.charge_id)
                data = {**snap.to_dict(), **update, "charge_id": new_id}
                data.pop("forget_owner_when_refunded", None)
                batch.create(self._payments.document(charge_doc_id(new_id)), data)
                batch.delete(ref, option=version)
                await self._follow_charge(batch, entry, new_id)
            else:
                batch.update(ref, update, option=version)
            try:
                await batch.commit()
            except _CONFLICTS:
                continue
            self._stats.writes += 2 + payer
            return True
        raise Contention()

    async def _follow_charge(self, batch, entry: LedgerEntry, new_id: str) -> None:
        """The booking a charge paid for (or was refunded against) names the charge's new id."""
        snap = await self._read(entry.booking_id)
        if snap is None:
            return
        data = snap.to_dict()
        history = [{**h, "charge": new_id} if isinstance(h, dict) and h.get("charge") == entry.charge_id else h
                   for h in data.get("history") or []]
        change = {"history": history}
        if data.get("charge_id") == entry.charge_id:
            change["charge_id"] = new_id
        batch.update(snap.reference, change, option=self._client.write_option(last_update_time=snap.update_time))

    async def forget_vet_calendar(self, vet_id: int) -> int:
        """An erased vet's slot locks (their ids carry the vet's id) and calendar document."""
        query = self._locks.where(filter=firestore.FieldFilter("vet_id", "==", int(vet_id)))
        refs = [s.reference async for s in query.stream()]
        self._stats.reads += max(1, len(refs))
        for start in range(0, len(refs), 400):
            batch = self._client.batch()
            for ref in refs[start:start + 400]:
                batch.delete(ref)
            await batch.commit()
        await self._calendars.document(str(vet_id)).delete()
        self._stats.writes += len(refs) + 1
        return len(refs)


def _ledger_to(e: LedgerEntry) -> dict:
    return {"charge_id": e.charge_id, "booking_id": e.booking_id, "owner_id": e.owner_id, "vet_id": e.vet_id,
            "amount": e.amount, "currency": e.currency, "provider_payment_charge_id": e.provider_charge_id,
            "fee": e.fee, "vet_share": e.vet_share, "status": e.status, "refund_due": e.refund_due,
            "refunds": list(e.refunds), "created_at": e.created_at, **({"receipt": e.receipt} if e.receipt else {})}


def _live(cell: dict, now: datetime) -> bool:
    expires = cell.get("expires_at")
    return expires is None or as_utc(expires) > now


async def _get_both(client, a, b):
    snaps = {s.reference.path: s async for s in client.get_all([a, b])}
    return snaps[a.path], snaps[b.path]

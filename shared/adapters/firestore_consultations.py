"""Firestore records of booking_callbacks: the consultation's own record and what the payment provider
confirmed. Booking documents themselves are the bookings code's (firestore_bookings.py).

Layout (top-level: a consultation is two people's):
- ``consultations/{booking id}``: ``room`` {name, url, not_before, expires_at}, ``refund_id``,
  ``refunded_at``, ``followup_closed_at``;
- ``consultations/{id}/messages/{key}``: one per message and person (``remind_24h.owner``, ``links.vet``...):
  ``state`` sending|sent, ``lease_until``; created to claim (``create()`` fails for a second claimer), a
  claim whose lease ran out is taken over with a precondition on its update time;
- ``consultations/{id}/video_events/{sha256(event id)}``: one per provider event (``create()``: a redelivery
  is refused by Firestore), ``kind``, ``role``, ``at``; attendance is read from the ``joined`` ones, so
  joins and leaves in any order, and twice, give the same answer;
- ``provider_payments/{payment id}.{status}``, ``provider_refunds/{refund id}``: payments and refunds as
  YooKassa's API showed them after a notification (``confirmed_at``).
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.consultations import Attendance
from shared.services.consultation_tasks import ConsultationState
from shared.services.ports import ProviderPayment, ProviderRefund, Room, VideoEvent, VideoEventKind

CLAIM_TRIES = 5


class FirestoreConsultations:
    def __init__(self, client: firestore.AsyncClient, stats):
        self._client = client
        self._col = client.collection("consultations")
        self._stats = stats

    def _doc(self, booking_id: str):
        return self._col.document(booking_id)

    async def state(self, booking_id: str) -> ConsultationState:
        doc = self._doc(booking_id)
        snap = await doc.get()
        joins = [s.to_dict() async for s in doc.collection("video_events")
                 .where(filter=FieldFilter("kind", "==", VideoEventKind.JOINED.value)).stream()]
        self._stats.reads += 1 + max(1, len(joins))
        data = snap.to_dict() or {}
        joined: dict[str, datetime] = {}
        for event in joins:
            role, at = event.get("role"), event.get("at")
            if role and at and (role not in joined or at < joined[role]):
                joined[role] = at
        raw = data.get("room")
        room = Room(raw["name"], raw["url"], raw["not_before"], raw["expires_at"]) if raw else None
        return ConsultationState(booking_id=booking_id, room=room, attendance=Attendance(joined),
                                 refund_id=data.get("refund_id"), followup_closed_at=data.get("followup_closed_at"))

    async def save_room(self, booking_id: str, room: Room) -> None:
        self._stats.writes += 1
        await self._doc(booking_id).set({"room": {"name": room.name, "url": room.url, "not_before": room.not_before,
                                                  "expires_at": room.expires_at}}, merge=True)

    async def claim_message(self, booking_id: str, key: str, now: datetime, lease_until: datetime) -> bool:
        ref = self._doc(booking_id).collection("messages").document(key)
        for _ in range(CLAIM_TRIES):
            self._stats.writes += 1
            try:
                await ref.create({"state": "sending", "lease_until": lease_until, "claimed_at": now})
                return True
            except gexc.AlreadyExists:
                pass
            self._stats.reads += 1
            snap = await ref.get()
            if not snap.exists:
                continue  # released meanwhile: claim again
            data = snap.to_dict()
            if data.get("state") == "sent" or data.get("lease_until", now) > now:
                return False
            self._stats.writes += 1
            try:  # an abandoned claim: take it over, unless someone else just did
                await ref.update({"state": "sending", "lease_until": lease_until, "claimed_at": now},
                                 option=self._client.write_option(last_update_time=snap.update_time))
                return True
            except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
                continue
        return False

    async def message_sent(self, booking_id: str, key: str, now: datetime) -> None:
        self._stats.writes += 1
        await self._doc(booking_id).collection("messages").document(key).set({"state": "sent", "sent_at": now})

    async def release_message(self, booking_id: str, key: str) -> None:
        self._stats.writes += 1
        await self._doc(booking_id).collection("messages").document(key).delete()

    async def record_video_event(self, booking_id: str, event: VideoEvent) -> bool:
        digest = hashlib.sha256(event.event_id.encode()).hexdigest()
        self._stats.writes += 1
        try:
            await self._doc(booking_id).collection("video_events").document(digest).create(
                {"kind": event.kind.value, "role": event.role.value if event.role else None, "at": event.at,
                 "room": event.room})
        except gexc.AlreadyExists:
            return False
        return True

    async def record_refund(self, booking_id: str, refund_id: str, now: datetime) -> None:
        self._stats.writes += 1
        await self._doc(booking_id).set({"refund_id": refund_id, "refunded_at": now}, merge=True)

    async def close_followup(self, booking_id: str, now: datetime) -> bool:
        doc = self._doc(booking_id)
        self._stats.reads += 1
        snap = await doc.get()
        if snap.exists and (snap.to_dict() or {}).get("followup_closed_at"):
            return False
        self._stats.writes += 1
        await doc.set({"followup_closed_at": now}, merge=True)
        return True


class FirestoreProviderLedger:
    """Facts read back from the payment provider's API; each recorded once."""

    def __init__(self, client: firestore.AsyncClient, stats):
        self._payments = client.collection("provider_payments")
        self._refunds = client.collection("provider_refunds")
        self._stats = stats

    async def _create(self, ref, data: dict) -> bool:
        self._stats.writes += 1
        try:
            await ref.create(data)
        except gexc.AlreadyExists:
            return False
        return True

    async def record_payment(self, payment: ProviderPayment, now: datetime) -> bool:
        return await self._create(self._payments.document(f"{payment.id}.{payment.status}"), {
            "payment_id": payment.id, "status": payment.status, "amount": payment.amount_kopecks,
            "currency": payment.currency, "refunded": payment.refunded_kopecks, "confirmed_at": now})

    async def record_refund(self, refund: ProviderRefund, now: datetime) -> bool:
        return await self._create(self._refunds.document(refund.id), {
            "payment_id": refund.payment_id, "status": refund.status, "amount": refund.amount_kopecks,
            "confirmed_at": now})

"""The outside services consultations need, as the use cases see them (adapters implement these).

Video: Daily.co (cloud) or LiveKit (self-hosted, for deployments that keep data in Russia), chosen by
configuration. Payments: Telegram Payments with a provider (YooKassa: refunds and payment look-ups
through its API) or Telegram Stars (refunds through the Bot API).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol


class Role(str, Enum):
    OWNER = "owner"
    VET = "vet"


@dataclass(frozen=True)
class Room:
    name: str          # derived from the booking id: creating it twice makes one room
    url: str           # where a participant's join link points (before the token is added)
    not_before: datetime
    expires_at: datetime


@dataclass(frozen=True)
class VideoJoin:
    """One participant's way into a room: what the provider's web SDK joins with (`url`, `token`: Daily's
    room URL and meeting token, LiveKit's server URL and access token) and `link`, the same token as the
    browser link the chat's 'Join' button carries."""

    url: str
    token: str
    link: str


class VideoEventKind(str, Enum):
    JOINED = "joined"
    LEFT = "left"
    ENDED = "ended"


@dataclass(frozen=True)
class VideoEvent:
    event_id: str                # the provider's id of this delivery's event: handlers dedupe on it
    kind: VideoEventKind
    room: str
    role: Role | None            # who joined/left (from the identity we put in their token)
    at: datetime


class WebhookRejected(Exception):
    """A provider's webhook whose signature, timestamp or body does not check out: change nothing."""


class VideoRooms(Protocol):
    provider: str      # "daily" | "livekit": which web SDK joins its rooms

    async def create_room(self, name: str, not_before: datetime, expires_at: datetime) -> Room:
        """Private, two participants at most, unusable outside [not_before, expires_at]; idempotent."""

    async def join_url(self, room: Room, role: Role, display_name: str) -> str:
        """A link for one participant, valid only in the room's window (the vet's with owner rights)."""

    async def join(self, room: Room, role: Role, display_name: str) -> VideoJoin:
        """That participant's token with the SDK's URL and the link `join_url` gives."""

    async def delete_room(self, name: str) -> None:
        """Idempotent: a room already gone is fine."""

    def parse_webhook(self, headers: dict[str, str], body: bytes, now: datetime) -> VideoEvent | None:
        """Verifies the delivery (signature, freshness) and returns the event, None for event types we do
        not use; raises WebhookRejected for anything forged or stale."""


@dataclass(frozen=True)
class ProviderPayment:
    id: str
    status: str               # pending | waiting_for_capture | succeeded | canceled
    amount_kopecks: int
    currency: str
    refunded_kopecks: int
    metadata: dict


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    payment_id: str
    status: str               # pending | succeeded | canceled
    amount_kopecks: int


class PaymentProvider(Protocol):
    async def get_payment(self, payment_id: str) -> ProviderPayment:
        """The provider's own view of a payment (notifications are re-checked against it)."""

    async def refund(self, payment_id: str, amount_kopecks: int, idempotence_key: str,
                     receipt: dict | None = None) -> ProviderRefund:
        """Creates (or, with the same key, returns the already created) refund; retries transient failures."""


class TaskQueue(Protocol):
    async def schedule(self, kind: str, booking_id: str, at: datetime, version: str,
                       payload: dict | None = None) -> bool:
        """An HTTP task `kind` for the booking at `at`, named by (booking, kind, version): scheduling it
        again is a no-op (False). Tasks are at-least-once and are never deleted: handlers check state."""

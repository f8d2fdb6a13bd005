"""Video rooms on a self-hosted LiveKit server (the ``VideoRooms`` port), with ``livekit-api``.

For deployments that must keep data in Russia. What it does:
- ``create_room``: RoomService.CreateRoom (Twirp, binary protobuf) with ``max_participants`` 2, an
  ``empty_timeout`` that keeps the room until the slot ends if nobody comes (LiveKit closes an empty room
  after it, and a room made at booking time would otherwise be gone before the slot) and a
  ``departure_timeout`` of ``DEPARTURE_TIMEOUT`` after the last one leaves. CreateRoom of an existing
  name returns that room: idempotent. Should the room be gone anyway (closed, server restarted), the
  first join re-creates it (LiveKit creates rooms on join) with the same limits, carried in the token's
  ``roomConfig``. No egress anywhere: recording is never configured or granted.
- ``join_url``: the Mini App's LiveKit join page with ``?token=`` - an AccessToken (HS256, API key/secret)
  whose only video grant is ``roomJoin`` for this room (the vet also ``roomAdmin`` for this room: owner
  rights), identity = the role (``vet``/``owner``), name = the display name, valid from the slot's start to
  its end. livekit-api's ``AccessToken.to_jwt()`` has no not-before of its own (it stamps ``nbf`` = now,
  ``exp`` = now + ttl), so its claims are re-signed (same key, HS256) with ``nbf``/``exp`` = the slot;
  LiveKit's server checks both when a client connects. It does not end a call at ``exp``: the service
  deletes the room at the slot's end (``delete_room``) for that.
- ``parse_webhook``: what livekit-api's ``WebhookReceiver`` checks (JWT in ``Authorization``, HS256 signed
  with the API secret, ``iss`` the API key, claim ``sha256`` = base64 SHA-256 of the raw body, 5 minutes
  valid), with the window checked against the service's ``now`` only (the receiver checks it against the
  machine's time: on the local stack's moved clock a webhook signed at the moved time was refused as not
  yet valid); participant_joined/participant_left/room_finished become VideoEvents.
- 429, 5xx and transport failures are retried a bounded number of times (the SDK only fails over for
  LiveKit Cloud hosts, so for a self-hosted server it retries nothing itself).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import urllib.parse
from datetime import datetime, timezone

import aiohttp
import jwt
from google.protobuf import json_format
from livekit.api import AccessToken, VideoGrants
from livekit.api.room_service import RoomService
from livekit.api.twirp_client import TwirpError
from livekit.protocol.room import CreateRoomRequest, DeleteRoomRequest, RoomConfiguration
from livekit.protocol.webhook import WebhookEvent

from shared.adapters.provider_retry import RetryPolicy, retrying
from shared.services.ports import Role, Room, VideoEvent, VideoEventKind, VideoJoin, WebhookRejected

__all__ = ["LiveKitRooms", "DEPARTURE_TIMEOUT", "JOIN_EMPTY_TIMEOUT"]

DEPARTURE_TIMEOUT = 60      # seconds an emptied room waits for a rejoin before it finishes
JOIN_EMPTY_TIMEOUT = 300    # for a room re-created by a join
MIN_EMPTY_TIMEOUT = 300
MAX_UINT32 = 2**32 - 1
LEEWAY = 60                 # seconds, as livekit-api's TokenVerifier and LiveKit's server
_EVENT_KINDS = {
    "participant_joined": VideoEventKind.JOINED,
    "participant_left": VideoEventKind.LEFT,
    "room_finished": VideoEventKind.ENDED,
}


class LiveKitRooms:
    """``LiveKitRooms(url, api_key, api_secret, http=None, *, join_page=...)``.

    ``url``: the LiveKit server (``https://lk.example.ru``); ``join_page``: the Mini App page that joins a
    LiveKit room with the token in its ``token`` query parameter (``https://app.example.ru/room``);
    ``http``: an ``aiohttp.ClientSession`` to reuse (else one per call, on the running loop).
    """

    provider = "livekit"

    def __init__(self, url: str, api_key: str, api_secret: str, http: aiohttp.ClientSession | None = None, *,
                 join_page: str, timeout: float = 10.0, retry: RetryPolicy = RetryPolicy(), clock=None):
        if not (url and api_key and api_secret):
            raise ValueError("LiveKit url, API key and secret required")
        if not join_page.startswith(("https://", "http://")):
            raise ValueError("join_page must be an http(s) URL")
        self._url = url
        self._key = api_key
        self._secret = api_secret
        self._http = http
        self._join_page = join_page
        self._timeout = timeout
        self._retry = retry
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    # ---- rooms -----------------------------------------------------------------------------

    async def create_room(self, name: str, not_before: datetime, expires_at: datetime) -> Room:
        _check_window(name, not_before, expires_at)
        until_end = (expires_at - self._clock()).total_seconds()
        request = CreateRoomRequest(name=name, max_participants=2, departure_timeout=DEPARTURE_TIMEOUT,
                                    empty_timeout=int(min(MAX_UINT32, max(MIN_EMPTY_TIMEOUT, until_end))))
        await self._call(lambda rooms: rooms.create_room(request), f"CreateRoom {name}")
        return Room(name=name, url=self._join_page, not_before=not_before, expires_at=expires_at)

    async def join_url(self, room: Room, role: Role, display_name: str) -> str:
        return (await self.join(room, role, display_name)).link

    async def join(self, room: Room, role: Role, display_name: str) -> VideoJoin:
        """livekit-client connects to the server's WebSocket URL with the access token; the browser link is
        the join page with the same token."""
        _check_window(room.name, room.not_before, room.expires_at)
        token = self.access_token(room, role, display_name)
        separator = "&" if urllib.parse.urlsplit(room.url).query else "?"
        return VideoJoin(url=websocket_url(self._url), token=token,
                         link=f"{room.url}{separator}{urllib.parse.urlencode({'token': token})}")

    def access_token(self, room: Room, role: Role, display_name: str) -> str:
        grants = VideoGrants(room_join=True, room=room.name, can_publish=True, can_subscribe=True,
                             can_publish_data=True, room_admin=True if role is Role.VET else None)
        config = RoomConfiguration(name=room.name, max_participants=2, departure_timeout=DEPARTURE_TIMEOUT,
                                   empty_timeout=JOIN_EMPTY_TIMEOUT)
        draft = (AccessToken(self._key, self._secret).with_identity(role.value).with_name(display_name)
                 .with_grants(grants).with_room_config(config).to_jwt())
        claims = jwt.decode(draft, self._secret, algorithms=["HS256"], issuer=self._key,
                            options={"verify_exp": False, "verify_nbf": False})
        claims["nbf"] = int(room.not_before.timestamp())
        claims["exp"] = int(room.expires_at.timestamp())
        return jwt.encode(claims, self._secret, algorithm="HS256")

    async def delete_room(self, name: str) -> None:
        try:
            await self._call(lambda rooms: rooms.delete_room(DeleteRoomRequest(room=name)), f"DeleteRoom {name}")
        except TwirpError as exc:
            if exc.code != "not_found":
                raise

    # ---- Twirp calls -----------------------------------------------------------------------

    async def _call(self, op, what: str):
        # livekit-api passes timeout=None to every request, which aiohttp reads as "no timeout" (the
        # session's timeout is ignored): a server that never answers would hold the call forever. Each
        # attempt is bounded here instead.
        async def attempt():
            if self._http is not None:
                return await asyncio.wait_for(
                    op(RoomService(self._http, self._url, self._key, self._secret, failover=False)), self._timeout)
            async with aiohttp.ClientSession() as session:
                return await asyncio.wait_for(
                    op(RoomService(session, self._url, self._key, self._secret, failover=False)), self._timeout)

        return await retrying(attempt, self._retry, self._wait_for, f"LiveKit {what}")

    def _wait_for(self, exc: Exception, attempt: int) -> float | None:
        if isinstance(exc, TwirpError) and (exc.status == 429 or exc.status >= 500):
            return self._retry.pause(attempt)
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            return self._retry.pause(attempt)
        return None

    # ---- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes, now: datetime) -> VideoEvent | None:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization")
        if not auth:
            raise WebhookRejected("LiveKit webhook without Authorization")
        try:
            times = jwt.decode(auth, self._secret, algorithms=["HS256"], issuer=self._key,
                               options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "sha256"]})
            if base64.b64decode(times["sha256"]) != hashlib.sha256(body).digest():
                raise ValueError("hash mismatch")
            event = json_format.Parse(body.decode("utf-8"), WebhookEvent(), ignore_unknown_fields=True)
        except Exception as exc:  # jwt errors, "hash mismatch", a body that is not a WebhookEvent
            raise WebhookRejected(f"LiveKit webhook rejected: {exc}") from None
        moment = now.timestamp()
        if moment > times["exp"] + LEEWAY:
            raise WebhookRejected("stale LiveKit webhook")
        if "nbf" in times and moment < times["nbf"] - LEEWAY:
            raise WebhookRejected("LiveKit webhook from the future")
        kind = _EVENT_KINDS.get(event.event)
        if kind is None:
            return None
        if not event.room.name:
            raise WebhookRejected("LiveKit webhook without a room")
        role = None
        if kind is not VideoEventKind.ENDED:
            try:
                role = Role(event.participant.identity)
            except ValueError:
                role = None
        at = datetime.fromtimestamp(event.created_at, timezone.utc) if event.created_at else now
        event_id = event.id or "sha256:" + hashlib.sha256(body).hexdigest()
        return VideoEvent(event_id=event_id, kind=kind, room=event.room.name, role=role, at=at)


def websocket_url(server_url: str) -> str:
    """The server's URL as livekit-client connects to it: https -> wss, http -> ws (a ws(s) URL as is)."""
    scheme, rest = server_url.split("://", 1) if "://" in server_url else ("https", server_url)
    return {"https": "wss", "http": "ws"}.get(scheme, scheme) + "://" + rest


def _check_window(name: str, not_before: datetime, expires_at: datetime) -> None:
    if not name:
        raise ValueError("a room needs a name")
    if not_before.tzinfo is None or expires_at.tzinfo is None:
        raise ValueError("room windows must be timezone-aware datetimes")
    if expires_at <= not_before:
        raise ValueError("a room's window must end after it starts")

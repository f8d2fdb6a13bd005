"""A LiveKit server double: the Twirp RoomService, joins, and the webhooks the server sends.

Wire format as the server's (see ``providers/livekit/README.md``; protocol files in
``providers/livekit/protobufs``, Apache-2.0, ``providers/livekit/LICENSE``): every call is
``POST /twirp/livekit.RoomService/<Method>``, body binary protobuf (``application/protobuf``, what
``livekit-api`` sends) or protojson (``application/json``), answered in the same content type; messages
are livekit-api's generated classes (``livekit.protocol``). Errors are Twirp JSON ``{"code", "msg"}``.

Auth: ``Authorization: Bearer <JWT>`` (HS256, ``iss`` = API key, checked with the API secret by livekit-api's
``TokenVerifier``). A header without ``Bearer `` or a token that fails verification -> 401 plain text;
no header, or a token without the method's grant -> Twirp ``unauthenticated``. Grants: CreateRoom and
DeleteRoom ``roomCreate``; ListRooms ``roomList``; participant and metadata calls ``roomAdmin`` + ``room``.

Server semantics copied: CreateRoom of an existing name returns (and updates) it; DeleteRoom of an
unknown room is ``not_found``; ListParticipants of an unknown room is empty; empty rooms close after
``empty_timeout`` (never joined) or ``departure_timeout`` (after the last one left) - see ``advance``.

Clients (no media)::

    p = lk.join(token, at=t)       # JoinRefused unless the server would admit this token at t
    lk.leave(room, identity, at=t) # participant_left
    lk.advance(t)                  # rooms due to close close: room_finished

Every state change sends the webhook the server would (room_started, participant_joined,
participant_left, room_finished) to ``webhook_url``: protojson body, ``Content-Type:
application/webhook+json``, ``Authorization: <JWT>`` (no Bearer) with claim ``sha256`` = base64(SHA-256(body)),
valid 5 minutes, minted with livekit-api's ``AccessToken``. ``signed(event, at=...)`` builds a delivery
without sending it (stale or forged ones for tests).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import string
import time
from typing import Any, Callable

import jwt
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api import AccessToken, TokenVerifier
from livekit.protocol import models, room as room_pb, webhook as webhook_pb

from infra.local.http_double import Call, HttpDouble, Reply

__all__ = ["LiveKitDouble", "JoinRefused", "WEBHOOK_TTL"]

PREFIX = "/twirp/livekit.RoomService/"
WEBHOOK_TTL = 300            # seconds a webhook token is valid (the server's 5 minutes)
TOKEN_LEEWAY = 60            # the server's JWT time leeway
DEFAULT_EMPTY_TIMEOUT = 300  # server defaults (config.yaml room: empty_timeout / departure_timeout)
DEFAULT_DEPARTURE_TIMEOUT = 20
TWIRP_STATUS = {
    "invalid_argument": 400, "malformed": 400, "out_of_range": 400, "unauthenticated": 401,
    "permission_denied": 403, "not_found": 404, "bad_route": 404, "already_exists": 409, "aborted": 409,
    "failed_precondition": 412, "resource_exhausted": 429, "internal": 500, "unknown": 500,
    "dataloss": 500, "unimplemented": 501, "unavailable": 503,
}
# method -> (request class, needed grant: "create" | "list" | "admin")
METHODS: dict[str, tuple[type[Message], str]] = {
    "CreateRoom": (room_pb.CreateRoomRequest, "create"),
    "DeleteRoom": (room_pb.DeleteRoomRequest, "create"),
    "ListRooms": (room_pb.ListRoomsRequest, "list"),
    "ListParticipants": (room_pb.ListParticipantsRequest, "admin"),
    "GetParticipant": (room_pb.RoomParticipantIdentity, "admin"),
    "RemoveParticipant": (room_pb.RoomParticipantIdentity, "admin"),
    "UpdateRoomMetadata": (room_pb.UpdateRoomMetadataRequest, "admin"),
}


class JoinRefused(Exception):
    """The server would not admit this participant (the reason is the message)."""


class TwirpError(Exception):
    def __init__(self, code: str, msg: str):
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def _sid(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


class LiveKitDouble(HttpDouble):
    """``LiveKitDouble(api_key, api_secret, *, webhook_url=None, auto_create=True, clock=time.time)``; ``url`` is
    the server URL. ``clock``: the server's time (seconds) for what it does on its own - API calls, the
    default of ``at``, signing its webhooks when it sends them; the local stack gives it the functions'
    moved clock, as a real server and the functions share the real time."""

    thread_name = "livekit-double"
    server_header = "livekit-double"

    def __init__(self, api_key: str, api_secret: str, *, webhook_url: str | None = None,
                 auto_create: bool = True, host: str = "127.0.0.1", port: int = 0, verbose: bool = False,
                 clock: Callable[[], float] = time.time):
        super().__init__(host, port, verbose=verbose)
        self.clock = clock
        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_url = webhook_url
        self.auto_create = auto_create
        self.rooms: dict[str, models.Room] = {}
        self.participants: dict[str, dict[str, models.ParticipantInfo]] = {}
        self._emptied_at: dict[str, float] = {}     # room -> when its last participant left
        self._created_at: dict[str, float] = {}
        self._verifier = TokenVerifier(api_key, api_secret)

    @property
    def url(self) -> str:
        return self.base_url

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/twirp/")

    # ---- HTTP ------------------------------------------------------------------------------

    @staticmethod
    def _twirp_error(code: str, msg: str) -> Reply:
        return TWIRP_STATUS[code], {"Content-Type": "application/json"}, json.dumps({"code": code, "msg": msg}).encode()

    def fault_body(self, call: Call, status: int) -> Reply:
        code = {429: "resource_exhausted", 503: "unavailable", 501: "unimplemented"}.get(status, "internal")
        return status, {"Content-Type": "application/json"}, json.dumps({"code": code, "msg": "injected"}).encode()

    def handle(self, call: Call) -> Reply:
        if call.verb != "POST" or not call.path.startswith(PREFIX):
            return self._twirp_error("bad_route", f"no handler for {call.verb} {call.path}")
        method = call.path[len(PREFIX):]
        content_type = call.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("application/protobuf", "application/json"):
            return self._twirp_error("bad_route", f"unexpected Content-Type: {content_type!r}")
        auth = call.headers.get("authorization")
        if auth is None:
            return self._twirp_error("unauthenticated", "permissions denied")
        if not auth.startswith("Bearer "):
            return 401, {"Content-Type": "text/plain"}, b"invalid authorization header. Must start with Bearer "
        try:
            claims = self._verifier.verify(auth[len("Bearer "):])
        except Exception as exc:
            return 401, {"Content-Type": "text/plain"}, f"invalid token: {exc}".encode()
        if method not in METHODS:
            if method in room_pb.DESCRIPTOR.services_by_name["RoomService"].methods_by_name:
                return self._twirp_error("unimplemented", f"{method} is not implemented by the double")
            return self._twirp_error("bad_route", f"no handler for path {call.path}")
        request_class, grant = METHODS[method]
        try:
            if content_type == "application/protobuf":
                request = request_class.FromString(call.body)
            else:
                request = json_format.Parse(call.body or b"{}", request_class())
        except (DecodeError, json_format.ParseError) as exc:
            return self._twirp_error("malformed", f"could not parse the request: {exc}")
        video = claims.video
        allowed = {"create": bool(video and video.room_create), "list": bool(video and video.room_list),
                   "admin": bool(video and video.room_admin and video.room == getattr(request, "room", None))}[grant]
        if not allowed:
            return self._twirp_error("unauthenticated", "permissions denied")
        try:
            with self.lock:
                response = getattr(self, f"_{method}")(request)
        except TwirpError as exc:
            return self._twirp_error(exc.code, exc.msg)
        finally:
            self.flush_webhooks()
        if content_type == "application/protobuf":
            return 200, {"Content-Type": "application/protobuf"}, response.SerializeToString()
        return 200, {"Content-Type": "application/json"}, json_format.MessageToJson(response).encode()

    # ---- RoomService -----------------------------------------------------------------------

    def _CreateRoom(self, req: room_pb.CreateRoomRequest) -> models.Room:
        if not req.name:
            raise TwirpError("invalid_argument", "room name cannot be empty")
        room = self.rooms.get(req.name)
        if room is None:
            return self._create(req.name, req.empty_timeout, req.departure_timeout, req.max_participants,
                                req.metadata, self.clock())
        for field in ("empty_timeout", "departure_timeout", "max_participants", "metadata"):
            value = getattr(req, field)
            if value:
                setattr(room, field, value)
        return room

    def _DeleteRoom(self, req: room_pb.DeleteRoomRequest) -> room_pb.DeleteRoomResponse:
        if req.room not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        self._close(req.room, self.clock())
        return room_pb.DeleteRoomResponse()

    def _ListRooms(self, req: room_pb.ListRoomsRequest) -> room_pb.ListRoomsResponse:
        names = set(req.names)
        return room_pb.ListRoomsResponse(rooms=[r for n, r in self.rooms.items() if not names or n in names])

    def _ListParticipants(self, req: room_pb.ListParticipantsRequest) -> room_pb.ListParticipantsResponse:
        return room_pb.ListParticipantsResponse(participants=list(self.participants.get(req.room, {}).values()))

    def _GetParticipant(self, req: room_pb.RoomParticipantIdentity) -> models.ParticipantInfo:
        p = self.participants.get(req.room, {}).get(req.identity)
        if p is None:
            raise TwirpError("not_found", "participant does not exist")
        return p

    def _RemoveParticipant(self, req: room_pb.RoomParticipantIdentity) -> room_pb.RemoveParticipantResponse:
        if req.identity not in self.participants.get(req.room, {}):
            raise TwirpError("not_found", "participant does not exist")
        self._leave(req.room, req.identity, self.clock(), models.DisconnectReason.PARTICIPANT_REMOVED)
        return room_pb.RemoveParticipantResponse()

    def _UpdateRoomMetadata(self, req: room_pb.UpdateRoomMetadataRequest) -> models.Room:
        room = self.rooms.get(req.room)
        if room is None:
            raise TwirpError("not_found", "requested room does not exist")
        room.metadata = req.metadata
        return room

    # ---- rooms and participants ------------------------------------------------------------

    def _create(self, name: str, empty_timeout: int, departure_timeout: int, max_participants: int,
                metadata: str, now: float) -> models.Room:
        room = models.Room(sid=_sid("RM_"), name=name, empty_timeout=empty_timeout or DEFAULT_EMPTY_TIMEOUT,
                           departure_timeout=departure_timeout or DEFAULT_DEPARTURE_TIMEOUT,
                           max_participants=max_participants, creation_time=int(now),
                           creation_time_ms=int(now * 1000), metadata=metadata, active_recording=False)
        self.rooms[name] = room
        self.participants[name] = {}
        self._created_at[name] = now
        self._emit("room_started", now, room=room)
        return room

    def _close(self, name: str, now: float) -> None:
        for identity in list(self.participants.get(name, {})):
            self._leave(name, identity, now, models.DisconnectReason.ROOM_DELETED, close_empty=False)
        room = self.rooms.pop(name)
        self.participants.pop(name, None)
        self._emptied_at.pop(name, None)
        self._created_at.pop(name, None)
        self._emit("room_finished", now, room=room)

    def claims_at(self, token: str, at: float) -> Any:
        """livekit-api's Claims of a token the server would accept at ``at`` (JoinRefused if not)."""
        try:
            raw = jwt.decode(token, self.api_secret, algorithms=["HS256"], issuer=self.api_key,
                             options={"verify_exp": False, "verify_nbf": False, "require": ["exp"]})
        except jwt.PyJWTError as exc:
            raise JoinRefused(f"invalid token: {exc}") from None
        if "nbf" in raw and at < raw["nbf"] - TOKEN_LEEWAY:
            raise JoinRefused("token is not valid yet (nbf)")
        if at > raw["exp"] + TOKEN_LEEWAY:
            raise JoinRefused("token has expired (exp)")
        return self._verifier.verify(token, verify_signature=False)

    def join(self, token: str, *, at: float | None = None) -> models.ParticipantInfo:
        """A client connects with ``token`` at ``at``; its ParticipantInfo, or JoinRefused with the reason."""
        now = self.clock() if at is None else at
        claims = self.claims_at(token, now)
        video = claims.video
        if not (video and video.room_join and video.room):
            raise JoinRefused("token has no roomJoin grant for a room")
        if not claims.identity:
            raise JoinRefused("token has no identity")
        name = video.room
        try:
            with self.lock:
                room = self.rooms.get(name)
                if room is None:
                    if not self.auto_create:
                        raise JoinRefused("room does not exist")
                    cfg = claims.room_config
                    room = self._create(name, cfg.empty_timeout if cfg else 0, cfg.departure_timeout if cfg else 0,
                                        cfg.max_participants if cfg else 0, cfg.metadata if cfg else "", now)
                present = self.participants[name]
                if claims.identity in present:  # the same identity again: the old connection is replaced
                    self._leave(name, claims.identity, now, models.DisconnectReason.DUPLICATE_IDENTITY,
                                close_empty=False)
                if room.max_participants and len(present) >= room.max_participants:
                    raise JoinRefused("room is full (max_participants)")
                info = models.ParticipantInfo(
                    sid=_sid("PA_"), identity=claims.identity, name=claims.name or "",
                    state=models.ParticipantInfo.State.ACTIVE, joined_at=int(now), joined_at_ms=int(now * 1000),
                    metadata=claims.metadata or "", kind=models.ParticipantInfo.Kind.STANDARD,
                    permission=models.ParticipantPermission(
                        can_subscribe=video.can_subscribe, can_publish=video.can_publish,
                        can_publish_data=video.can_publish_data, recorder=bool(video.recorder)))
                present[claims.identity] = info
                self._emptied_at.pop(name, None)
                room.num_participants = len(present)
                self._emit("participant_joined", now, room=room, participant=info)
        finally:
            self.flush_webhooks()
        return info

    def leave(self, room: str, identity: str, *, at: float | None = None) -> None:
        with self.lock:
            self._leave(room, identity, self.clock() if at is None else at,
                        models.DisconnectReason.CLIENT_INITIATED)
        self.flush_webhooks()

    def advance(self, at: float) -> list[str]:
        """The server's clock reaches ``at``: empty rooms past their timeout close. Their names."""
        with self.lock:
            due = []
            for name in list(self.rooms):
                if self.participants.get(name):
                    continue
                room = self.rooms[name]
                emptied = self._emptied_at.get(name)
                if emptied is not None and at >= emptied + room.departure_timeout:
                    due.append(name)
                elif emptied is None and at >= self._created_at[name] + room.empty_timeout:
                    due.append(name)
            for name in due:
                self._close(name, at)
        self.flush_webhooks()
        return due

    def _leave(self, name: str, identity: str, now: float, reason: int, close_empty: bool = True) -> None:
        present = self.participants.get(name, {})
        info = present.pop(identity, None)
        if info is None:
            return
        info.state = models.ParticipantInfo.State.DISCONNECTED
        info.disconnect_reason = reason
        room = self.rooms[name]
        room.num_participants = len(present)
        self._emit("participant_left", now, room=room, participant=info)
        if close_empty and not present:
            self._emptied_at[name] = now

    # ---- webhooks --------------------------------------------------------------------------

    def event(self, kind: str, *, room: models.Room | None = None,
              participant: models.ParticipantInfo | None = None, at: float | None = None) -> webhook_pb.WebhookEvent:
        """A WebhookEvent as the server builds it."""
        now = self.clock() if at is None else at
        ev = webhook_pb.WebhookEvent(event=kind, id=_sid("EV_"), created_at=int(now))
        if room is not None:
            ev.room.CopyFrom(room)
        if participant is not None:
            ev.participant.CopyFrom(participant)
        return ev

    def signed(self, event: webhook_pb.WebhookEvent | bytes, *, at: float | None = None,
               secret: str | None = None) -> tuple[dict[str, str], bytes]:
        """(headers, body) of one delivery; ``at`` backdates (or postdates) the token, another ``secret`` forges."""
        body = event if isinstance(event, bytes) else json_format.MessageToJson(event, indent=None).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = AccessToken(self.api_key, secret or self.api_secret).with_sha256(digest) \
            .with_ttl(dt.timedelta(seconds=WEBHOOK_TTL))
        if at is None:
            auth = token.to_jwt()
        else:  # AccessToken always stamps "now": same claims, timed at ``at``
            claims = {**token.claims.asdict(), "iss": self.api_key, "nbf": int(at), "exp": int(at) + WEBHOOK_TTL}
            auth = jwt.encode(claims, secret or self.api_secret, algorithm="HS256")
        headers = {"Content-Type": "application/webhook+json", "User-Agent": "LiveKit", "Authorization": auth}
        return headers, body

    def deliver(self, event: webhook_pb.WebhookEvent, *, url: str | None = None) -> int | None:
        """Signs (now on the server's clock, like the server) and POSTs ``event``; the receiver's status."""
        target = url or self.webhook_url
        if not target:
            return None
        headers, body = self.signed(event, at=self.clock())
        return self.record_delivery(event, headers, body, target)

    def _emit(self, kind: str, at: float, **parts: Any) -> None:
        self.queue_webhook(self.event(kind, at=at, **parts))

"""A Daily.co REST API v1 double (rooms, meeting tokens, webhooks) for tests and the local stack.

Strict where Daily is: request properties are checked against the property tables of Daily's official
Ruby client docs copied in ``providers/daily/daily-ruby-docs`` (BSD-2-Clause, see ``providers/daily/LICENSE``
and ``providers/daily/README.md`` for the facts used below): an unknown property, or one of the wrong type,
is ``400 invalid-request-error`` like Daily. Auth: no ``Authorization`` -> 400 ``authorization-header-error``,
not ``Bearer <key>`` -> 400 ``invalid-request-error``, another key -> 401 ``authentication-error``.

Endpoints: ``POST/GET /rooms``, ``GET/POST/DELETE /rooms/:name``, ``GET /rooms/:name/presence``,
``POST /meeting-tokens``, ``GET /meeting-tokens/:token``. A room's ``config`` echoes only properties that
differ from Daily's defaults; a second ``DELETE`` is 404; creating an existing name is
``400 invalid-request-error`` "a room named X already exists".

Meeting tokens are HS256 JWTs signed with the API key, with Daily's short claims (``r`` room, ``d`` domain
id, ``iat``, ``u`` user_name, ``ud`` user_id, ``o`` is_owner, ``ejt`` eject_at_token_exp, ``nbf``, ``exp``...).

Calls as a browser would make them (no HTTP, no real media)::

    p = daily.join(url)                         # url = room url + "?t=" + token; JoinRefused if Daily would refuse
    daily.leave(p["session_id"])                # participant.left, then meeting.ended when the room is empty
    daily.advance(at)                           # ejections at room/token exp (eject_at_room_exp / _token_exp)

Each of these sends the webhook Daily would (``participant.joined``/``.left``, ``meeting.started``/``.ended``) to
``webhook_url`` when set, signed with ``webhook_secret`` (base64, like Daily's ``hmac``). The signature
scheme (UNCONFIRMED against Daily, see the README): ``X-Webhook-Timestamp`` = Unix seconds,
``X-Webhook-Signature`` = base64(HMAC-SHA256(key=base64decode(secret), msg=timestamp + "." + raw body)).
``signed(event, timestamp=...)`` builds a delivery without sending it (forged/stale ones for tests).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from infra.local.http_double import Call, HttpDouble, Reply

__all__ = ["DailyDouble", "JoinRefused", "load_model", "DOCS_DIR", "sign_webhook"]

DOCS_DIR = Path(__file__).resolve().parent / "providers" / "daily" / "daily-ruby-docs"

# Facts the Markdown tables do not carry (from the same client's models and its 1.1.0 changelog, and the
# README next to the docs): enumerations, and which properties may be sent as null.
ENUMS = {
    "privacy": {"public", "private"},
    "enable_recording": {"cloud", "cloud-audio-only", "local", "raw-tracks", "<not set>"},
    "lang": {"da", "de", "en", "es", "fi", "fr", "it", "jp", "ka", "nl", "no", "pt", "pt-BR", "pl", "ru", "sv",
             "tr", "user"},
}
NULLABLE = {"enable_recording", "geo", "rtmp_geo", "recordings_template"}
ROOM_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_USER_ID = 36
WEBHOOK_VERSION = "1.0.0"
# Daily's self-signed token claims <-> the long property names
SHORT_CLAIMS = {
    "r": "room_name", "u": "user_name", "ud": "user_id", "o": "is_owner", "ejt": "eject_at_token_exp",
    "eje": "eject_after_elapsed", "ss": "enable_screenshare", "vo": "start_video_off", "ao": "start_audio_off",
    "er": "enable_recording", "uil": "lang", "p": "permissions", "k": "knocking", "nbf": "nbf", "exp": "exp",
    "sr": "start_cloud_recording", "erui": "enable_recording_ui", "pjui": "enable_prejoin_ui",
}


class JoinRefused(Exception):
    """Daily would not let this participant in (the reason is the message)."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str                  # Integer, Boolean, String, Float, Object, Array<...>, or a model name
    default: Any = None        # Daily's default, when the docs give a usable one
    has_default: bool = False


_ROW = re.compile(r"^\|\s*\*\*(?P<name>[^*|]+)\*\*\s*\|\s*(?P<type>[^|]+?)\s*\|(?P<rest>.*)\|\s*$")


@lru_cache(maxsize=None)
def load_model(name: str) -> dict[str, FieldSpec]:
    """The fields of one daily-ruby model page (``RoomProperties``, ``Properties``, ``ParticipantJoinedPayload``...)."""
    fields: dict[str, FieldSpec] = {}
    for line in (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        type_match = re.search(r"\*\*(.+?)\*\*", m["type"])
        ftype = html.unescape(type_match[1]) if type_match else m["type"]
        notes = html.unescape(m["rest"].rsplit("|", 1)[-1])
        default, has_default = _default(ftype, notes)
        fields[m["name"]] = FieldSpec(m["name"], ftype, default, has_default)
    if not fields:
        raise ValueError(f"no fields parsed from {name}.md")
    return fields


def _default(ftype: str, notes: str) -> tuple[Any, bool]:
    d = re.search(r"\[default to (.+?)\]", notes)
    if not d:
        return None, False
    raw = d[1].strip()
    if ftype == "Boolean" and raw in ("true", "false"):
        return raw == "true", True
    if ftype in ("Integer", "Float"):
        try:
            return (int(raw) if ftype == "Integer" else float(raw)), True
        except ValueError:
            return None, False
    if ftype == "String" and raw.startswith("'") and raw.endswith("'"):
        value = raw[1:-1]
        return (None, True) if value == "<not set>" else (value, True)
    return None, False


def _type_ok(spec: FieldSpec, value: Any) -> bool:
    if value is None:
        return spec.name in NULLABLE
    t = spec.type
    if t == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "Float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "Boolean":
        return isinstance(value, bool)
    if t == "String":
        return isinstance(value, str)
    if t.startswith("Array<"):
        return isinstance(value, list)
    if t == "Mixed":
        return True
    return isinstance(value, dict)  # Object, or a nested model (its keys are camelCase on the wire)


def validate_properties(model: str, props: Any) -> str | None:
    """Why Daily would refuse these properties (None: accepted)."""
    if not isinstance(props, dict):
        return "properties must be an object"
    fields = load_model(model)
    for key, value in props.items():
        spec = fields.get(key)
        if spec is None:
            return f"unknown property '{key}'"
        if not _type_ok(spec, value):
            return f"'{key}' must be of type {spec.type}"
        allowed = ENUMS.get(key)
        if allowed is not None and value is not None and value not in allowed:
            return f"'{key}' must be one of {sorted(allowed)}"
    mp = props.get("max_participants")
    if mp is not None and not 1 <= mp <= 200:
        return "max_participants must be between 1 and 200"
    uid = props.get("user_id")
    if isinstance(uid, str) and len(uid) > MAX_USER_ID:
        return f"user_id must be at most {MAX_USER_ID} characters"
    return None


def sign_webhook(secret_b64: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret_b64)
    return base64.b64encode(hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).digest()).decode()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class DailyDouble(HttpDouble):
    """``DailyDouble(api_key, domain="telemed-test", *, webhook_url=None, webhook_secret=None)``.

    ``base_url`` + ``/v1`` is what a client uses as Daily's ``https://api.daily.co/v1``.
    """

    thread_name = "daily-double"
    server_header = "daily-double"

    def __init__(self, api_key: str, domain: str = "telemed-test", *, webhook_url: str | None = None,
                 webhook_secret: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False):
        super().__init__(host, port, verbose=verbose)
        self.api_key = api_key
        self.domain = domain
        self.domain_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{domain}.daily.co"))
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or base64.b64encode(secrets.token_bytes(32)).decode()
        self.rooms: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}      # session_id -> participant (present ones)
        self.meetings: dict[str, dict] = {}      # room name -> running meeting

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/v1/")

    # ---- HTTP ------------------------------------------------------------------------------

    @staticmethod
    def _json(status: int, payload: Any) -> Reply:
        return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload).encode()

    def _error(self, status: int, error: str, info: str) -> Reply:
        return self._json(status, {"error": error, "info": info})

    def fault_body(self, call: Call, status: int) -> Reply:
        if status == 429:
            return self._error(429, "rate-limit-error", "Too many requests")
        return self._error(status, "server-error", "Server error")

    def handle(self, call: Call) -> Reply:
        if not self.is_api_path(call.path):
            return self._error(404, "not-found", "no such endpoint")
        auth = call.headers.get("authorization")
        if auth is None:
            return self._error(400, "authorization-header-error", "missing Authorization header")
        scheme, _, key = auth.partition(" ")
        if scheme != "Bearer" or not key or " " in key:
            return self._error(400, "invalid-request-error", "bad Authorization header format")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return self._error(401, "authentication-error", "authentication error")
        body: Any = None
        if call.verb in ("POST", "PUT") and call.body:
            try:
                body = json.loads(call.body)
            except ValueError:
                return self._error(400, "json-parsing-error", "could not parse the request body as JSON")
            if not isinstance(body, dict):
                return self._error(400, "invalid-request-error", "the request body must be an object")
        parts = call.path[len("/v1/"):].strip("/").split("/")
        with self.lock:
            reply = self._route(call.verb, parts, body or {}, call.query)
        self.flush_webhooks()
        return reply

    def _route(self, verb: str, parts: list[str], body: dict, query: dict) -> Reply:
        match verb, parts:
            case "POST", ["rooms"]:
                return self._create_room(body)
            case "GET", ["rooms"]:
                rooms = sorted(self.rooms.values(), key=lambda r: r["created"])
                limit = int((query.get("limit") or ["100"])[0])
                data = [self._room_json(r) for r in rooms][:limit]
                return self._json(200, {"total_count": len(rooms), "data": data})
            case "GET", ["rooms", name]:
                room = self.rooms.get(name)
                return self._json(200, self._room_json(room)) if room else self._not_found(name)
            case "POST", ["rooms", name]:
                return self._update_room(name, body)
            case "DELETE", ["rooms", name]:
                if name not in self.rooms:
                    return self._not_found(name)
                for sid in [s for s, p in self.sessions.items() if p["room"] == name]:
                    self._leave(sid, time.time())
                del self.rooms[name]
                return self._json(200, {"deleted": True, "name": name})
            case "GET", ["rooms", name, "presence"]:
                if name not in self.rooms:
                    return self._not_found(name)
                now = time.time()
                data = [{"id": p["session_id"], "room": name, "user_id": p.get("user_id"),
                         "user_name": p.get("user_name"), "join_time": _iso(p["joined_at"]),
                         "duration": int(now - p["joined_at"])}
                        for p in self.sessions.values() if p["room"] == name]
                return self._json(200, {"total_count": len(data), "data": data})
            case "POST", ["meeting-tokens"]:
                return self._create_token(body)
            case "GET", ["meeting-tokens", token]:
                try:
                    props = self.token_properties(token, verify_time=True)
                except JoinRefused as exc:
                    return self._error(400, "invalid-request-error", str(exc))
                return self._json(200, props)
        return self._error(404, "not-found", f"{verb} /{'/'.join(parts)} is not an endpoint of this double")

    def _not_found(self, name: str) -> Reply:
        return self._error(404, "not-found", f"room {name} was not found")

    # ---- rooms -----------------------------------------------------------------------------

    def _create_room(self, body: dict) -> Reply:
        unknown = set(body) - set(load_model("CreateRoomRequest"))
        if unknown:
            return self._error(400, "invalid-request-error", f"unknown parameter '{sorted(unknown)[0]}'")
        name = body.get("name")
        if name is None:
            name = secrets.token_urlsafe(15).replace("-", "x").replace("_", "y")[:20]
        if not isinstance(name, str) or not ROOM_NAME_RE.match(name):
            return self._error(400, "invalid-request-error",
                               "name must be 1-128 characters of A-Z, a-z, 0-9, '-' and '_'")
        privacy = body.get("privacy", "public")
        if privacy not in ENUMS["privacy"]:
            return self._error(400, "invalid-request-error", "privacy must be 'public' or 'private'")
        props = body.get("properties", {})
        problem = validate_properties("RoomProperties", props)
        if problem:
            return self._error(400, "invalid-request-error", problem)
        if name in self.rooms:
            return self._error(400, "invalid-request-error", f"a room named {name} already exists")
        now = time.time()
        self.rooms[name] = {"id": str(uuid.uuid4()), "name": name, "privacy": privacy, "created": now,
                            "properties": {k: v for k, v in props.items() if v is not None}}
        return self._json(200, self._room_json(self.rooms[name]))

    def _update_room(self, name: str, body: dict) -> Reply:
        room = self.rooms.get(name)
        if room is None:
            return self._not_found(name)
        unknown = set(body) - set(load_model("SetRoomConfigRequest"))
        if unknown:
            return self._error(400, "invalid-request-error", f"unknown parameter '{sorted(unknown)[0]}'")
        if "privacy" in body:
            if body["privacy"] not in ENUMS["privacy"]:
                return self._error(400, "invalid-request-error", "privacy must be 'public' or 'private'")
        props = body.get("properties", {})
        problem = validate_properties("RoomProperties", props)
        if problem:
            return self._error(400, "invalid-request-error", problem)
        if "privacy" in body:
            room["privacy"] = body["privacy"]
        for key, value in props.items():
            if value is None:
                room["properties"].pop(key, None)
            else:
                room["properties"][key] = value
        return self._json(200, self._room_json(room))

    def _room_json(self, room: dict) -> dict:
        fields = load_model("RoomProperties")
        config = {k: v for k, v in room["properties"].items()
                  if not (fields[k].has_default and fields[k].default == v)}
        return {"id": room["id"], "name": room["name"], "api_created": True, "privacy": room["privacy"],
                "url": self.room_url(room["name"]), "created_at": _iso(room["created"]), "config": config}

    def room_url(self, name: str) -> str:
        return f"https://{self.domain}.daily.co/{name}"

    def room_property(self, name: str, key: str) -> Any:
        """A room's effective property (its own value, else Daily's default)."""
        room = self.rooms[name]
        if key in room["properties"]:
            return room["properties"][key]
        spec = load_model("RoomProperties")[key]
        return spec.default

    # ---- meeting tokens --------------------------------------------------------------------

    def _create_token(self, body: dict) -> Reply:
        unknown = set(body) - set(load_model("CreateMeetingTokenRequest"))
        if unknown:
            return self._error(400, "invalid-request-error", f"unknown parameter '{sorted(unknown)[0]}'")
        props = body.get("properties", {})
        problem = validate_properties("Properties", props)
        if problem:
            return self._error(400, "invalid-request-error", problem)
        long_to_short = {v: k for k, v in SHORT_CLAIMS.items()}
        claims: dict[str, Any] = {"d": self.domain_id, "iat": int(time.time())}
        for key, value in props.items():
            if value is None:
                continue
            claims[long_to_short.get(key, key)] = value
        return self._json(200, {"token": jwt.encode(claims, self.api_key, algorithm="HS256")})

    def token_properties(self, token: str, *, verify_time: bool = False, at: float | None = None) -> dict:
        """The long-named properties of a meeting token signed with this domain's key (JoinRefused if not)."""
        try:
            claims = jwt.decode(token, self.api_key, algorithms=["HS256"],
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise JoinRefused(f"invalid meeting token: {exc}") from None
        if claims.get("d") != self.domain_id:
            raise JoinRefused("meeting token of another domain")
        props = {SHORT_CLAIMS.get(k, k): v for k, v in claims.items() if k not in ("d", "iat")}
        if verify_time:
            now = time.time() if at is None else at
            if "exp" in props and now >= props["exp"]:
                raise JoinRefused("meeting token expired")
            if "nbf" in props and now < props["nbf"]:
                raise JoinRefused("meeting token not valid yet")
        return props

    # ---- participants (what a browser joining would do) ------------------------------------

    def join(self, url: str, *, at: float | None = None, user_name: str | None = None) -> dict:
        """A participant opens ``url`` (``https://<domain>.daily.co/<room>[?t=<token>]``) at ``at``: the
        participant dict, or JoinRefused with Daily's reason. Sends participant.joined (and meeting.started)."""
        now = time.time() if at is None else at
        parsed = re.match(r"^https://([^/]+)\.daily\.co/([^/?#]+)(?:\?t=([^&#]+))?$", url)
        if not parsed or parsed[1] != self.domain:
            raise JoinRefused(f"not a room URL of {self.domain}: {url}")
        name, token = parsed[2], parsed[3]
        try:
            with self.lock:
                room = self.rooms.get(name)
                if room is None:
                    raise JoinRefused("room does not exist")
                nbf, exp = self.room_property(name, "nbf"), self.room_property(name, "exp")
                if nbf is not None and now < nbf:
                    raise JoinRefused("room not available yet (nbf)")
                if exp is not None and now >= exp:
                    raise JoinRefused("room expired (exp)")
                props = self.token_properties(token, verify_time=True, at=now) if token else {}
                if token and props.get("room_name") not in (None, name):
                    raise JoinRefused("meeting token for another room")
                if room["privacy"] == "private" and not token:
                    raise JoinRefused("private room: a meeting token is required")
                user_id = props.get("user_id")
                if user_id and self.room_property(name, "enforce_unique_user_ids"):
                    for sid, p in list(self.sessions.items()):
                        if p["room"] == name and p.get("user_id") == user_id:
                            self._leave(sid, now)
                present = [p for p in self.sessions.values() if p["room"] == name]
                if len(present) >= self.room_property(name, "max_participants"):
                    raise JoinRefused("room is full (max_participants)")
                will_eject_at = None
                if props.get("eject_at_token_exp") and "exp" in props:
                    will_eject_at = props["exp"]
                elif self.room_property(name, "eject_at_room_exp") and exp is not None:
                    will_eject_at = exp
                participant = {
                    "room": name, "session_id": str(uuid.uuid4()), "user_id": user_id,
                    "user_name": props.get("user_name", user_name), "owner": bool(props.get("is_owner", False)),
                    "joined_at": now, "will_eject_at": will_eject_at,
                }
                if name not in self.meetings:
                    self.meetings[name] = {"meeting_id": str(uuid.uuid4()), "start_ts": now}
                    self._emit("meeting.started", {"start_ts": now, "meeting_id": self.meetings[name]["meeting_id"],
                                                   "room": name}, now)
                self.sessions[participant["session_id"]] = participant
                self._emit("participant.joined", self._participant_payload(participant), now)
        finally:
            self.flush_webhooks()
        return participant

    def leave(self, session_id: str, *, at: float | None = None) -> None:
        """The participant leaves (participant.left; meeting.ended when nobody is left)."""
        with self.lock:
            self._leave(session_id, time.time() if at is None else at)
        self.flush_webhooks()

    def advance(self, at: float) -> list[str]:
        """Daily's clock reaches ``at``: participants due for ejection are ejected. Their session ids."""
        with self.lock:
            due = [sid for sid, p in self.sessions.items()
                   if p["will_eject_at"] is not None and at >= p["will_eject_at"]]
            for sid in due:
                self._leave(sid, at)
        self.flush_webhooks()
        return due

    def present(self, room: str) -> list[dict]:
        with self.lock:
            return [p for p in self.sessions.values() if p["room"] == room]

    def _leave(self, session_id: str, now: float) -> None:
        participant = self.sessions.pop(session_id, None)
        if participant is None:
            return
        payload = {**self._participant_payload(participant), "duration": max(0.0, now - participant["joined_at"])}
        self._emit("participant.left", payload, now)
        name = participant["room"]
        if not any(p["room"] == name for p in self.sessions.values()) and name in self.meetings:
            meeting = self.meetings.pop(name)
            self._emit("meeting.ended", {"start_ts": meeting["start_ts"], "end_ts": now,
                                         "meeting_id": meeting["meeting_id"], "room": name}, now)

    @staticmethod
    def _participant_payload(p: dict) -> dict:
        payload = {"room": p["room"], "session_id": p["session_id"], "user_id": p["user_id"],
                   "user_name": p["user_name"], "owner": p["owner"], "joined_at": p["joined_at"],
                   "permissions": {"hasPresence": True, "canSend": True, "canAdmin": p["owner"]}}
        if p["will_eject_at"] is not None:
            payload["will_eject_at"] = float(p["will_eject_at"])
        return payload

    # ---- webhooks --------------------------------------------------------------------------

    def event(self, type_: str, payload: dict, *, at: float | None = None, event_id: str | None = None) -> dict:
        """An event envelope as Daily sends it."""
        return {"version": WEBHOOK_VERSION, "type": type_, "id": event_id or str(uuid.uuid4()),
                "payload": payload, "event_ts": float(time.time() if at is None else at)}

    def participant_event(self, type_: str, room: str, *, user_id: str | None, user_name: str = "",
                          owner: bool = False, at: float | None = None, duration: float | None = None) -> dict:
        """A participant.joined/left event for a participant that need not have joined through ``join``."""
        now = time.time() if at is None else at
        p = {"room": room, "session_id": str(uuid.uuid4()), "user_id": user_id, "user_name": user_name,
             "owner": owner, "joined_at": now - (duration or 0.0), "will_eject_at": None}
        payload = self._participant_payload(p)
        if type_ == "participant.left":
            payload["duration"] = float(duration or 0.0)
        return self.event(type_, payload, at=now)

    def meeting_ended_event(self, room: str, *, start_ts: float, end_ts: float) -> dict:
        return self.event("meeting.ended", {"start_ts": start_ts, "end_ts": end_ts,
                                            "meeting_id": str(uuid.uuid4()), "room": room}, at=end_ts)

    def signed(self, event: dict, *, timestamp: float | str | None = None,
               secret: str | None = None) -> tuple[dict[str, str], bytes]:
        """(headers, body) of one delivery of ``event`` signed like Daily (another ``secret`` forges one)."""
        body = json.dumps(event, separators=(",", ":")).encode()
        ts = timestamp if isinstance(timestamp, str) else str(int(time.time() if timestamp is None else timestamp))
        headers = {"Content-Type": "application/json", "X-Webhook-Timestamp": ts,
                   "X-Webhook-Signature": sign_webhook(secret or self.webhook_secret, ts, body)}
        return headers, body

    def deliver(self, event: dict, *, url: str | None = None, timestamp: float | None = None) -> int | None:
        """Signs (timestamp: the event's ``event_ts`` unless given) and POSTs ``event`` to ``url`` (default
        ``webhook_url``); the receiver's status."""
        target = url or self.webhook_url
        if not target:
            return None
        headers, body = self.signed(event, timestamp=event["event_ts"] if timestamp is None else timestamp)
        return self.record_delivery(event, headers, body, target)

    def _emit(self, type_: str, payload: dict, at: float) -> None:
        self.queue_webhook(self.event(type_, payload, at=at))

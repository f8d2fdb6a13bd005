"""Video rooms on Daily.co (the ``VideoRooms`` port), over Daily's REST API v1 with httpx.

- A room per booking: ``private`` (a meeting token is needed), ``max_participants`` 2, ``nbf``/``exp`` = the
  slot, ``eject_at_room_exp`` (the call ends at the slot's end), ``enforce_unique_user_ids`` (a rejoin
  from another device replaces the stale session instead of finding the room full), no knocking, and
  recording off: ``enable_recording`` is sent as null (= Daily's "<not set>", no recording of any kind),
  tokens carry ``enable_recording_ui`` false and ``start_cloud_recording`` false. A recording would make
  the consultation a digital good; nothing here ever turns it on.
- Creating is idempotent: Daily answers "already exists" for a taken name, then the room is read and,
  if its settings differ (a moved slot), updated.
- A participant's link is the room URL with a meeting token (``?t=``) for that room only, valid in the
  slot (``nbf``/``exp``, ``eject_at_token_exp``); the vet's token ``is_owner``. The token's ``user_id`` is the
  role (``vet``/``owner``): webhooks carry it back.
- Webhooks: ``X-Webhook-Signature`` = base64(HMAC-SHA256(key = base64-decoded secret,
  message = ``X-Webhook-Timestamp`` + "." + raw body)); deliveries older than 5 minutes, or stamped
  more than ``FUTURE_SKEW`` seconds ahead, are rejected. This scheme is the one most verifiers of Daily
  webhooks use; Daily's own page could not be read - re-check it before go-live.
  Daily's verification ping on webhook creation (an unsigned ``{"test": ...}`` body) yields None, so the
  endpoint can answer it 200 (Daily creates the webhook only then) without it ever becoming an event.
- 429 and 5xx answers and transport failures are retried a bounded number of times, honouring
  ``Retry-After``; every call here is safe to repeat (create -> "already exists", delete -> 404 is fine,
  a second meeting token is harmless).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from typing import Any

import httpx

from shared.adapters.provider_retry import RetryPolicy, parse_retry_after, retrying
from shared.services.ports import Role, Room, VideoEvent, VideoEventKind, VideoJoin, WebhookRejected

__all__ = ["DailyRooms", "DailyError", "MAX_AGE", "FUTURE_SKEW"]

DEFAULT_BASE_URL = "https://api.daily.co/v1"
MAX_AGE = 300.0          # seconds: older webhook deliveries are replays
FUTURE_SKEW = 30.0       # seconds of clock difference tolerated for a timestamp ahead of ours
ROOM_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_EVENT_KINDS = {
    "participant.joined": VideoEventKind.JOINED,
    "participant.left": VideoEventKind.LEFT,
    "meeting.ended": VideoEventKind.ENDED,
}


class DailyError(Exception):
    """Daily refused or failed a call (after the retries): HTTP status, Daily's error type and info."""

    def __init__(self, status: int, error: str, info: str, retry_after: float | None = None):
        super().__init__(f"Daily {status} {error}: {info}")
        self.status = status
        self.error = error
        self.info = info
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status == 429 or self.status >= 500


class DailyRooms:
    """``DailyRooms(api_key, base_url=..., domain=None, webhook_secret=None, http=None)``.

    ``domain``: the Daily subdomain the key belongs to; when given, rooms Daily answers with URLs of
    another domain are an error (a key of the wrong account). ``webhook_secret``: the webhook's ``hmac``
    (base64), needed by ``parse_webhook``. ``http``: an ``httpx.AsyncClient`` to reuse (else one per call).
    """

    provider = "daily"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, domain: str | None = None,
                 webhook_secret: str | None = None, http: httpx.AsyncClient | None = None, *,
                 timeout: float = 10.0, retry: RetryPolicy = RetryPolicy()):
        if not api_key:
            raise ValueError("Daily API key required")
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._domain = domain
        self._http = http
        self._timeout = timeout
        self._retry = retry
        self._webhook_key: bytes | None = None
        if webhook_secret:
            try:
                self._webhook_key = base64.b64decode(webhook_secret, validate=True)
            except binascii.Error:
                raise ValueError("Daily webhook secret must be base64 (the webhook's hmac)") from None

    # ---- rooms -----------------------------------------------------------------------------

    def room_properties(self, not_before: datetime, expires_at: datetime) -> dict[str, Any]:
        """The properties every consultation room gets (also what an existing room is checked against)."""
        return {
            "nbf": _unix(not_before),
            "exp": _unix(expires_at),
            "max_participants": 2,
            "eject_at_room_exp": True,
            "enforce_unique_user_ids": True,
            "enable_knocking": False,
            "enable_recording": None,
        }

    async def create_room(self, name: str, not_before: datetime, expires_at: datetime) -> Room:
        _check_name(name)
        if expires_at <= not_before:
            raise ValueError("a room's window must end after it starts")
        props = self.room_properties(not_before, expires_at)
        status, body = await self._call("POST", "/rooms", {"name": name, "privacy": "private", "properties": props})
        if status == 400 and "already exists" in str(body.get("info", "")):
            status, body = await self._call("GET", f"/rooms/{name}")
            if status == 200 and not _matches(body, props):
                status, body = await self._call("POST", f"/rooms/{name}",
                                                {"privacy": "private", "properties": props})
        if status != 200:
            raise _error(status, body)
        return self._room(body, not_before, expires_at)

    async def join_url(self, room: Room, role: Role, display_name: str) -> str:
        return (await self.join(room, role, display_name)).link

    async def join(self, room: Room, role: Role, display_name: str) -> VideoJoin:
        """A meeting token for this room and person: daily-js joins with the room URL and it; the browser
        link is the room URL with it in ``?t=``."""
        props = {
            "room_name": room.name,
            "nbf": _unix(room.not_before),
            "exp": _unix(room.expires_at),
            "eject_at_token_exp": True,
            "is_owner": role is Role.VET,
            "user_name": display_name,
            "user_id": role.value,
            "enable_recording_ui": False,
            "start_cloud_recording": False,
        }
        status, body = await self._call("POST", "/meeting-tokens", {"properties": props})
        token = body.get("token") if status == 200 else None
        if not isinstance(token, str) or not token:
            raise _error(status, body)
        return VideoJoin(url=room.url, token=token, link=f"{room.url}?t={token}")

    async def delete_room(self, name: str) -> None:
        _check_name(name)
        status, body = await self._call("DELETE", f"/rooms/{name}")
        if status not in (200, 404):
            raise _error(status, body)

    def _room(self, body: dict, not_before: datetime, expires_at: datetime) -> Room:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise DailyError(200, "unexpected-response", f"room without a URL: {body!r}")
        if self._domain and not url.startswith(f"https://{self._domain}.daily.co/"):
            raise DailyError(200, "wrong-domain", f"room {url} is not on {self._domain}.daily.co")
        config = body.get("config") or {}
        nbf, exp = config.get("nbf"), config.get("exp")
        return Room(
            name=body["name"], url=url,
            not_before=datetime.fromtimestamp(nbf, timezone.utc) if isinstance(nbf, (int, float)) else not_before,
            expires_at=datetime.fromtimestamp(exp, timezone.utc) if isinstance(exp, (int, float)) else expires_at,
        )

    # ---- HTTP ------------------------------------------------------------------------------

    async def _call(self, verb: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        """One API call with bounded retries: (status, JSON body) of a final answer (2xx or 4xx)."""

        async def attempt() -> tuple[int, dict]:
            if self._http is not None:
                return await self._send(self._http, verb, path, payload)
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                return await self._send(client, verb, path, payload)

        return await retrying(attempt, self._retry, self._wait_for, f"Daily {verb} {path}")

    async def _send(self, client: httpx.AsyncClient, verb: str, path: str,
                    payload: dict | None) -> tuple[int, dict]:
        response = await client.request(verb, self._base_url + path, json=payload,
                                        headers={"Authorization": f"Bearer {self._api_key}"},
                                        timeout=self._timeout)
        try:
            body = response.json()
        except ValueError:
            body = {"error": "unparseable-response", "info": response.text[:200]}
        if not isinstance(body, dict):
            body = {"error": "unexpected-response", "info": repr(body)[:200]}
        if response.status_code == 429 or response.status_code >= 500:
            raise DailyError(response.status_code, str(body.get("error", "")), str(body.get("info", "")),
                             parse_retry_after(response.headers.get("Retry-After")))
        return response.status_code, body

    def _wait_for(self, exc: Exception, attempt: int) -> float | None:
        if isinstance(exc, DailyError) and exc.transient:
            return exc.retry_after if exc.retry_after is not None else self._retry.pause(attempt)
        if isinstance(exc, httpx.TransportError):
            return self._retry.pause(attempt)
        return None

    # ---- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes, now: datetime) -> VideoEvent | None:
        lower = {k.lower(): v for k, v in headers.items()}
        signature, stamp = lower.get("x-webhook-signature"), lower.get("x-webhook-timestamp")
        if signature is None and stamp is None and _is_verification_ping(body):
            return None
        if self._webhook_key is None:
            raise WebhookRejected("no Daily webhook secret configured")
        if not signature or not stamp:
            raise WebhookRejected("unsigned Daily webhook")
        expected = base64.b64encode(
            hmac.new(self._webhook_key, stamp.encode() + b"." + body, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.strip().encode()):
            raise WebhookRejected("bad Daily webhook signature")
        try:
            sent = float(stamp)
        except ValueError:
            raise WebhookRejected("unreadable X-Webhook-Timestamp") from None
        if sent > 1e11:  # milliseconds, should Daily send those
            sent /= 1000.0
        age = now.timestamp() - sent
        if age > MAX_AGE:
            raise WebhookRejected(f"stale Daily webhook ({age:.0f} s old)")
        if age < -FUTURE_SKEW:
            raise WebhookRejected(f"Daily webhook from the future ({-age:.0f} s ahead)")
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("Daily webhook body is not JSON") from None
        if not isinstance(event, dict):
            raise WebhookRejected("Daily webhook body is not an object")
        kind = _EVENT_KINDS.get(event.get("type"))
        if kind is None:
            return None
        payload = event.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("room"), str):
            raise WebhookRejected("Daily webhook without a room")
        when = {VideoEventKind.JOINED: payload.get("joined_at"),
                VideoEventKind.ENDED: payload.get("end_ts")}.get(kind) or event.get("event_ts") or sent
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id:
            event_id = "sha256:" + hashlib.sha256(body).hexdigest()
        role = _role(payload.get("user_id")) if kind is not VideoEventKind.ENDED else None
        return VideoEvent(event_id=event_id, kind=kind, room=payload["room"], role=role,
                          at=datetime.fromtimestamp(float(when), timezone.utc))


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("room windows must be timezone-aware datetimes")
    return int(moment.timestamp())


def _check_name(name: str) -> None:
    if not ROOM_NAME_RE.match(name):
        raise ValueError(f"not a valid Daily room name: {name!r} (1-128 of A-Z a-z 0-9 - _)")


def _matches(room: dict, props: dict) -> bool:
    """An existing room already has the settings we want (``config`` echoes only non-defaults)."""
    config = room.get("config") or {}
    if room.get("privacy") != "private":
        return False
    for key, value in props.items():
        if value is None:
            if config.get(key) is not None:
                return False
        elif value is False:
            if config.get(key, False) is not False:
                return False
        elif config.get(key) != value:
            return False
    return True


def _error(status: int, body: dict) -> DailyError:
    return DailyError(status, str(body.get("error", "")), str(body.get("info", "")))


def _role(user_id: Any) -> Role | None:
    try:
        return Role(user_id)
    except ValueError:
        return None


def _is_verification_ping(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and set(payload) == {"test"}

"""Both VideoRooms adapters against their local doubles: Daily.co (REST, httpx) and LiveKit (Twirp over
binary protobuf, livekit-api). Rooms, tokens, join windows, recording off, webhooks, retries."""
from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from google.protobuf import json_format
from livekit.api import AccessToken, TokenVerifier, VideoGrants
from livekit.api.twirp_client import TwirpError
from livekit.protocol import models, room as room_pb, webhook as webhook_pb

from infra.local.daily_double import DailyDouble, JoinRefused as DailyJoinRefused, load_model
from infra.local.livekit_double import JoinRefused as LiveKitJoinRefused, LiveKitDouble
from shared.adapters.daily_video import DailyError, DailyRooms
from shared.adapters.livekit_video import LiveKitRooms
from shared.adapters.provider_retry import RetryPolicy
from shared.services.ports import Role, VideoEventKind, WebhookRejected

ROOT = Path(__file__).resolve().parents[1]
DAILY_KEY = "daily-test-api-key-0123456789abcdef"
LK_KEY, LK_SECRET = "APIdoubleKey", "double-secret-of-at-least-32-bytes-long!"
JOIN_PAGE = "https://miniapp.example/room"


def _fast_retries(sleeps: list[float]) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
    return RetryPolicy(attempts=4, sleep=sleep)


def _slot(start_in: float = 3600, minutes: int = 30) -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(int(time.time() + start_in), timezone.utc)
    return start, start + timedelta(minutes=minutes)


@pytest.fixture
def daily():
    with DailyDouble(DAILY_KEY, domain="telemed-test") as double:
        yield double


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def daily_rooms(daily, sleeps) -> DailyRooms:
    return DailyRooms(DAILY_KEY, base_url=daily.api_url, domain="telemed-test",
                      webhook_secret=daily.webhook_secret, retry=_fast_retries(sleeps), timeout=2.0)


@pytest.fixture
def livekit():
    with LiveKitDouble(LK_KEY, LK_SECRET) as double:
        yield double


@pytest.fixture
def lk_rooms(livekit, sleeps) -> LiveKitRooms:
    return LiveKitRooms(livekit.url, LK_KEY, LK_SECRET, join_page=JOIN_PAGE, retry=_fast_retries(sleeps),
                        timeout=2.0)


class _Receiver:
    """A webhook endpoint on 127.0.0.1 that records what arrives and answers 200."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


# ============================================================================================
# Daily
# ============================================================================================


async def test_daily_room_is_private_two_people_slot_window_and_never_recorded(daily, daily_rooms):
    start, end = _slot()
    room = await daily_rooms.create_room("booking-42", start, end)
    assert room.name == "booking-42"
    assert room.url == "https://telemed-test.daily.co/booking-42"
    assert (room.not_before, room.expires_at) == (start, end)

    [create] = daily.calls_to("POST", "/v1/rooms")
    sent = json.loads(create.body)
    assert sent["privacy"] == "private"
    props = sent["properties"]
    assert props["nbf"] == int(start.timestamp()) and props["exp"] == int(end.timestamp())
    assert props["max_participants"] == 2 and props["eject_at_room_exp"] is True
    # recording: explicitly "not set" (null), never one of Daily's recording modes
    assert "enable_recording" in props and props["enable_recording"] is None
    # every property we send is one Daily documents
    assert set(props) <= set(load_model("RoomProperties"))
    assert create.headers["authorization"] == f"Bearer {DAILY_KEY}"

    stored = httpx.get(f"{daily.api_url}/rooms/booking-42", headers={"Authorization": f"Bearer {DAILY_KEY}"}).json()
    assert stored["privacy"] == "private"
    assert stored["config"]["max_participants"] == 2
    assert "enable_recording" not in stored["config"]        # = Daily's default "<not set>": no recording
    assert daily.room_property("booking-42", "enable_recording") is None


async def test_daily_create_is_idempotent(daily, daily_rooms):
    start, end = _slot()
    first = await daily_rooms.create_room("booking-7", start, end)
    second = await daily_rooms.create_room("booking-7", start, end)
    assert first == second
    assert len(daily.rooms) == 1
    assert [c.status for c in daily.calls_to("POST", "/v1/rooms")] == [200, 400]   # "already exists"
    assert daily.calls_to("POST", "/v1/rooms/booking-7") == []                     # nothing to update


async def test_daily_existing_room_with_another_window_is_updated(daily, daily_rooms):
    start, end = _slot()
    await daily_rooms.create_room("booking-8", start, end)
    later_start, later_end = start + timedelta(hours=2), end + timedelta(hours=2)
    room = await daily_rooms.create_room("booking-8", later_start, later_end)
    assert (room.not_before, room.expires_at) == (later_start, later_end)
    assert daily.room_property("booking-8", "nbf") == int(later_start.timestamp())
    assert len(daily.rooms) == 1


async def test_daily_recording_switched_on_by_hand_is_switched_off_again(daily, daily_rooms):
    start, end = _slot()
    await daily_rooms.create_room("booking-88", start, end)
    r = httpx.post(f"{daily.api_url}/rooms/booking-88", headers={"Authorization": f"Bearer {DAILY_KEY}"},
                   json={"properties": {"enable_recording": "cloud"}})
    assert r.json()["config"]["enable_recording"] == "cloud"
    await daily_rooms.create_room("booking-88", start, end)      # e.g. the booking is confirmed again
    assert daily.room_property("booking-88", "enable_recording") is None


async def test_daily_tokens_vet_owner_window_and_roles(daily, daily_rooms):
    start, end = _slot()
    room = await daily_rooms.create_room("booking-9", start, end)
    vet_url = await daily_rooms.join_url(room, Role.VET, "Dr. Ivanova")
    owner_url = await daily_rooms.join_url(room, Role.OWNER, "Anna")
    assert vet_url.startswith(room.url + "?t=") and owner_url.startswith(room.url + "?t=")

    vet = daily.token_properties(vet_url.split("?t=")[1])
    owner = daily.token_properties(owner_url.split("?t=")[1])
    assert vet["is_owner"] is True and owner["is_owner"] is False
    for props, role in ((vet, "vet"), (owner, "owner")):
        assert props["room_name"] == "booking-9"           # never a domain-wide token
        assert props["nbf"] == int(start.timestamp()) and props["exp"] == int(end.timestamp())
        assert props["user_id"] == role
        assert props["enable_recording_ui"] is False and props["start_cloud_recording"] is False
        assert "enable_recording" not in props
    # the Mini App's room page: daily-js joins with the room URL and the token the link carries
    join = await daily_rooms.join(room, Role.OWNER, "Anna")
    assert (join.url, join.link) == (room.url, f"{room.url}?t={join.token}") and daily_rooms.provider == "daily"
    assert daily.token_properties(join.token)["user_id"] == "owner"
    assert vet["user_name"] == "Dr. Ivanova"
    for call in daily.calls_to("POST", "/v1/meeting-tokens"):
        assert set(json.loads(call.body)["properties"]) <= set(load_model("Properties"))


async def test_daily_join_refused_outside_the_window_and_beyond_two(daily, daily_rooms):
    start, end = _slot()
    room = await daily_rooms.create_room("booking-10", start, end)
    vet_url = await daily_rooms.join_url(room, Role.VET, "Vet")
    owner_url = await daily_rooms.join_url(room, Role.OWNER, "Owner")
    t0 = start.timestamp()
    with pytest.raises(DailyJoinRefused, match="nbf"):
        daily.join(owner_url, at=t0 - 60)
    with pytest.raises(DailyJoinRefused, match="exp"):
        daily.join(owner_url, at=end.timestamp() + 1)
    with pytest.raises(DailyJoinRefused, match="token is required"):
        daily.join(room.url, at=t0 + 10)                     # private: no token, no entry

    vet = daily.join(vet_url, at=t0 + 5)
    owner = daily.join(owner_url, at=t0 + 6)
    assert vet["owner"] is True and owner["owner"] is False
    # the owner's link opened again (another device): replaces the stale session, the room stays at two
    daily.join(await daily_rooms.join_url(room, Role.OWNER, "Owner"), at=t0 + 7)
    assert len(daily.present("booking-10")) == 2
    # anyone else with a valid token for this room finds it full
    intruder = httpx.post(f"{daily.api_url}/meeting-tokens", headers={"Authorization": f"Bearer {DAILY_KEY}"},
                          json={"properties": {"room_name": "booking-10", "user_id": "intruder"}}).json()["token"]
    with pytest.raises(DailyJoinRefused, match="full"):
        daily.join(f"{room.url}?t={intruder}", at=t0 + 8)

    # at the slot's end Daily ejects everyone (eject_at_room_exp / eject_at_token_exp)
    assert daily.advance(end.timestamp() - 1) == []
    assert len(daily.advance(end.timestamp())) == 2
    assert daily.present("booking-10") == []


async def test_daily_token_for_one_room_does_not_open_another(daily, daily_rooms):
    start, end = _slot()
    a = await daily_rooms.create_room("booking-a", start, end)
    b = await daily_rooms.create_room("booking-b", start, end)
    token = (await daily_rooms.join_url(a, Role.OWNER, "Owner")).split("?t=")[1]
    with pytest.raises(DailyJoinRefused, match="another room"):
        daily.join(f"{b.url}?t={token}", at=start.timestamp() + 1)


async def test_daily_delete_is_idempotent(daily, daily_rooms):
    start, end = _slot()
    await daily_rooms.create_room("booking-11", start, end)
    await daily_rooms.delete_room("booking-11")
    await daily_rooms.delete_room("booking-11")
    assert [c.status for c in daily.calls_to("DELETE", "/v1/rooms/booking-11")] == [200, 404]
    assert daily.rooms == {}


async def test_daily_double_is_strict_like_daily(daily):
    async with httpx.AsyncClient(base_url=daily.api_url) as client:
        r = await client.post("/rooms", json={"name": "x"})
        assert (r.status_code, r.json()["error"]) == (400, "authorization-header-error")
        r = await client.post("/rooms", json={"name": "x"}, headers={"Authorization": DAILY_KEY})
        assert (r.status_code, r.json()["error"]) == (400, "invalid-request-error")
        r = await client.post("/rooms", json={"name": "x"}, headers={"Authorization": "Bearer wrong"})
        assert (r.status_code, r.json()["error"]) == (401, "authentication-error")
        auth = {"Authorization": f"Bearer {DAILY_KEY}"}
        r = await client.post("/rooms", json={"name": "x", "properties": {"recording": "off"}}, headers=auth)
        assert (r.status_code, r.json()["error"]) == (400, "invalid-request-error")
        assert "recording" in r.json()["info"]
        r = await client.post("/rooms", json={"name": "x", "properties": {"max_participants": "2"}}, headers=auth)
        assert r.status_code == 400
        r = await client.post("/rooms", json={"name": "bad name!"}, headers=auth)
        assert r.status_code == 400
        r = await client.post("/meeting-tokens", json={"properties": {"user_id": "x" * 37}}, headers=auth)
        assert r.status_code == 400
        r = await client.post("/rooms", content=b"{not json", headers=auth)
        assert r.json()["error"] == "json-parsing-error"


async def test_daily_bad_request_is_not_retried(daily, daily_rooms, sleeps):
    start, end = _slot()
    with pytest.raises(ValueError):
        await daily_rooms.create_room("not a valid name", start, end)
    broken = DailyRooms("wrong-key", base_url=daily.api_url, retry=_fast_retries(sleeps))
    with pytest.raises(DailyError) as err:
        await broken.create_room("booking-12", start, end)
    assert err.value.status == 401 and sleeps == []


async def test_daily_retries_429_honouring_retry_after_and_5xx(daily, daily_rooms, sleeps):
    start, end = _slot()
    daily.fail_next(1, status=429, retry_after=3)
    daily.fail_next(1, status=503)
    room = await daily_rooms.create_room("booking-13", start, end)
    assert room.name == "booking-13"
    assert sleeps == [3.0, 0.5]                       # Retry-After, then the second backoff step
    assert [c.status for c in daily.calls_to("POST", "/v1/rooms")] == [429, 503, 200]


async def test_daily_retries_are_bounded(daily, daily_rooms, sleeps):
    start, end = _slot()
    daily.fail_next(10, status=500)
    with pytest.raises(DailyError) as err:
        await daily_rooms.create_room("booking-14", start, end)
    assert err.value.status == 500
    assert len(daily.calls_to("POST", "/v1/rooms")) == 4 and len(sleeps) == 3
    daily.clear_faults()
    daily.fail_next(1, status=429, retry_after=3600)       # longer than we may wait: fail at once
    sleeps.clear()
    with pytest.raises(DailyError) as err:
        await daily_rooms.create_room("booking-14", start, end)
    assert err.value.status == 429 and sleeps == []


async def test_daily_timeout_is_retried(daily, sleeps):
    rooms = DailyRooms(DAILY_KEY, base_url=daily.api_url, retry=_fast_retries(sleeps), timeout=0.3)
    start, end = _slot()
    daily.timeout_next(1, seconds=3.0)
    began = time.monotonic()
    room = await rooms.create_room("booking-15", start, end)
    assert time.monotonic() - began < 2.0              # gave up on the silent attempt after 0.3 s
    assert room.name == "booking-15" and len(sleeps) == 1
    await rooms.delete_room("booking-15")


# ---- Daily webhooks ------------------------------------------------------------------------


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


async def test_daily_webhooks_from_a_real_call(daily, daily_rooms, receiver):
    daily.webhook_url = receiver.url
    start, end = _slot()
    room = await daily_rooms.create_room("booking-20", start, end)
    vet = daily.join(await daily_rooms.join_url(room, Role.VET, "Vet"), at=start.timestamp() + 5)
    daily.join(await daily_rooms.join_url(room, Role.OWNER, "Owner"), at=start.timestamp() + 9)
    daily.leave(vet["session_id"], at=start.timestamp() + 600)
    daily.advance(end.timestamp())                      # the owner is ejected at exp: meeting over
    types = [json.loads(body)["type"] for _, body in receiver.received]
    assert types == ["meeting.started", "participant.joined", "participant.joined", "participant.left",
                     "participant.left", "meeting.ended"]
    events = []
    for headers, body in receiver.received:
        sent = float(headers["X-Webhook-Timestamp"])
        events.append(daily_rooms.parse_webhook(headers, body, now=_at(sent + 2)))
    assert events[0] is None                            # meeting.started: not used
    joined = [e for e in events if e and e.kind is VideoEventKind.JOINED]
    assert [e.role for e in joined] == [Role.VET, Role.OWNER]
    assert joined[0].at == _at(start.timestamp() + 5) and joined[0].room == "booking-20"
    left = [e for e in events if e and e.kind is VideoEventKind.LEFT]
    assert [e.role for e in left] == [Role.VET, Role.OWNER]
    [ended] = [e for e in events if e and e.kind is VideoEventKind.ENDED]
    assert ended.role is None and ended.at == end
    assert len({e.event_id for e in events if e}) == 5
    # every field the double sends is one Daily documents (the envelope's id: README, docs.daily.co)
    for _, body in receiver.received:
        envelope = json.loads(body)
        model = {"participant.joined": "ParticipantJoined", "participant.left": "ParticipantLeft",
                 "meeting.ended": "MeetingEnded", "meeting.started": "MeetingStarted"}[envelope["type"]]
        assert set(envelope) <= set(load_model(model)) | {"id"}
        assert set(envelope["payload"]) <= set(load_model(model + "Payload"))


def test_daily_webhook_signature_and_freshness(daily, daily_rooms):
    now = time.time()
    event = daily.participant_event("participant.joined", "booking-21", user_id="owner", at=now)
    headers, body = daily.signed(event, timestamp=now)
    ok = daily_rooms.parse_webhook(headers, body, _at(now + 1))
    assert ok.kind is VideoEventKind.JOINED and ok.role is Role.OWNER and ok.event_id == event["id"]
    # header names are case-insensitive
    assert daily_rooms.parse_webhook({k.lower(): v for k, v in headers.items()}, body, _at(now)) == ok

    forged_headers, forged_body = daily.signed(event, timestamp=now,
                                               secret=base64.b64encode(b"another secret").decode())
    with pytest.raises(WebhookRejected):
        daily_rooms.parse_webhook(forged_headers, forged_body, _at(now))
    with pytest.raises(WebhookRejected):                  # body changed after signing
        daily_rooms.parse_webhook(headers, body.replace(b'"owner"', b'"vet"'), _at(now))
    with pytest.raises(WebhookRejected):                  # timestamp changed after signing
        daily_rooms.parse_webhook({**headers, "X-Webhook-Timestamp": str(int(now) + 1)}, body, _at(now))
    with pytest.raises(WebhookRejected):                  # unsigned
        daily_rooms.parse_webhook({"Content-Type": "application/json"}, body, _at(now))

    stale_headers, stale_body = daily.signed(event, timestamp=now - 301)
    with pytest.raises(WebhookRejected, match="stale"):
        daily_rooms.parse_webhook(stale_headers, stale_body, _at(now))
    almost, almost_body = daily.signed(event, timestamp=now - 299)
    assert daily_rooms.parse_webhook(almost, almost_body, _at(now)) is not None
    future_headers, future_body = daily.signed(event, timestamp=now + 120)
    with pytest.raises(WebhookRejected, match="future"):
        daily_rooms.parse_webhook(future_headers, future_body, _at(now))

    unknown = daily.event("recording.started", {"room": "booking-21"}, at=now)
    assert daily_rooms.parse_webhook(*daily.signed(unknown, timestamp=now), _at(now)) is None
    stranger = daily.participant_event("participant.left", "booking-21", user_id="someone", at=now, duration=5)
    assert daily_rooms.parse_webhook(*daily.signed(stranger, timestamp=now), _at(now)).role is None
    # Daily's verification request when the webhook is created: answered without becoming an event
    assert daily_rooms.parse_webhook({"Content-Type": "application/json"}, b'{"test":"test"}', _at(now)) is None


def test_daily_webhook_without_secret_is_rejected(daily):
    rooms = DailyRooms(DAILY_KEY, base_url=daily.api_url)
    now = time.time()
    headers, body = daily.signed(daily.meeting_ended_event("r", start_ts=now - 60, end_ts=now), timestamp=now)
    with pytest.raises(WebhookRejected):
        rooms.parse_webhook(headers, body, _at(now))


# ============================================================================================
# LiveKit
# ============================================================================================


async def test_livekit_room_created_once_with_two_people_and_no_egress(livekit, lk_rooms):
    start, end = _slot()
    room = await lk_rooms.create_room("booking-30", start, end)
    again = await lk_rooms.create_room("booking-30", start, end)
    assert room == again and room.url == JOIN_PAGE
    assert list(livekit.rooms) == ["booking-30"]
    calls = livekit.calls_to("POST", "/twirp/livekit.RoomService/CreateRoom")
    assert len(calls) == 2 and all(c.headers["content-type"] == "application/protobuf" for c in calls)
    request = room_pb.CreateRoomRequest.FromString(calls[0].body)      # what went over the wire
    assert request.max_participants == 2 and request.name == "booking-30"
    assert request.empty_timeout >= (end.timestamp() - time.time()) - 5   # kept until the slot ends
    assert not request.HasField("egress") and not request.agents
    lk = livekit.rooms["booking-30"]
    assert lk.max_participants == 2 and not lk.active_recording and lk.sid.startswith("RM_")
    # the service calls' tokens: created with roomCreate only
    claims = TokenVerifier(LK_KEY, LK_SECRET).verify(calls[0].headers["authorization"][len("Bearer "):])
    assert claims.video.room_create and not claims.video.room_join and not claims.video.room_record


async def test_livekit_tokens_one_room_slot_window_vet_admin(livekit, lk_rooms):
    start, end = _slot()
    room = await lk_rooms.create_room("booking-31", start, end)
    vet_url = await lk_rooms.join_url(room, Role.VET, "Dr. Petrov")
    owner_url = await lk_rooms.join_url(room, Role.OWNER, "Olga")
    assert vet_url.startswith(JOIN_PAGE + "?token=")
    tokens = {role: urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
              for role, url in ((Role.VET, vet_url), (Role.OWNER, owner_url))}
    for role, token in tokens.items():
        raw = jwt.decode(token, LK_SECRET, algorithms=["HS256"], issuer=LK_KEY,
                         options={"verify_nbf": False})
        assert (raw["nbf"], raw["exp"]) == (int(start.timestamp()), int(end.timestamp()))
        assert raw["sub"] == role.value
        video = raw["video"]
        assert video["roomJoin"] is True and video["room"] == "booking-31"
        assert not {"roomCreate", "roomList", "roomRecord", "recorder", "ingressAdmin"} & set(video)
        assert raw["roomConfig"]["maxParticipants"] == 2 and "egress" not in raw["roomConfig"]
        assert video.get("roomAdmin") is (True if role is Role.VET else None)
    assert jwt.decode(tokens[Role.VET], options={"verify_signature": False})["name"] == "Dr. Petrov"
    # livekit-api's own verifier accepts them (inside the window)
    claims = livekit.claims_at(tokens[Role.OWNER], start.timestamp() + 10)
    assert claims.identity == "owner" and claims.video.room == "booking-31"
    # the Mini App's room page: the server's WebSocket URL and the token the link carries
    join = await lk_rooms.join(room, Role.OWNER, "Olga")
    assert join.url == "ws://" + livekit.url.split("://", 1)[1] and join.link == owner_url
    assert join.token == tokens[Role.OWNER] and lk_rooms.provider == "livekit"


async def test_livekit_join_refused_outside_window_and_beyond_two(livekit, lk_rooms):
    start, end = _slot()
    room = await lk_rooms.create_room("booking-32", start, end)
    vet = (await lk_rooms.join_url(room, Role.VET, "Vet")).split("token=")[1]
    owner = (await lk_rooms.join_url(room, Role.OWNER, "Owner")).split("token=")[1]
    with pytest.raises(LiveKitJoinRefused, match="nbf"):
        livekit.join(owner, at=start.timestamp() - 300)
    with pytest.raises(LiveKitJoinRefused, match="exp"):
        livekit.join(owner, at=end.timestamp() + 300)
    livekit.join(vet, at=start.timestamp())
    livekit.join(owner, at=start.timestamp() + 1)
    livekit.join(owner, at=start.timestamp() + 2)         # rejoin replaces the old connection
    assert sorted(livekit.participants["booking-32"]) == ["owner", "vet"]
    intruder = AccessToken(LK_KEY, LK_SECRET).with_identity("intruder") \
        .with_grants(VideoGrants(room_join=True, room="booking-32")).to_jwt()
    with pytest.raises(LiveKitJoinRefused, match="full"):
        livekit.join(intruder)


async def test_livekit_join_recreates_a_closed_room_with_the_same_limits(livekit, lk_rooms):
    start, end = _slot(start_in=-60)
    room = await lk_rooms.create_room("booking-33", start, end)
    await lk_rooms.delete_room("booking-33")
    await lk_rooms.delete_room("booking-33")                  # not_found: fine
    token = (await lk_rooms.join_url(room, Role.VET, "Vet")).split("token=")[1]
    livekit.join(token)
    assert livekit.rooms["booking-33"].max_participants == 2


async def test_livekit_double_speaks_twirp_like_the_server(livekit):
    url = f"{livekit.url}/twirp/livekit.RoomService/CreateRoom"
    body = room_pb.CreateRoomRequest(name="r").SerializeToString()
    proto = {"Content-Type": "application/protobuf"}
    async with httpx.AsyncClient() as client:
        r = await client.post(url, content=body, headers=proto)
        assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
        good = AccessToken(LK_KEY, LK_SECRET).with_grants(VideoGrants(room_create=True)).to_jwt()
        r = await client.post(url, content=body, headers={**proto, "Authorization": good})      # no Bearer
        assert r.status_code == 401 and r.headers["content-type"] == "text/plain"
        wrong = AccessToken(LK_KEY, "another-secret-of-at-least-32-bytes!!").with_grants(
            VideoGrants(room_create=True)).to_jwt()
        r = await client.post(url, content=body, headers={**proto, "Authorization": f"Bearer {wrong}"})
        assert r.status_code == 401
        list_only = AccessToken(LK_KEY, LK_SECRET).with_grants(VideoGrants(room_list=True)).to_jwt()
        r = await client.post(url, content=body, headers={**proto, "Authorization": f"Bearer {list_only}"})
        assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
        r = await client.post(url, content=body, headers={**proto, "Authorization": f"Bearer {good}"})
        assert r.status_code == 200 and models.Room.FromString(r.content).name == "r"
        r = await client.post(url, content=b'{"name": "j", "maxParticipants": 2}',
                              headers={"Content-Type": "application/json", "Authorization": f"Bearer {good}"})
        assert r.status_code == 200 and r.json()["maxParticipants"] == 2
        r = await client.post(f"{livekit.url}/twirp/livekit.RoomService/DeleteRoom",
                              content=room_pb.DeleteRoomRequest(room="nope").SerializeToString(),
                              headers={**proto, "Authorization": f"Bearer {good}"})
        assert (r.status_code, r.json()["code"], r.json()["msg"]) == (404, "not_found",
                                                                    "requested room does not exist")


def test_livekit_double_uses_the_documented_protocol():
    """The installed livekit.protocol classes the double and adapter use have every field of the
    copied livekit_room.proto / livekit_webhook.proto messages we rely on."""
    protos = ROOT / "infra" / "local" / "providers" / "livekit" / "protobufs"
    for file, message, cls in (("livekit_room.proto", "CreateRoomRequest", room_pb.CreateRoomRequest),
                               ("livekit_room.proto", "RoomConfiguration", room_pb.RoomConfiguration),
                               ("livekit_webhook.proto", "WebhookEvent", webhook_pb.WebhookEvent)):
        text = (protos / file).read_text()
        block = re.search(r"message %s \{(.*?)\n\}" % message, text, re.S)[1]
        block = re.sub(r"//[^\n]*", "", block)
        declared = set(re.findall(r"\b(\w+)\s*=\s*\d+", block))
        assert declared and declared <= {f.name for f in cls.DESCRIPTOR.fields}, (message, declared)


async def test_livekit_retries_5xx_and_429_bounded(livekit, lk_rooms, sleeps):
    start, end = _slot()
    livekit.fail_next(1, status=503)
    livekit.fail_next(1, status=429)
    await lk_rooms.create_room("booking-34", start, end)
    assert sleeps == [0.2, 0.5] and "booking-34" in livekit.rooms
    livekit.fail_next(10, status=500)
    sleeps.clear()
    with pytest.raises(TwirpError) as err:
        await lk_rooms.delete_room("booking-34")
    assert err.value.status == 500 and len(sleeps) == 3
    livekit.clear_faults()


async def test_livekit_timeout_is_retried(livekit, sleeps):
    rooms = LiveKitRooms(livekit.url, LK_KEY, LK_SECRET, join_page=JOIN_PAGE, retry=_fast_retries(sleeps),
                         timeout=0.3)
    start, end = _slot()
    livekit.timeout_next(1, seconds=3.0)
    began = time.monotonic()
    await rooms.create_room("booking-35", start, end)
    assert time.monotonic() - began < 2.0              # livekit-api itself sets no timeout: ours applies
    assert len(sleeps) == 1 and "booking-35" in livekit.rooms


# ---- LiveKit webhooks ----------------------------------------------------------------------


async def test_livekit_webhooks_from_a_real_call(livekit, lk_rooms, receiver):
    livekit.webhook_url = receiver.url
    start, end = _slot(start_in=-30)
    room = await lk_rooms.create_room("booking-40", start, end)
    vet = (await lk_rooms.join_url(room, Role.VET, "Vet")).split("token=")[1]
    owner = (await lk_rooms.join_url(room, Role.OWNER, "Owner")).split("token=")[1]
    livekit.join(vet)
    livekit.join(owner)
    livekit.leave("booking-40", "owner")
    livekit.leave("booking-40", "vet")
    assert livekit.advance(time.time() + 61) == ["booking-40"]
    now = datetime.now(timezone.utc)
    assert all(h["Content-Type"] == "application/webhook+json" and not h["Authorization"].startswith("Bearer")
               for h, _ in receiver.received)
    events = [lk_rooms.parse_webhook(h, body, now) for h, body in receiver.received]
    kinds = [(e.kind, e.role) if e else None for e in events]
    assert kinds == [None,                                   # room_started: not used
                     (VideoEventKind.JOINED, Role.VET), (VideoEventKind.JOINED, Role.OWNER),
                     (VideoEventKind.LEFT, Role.OWNER), (VideoEventKind.LEFT, Role.VET),
                     (VideoEventKind.ENDED, None)]
    assert all(e.room == "booking-40" for e in events if e)
    assert len({e.event_id for e in events if e}) == 5 and all(e.event_id.startswith("EV_") for e in events if e)
    # the body is protojson like the server's: camelCase keys, int64 as strings
    sample = json.loads(receiver.received[1][1])
    assert isinstance(sample["createdAt"], str) and "joinedAt" in sample["participant"]


def test_livekit_webhook_rejections(livekit, lk_rooms):
    now = datetime.now(timezone.utc)
    room = models.Room(sid="RM_x", name="booking-41")
    joined = livekit.event("participant_joined", room=room,
                           participant=models.ParticipantInfo(identity="vet", sid="PA_x"))
    headers, body = livekit.signed(joined)
    event = lk_rooms.parse_webhook(headers, body, now)
    assert event.kind is VideoEventKind.JOINED and event.role is Role.VET and event.event_id == joined.id
    assert lk_rooms.parse_webhook({"authorization": headers["Authorization"]}, body, now) == event

    with pytest.raises(WebhookRejected):                           # body changed
        lk_rooms.parse_webhook(headers, body.replace(b'"vet"', b'"owner"'), now)
    with pytest.raises(WebhookRejected):                           # forged: another secret
        lk_rooms.parse_webhook(*livekit.signed(joined, secret="x" * 40), now)
    with pytest.raises(WebhookRejected):                           # no token
        lk_rooms.parse_webhook({"Content-Type": "application/webhook+json"}, body, now)
    with pytest.raises(WebhookRejected):                           # Bearer-prefixed: not what the server sends
        lk_rooms.parse_webhook({"Authorization": "Bearer " + headers["Authorization"]}, body, now)
    stale = livekit.signed(joined, at=time.time() - 600)           # expired 5 minutes ago
    with pytest.raises(WebhookRejected):
        lk_rooms.parse_webhook(*stale, now)
    future = livekit.signed(joined, at=time.time() + 600)
    with pytest.raises(WebhookRejected):
        lk_rooms.parse_webhook(*future, now)
    # fresh by the real clock, but stale for the ``now`` the caller gives
    with pytest.raises(WebhookRejected, match="stale"):
        lk_rooms.parse_webhook(headers, body, now + timedelta(minutes=10))
    # the real-looking room_started body from python-sdks' tests: verified, then not an event we use
    fixture = (ROOT / "infra/local/providers/livekit/fixtures/webhook-room_started.json").read_bytes()
    assert lk_rooms.parse_webhook(*livekit.signed(fixture), now) is None
    json_format.Parse(fixture, webhook_pb.WebhookEvent())


def test_room_windows_must_be_aware(lk_rooms, daily_rooms):
    naive = datetime(2030, 1, 1, 10, 0)
    with pytest.raises(ValueError):
        asyncio.run(lk_rooms.create_room("b", naive, naive + timedelta(minutes=30)))
    with pytest.raises(ValueError):
        asyncio.run(daily_rooms.create_room("b", naive, naive + timedelta(minutes=30)))

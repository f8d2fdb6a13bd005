"""booking_callbacks with LiveKit as the video provider (VIDEO_PROVIDER=livekit): a stack of its own, with
the LiveKit double; the room is made, each gets a link with their own token, a join reaches the function as
LiveKit's signed webhook and is recorded once; a forged one is refused."""
from __future__ import annotations

import time
import urllib.parse
from types import SimpleNamespace

import pytest

from infra.local.stack import LocalStack
from shared.domain import consultations as rules
from tests.test_booking_callbacks import World, post, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def livekit_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEO_PROVIDER", "livekit")
    stack = LocalStack(parts=("functions",), state_dir=tmp_path / "state")
    with stack.running() as info:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", info["firestore_emulator_host"])
        yield info, SimpleNamespace(stack=stack)


def test_links_and_joins_with_livekit(livekit_stack):
    from datetime import timedelta

    info, holder = livekit_stack
    lk = holder.stack.video
    w = World(info, holder, lead=timedelta(minutes=9))
    assert w.task_request("send_links", info["tasks_auth_token"]) == (200, {"outcome": "done"})
    assert rules.room_name(w.booking.id) in lk.rooms
    owner_url = w.sent(w.owner_id)[0]["reply_markup"]["inline_keyboard"][0][0]["url"]
    vet_url = w.sent(w.vet_id)[0]["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert owner_url.startswith(lk.url + "/join?token=") and owner_url != vet_url
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(owner_url).query)["token"][0]
    joined = lk.join(token)
    assert joined.identity == "owner"
    wait_for(lambda: any(e.get("role") == "owner" for e in w.collection(f"consultations/{w.booking.id}/video_events")))
    assert [d["status"] for d in lk.webhooks_sent if d["body"] and b"participant_joined" in d["body"]] == [200]
    # a delivery signed with another key, or stale, changes nothing
    event = lk.webhooks_sent[-1]["event"]
    headers, body = lk.signed(event, at=time.time() - 3600)
    assert post(f"{w.fn}/webhooks/video", body, headers)[0] == 403
    forged = dict(headers, Authorization=headers["Authorization"][:-4] + "AAAA")
    assert post(f"{w.fn}/webhooks/video", body, forged)[0] == 403
    assert len(w.collection(f"consultations/{w.booking.id}/video_events")) == 1

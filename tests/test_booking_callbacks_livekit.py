"""booking_callbacks with LiveKit as the video provider (VIDEO_PROVIDER=livekit): an instance of it beside the
session stack's (Daily) one, with the settings the stack gives its functions under VIDEO_PROVIDER=livekit and a
LiveKit double of the test's own; the room is made, each gets a link with their own token, a join reaches the
function as LiveKit's signed webhook and is recorded once; a forged one is refused. The stack's own wiring
under VIDEO_PROVIDER=livekit (which double, where its webhooks go, the functions' settings) is checked on its
in-process providers alone: a second whole stack would start every emulator again for the same function."""
from __future__ import annotations

import time
import urllib.parse

import pytest

from infra.local.livekit_double import LiveKitDouble
from infra.local.stack import LIVEKIT_API_KEY, LIVEKIT_API_SECRET, LocalStack, function_url_var, livekit_env
from shared.domain import consultations as rules
from tests.test_booking_callbacks import World, post, wait_for

pytestmark = pytest.mark.e2e


def test_the_stack_under_livekit_wires_its_functions_to_the_livekit_double(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEO_PROVIDER", "livekit")
    stack = LocalStack(parts=("providers",), state_dir=tmp_path / "state")
    with stack.running() as info:
        assert isinstance(stack.video, LiveKitDouble) and info["video_api_url"] == stack.video.url
        env = stack.function_env()
        assert env["VIDEO_PROVIDER"] == "livekit" and livekit_env(stack.video.url).items() <= env.items()
        assert stack.video.webhook_url == f"{env[function_url_var('booking_callbacks')]}webhooks/video"


@pytest.fixture
def livekit_callbacks(stack, local_stack):
    """(the stack.json dict naming the LiveKit instance as booking_callbacks, the stack, the LiveKit double)."""
    lk = LiveKitDouble(LIVEKIT_API_KEY, LIVEKIT_API_SECRET).start()
    try:
        url = local_stack.stack.start_function("booking_callbacks", f"booking_callbacks_lk{lk.port}",
                                               livekit_env(lk.url))
        lk.webhook_url = f"{url}webhooks/video"
        yield dict(stack, functions={**stack["functions"], "booking_callbacks": url}), local_stack, lk
    finally:
        lk.stop()


def test_links_and_joins_with_livekit(livekit_callbacks):
    from datetime import timedelta

    info, holder, lk = livekit_callbacks
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

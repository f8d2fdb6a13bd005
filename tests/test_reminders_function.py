"""functions/scheduled_jobs.py through functions-framework's test client: auth, clock override, JSON counts,
and the reminder really reaching the Bot API double once."""
import os
from datetime import datetime, timezone

import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.domain import reminders as r

TOKEN = "123456789:AAjobs-test-token"


@pytest.fixture
def function_client(clean_firestore, monkeypatch):
    double = BotApiDouble(TOKEN).start()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE", double.base_url)
    monkeypatch.setenv("JOBS_AUTH_TOKEN", "secret-jobs")
    monkeypatch.setenv("ALLOW_CLOCK_OVERRIDE", "1")
    import functions.scheduled_jobs as module
    from functions_framework import create_app

    module._jobs = None
    app = create_app("scheduled_jobs", str(module.__file__))
    try:
        yield app.test_client(), double
    finally:
        module._jobs = None
        double.stop()


def seed_one(owner=4242):
    import asyncio

    from google.cloud import firestore

    from shared.adapters.firestore_diary import FirestoreReminders
    from shared.adapters.firestore_repositories import OpStats

    async def go():
        repo = FirestoreReminders(firestore.AsyncClient(project=os.environ["GOOGLE_CLOUD_PROJECT"]), OpStats())
        return await repo.schedule(r.plan(owner, owner, "en", "Asia/Almaty", "pet1", "Rex", "tr1", "vaccine",
                                          "Nobivac", datetime(2026, 12, 2).date(),
                                          datetime(2026, 11, 20, tzinfo=timezone.utc)))
    return asyncio.run(go())


def test_token_is_required(function_client):
    client, _ = function_client
    assert client.post("/", json={"job": "due_reminders"}).status_code == 403
    assert client.post("/", json={"job": "due_reminders"}, headers={"X-Jobs-Token": "wrong"}).status_code == 403
    assert client.post("/", json={"job": "nope"}, headers={"X-Jobs-Token": "secret-jobs"}).status_code == 400


@pytest.mark.parametrize("token", ["", "secret-job", "secret-jobs ", "secret-jobsX", "sécret-jobs",
                                   "secret-jobs\u00e9", "секрет"], ids=repr)
def test_any_token_that_is_not_exactly_right_is_forbidden(function_client, token):
    client, double = function_client
    headers = {"X-Jobs-Token": token.encode("utf-8").decode("latin-1")}  # the bytes on the wire, as werkzeug reads them
    response = client.post("/", json={"job": "due_reminders"}, headers=headers)
    assert response.status_code == 403 and response.get_json() == {"error": "forbidden"}
    assert not double.calls("sendMessage")


@pytest.mark.parametrize("body,content_type", [
    (b"[]", "application/json"), (b'"x"', "application/json"), (b"not json", "application/json"),
    (b"not json", "text/plain"), (b"", "application/json"), (b'[{"job": "due_reminders"}]', "application/json"),
    (b"\xff\xfe", "application/json"), (b"null", "application/json"), (b"42", "application/json"),
], ids=repr)
def test_a_body_that_is_not_a_json_object_is_a_clear_400(function_client, body, content_type):
    client, double = function_client
    response = client.post("/", data=body, headers={"X-Jobs-Token": "secret-jobs", "Content-Type": content_type})
    assert response.status_code == 400 and response.get_json() == {"error": "the body must be a JSON object"}
    assert not double.calls("sendMessage")


def test_moved_clock_sends_the_day_before_reminder_once(function_client):
    client, double = function_client
    assert seed_one() == 2
    headers = {"X-Jobs-Token": "secret-jobs"}
    early = client.post("/", json={"job": "due_reminders", "now": "2026-11-30T12:00:00+00:00"}, headers=headers)
    assert early.status_code == 200 and early.get_json()["sent"] == 0
    body = {"job": "due_reminders", "now": "2026-12-01T06:00:00+00:00"}  # 11:00 in Almaty, the day before
    first = client.post("/", json=body, headers=headers).get_json()
    second = client.post("/", json=body, headers=headers).get_json()
    assert (first["sent"], first["reads"], second["sent"]) == (1, 1, 0)
    [msg] = [c for c in double.calls("sendMessage")]
    assert msg["params"]["chat_id"] in (4242, "4242") and "Rex" in msg["params"]["text"]
    assert "rm:d:pet1:tr1:b" in str(msg["params"]["reply_markup"])

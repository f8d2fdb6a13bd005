"""The local stack: emulators answer, functions run with the right environment, storage events arrive
once per object generation, and stop() leaves no process behind."""
from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.local.bot_api_double import BotApiDouble
from infra.local.stack import STACK_KEYS, LocalStack, _ephemeral_ports, ensure_bucket, ensure_queue, free_port, http_get
from infra.local.storage_notifier import EVENT_TYPE, StorageNotifier

ROOT = Path(__file__).resolve().parents[1]


# ---- a tiny HTTP receiver ------------------------------------------------------------------------
class Receiver:
    """Records POSTs (header names lower-cased); answers the first `fail_first` per ce-id with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self._failed: dict[str, int] = {}
        self._lock = threading.Lock()
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("ce-id") or self.path
                with recv._lock:
                    n = recv._failed.get(key, 0)
                    status = 500 if n < recv.fail_first else 200
                    recv._failed[key] = n + 1
                    recv.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ok(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["status"] == 200]


def wait_for(cond, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def storage_client(info: dict[str, Any]):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    assert os.environ["STORAGE_EMULATOR_HOST"] == info["storage_emulator_host"]
    return storage.Client(project=info["project"], credentials=AnonymousCredentials())


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# ---- the session stack ---------------------------------------------------------------------------
def test_stack_comes_up_and_writes_stack_json(stack, local_stack):
    data = json.loads(local_stack.stack.stack_json.read_text())
    for key in STACK_KEYS:
        assert key in data, key
    assert data == json.loads(json.dumps(stack))
    assert http_get(f"http://{stack['firestore_emulator_host']}/")[1].startswith(b"Ok")
    assert http_get(f"{stack['storage_emulator_host']}/storage/v1/b/{stack['photos_bucket']}")[0] == 200
    assert stack["tasks_emulator_host"].startswith("127.0.0.1:")
    # each function is up and refuses a bare GET: the HTTP ones in their own code (a 500 would be an
    # instance that cannot start), the CloudEvent one in functions-framework (which imported it); the Mini
    # App's API refuses its JSON without initData
    refusal = {"telegram_webhook": 403, "scheduled_jobs": 403, "photo_triage": 405, "booking_callbacks": 404,
               "miniapp_api": 401}
    for name, url in stack["functions"].items():
        assert url.startswith("http://127.0.0.1:"), name
        assert http_get(url + ("api/me" if name == "miniapp_api" else ""))[0] == refusal[name], name
    # every function whose source exists is running; the others were skipped with a warning
    for name, fn in local_stack.stack.config.functions.items():
        assert (name in stack["functions"]) == (ROOT / fn.source).exists(), name
    if (ROOT / "infra/local/bot_api_double.py").exists() and not os.environ.get("TELEMED_EXTERNAL_BOT_API"):
        assert stack["telegram_api_base"].startswith("http://127.0.0.1:")
        status, body = http_get(f"{stack['telegram_api_base']}/bot{stack['bot_token']}/getMe")
        assert status == 200 and json.loads(body)["ok"] is True


def test_firestore_write_and_read(clean_firestore):
    from google.cloud import firestore

    assert os.environ["FIRESTORE_EMULATOR_HOST"] == clean_firestore["firestore_emulator_host"]
    db = firestore.Client(project=clean_firestore["project"])
    ref = db.collection("infra_check").document("doc1")
    ref.set({"hello": "world", "n": 1})
    assert ref.get().to_dict() == {"hello": "world", "n": 1}


def test_clean_firestore_empties_the_emulator(firestore_emulator, request):
    from google.cloud import firestore

    db = firestore.Client(project=firestore_emulator["project"])
    db.collection("infra_check").document("left-over").set({"n": 1})
    db.collection("users").document("1").collection("pets").document("p").set({"name": "x"})
    request.getfixturevalue("clean_firestore")  # what a test asking for it gets first: an empty emulator
    assert list(db.collection("infra_check").stream()) == []
    assert list(db.collection("users").document("1").collection("pets").stream()) == []


def test_storage_upload_and_download(storage_emulator):
    client = storage_client(storage_emulator)
    bucket = client.bucket(storage_emulator["photos_bucket"])
    blob = bucket.blob(f"checks/{uuid.uuid4().hex}.txt")
    blob.upload_from_string(b"hello", content_type="text/plain")
    assert bucket.blob(blob.name).download_as_bytes() == b"hello"
    assert blob.name in [b.name for b in client.list_blobs(bucket, prefix="checks/")]


def test_notifier_delivers_one_cloudevent_per_object_generation(storage_emulator):
    client = storage_client(storage_emulator)
    bucket_name = f"notify-{uuid.uuid4().hex[:8]}"
    ensure_bucket(storage_emulator["storage_emulator_host"], bucket_name, storage_emulator["project"])
    bucket = client.bucket(bucket_name)
    bucket.blob("old.jpg").upload_from_string(b"before start")  # existing objects make no event

    with Receiver(fail_first=1) as recv, StorageNotifier(
        storage_emulator["storage_emulator_host"], bucket_name, [recv.url], interval=0.05, backoff=0.05
    ) as notifier:
        a = bucket.blob("photos/a.jpg")
        a.metadata = {"chat_id": "42"}
        a.upload_from_string(b"\xff\xd8a", content_type="image/jpeg")
        bucket.blob("photos/b.png").upload_from_string(b"\x89PNGb", content_type="image/png")
        # polling sees only the latest generation: let the first one be seen before overwriting
        wait_for(lambda: len(recv.ok()) >= 2)
        a2 = bucket.blob("photos/a.jpg")
        a2.upload_from_string(b"\xff\xd8a-second", content_type="image/jpeg")  # new generation
        wait_for(lambda: len(recv.ok()) >= 3)
        time.sleep(0.6)  # more polls: nothing new may arrive
        ok = recv.ok()
        assert len(ok) == 3
        assert len(notifier.deliveries) == 3 and all(d.ok for d in notifier.deliveries)

    seen = set()
    for r in ok:
        h = r["headers"]
        data = json.loads(r["body"])
        assert h["ce-type"] == EVENT_TYPE
        assert h["ce-specversion"] == "1.0"
        assert h["ce-source"] == f"//storage.googleapis.com/projects/_/buckets/{bucket_name}"
        assert h["ce-subject"] == f"objects/{data['name']}"
        assert h["content-type"].startswith("application/json")
        for key in ("bucket", "name", "generation", "metageneration", "contentType", "size", "metadata",
                    "timeCreated", "updated"):
            assert key in data, key
        assert data["bucket"] == bucket_name
        seen.add((data["name"], data["generation"]))
        # each first attempt failed with 500 and was retried with the same ce-id
        retries = [x for x in recv.requests if x["headers"].get("ce-id") == h["ce-id"]]
        assert [x["status"] for x in retries] == [500, 200]
    assert {n for n, _ in seen} == {"photos/a.jpg", "photos/b.png"}
    assert len(seen) == 3
    a_event = next(json.loads(r["body"]) for r in ok if b"a-second" not in r["body"] and b"photos/a.jpg" in r["body"])
    assert a_event["contentType"] == "image/jpeg"
    assert a_event["metadata"] == {"chat_id": "42"}
    assert a_event["size"] == "3"


def test_tasks_emulator_queue_and_http_task(local_stack):
    info = local_stack.ensure(("tasks",))
    from google.cloud import tasks_v2  # noqa: F401  (the product's client, as the functions use it)
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    name = ensure_queue(info["tasks_emulator_host"], info["project"], queue="default")
    assert name == info["tasks_queue"]
    assert ensure_queue(info["tasks_emulator_host"], info["project"], queue="default") == name  # idempotent
    client = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(info["tasks_emulator_host"]))
    )
    with Receiver() as recv:
        client.create_task(
            parent=name,
            task={"http_request": {"url": recv.url + "hold-expired", "http_method": "POST", "body": b'{"x":1}',
                                   "headers": {"Content-Type": "application/json"}}},
        )
        wait_for(lambda: recv.ok())
        assert recv.ok()[0]["path"] == "/hold-expired"
        assert recv.ok()[0]["body"] == b'{"x":1}'


# ---- a separate stack: functions from a stub tree, lifecycle -------------------------------------
STUB_WEBHOOK = '''
import json, os
def telegram_webhook(request):
    return json.dumps({k: os.environ.get(k) for k in (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE", "GOOGLE_CLOUD_PROJECT",
        "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "CLOUD_TASKS_EMULATOR_HOST", "PHOTOS_BUCKET",
        "JOBS_AUTH_TOKEN", "PYTHONPATH", "FUNCTION_URL_TELEGRAM_WEBHOOK", "FUNCTION_URL_PHOTO_TRIAGE",
        "FUNCTION_URL_SCHEDULED_JOBS")})
'''
STUB_TRIAGE = '''
import json
from pathlib import Path
def photo_triage(cloud_event):
    with open(Path(__file__).resolve().parents[1] / "events.jsonl", "a") as f:
        f.write(json.dumps({"id": cloud_event["id"], "type": cloud_event["type"],
                            "subject": cloud_event["subject"], "data": cloud_event.data}) + "\\n")
'''


@pytest.fixture
def stub_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "functions").mkdir(parents=True)
    shutil.copy(ROOT / "serverless.yml", root / "serverless.yml")
    (root / "functions" / "telegram_webhook.py").write_text(textwrap.dedent(STUB_WEBHOOK))
    (root / "functions" / "photo_triage.py").write_text(textwrap.dedent(STUB_TRIAGE))
    # scheduled_jobs left out on purpose: the stack skips it with a warning
    return root


def test_stub_functions_run_get_env_and_storage_events(stub_root: Path, capsys):
    # (the session fixture may have exported its own double's URL: this stack must start its own)
    s = LocalStack(stub_root, state_dir=stub_root / ".local", photos_bucket="stub-photos")
    with s.running() as info:
        assert set(info["functions"]) == {"telegram_webhook", "photo_triage"}
        assert "scheduled_jobs" in s.skipped_functions
        assert "skipping scheduled_jobs" in capsys.readouterr().err
        assert json.loads((stub_root / ".local" / "stack.json").read_text())["photos_bucket"] == "stub-photos"

        req = urllib.request.Request(info["functions"]["telegram_webhook"], data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            env = json.loads(r.read())
        assert env["TELEGRAM_BOT_TOKEN"] == info["bot_token"] == "123456:LOCAL-TEST-TOKEN"
        assert env["TELEGRAM_WEBHOOK_SECRET"] == info["webhook_secret"]
        assert env["GOOGLE_CLOUD_PROJECT"] == info["project"] == "telemed-pet-local"
        assert env["FIRESTORE_EMULATOR_HOST"] == info["firestore_emulator_host"]
        assert env["STORAGE_EMULATOR_HOST"] == info["storage_emulator_host"]
        assert env["CLOUD_TASKS_EMULATOR_HOST"] == info["tasks_emulator_host"]
        assert env["PHOTOS_BUCKET"] == "stub-photos"
        assert env["JOBS_AUTH_TOKEN"] == info["jobs_auth_token"]
        assert str(stub_root) in env["PYTHONPATH"].split(os.pathsep)
        assert env["FUNCTION_URL_TELEGRAM_WEBHOOK"] == info["functions"]["telegram_webhook"]
        assert env["FUNCTION_URL_PHOTO_TRIAGE"] == info["functions"]["photo_triage"]
        assert env["FUNCTION_URL_SCHEDULED_JOBS"] is None  # skipped: no source
        if info["telegram_api_base"] and info["telegram_api_base"].startswith("http://127.0.0.1"):
            assert env["TELEGRAM_API_BASE"] == info["telegram_api_base"]
            status, body = http_get(f"{info['telegram_api_base']}/bot{info['bot_token']}/getWebhookInfo")
            assert status == 200
            assert json.loads(body)["result"]["url"] == info["functions"]["telegram_webhook"]

        # an upload to the photos bucket reaches photo_triage as a CloudEvent, once
        put = urllib.request.Request(
            f"{info['storage_emulator_host']}/upload/storage/v1/b/stub-photos/o?uploadType=media&name=u/1.jpg",
            data=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"}, method="POST",
        )
        urllib.request.urlopen(put, timeout=10).close()
        events = stub_root / "events.jsonl"
        wait_for(lambda: events.exists() and events.read_text().strip(), timeout=20)
        time.sleep(0.5)
        lines = [json.loads(x) for x in events.read_text().splitlines()]
        assert len(lines) == 1
        assert lines[0]["type"] == "google.cloud.storage.object.v1.finalized"
        assert lines[0]["subject"] == "objects/u/1.jpg"
        assert lines[0]["data"]["bucket"] == "stub-photos" and lines[0]["data"]["contentType"] == "image/jpeg"
        pgids = s.pids()
    assert pgids
    wait_for(lambda: not any(_group_alive(p) for p in pgids), timeout=5)
    assert not (stub_root / ".local" / "stack.json").exists()


def test_an_outside_bot_api_server_gets_the_token_and_secret_from_the_environment(tmp_path, monkeypatch):
    """As a new user would: TELEGRAM_API_BASE names someone else's Bot API server, TELEGRAM_BOT_TOKEN is
    the user's own bot; no double starts and every call the stack makes or hands on uses that token."""
    token, secret = "987654321:OWN-BOT-TOKEN", "own-webhook-secret"
    with BotApiDouble(token) as server:  # stands in for the outside server: it knows only that token
        monkeypatch.setenv("TELEGRAM_API_BASE", server.base_url)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
        s = LocalStack(ROOT, parts=("telegram",), state_dir=tmp_path / "state")
        with s.running() as info:
            assert s.children == {}  # no double of its own
            assert info["telegram_api_base"] == server.base_url
            assert (info["bot_token"], info["webhook_secret"]) == (token, secret)
            status, body = http_get(f"{info['telegram_api_base']}/bot{info['bot_token']}/getMe")
            assert status == 200 and json.loads(body)["result"]["id"] == 987654321
            env = s.function_env()
            assert (env["TELEGRAM_API_BASE"], env["TELEGRAM_BOT_TOKEN"], env["TELEGRAM_WEBHOOK_SECRET"]) == (
                server.base_url, token, secret)
            assert json.loads(s.stack_json.read_text())["bot_token"] == token
    # its own double still gets the built-in token, whatever token the environment names
    monkeypatch.delenv("TELEGRAM_API_BASE")
    own = LocalStack(ROOT, parts=("telegram",), state_dir=tmp_path / "own")
    assert own.info["bot_token"] == "123456:LOCAL-TEST-TOKEN"


def test_free_ports_are_distinct_bindable_and_not_ephemeral():
    """A server binds its port seconds after it is chosen; an outgoing connection in between must not
    be able to take it (CI once lost the Firestore emulator to "Address already in use")."""
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert not any(p in _ephemeral_ports() for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))


def test_stop_leaves_no_processes(tmp_path: Path):
    s = LocalStack(ROOT, parts=("firestore", "storage", "tasks", "telegram"), state_dir=tmp_path / "state")
    info = s.start()
    pgids = s.pids()
    assert len(pgids) >= 3
    fs_port = int(info["firestore_emulator_host"].rsplit(":", 1)[1])
    s.stop()
    for p in pgids:
        assert not _group_alive(p), f"process group {p} survived stop()"
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{fs_port}/", timeout=1)
    assert not (tmp_path / "state" / "stack.json").exists()
    assert (tmp_path / "state" / "logs" / "firestore.log").exists()


def test_the_functions_clock_moves_only_on_the_local_stack(tmp_path, monkeypatch):
    """LocalStack.move_clock writes an offset the functions add to the real time, read only where
    ALLOW_CLOCK_OVERRIDE=1 (the stack's own functions); the stack's webhook gets a test PROVIDER_TOKEN."""
    from datetime import datetime, timedelta, timezone

    from infra.local.stack import LOCAL_PROVIDER_TOKEN, move_clock
    from shared.bootstrap import service_clock, utcnow
    from shared.config import Settings

    info = {"clock_file": str(tmp_path / "clock_offset")}
    base = {"TELEGRAM_BOT_TOKEN": "1:x", "LOCAL_CLOCK_FILE": info["clock_file"]}
    assert Settings.from_env(base).clock_file == ""                       # deployed: never read
    assert service_clock(Settings.from_env(base)) is utcnow
    clock = service_clock(Settings.from_env({**base, "ALLOW_CLOCK_OVERRIDE": "1"}))
    assert abs(clock() - datetime.now(timezone.utc)) < timedelta(seconds=1)  # no offset written: the real time
    ahead = datetime.now(timezone.utc) + timedelta(days=3, minutes=7)
    move_clock(info, ahead)
    assert abs(clock() - ahead) < timedelta(seconds=1)
    move_clock(info, None)
    assert abs(clock() - datetime.now(timezone.utc)) < timedelta(seconds=1)
    monkeypatch.delenv("PROVIDER_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_BASE", raising=False)
    s = LocalStack(ROOT, parts=("telegram",), state_dir=tmp_path / "state")
    env = s.function_env()
    assert env["PROVIDER_TOKEN"] == LOCAL_PROVIDER_TOKEN and env["LOCAL_CLOCK_FILE"] == s.info["clock_file"]

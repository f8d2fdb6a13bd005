"""The storage trigger's contract at its edges: the entry point under functions-framework (event data that
is no object event -> 400 at once, a transient error -> 500 so Eventarc retries), and the photo records
and object state it reads, against the Firestore and Storage emulators."""
from __future__ import annotations

import json
import re
import time

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_triage import FirestoreTriage
from shared.adapters.photo_storage import PhotoStorage
from shared.domain.photos import Area, PhotoRecord
from shared.services.pets import photo_prefix

CE_HEADERS = {"ce-specversion": "1.0", "ce-id": "e1", "ce-type": "google.cloud.storage.object.v1.finalized",
              "ce-source": "//storage.googleapis.com/projects/_/buckets/b", "ce-subject": "objects/x"}


@pytest.fixture
def entry_point(monkeypatch):
    """functions/photo_triage.py under functions-framework; its instance is a stand-in (set `.handle`)."""
    import sys

    from functions_framework import create_app

    from tests.conftest import ROOT

    class Instance:
        def __init__(self):
            self.handled = []

        def handle(self, event):
            self.handled.append(event)
            return "findings"

    app = create_app("photo_triage", str(ROOT / "functions" / "photo_triage.py"), "cloudevent")
    instance = Instance()
    monkeypatch.setattr(sys.modules["photo_triage"], "_triage", instance)  # where functions-framework loaded it
    yield app.test_client(), instance


@pytest.mark.parametrize("body,content_type", [
    (b"[]", "application/json"), (b'"x"', "application/json"), (b"not json", "application/json"),
    (b"not json", "text/plain"), (b"", "application/json"), (b"{}", "application/json"),
    (b'{"name": 5, "bucket": "b", "generation": "1"}', "application/json"),
    (b'{"name": "photos/a.jpg", "bucket": "b"}', "application/json"),
    (b'{"name": "photos/a.jpg", "bucket": "b", "generation": "abc"}', "application/json"),
    (b'{"name": "photos/a.jpg", "bucket": ["b"], "generation": "1"}', "application/json"),
], ids=lambda v: v if isinstance(v, str) else v.decode())
def test_event_data_that_is_no_object_event_gets_a_400_at_once(entry_point, body, content_type):
    client, instance = entry_point
    t0 = time.monotonic()
    response = client.post("/", data=body, headers={**CE_HEADERS, "Content-Type": content_type})
    assert response.status_code == 400 and time.monotonic() - t0 < 2
    assert response.is_json and response.get_json()["error"]
    assert instance.handled == []


def test_an_object_event_reaches_the_trigger(entry_point):
    client, instance = entry_point
    data = {"name": "photos/a.jpg", "bucket": "b", "generation": "17", "metadata": {"chat_id": "1"}}
    assert client.post("/", json=data, headers=CE_HEADERS).status_code == 200
    (event,) = instance.handled
    assert (event.bucket, event.name, event.generation) == ("b", "photos/a.jpg", "17")


def test_another_bucket_gets_a_400(entry_point):
    from shared.services.triage import BadEvent

    client, instance = entry_point

    def refuse(event):
        raise BadEvent("not the photos bucket")
    instance.handle = refuse
    response = client.post("/", json={"name": "a", "bucket": "other", "generation": "1"}, headers=CE_HEADERS)
    assert response.status_code == 400 and response.get_json() == {"error": "not the photos bucket"}


def test_a_transient_error_is_a_500_so_the_event_is_retried(entry_point):
    client, instance = entry_point

    def down(event):
        raise gexc.ServiceUnavailable("storage is down")
    instance.handle = down
    assert client.post("/", json={"name": "a", "bucket": "b", "generation": "1"}, headers=CE_HEADERS).status_code == 500


# ---- photo records and object state against the emulators -----------------------------------------

@pytest.fixture
async def db(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    yield client, FirestoreTriage(client)
    client.close()


def _record(owner=61, photo_id="ab" * 16, message_id=77):
    return PhotoRecord(owner_id=owner, pet_id="rex", photo_id=photo_id, area=Area.EYE, language="en",
                       progress_message_id=message_id)


async def test_a_photo_record_is_written_only_while_its_owner_exists(db):
    client, records = db
    assert not await records.create_photo(_record())  # no owner document: nothing written, none created
    assert not (await client.document("users/61").get()).exists
    assert not [d async for d in client.collection("users/61/pets/rex/photos").list_documents()]
    await client.document("users/61").set({"language": "en"})
    assert not await records.create_photo(_record())  # nor while its pet's is gone
    assert not [d async for d in client.collection("users/61/pets/rex/photos").list_documents()]
    await client.document("users/61/pets/rex").set({"species": "dog", "name": "Rex"})
    assert await records.create_photo(_record())
    assert await records.photo_record(61, "rex", "ab" * 16) == _record()
    assert (await client.document("users/61").get()).to_dict()["photo_at"]


async def test_a_record_is_found_only_with_its_owner(db):
    client, records = db
    await client.document("users/62").set({"language": "en"})
    await client.document("users/62/pets/rex").set({"species": "dog", "name": "Rex"})
    assert await records.create_photo(_record(62, message_id=None))
    assert (await records.photo_record(62, "rex", "ab" * 16)).progress_message_id is None
    assert await records.photo_record(62, "rex", "cd" * 16) is None
    assert await records.photo_record(63, "rex", "ab" * 16) is None
    await client.document("users/62").delete()  # erasure deletes the owner's document first
    assert await records.photo_record(62, "rex", "ab" * 16) is None
    await records.delete_photo(62, "rex", "ab" * 16)
    assert not (await client.document(f"users/62/pets/rex/photos/{'ab' * 16}").get()).exists


async def test_an_objects_state_is_read_from_storage(storage_emulator):
    photos = PhotoStorage(storage_emulator["photos_bucket"], storage_emulator["project"])
    name = f"{photo_prefix(64, 'rex')}{'ab' * 16}.jpg"
    assert await photos.stat(name) is None
    await photos.put(name, b"jpeg", {"owner_id": "64", "photo_id": "ab" * 16})
    generation, meta = await photos.stat(name)
    assert generation.isdigit() and meta == {"owner_id": "64", "photo_id": "ab" * 16}
    await photos.delete(name)
    await photos.delete(name)  # already gone: fine
    assert await photos.stat(name) is None


def test_the_photo_path_key_keys_the_owner_folder(monkeypatch):
    first = photo_prefix(65)
    assert re.fullmatch(r"photos/[0-9a-f]{32}/", first)  # no owner id in it
    assert photo_prefix(65, "rex") == f"{first}rex/" and photo_prefix(66) != first
    monkeypatch.setenv("PHOTO_PATH_KEY", "another key")
    assert photo_prefix(65) != first
    monkeypatch.delenv("PHOTO_PATH_KEY")
    with pytest.raises(RuntimeError, match="PHOTO_PATH_KEY"):
        photo_prefix(65)


def test_the_triage_function_will_not_start_without_the_photo_path_key():
    from shared.bootstrap import TriageInstance
    from shared.config import Settings

    with pytest.raises(RuntimeError, match="PHOTO_PATH_KEY"):
        TriageInstance(Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}), model_loader=lambda: None)


def test_events_are_json(entry_point):  # the notifier's events parse as the real ones do
    from infra.local.storage_notifier import object_event

    client, instance = entry_point
    headers, body = object_event("b", {"name": "photos/a.jpg", "generation": "5", "metadata": {}})
    assert client.post("/", data=body, headers=headers).status_code == 200
    assert instance.handled[-1].generation == "5" and json.loads(body)["bucket"] == "b"

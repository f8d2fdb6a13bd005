"""Photo triage end to end on the local stack: photo -> webhook function (getFile, download, checks,
cleaning, Storage emulator) -> the stack's notifier fires the CloudEvent -> photo_triage function
(gates, model) -> result in the Firestore emulator -> the "analysing…" message edited in the chat."""
from __future__ import annotations

import pytest

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from shared.services.pets import photo_prefix
from tests.test_photo_hostile import assert_safe_jpeg, exif_rotated, gif, jpeg, png_bomb, red_corner_is_top_left

pytestmark = pytest.mark.e2e

DISCLAIMER = "not a diagnosis"


@pytest.fixture
def client(stack):
    with BotApiDoubleClient(stack["telegram_api_base"]) as c:
        yield c


def _owner_with_pets(client, user_id, pets=(("Dog", "Rex"),)):
    chat = OwnerChat(client, user_id=user_id, language_code="en", first_name="Anna")
    chat.send("/start")
    chat.press("I agree")
    for species, name in pets:
        chat.press("Add a pet")
        chat.press(species)
        chat.send(name)
        chat.press("Mixed")
        chat.press("Unknown")
        chat.send("3 years")
        chat.send("12" if species == "Dog" else "4")
        chat.press("Not sure")
    return chat


def _send_photo(chat, data, name="photo.jpg", caption=None, as_document=False, mime="image/jpeg"):
    info = chat.client.put_file(data, name=name, mime_type=mime)
    if as_document:
        update = chat.updates.document(info, mime_type=mime, user_id=chat.user_id, caption=caption,
                                       language_code="en", file_name=name)
    else:
        update = chat.updates.photo(info, user_id=chat.user_id, caption=caption, language_code="en")
    return chat.send_update(update, f"[{name}]")


def _result_edit(chat, since):
    calls = chat.wait_for(lambda c: c["method"] == "editMessageText" and DISCLAIMER in c["params"].get("text", ""),
                          timeout=60, since=since)
    return [c for c in calls if c["method"] == "editMessageText" and DISCLAIMER in c["params"]["text"]]


def _storage(stack):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=stack["project"], credentials=AnonymousCredentials()).bucket(stack["photos_bucket"])


def _firestore(stack):
    from google.cloud import firestore

    return firestore.Client(project=stack["project"])


def test_dog_skin_photo_is_analysed_stored_cleaned_and_answered_once(stack, client):
    chat = _owner_with_pets(client, 840001)
    seq = chat._last_seq()
    turn = _send_photo(chat, exif_rotated(6, seed=3), caption="rash on the skin")
    methods = [c["method"] for c in client.calls(since=seq)]
    assert "sendChatAction" in methods and "getFile" in methods, turn.text
    progress = [c for c in turn.calls if c["method"] == "sendMessage"][-1]
    assert "Analysing" in progress["params"]["text"]
    edits = _result_edit(chat, seq)
    assert len(edits) == 1
    assert "not a diagnosis" in edits[0]["params"]["text"]
    assert edits[0]["response"]["result"]["message_id"] == progress["response"]["result"]["message_id"]
    buttons = [b["text"] for row in edits[0]["params"]["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Book a vet" in b for b in buttons) and any("Retake" in b for b in buttons)
    # the stored object: clean, upright, no Telegram id in its name, only the ids of its record in the metadata
    blobs = list(_storage(stack).list_blobs(prefix=photo_prefix(chat.user_id)))
    assert len(blobs) == 1
    blob = blobs[0]
    blob.reload()
    assert blob.name.split("/")[1] != str(chat.user_id) and len(blob.name.split("/")[1]) == 32
    assert set(blob.metadata) == {"owner_id", "pet_id", "photo_id"}
    assert "Rex" not in str(blob.metadata) and "rash" not in str(blob.metadata)
    img = assert_safe_jpeg(blob.download_as_bytes())
    assert red_corner_is_top_left(img) and img.size == (640, 480)
    # the pet's record holds exactly one result, pointing at the photo
    pet_id = blob.metadata["pet_id"]
    docs = list(_firestore(stack).collection(f"users/{chat.user_id}/pets/{pet_id}/triage").stream())
    assert len(docs) == 1 and docs[0].to_dict()["photo_path"] == blob.name and docs[0].to_dict()["notified"]
    record = _firestore(stack).document(f"users/{chat.user_id}/pets/{pet_id}/photos/{blob.metadata['photo_id']}")
    assert record.get().to_dict()["progress_message_id"] == progress["response"]["result"]["message_id"]
    # "Book a vet" starts a booking for Rex that carries this result; another owner's forged press gets nothing
    book = chat.press("Book a vet")
    assert "What is bothering Rex?" in book.text and "photo check's result" in book.text
    data = next(b["callback_data"] for row in edits[0]["params"]["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].startswith("tr:b:"))
    intruder = _owner_with_pets(client, 840009, pets=(("Dog", "Tom"),))
    forged = intruder.press_data(data)
    assert "Rex" not in forged.text and all("Rex" not in (c["params"].get("text") or "") for c in forged.calls)
    assert any(c["method"] == "answerCallbackQuery" and "not found" in c["params"].get("text", "")
               for c in forged.calls)
    forged_pet = intruder.press_data(f"ph:c:{pet_id}")
    assert any("not found" in (c["params"].get("text") or "") for c in forged_pet.calls)
    # nothing more arrives (one event -> one message), even though the notifier may retry
    import time
    time.sleep(1.5)
    later = [c for c in client.calls(since=seq) if c["method"] in ("editMessageText", "sendMessage")
             and DISCLAIMER in c["params"].get("text", "") and str(c["params"].get("chat_id")) == str(chat.user_id)]
    assert len(later) == 1


def test_redelivered_event_makes_one_result_and_one_message(stack, client):
    import httpx

    from infra.local.storage_notifier import object_event

    chat = _owner_with_pets(client, 840002)
    seq = chat._last_seq()
    _send_photo(chat, jpeg((800, 600), seed=9), caption="skin")
    _result_edit(chat, seq)
    from shared.services.triage import analysis_name

    blobs = {b.name: b for b in _storage(stack).list_blobs(prefix=photo_prefix(chat.user_id))}
    blob = next(b for name, b in blobs.items() if "/analysis/" not in name)
    assert set(blobs) == {blob.name, analysis_name(blob.name)}  # 800x600: intake made a 640x480 copy to analyse
    blob.reload()
    assert blob.metadata["analysis_copy"] == "1"
    obj = {"name": blob.name, "generation": str(blob.generation), "metadata": blob.metadata, "size": blob.size}
    headers, body = object_event(stack["photos_bucket"], obj)
    for _ in range(3):  # Eventarc redelivers: same object, same generation
        assert httpx.post(stack["functions"]["photo_triage"], content=body, headers=headers, timeout=60).status_code < 300
    edits = [c for c in client.calls(since=seq) if c["method"] == "editMessageText"
             and str(c["params"].get("chat_id")) == str(chat.user_id) and DISCLAIMER in c["params"].get("text", "")]
    assert len(edits) == 1
    docs = list(_firestore(stack).collection(f"users/{chat.user_id}/pets/{blob.metadata['pet_id']}/triage").stream())
    assert len(docs) == 1


def test_two_pets_asks_which_and_what_it_shows_then_cat_is_not_supported(stack, client):
    chat = _owner_with_pets(client, 840003, pets=(("Dog", "Rex"), ("Cat", "Murka")))
    seq = chat._last_seq()
    asked = _send_photo(chat, jpeg((700, 500), seed=2), name="IMG_1.png", as_document=True, mime="image/jpeg")
    assert "Whose photo" in asked.text
    assert "What does the photo show" in chat.press("Murka").text
    done = chat.press("Skin")
    assert "Analysing" in done.text
    text = _result_edit(chat, seq)[0]["params"]["text"]
    assert "not available for this species" in text


def test_check_a_photo_button_then_eye_photo(stack, client):
    chat = _owner_with_pets(client, 840004)
    chat.send("/pets")
    chat.press("Rex")
    assert "Send a photo" in chat.press("Check a photo").text
    seq = chat._last_seq()
    _send_photo(chat, jpeg((640, 640), seed=5), caption="eye")
    text = _result_edit(chat, seq)[0]["params"]["text"]
    assert "eyes" in text and "not available" in text


@pytest.mark.parametrize("name,data,mime,expected", [
    ("text.jpg", b"just some text, not a photo", "image/jpeg", "This is not an image"),
    ("bomb.png", png_bomb(), "image/png", "over 40 megapixels"),
    ("anim.gif", gif(True), "image/gif", "GIF"),
    ("cut.jpg", jpeg()[:900], "image/jpeg", "damaged"),
    ("empty.jpg", b"", "image/jpeg", "empty"),
])
def test_hostile_files_through_the_stack_get_a_clear_reply(stack, client, name, data, mime, expected):
    chat = _owner_with_pets(client, 840100 + abs(hash(name)) % 1000)
    turn = _send_photo(chat, data, name=name, as_document=True, mime=mime, caption="skin")
    assert expected in turn.text and turn.statuses == [200]
    assert not list(_storage(stack).list_blobs(prefix=photo_prefix(chat.user_id)))


def test_over_20_mb_is_refused_with_the_reason(stack, client):
    chat = _owner_with_pets(client, 840005)
    seq = chat._last_seq()
    info = client.put_file(jpeg((64, 64)), name="huge.jpg", mime_type="image/jpeg",
                           fake_size=25 * 1024 * 1024)
    doc = chat.updates.document(info, mime_type="image/jpeg", user_id=chat.user_id, caption="skin",
                                language_code="en", file_name="huge.jpg")
    doc["message"]["document"]["file_size"] = 19 * 1024 * 1024  # lie in the update: getFile still refuses
    turn = chat.send_update(doc, "[huge.jpg]")
    assert "too big" in turn.text and "20 MB" in turn.text
    assert any(c["method"] == "getFile" and not c["response"]["ok"] for c in client.calls(since=seq))


# ---- events the trigger must not believe (posted to the function, or objects planted in the bucket) ----

def _post_event(stack, obj=None, *, bucket=None, body=None, timeout=30):
    """A binary-mode CloudEvent to photo_triage, as Eventarc sends it; `body` replaces the data."""
    import httpx

    from infra.local.storage_notifier import object_event

    headers, data = object_event(bucket or stack["photos_bucket"], obj or {"name": "photos/x.jpg", "generation": "1"})
    return httpx.post(stack["functions"]["photo_triage"], content=data if body is None else body, headers=headers,
                      timeout=timeout)


def _bot_message(stack, chat_id, text):
    """A message the bot sent (say, a reminder): its id."""
    import httpx

    url = f"{stack['telegram_api_base']}/bot{stack['bot_token']}/sendMessage"
    return httpx.post(url, json={"chat_id": chat_id, "text": text}, timeout=10).json()["result"]["message_id"]


def _pet_id(stack, owner_id):
    (pet,) = list(_firestore(stack).collection(f"users/{owner_id}/pets").stream())
    return pet.id


def _record(stack, owner_id, pet_id, progress_message_id):
    """The record intake writes before it uploads (users/{owner}/pets/{pet}/photos/{id}); its id."""
    import secrets

    photo_id = secrets.token_hex(16)
    _firestore(stack).document(f"users/{owner_id}/pets/{pet_id}/photos/{photo_id}").set(
        {"progress_message_id": progress_message_id, "area": "skin", "language": "en", "created_at": None})
    return photo_id


def _plant(stack, owner_id, pet_id, photo_id, **metadata):
    """An object in the owner's folder, as if uploaded; its metadata as given (ids plus whatever else)."""
    name = f"{photo_prefix(owner_id, pet_id)}{photo_id}.jpg"
    blob = _storage(stack).blob(name)
    blob.metadata = {"owner_id": str(owner_id), "pet_id": pet_id, "photo_id": photo_id, **metadata}
    blob.upload_from_string(jpeg((640, 480), seed=11), content_type="image/jpeg")
    return name


def _sent_to(client, since, chat_id):
    return [c for c in client.calls(since=since) if c["method"] in ("sendMessage", "editMessageText", "sendPhoto")
            and str(c["params"].get("chat_id")) == str(chat_id)]


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"not json", b"{}", b'{"name": 5, "bucket": "b", "generation": "1"}',
                                  b'{"name": "photos/a.jpg", "bucket": "b"}',
                                  b'{"name": "photos/a.jpg", "bucket": "b", "generation": "abc"}'],
                         ids=lambda b: b.decode())
def test_event_data_that_is_no_object_event_gets_a_400_at_once(stack, body):
    import time

    t0 = time.monotonic()
    response = _post_event(stack, body=body)
    assert response.status_code == 400 and time.monotonic() - t0 < 5, response.text
    assert response.json()["error"]


FORGERIES = {  # what a forged event changes in a real, answered photo's event -> the status it must get
    "another bucket": (lambda real: real, "someone-elses-bucket", 400),
    # a generation that does not exist (the object names a triage copy, which has no generation to pin)
    "a generation that does not exist": (lambda real: {**real, "generation": str(int(real["generation"]) + 1)},
                                         None, 200),
    # an object that does not exist, its metadata naming the owner's chat and a message: acknowledged (it will
    # never exist: no retry)
    "an object that does not exist": (lambda real: {
        "name": real["name"].rsplit("/", 1)[0] + f"/{'ab' * 16}.jpg", "generation": "1",
        "metadata": {**real["metadata"], "photo_id": "ab" * 16, "chat_id": real["metadata"]["owner_id"],
                     "progress_message_id": "1"}}, None, 200),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_event_for_a_real_photo_changes_nothing(stack, client, forgery):
    chat = _owner_with_pets(client, 840011 + list(FORGERIES).index(forgery))
    seq = chat._last_seq()
    _send_photo(chat, jpeg((800, 600), seed=4), caption="skin")
    _result_edit(chat, seq)
    blob = next(b for b in _storage(stack).list_blobs(prefix=photo_prefix(chat.user_id)) if "/analysis/" not in b.name)
    blob.reload()
    real = {"name": blob.name, "generation": str(blob.generation), "metadata": dict(blob.metadata)}
    forge, bucket, status = FORGERIES[forgery]
    after = chat._last_seq()
    response = _post_event(stack, forge(real), bucket=bucket)
    assert response.status_code == status, response.text
    assert not _sent_to(client, after, chat.user_id)
    docs = list(_firestore(stack).collection(f"users/{chat.user_id}/pets/{blob.metadata['pet_id']}/triage").stream())
    assert len(docs) == 1


@pytest.mark.parametrize("forged", ["another owner's chat", "the owner's reminder message"])
def test_metadata_naming_another_chat_or_message_is_not_believed(stack, client, forged):
    first = forged == "another owner's chat"
    owner = _owner_with_pets(client, 840021 if first else 840022)
    stranger = _owner_with_pets(client, 840023 if first else 840024, pets=(("Dog", "Tom"),))
    pet_id = _pet_id(stack, owner.user_id)
    progress = _bot_message(stack, owner.user_id, "Analysing the photo…")
    reminder = _bot_message(stack, owner.user_id, "Reminder: Nobivac tomorrow")
    strangers = _bot_message(stack, stranger.user_id, "Analysing the photo…")
    photo_id = _record(stack, owner.user_id, pet_id, progress)
    seq = owner._last_seq()
    if forged == "another owner's chat":
        meta = {"chat_id": str(stranger.user_id), "progress_message_id": str(strangers)}
    else:
        meta = {"chat_id": str(owner.user_id), "progress_message_id": str(reminder)}
    _plant(stack, owner.user_id, pet_id, photo_id, language="en", area="skin", **meta)
    (edit,) = _result_edit(owner, seq)  # the notifier delivers the object's event
    assert str(edit["params"]["chat_id"]) == str(owner.user_id) and edit["params"]["message_id"] == progress
    assert not _sent_to(client, seq, stranger.user_id)
    assert not [c for c in _sent_to(client, seq, owner.user_id) if c["params"].get("message_id") == reminder]


@pytest.mark.parametrize("case", ["owner erased during intake", "no record: planted"])
def test_a_photo_that_belongs_to_nobody_is_deleted_and_nothing_is_sent(stack, client, case):
    import time

    chat = _owner_with_pets(client, 840031 if case == "owner erased during intake" else 840032)
    pet_id = _pet_id(stack, chat.user_id)
    progress = _bot_message(stack, chat.user_id, "Analysing the photo…")
    if case == "owner erased during intake":
        photo_id = _record(stack, chat.user_id, pet_id, progress)
        _firestore(stack).document(f"users/{chat.user_id}").delete()  # erasure deletes the owner's document first
    else:
        import secrets

        photo_id = secrets.token_hex(16)
    seq = chat._last_seq()
    name = _plant(stack, chat.user_id, pet_id, photo_id, chat_id=str(chat.user_id), progress_message_id=str(progress))
    deadline = time.monotonic() + 30
    while _storage(stack).get_blob(name) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _storage(stack).get_blob(name) is None, "the photo that belongs to nobody is still stored"
    time.sleep(0.5)
    assert not _sent_to(client, seq, chat.user_id)
    assert not list(_firestore(stack).collection(f"users/{chat.user_id}/pets/{pet_id}/triage").stream())

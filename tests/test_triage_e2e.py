"""Photo triage end to end on the local stack: photo -> webhook function (getFile, download, checks,
cleaning, Storage emulator) -> the stack's notifier fires the CloudEvent -> photo_triage function
(gates, model) -> result in the Firestore emulator -> the "analysing…" message edited in the chat."""
from __future__ import annotations

import pytest

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
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
    # the stored object: clean, upright, ids only in the metadata
    blobs = list(_storage(stack).list_blobs(prefix=f"photos/{chat.user_id}/"))
    assert len(blobs) == 1
    blob = blobs[0]
    blob.reload()
    assert set(blob.metadata) >= {"owner_id", "pet_id", "chat_id", "language", "area", "progress_message_id"}
    assert "Rex" not in str(blob.metadata) and "rash" not in str(blob.metadata)
    img = assert_safe_jpeg(blob.download_as_bytes())
    assert red_corner_is_top_left(img) and img.size == (640, 480)
    # the pet's record holds exactly one result, pointing at the photo
    pet_id = blob.metadata["pet_id"]
    docs = list(_firestore(stack).collection(f"users/{chat.user_id}/pets/{pet_id}/triage").stream())
    assert len(docs) == 1 and docs[0].to_dict()["photo_path"] == blob.name and docs[0].to_dict()["notified"]
    # "Book a vet" answers honestly with a summary; another owner's forged press gets nothing
    book = chat.press("Book a vet")
    assert "opens very soon" in book.text and "Rex" in book.text
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

    blobs = {b.name: b for b in _storage(stack).list_blobs(prefix=f"photos/{chat.user_id}/")}
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
    assert not list(_storage(stack).list_blobs(prefix=f"photos/{chat.user_id}/"))


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

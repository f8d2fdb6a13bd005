"""Vets through the whole local stack (webhook function, Firestore and Storage emulators, Bot API double):
a person applies with /vet, ops approve in the ops group, the vet publishes hours and pauses; and the
races, posted straight to the webhook function: two ops approving at once record one decision, the
application's last button tapped several times at once makes one application."""
from __future__ import annotations

import io
import itertools

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image

from infra.local.owner_chat import OwnerChat
from tests.test_photo_hostile import exif_rotated, jpeg
from tests.test_races import client, db  # noqa: F401 — the fixtures: the Bot API double's client, Firestore
from tests.test_races import assert_callbacks_answered_once, last_seq, post_together

pytestmark = pytest.mark.e2e

_USERS = itertools.count(880001)


def ops(stack) -> tuple[list[int], int]:
    return [int(x) for x in stack["ops_user_ids"].split(",")], int(stack["ops_chat_id"])


def send_photo(chat: OwnerChat, data: bytes):
    info = chat.client.put_file(data, name="photo.jpg", mime_type="image/jpeg")
    return chat.send_update(chat.updates.photo(info, user_id=chat.user_id), "[photo]")


def fill_application(chat: OwnerChat) -> None:
    """Every step of /vet but the last button ("Отправить")."""
    chat.send("/start")
    chat.press("Согласен")
    chat.send("/vet")
    chat.send("Мария Лебедева")
    chat.send("Екатеринбург")
    chat.send("УрГАУ, 2015")
    assert "1 из 6" in send_photo(chat, exif_rotated(6)).text
    chat.press("Готово")
    chat.press("Кошка")
    chat.press("Собака")
    chat.press("Готово")
    chat.press("дерматология")
    chat.press("Готово")
    chat.send("9")
    chat.press("русский")
    chat.press("Готово")
    chat.send("Кожа и шерсть кошек и собак.")
    send_photo(chat, jpeg(seed=3))
    chat.send("1800")
    confirm = chat.press("Екатеринбург")
    assert "Мария Лебедева" in confirm.text and "1800 ₽" in confirm.text


def notice_of(client, ops_chat: int, vet_id: int) -> dict:
    return next(m for m in client.messages(ops_chat) if f"#{vet_id}" in m.get("text", "") and "Новая" in m["text"])


def test_apply_get_approved_publish_hours_and_pause(stack, client, db):
    ops_ids, ops_chat = ops(stack)
    chat = OwnerChat(client, user_id=next(_USERS), language_code="ru")
    fill_application(chat)
    assert "Заявка отправлена" in chat.press("Отправить").text
    doc = db.document(f"vets/{chat.user_id}").get().to_dict()
    assert doc["status"] == "applied" and doc["timezone"] == "Asia/Yekaterinburg" and doc["price_kopecks"] == 1800_00
    bucket = storage.Client(project=stack["project"], credentials=AnonymousCredentials()).bucket(stack["photos_bucket"])
    for name in (*doc["documents"], doc["portrait"]):
        assert str(chat.user_id) not in name
        with Image.open(io.BytesIO(bucket.blob(name).download_as_bytes())) as img:
            assert not img.getexif()  # no GPS, no camera: cleaned like owners' photos
    notice = notice_of(client, ops_chat, chat.user_id)
    assert len([m for m in client.messages(ops_chat) if "photo" in m]) >= 2

    # someone who is not ops forges the press: nothing changes
    forged = chat.updates.callback(f"vo:a:{chat.user_id}", user_id=chat.user_id, message=notice)
    assert "только сотрудники" in chat.send_update(forged, "[forged approve]").calls[0]["params"]["text"]
    assert db.document(f"vets/{chat.user_id}").get().to_dict()["status"] == "applied"

    approve = chat.updates.callback(f"vo:a:{chat.user_id}", user_id=ops_ids[0], message=notice)
    since = last_seq(client)
    client.deliver(approve)
    assert any("одобрена" in c["params"].get("text", "") for c in client.calls("sendMessage", since=since)
               if str(c["params"]["chat_id"]) == str(chat.user_id))
    assert db.document(f"vets/{chat.user_id}").get().to_dict()["status"] == "verified"

    assert "выходной" in chat.send("/schedule").text
    chat.press("Понедельник")
    assert "пересекаются" in chat.send("09:00-13:00, 12:00-18:00").text
    assert "Часы опубликованы" in chat.send("09:00-13:00, 14:00-18:00").text
    doc = db.document(f"vets/{chat.user_id}").get().to_dict()
    assert doc["status"] == "active" and doc["schedule"]["weekly"]["0"] == [{"start": 540, "end": 780},
                                                                          {"start": 840, "end": 1080}]
    assert "приостановлена" in chat.send("/pause").text
    assert db.document(f"vets/{chat.user_id}").get().to_dict()["status"] == "paused"


def test_two_ops_approving_at_once_record_one_decision(stack, client, db):
    ops_ids, ops_chat = ops(stack)
    assert len(ops_ids) >= 2
    for _ in range(2):
        chat = OwnerChat(client, user_id=next(_USERS), language_code="ru")
        fill_application(chat)
        chat.press("Отправить")
        notice = notice_of(client, ops_chat, chat.user_id)
        presses = [chat.updates.callback(f"vo:a:{chat.user_id}", user_id=who, message=notice)
                   for who in (ops_ids[0], ops_ids[1], ops_ids[0])]
        since = last_seq(client)
        assert post_together(stack, presses) == [200] * 3
        decisions = db.document(f"vets/{chat.user_id}").get().to_dict()["decisions"]
        assert [d["action"] for d in decisions] == ["apply", "approve"]
        answers = [c["params"].get("text", "") for c in client.calls("answerCallbackQuery", since=since)]
        assert sum("Одобрено" in a for a in answers) == 1
        told = [c for c in client.calls("sendMessage", since=since) if str(c["params"]["chat_id"]) == str(chat.user_id)]
        assert len(told) == 1
        assert_callbacks_answered_once(client, presses)


@pytest.mark.parametrize("presses", [2, 6])
def test_the_applications_last_button_tapped_at_once_makes_one_application(stack, client, db, presses):
    _, ops_chat = ops(stack)
    chat = OwnerChat(client, user_id=next(_USERS), language_code="ru")
    fill_application(chat)
    message, data = chat._find_button("Отправить")
    updates = [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
               for _ in range(presses)]
    since = last_seq(client)
    assert post_together(stack, updates) == [200] * presses
    doc = db.document(f"vets/{chat.user_id}").get().to_dict()
    assert [d["action"] for d in doc["decisions"]] == ["apply"]
    notices = [m for m in client.messages(ops_chat) if f"#{chat.user_id}" in m.get("text", "") and "Новая" in m["text"]]
    assert len(notices) == 1
    sent = [c["params"].get("text", "") for c in client.calls(since=since)
            if str(c["params"].get("chat_id")) == str(chat.user_id)]
    assert sum("Заявка отправлена" in t for t in sent) == 1
    assert_callbacks_answered_once(client, updates)


# ---- erasure racing a vet's writes -------------------------------------------------------------

def _at_documents(chat: OwnerChat) -> None:
    chat.send("/start")
    chat.press("Согласен")
    for text in ("/vet", "Мария Лебедева", "Екатеринбург", "УрГАУ, 2015"):
        chat.send(text)


def _document(chat):
    _at_documents(chat)
    info = chat.client.put_file(jpeg(seed=5), name="d.jpg", mime_type="image/jpeg")
    return [chat.updates.photo(info, user_id=chat.user_id) for _ in range(2)]


def _submit(chat):
    fill_application(chat)
    message, data = chat._find_button("Отправить")
    return [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)]


def vet_objects(stack, user_id: int) -> list[str]:
    from shared.services import vets as vet_service

    bucket = storage.Client(project=stack["project"], credentials=AnonymousCredentials()).bucket(stack["photos_bucket"])
    return [b.name for kind in vet_service.KINDS
            for b in bucket.list_blobs(prefix=vet_service.photo_folder(user_id, kind))]


@pytest.mark.parametrize("kind", ["document upload", "submit"])
def test_erasure_wins_against_a_vets_writes(stack, client, db, kind):
    import time

    for delay in (0.0, 0.05):
        chat = OwnerChat(client, user_id=next(_USERS), language_code="ru")
        writes = {"document upload": _document, "submit": _submit}[kind](chat)
        chat.send("/privacy")
        chat.press("Удалить мои данные")
        message, data = chat._find_button("Да, удалить всё")
        forget = chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
        assert set(post_together(stack, writes + [forget], delays=[0.0] * len(writes) + [delay])) == {200}
        deadline = time.monotonic() + 10
        while vet_objects(stack, chat.user_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert vet_objects(stack, chat.user_id) == []
        assert not db.document(f"vets/{chat.user_id}").get().exists
        assert not db.document(f"users/{chat.user_id}").get().exists

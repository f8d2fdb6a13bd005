"""Updates of one person racing each other, posted straight to the webhook function from threads
released together (as Telegram does with max_connections=40: the Bot API double's own delivery spaces
updates out and would hide these races). State is read back from the Firestore and Storage emulators.

- a double tap on a dialog's last button, or parallel answers to one question: exactly one advances
  the dialog; the others are told the step is taken; every button press is answered exactly once;
- erasure racing each kind of write (dialog step, weight, treatment, reminder button, photo intake):
  afterwards nothing of the person is left, and nothing is ever sent to them again.
"""
from __future__ import annotations

import functools
import itertools
import threading
import time

import httpx
import pytest
from google.cloud import firestore

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from shared.bot.webhook import SECRET_HEADER
from tests.test_photo_hostile import jpeg

pytestmark = pytest.mark.e2e

_USERS = itertools.count(870001)


@pytest.fixture
def client(stack):
    with BotApiDoubleClient(stack["telegram_api_base"]) as c:
        yield c


@pytest.fixture
def db(stack):
    return firestore.Client(project=stack["project"])


def together(calls: list) -> list:
    """Runs each call(ready) in a thread of its own: ready() returns once every call has called it, so
    what each does next happens at the same moment. Their results, in order."""
    gate = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def ready() -> None:
        gate.wait()

    def run(i: int) -> None:
        results[i] = calls[i](ready)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(90)
    return results


def post_update(stack, update: dict, ready, delay: float = 0.0) -> int:
    """One delivery for `together`: posts the update to the webhook function `delay` after the moment, on a
    connection of its own; what the webhook answers with a method (a press's answer) is then executed, as
    Telegram does."""
    with httpx.Client(timeout=60) as http, BotApiDoubleClient(stack["telegram_api_base"]) as telegram:
        ready()
        time.sleep(delay)
        response = http.post(stack["functions"]["telegram_webhook"], json=update,
                             headers={SECRET_HEADER: stack["webhook_secret"]})
        if response.status_code == 200:
            telegram.webhook_reply(response)
        return response.status_code


def post_together(stack, updates: list[dict], delays: list[float] | None = None) -> list[int]:
    """Posts every update to the webhook function at the same moment (or `delays` after it)."""
    return together([functools.partial(post_update, stack, u, delay=delays[i] if delays else 0.0)
                     for i, u in enumerate(updates)])


def new_owner(client) -> OwnerChat:
    chat = OwnerChat(client, user_id=next(_USERS), language_code="ru")
    chat.send("/start")
    chat.press("Согласен")
    return chat


def fill_pet_form_to_last_step(chat: OwnerChat) -> None:
    chat.press("Добавить питомца")
    chat.press("Собака")
    chat.send("Рекс")
    chat.press("Метис")
    chat.press("Мальчик")
    chat.send("3")
    chat.send("12")  # the last question: neutered? (buttons)


def with_pet(chat: OwnerChat) -> OwnerChat:
    fill_pet_form_to_last_step(chat)
    chat.press("Да")
    return chat


def pets_of(db, user_id: int) -> list[dict]:
    return [d.to_dict() for d in db.collection(f"users/{user_id}/pets").stream()]


def records_of(db, user_id: int) -> list[str]:
    """Every document left of a person: their record, anything below it (orphans too), reminders."""
    found = [f"reminders/{d.id}" for d in
             db.collection("reminders").where(filter=firestore.FieldFilter("owner_id", "==", user_id)).stream()]
    root = db.document(f"users/{user_id}")
    if root.get().exists:
        found.append(root.path)

    def walk(doc_ref) -> None:
        for collection in doc_ref.collections():
            for doc in collection.list_documents():  # includes documents that exist only as parents
                if doc.get().exists:
                    found.append(doc.path)
                walk(doc)

    walk(root)
    return found


def photos_of(stack, user_id: int) -> list[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(project=stack["project"], credentials=AnonymousCredentials()).bucket(stack["photos_bucket"])
    return [b.name for b in bucket.list_blobs(prefix="photos/") if (b.metadata or {}).get("owner_id") == str(user_id)]


def assert_callbacks_answered_once(client, updates: list[dict]) -> None:
    ids = {u["callback_query"]["id"] for u in updates if "callback_query" in u}
    faults = client.callback_query_faults()
    bad = {kind: [q for q in queries if q.get("id") in ids] for kind, queries in faults.items()}
    assert not any(bad.values()), bad


def sent_to(client, user_id: int, since: int) -> list[dict]:
    return [c for c in client.calls(since=since) if str(c["params"].get("chat_id")) == str(user_id)
            and c["method"] in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText")]


def last_seq(client) -> int:
    return client.last_seq()


# ---- one person, one step, several updates -----------------------------------------------------

@pytest.mark.parametrize("presses", [2, 10])
def test_a_double_tap_on_the_pet_forms_last_button_adds_one_pet(stack, client, db, presses):
    for _ in range(3):
        chat = new_owner(client)
        fill_pet_form_to_last_step(chat)
        message, data = chat._find_button("Да")
        updates = [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
                   for _ in range(presses)]
        since = last_seq(client)
        assert post_together(stack, updates) == [200] * presses
        assert len(pets_of(db, chat.user_id)) == 1
        added = [c for c in sent_to(client, chat.user_id, since) if "добавлен" in c["params"].get("text", "")]
        assert len(added) == 1
        popups = [c for c in client.calls("answerCallbackQuery", since=since) if "устарела" in c["params"].get("text", "")]
        notes = [c for c in sent_to(client, chat.user_id, since) if "уже сделан" in c["params"].get("text", "")]
        assert len(popups) + len(notes) == presses - 1  # each loser is told, once
        assert_callbacks_answered_once(client, updates)


def test_a_double_tap_on_a_choice_moves_the_form_once_and_edits_its_question_once(stack, client, db):
    """A press in the middle of the form: the pressed question is edited into the next one by the winner
    only (in the webhook's response); the losers are told once and change nothing."""
    chat = new_owner(client)
    chat.press("Добавить питомца")
    message, data = chat._find_button("Собака")
    updates = [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id) for _ in range(4)]
    since = last_seq(client)
    assert post_together(stack, updates) == [200] * 4
    edits = [c for c in client.calls("editMessageText", since=since) if c["params"].get("message_id") in
             (message["message_id"], str(message["message_id"]))]
    assert [c["params"]["text"] for c in edits] == ["✓ Вид: 🐶 Собака\n\nКак зовут питомца?"]
    dialog = db.document(f"users/{chat.user_id}").get().to_dict()["dialog"]
    assert dialog["step"] == "name" and dialog["draft"] == {"species": "dog"}
    popups = [c for c in client.calls("answerCallbackQuery", since=since) if "устарела" in c["params"].get("text", "")]
    notes = [c for c in sent_to(client, chat.user_id, since) if "уже сделан" in c["params"].get("text", "")]
    assert len(popups) + len(notes) == 3
    assert_callbacks_answered_once(client, updates)


def test_parallel_answers_to_the_weight_question_save_one_weight(stack, client, db):
    chat = with_pet(new_owner(client))
    chat.send("/weight")
    updates = [chat.updates.message(f"12,{n}", user_id=chat.user_id) for n in range(1, 6)]
    since = last_seq(client)
    assert post_together(stack, updates) == [200] * 5
    [pet] = [d for d in db.collection(f"users/{chat.user_id}/pets").stream()]
    weights = [w.to_dict()["kg"] for w in pet.reference.collection("weights").stream()]
    assert len(weights) == 1 and pet.to_dict()["weight_kg"] == weights[0]
    texts = [c["params"]["text"] for c in sent_to(client, chat.user_id, since)]
    assert sum("Записал" in t for t in texts) == 1
    # a loser that read before the winner's commit is told the step is taken; one that read after it
    # finds no open question and gets the hint: either way told once, and nothing saved
    assert sum("уже сделан" in t or "Я понимаю команды" in t for t in texts) == 4


# ---- erasure racing each kind of write ---------------------------------------------------------

def _dialog_step(chat):
    fill_pet_form_to_last_step(chat)
    message, data = chat._find_button("Да")
    return [chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)]


def _weight(chat):
    with_pet(chat).send("/weight")
    return [chat.updates.message("12,5", user_id=chat.user_id), chat.updates.command("weight", "12,7", user_id=chat.user_id)]


def _treatment(chat):
    with_pet(chat).send("/vaccines")
    chat.press("Добавить")
    chat.press("Прививка")
    chat.send("Нобивак")
    chat.press("Сегодня")
    return [chat.updates.callback("dyd:n:365", user_id=chat.user_id)]


def _reminder_button(chat, db):
    updates = _treatment(chat)
    chat.send_update(updates[0], "[next due]")
    [pet] = list(db.collection(f"users/{chat.user_id}/pets").stream())
    [treatment] = list(pet.reference.collection("treatments").stream())
    return [chat.updates.callback(f"rm:{action}:{pet.id}:{treatment.id}:b", user_id=chat.user_id)
            for action in ("d", "s")]


def _photo(chat):
    with_pet(chat)
    info = chat.client.put_file(jpeg((900, 700)), name="skin.jpg", mime_type="image/jpeg")
    return [chat.updates.photo(info, user_id=chat.user_id, caption="кожа")]


WRITES = {"dialog step": _dialog_step, "weight": _weight, "treatment": _treatment,
          "reminder button": _reminder_button, "photo intake": _photo}


@pytest.mark.parametrize("kind", list(WRITES))
def test_erasure_wins_every_race(stack, client, db, kind):
    for delay in (0.0, 0.05):  # together, and erasure a moment after the write started
        chat = new_owner(client)
        make = WRITES[kind]
        writes = make(chat, db) if kind == "reminder button" else make(chat)
        chat.send("/privacy")
        chat.press("Удалить мои данные")
        message, data = chat._find_button("Да, удалить всё")
        forget = chat.updates.callback(data, message_id=message["message_id"], user_id=chat.user_id)
        raced = last_seq(client)
        statuses = post_together(stack, writes + [forget], delays=[0.0] * len(writes) + [delay])
        assert set(statuses) == {200}
        assert any("удалены" in c["params"].get("text", "") for c in client.calls(since=raced)
                   if str(c["params"].get("chat_id")) == str(chat.user_id))
        settled = last_seq(client)
        deadline = time.monotonic() + 30  # a photo uploaded during erasure is removed by its trigger
        while (records_of(db, chat.user_id) or photos_of(stack, chat.user_id)) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert records_of(db, chat.user_id) == []
        assert photos_of(stack, chat.user_id) == []
        _run_reminder_job(stack, "2030-01-01T10:00:00+00:00")
        time.sleep(0.5)
        assert sent_to(client, chat.user_id, settled) == []
        assert_callbacks_answered_once(client, writes + [forget])


def _run_reminder_job(stack, now: str) -> None:
    response = httpx.post(stack["functions"]["scheduled_jobs"], json={"job": "due_reminders", "now": now},
                          headers={"X-Jobs-Token": stack["jobs_auth_token"]}, timeout=60)
    assert response.status_code == 200, response.text

"""End to end: updates posted to the webhook function (functions-framework on the local stack), replies
read back from the Bot API double, state in the Firestore emulator."""
import os
import subprocess
import time

import httpx
import pytest

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from infra.local.stack import free_port
from shared.bot.webhook import SECRET_HEADER

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(stack):
    with BotApiDoubleClient(stack["telegram_api_base"]) as c:
        yield c


def _chat(client, user_id, lang):
    return OwnerChat(client, user_id=user_id, language_code=lang, first_name="Anna" if lang == "en" else "Анна")


def test_russian_owner_onboards_adds_edits_and_deletes_pets(client):
    chat = _chat(client, 810001, "ru")
    assert "Согласны на хранение данных?" in chat.send("/start").text
    chat.press("Согласен")
    chat.press("Добавить питомца")
    chat.press("Кошка")
    assert "не больше 40 символов" in chat.send("x" * 500).text
    chat.send("Мурка")
    chat.press("Британская")
    chat.press("Девочка")
    chat.send("2 года")
    assert "Не понял вес" in chat.send("abc").text
    chat.send("4,2")
    added = chat.press("Да")
    assert "Питомец «Мурка» добавлен" in added.text and "4,2 кг" in added.text
    listing = chat.send("/pets")
    assert [b for b, _ in chat.buttons()] == ["🐱 Мурка", "➕ Добавить питомца"]
    chat.press("Мурка")
    chat.press("Изменить")
    chat.press("Вес")
    assert "4,5 кг" in chat.send("4,5").text
    chat.press("Удалить")
    assert "Профиль «Мурка» удалён" in chat.press("Да, удалить").text
    assert "нет питомцев" in chat.send("/pets").text
    assert listing.statuses == [200]


def test_english_owner_gets_english_replies(client):
    chat = _chat(client, 810002, "en")
    assert "Do you agree" in chat.send("/start").text
    chat.press("I agree")
    chat.press("Add a pet")
    chat.press("Reptile")
    chat.send("Spike")
    chat.press("Mixed")
    chat.press("Unknown")
    assert "That date is in the future." in chat.send("01.01.2099").text
    chat.send("2 years")
    chat.send("350 g")
    done = chat.press("Not sure")
    assert "Spike has been added" in done.text and "350 g" in done.text


def test_forged_requests_change_nothing(stack, client):
    url = stack["functions"]["telegram_webhook"]
    update = {"update_id": 99000001, "message": {"message_id": 1, "date": 0, "text": "/start",
                                                 "chat": {"id": 810003, "type": "private"},
                                                 "from": {"id": 810003, "is_bot": False, "first_name": "X"},
                                                 "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    before = len(client.calls())
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: stack["webhook_secret"] + "x"}):
        assert httpx.post(url, json=update, headers=headers).status_code == 403
    assert len(client.calls()) == before
    # the same update with the right secret was never marked processed: it still works
    assert httpx.post(url, json=update, headers={SECRET_HEADER: stack["webhook_secret"]}).status_code == 200
    assert client.calls(method="sendMessage")[-1]["params"]["chat_id"] == 810003


def test_a_redelivered_update_has_exactly_one_effect(client):
    chat = _chat(client, 810004, "ru")
    chat.send("/start")
    chat.press("Согласен")
    chat.press("Добавить питомца")
    chat.press("Собака")
    update = chat.updates.message("Шарик", user_id=chat.user_id)
    turn = chat.send_update(update, "Шарик ×3", times=3)
    assert turn.statuses == [200, 200, 200]
    assert [c["method"] for c in turn.calls] == ["sendMessage"]  # one question about the breed
    chat.press("Метис")
    chat.press("Мальчик")
    chat.press("Не знаю")
    chat.press("Взвешу позже")
    chat.press("Нет")
    chat.send("/pets")
    assert [b for b, _ in chat.buttons()] == ["🐶 Шарик", "➕ Добавить питомца"]


def _wait_until_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def test_a_dialog_resumes_on_another_instance(stack, local_stack, client):
    """The dialog lives in Firestore: a fresh function process picks it up mid-way."""
    chat = _chat(client, 810005, "ru")
    chat.send("/start")
    chat.press("Согласен")
    chat.press("Добавить питомца")
    chat.press("Кошка")
    port = free_port()
    env = dict(local_stack.stack.function_env(), K_SERVICE="telegram_webhook")
    other = subprocess.Popen(
        [os.path.join(os.path.dirname(os.sys.executable), "functions-framework"), "--source",
         "functions/telegram_webhook.py", "--target", "telegram_webhook", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_listening(port)
        client.set_webhook(f"http://127.0.0.1:{port}/", stack["webhook_secret"])
        assert "Порода питомца «Барсик»" in chat.send("Барсик").text
    finally:
        client.set_webhook(stack["functions"]["telegram_webhook"], stack["webhook_secret"])
        other.terminate()
        other.wait(10)
    assert "Пол питомца «Барсик»" in chat.press("Сибирская").text


def test_command_menus_are_published_per_language(stack, client):
    from infra.local.demo import publish_commands
    publish_commands(stack)
    menus = {c["params"].get("language_code", ""): c["params"]["commands"] for c in client.calls(method="setMyCommands")}
    assert menus["ru"][1] == {"command": "pets", "description": "Мои питомцы"}
    assert menus["en"][1] == {"command": "pets", "description": "My pets"}
    assert menus[""] == menus["ru"]

"""Tests of the Telegram Bot API double (infra/local/bot_api_double.py).

Real HTTP throughout: httpx for raw calls and python-telegram-bot's own ``Bot`` pointed at the
double, and a tiny local HTTP server standing in for the bot's webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from telegram import Bot, BotCommand, BotCommandScopeChat, InlineKeyboardButton
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest, RetryAfter

from infra.local.bot_api_double import (
    MAX_DOWNLOAD_SIZE,
    BotApiDouble,
    BotApiDoubleClient,
    UpdateFactory,
)

TOKEN = "123456789:AAtest-token_for_the_double"
CHAT = 424242001
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def double():
    with BotApiDouble(TOKEN) as d:
        yield d


@pytest.fixture()
def api(double):
    with httpx.Client(base_url=double.api_url, timeout=10) as http:
        yield http


@pytest.fixture()
def control(double):
    with BotApiDoubleClient(double.base_url) as c:
        yield c


def ptb_bot(double: BotApiDouble) -> Bot:
    return Bot(TOKEN, base_url=f"{double.base_url}/bot",
               base_file_url=f"{double.base_url}/file/bot")


def run(coro):
    return asyncio.run(coro)


class Webhook:
    """A tiny webhook receiver: records requests, answers statuses from a script."""

    def __init__(self, statuses=(200,), reply: dict | None = None):
        self.statuses = list(statuses)
        self.reply = reply
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"headers": dict(self.headers), "body": json.loads(body),
                                       "path": self.path})
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                data = json.dumps(outer.reply).encode() if outer.reply and status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/telegram/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ python-telegram-bot happy path


def test_ptb_send_edit_and_not_modified(double):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Кошка", callback_data="pet:cat")]])

    async def scenario():
        async with ptb_bot(double) as bot:
            assert bot.username == "telemed_pet_bot"
            assert bot.id == 123456789
            first = await bot.send_message(CHAT, "Привет!", reply_markup=markup)
            second = await bot.send_message(CHAT, "Второе")
            edited = await bot.edit_message_text("Кто у вас?", chat_id=CHAT,
                                                 message_id=first.message_id, reply_markup=markup)
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text("Кто у вас?", chat_id=CHAT,
                                            message_id=first.message_id, reply_markup=markup)
            with pytest.raises(BadRequest, match="(?i)message to edit not found"):
                await bot.edit_message_text("x", chat_id=CHAT, message_id=999)
            return first, second, edited

    first, second, edited = run(scenario())
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == CHAT and first.chat.type == "private"
    assert first.from_user.is_bot and first.text == "Привет!"
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "pet:cat"
    assert edited.text == "Кто у вас?" and edited.edit_date is not None
    stored = double.messages(CHAT)
    assert [m["text"] for m in stored] == ["Кто у вас?", "Второе"]
    assert stored[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Кошка"
    methods = [c["method"] for c in double.calls()]
    assert methods == ["getMe", "sendMessage", "sendMessage", "editMessageText",
                       "editMessageText", "editMessageText"]
    sent = double.calls(method="sendMessage")[0]
    # PTB posts form data with JSON-encoded nested fields; recorded params are decoded
    assert sent["params"]["chat_id"] == CHAT
    assert sent["params"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "pet:cat"
    assert sent["response"]["ok"] is True and sent["status"] == 200


def test_ptb_commands_per_scope_and_language(double):
    async def scenario():
        async with ptb_bot(double) as bot:
            await bot.set_my_commands([BotCommand("start", "Начать"), BotCommand("help", "Помощь")],
                                      language_code="ru")
            await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
            await bot.set_my_commands([BotCommand("vet", "Vet")], scope=BotCommandScopeChat(CHAT))
            ru = await bot.get_my_commands(language_code="ru")
            en = await bot.get_my_commands(language_code="en")
            chat = await bot.get_my_commands(scope=BotCommandScopeChat(CHAT))
            default = await bot.get_my_commands()
            with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
                await bot.set_my_commands([BotCommand("Bad-Command", "x")])
            return ru, en, chat, default

    ru, en, chat, default = run(scenario())
    assert [(c.command, c.description) for c in ru] == [("start", "Начать"), ("help", "Помощь")]
    assert [c.description for c in en] == ["Start"]
    assert [c.command for c in chat] == ["vet"]
    assert default == ()


def test_ptb_get_file_download_and_upload(double):
    photo = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (1600).to_bytes(4, "big") \
        + (1200).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + bytes(range(256)) * 4
    user_file = double.put_file(photo, "dog.png")
    assert user_file["file_size"] == len(photo)
    assert user_file["width"] == 1600 and user_file["height"] == 1200

    async def scenario():
        async with ptb_bot(double) as bot:
            f = await bot.get_file(user_file["file_id"])
            downloaded = bytes(await f.download_as_bytearray())
            sent = await bot.send_document(CHAT, document=b"%PDF-1.4 report", filename="report.pdf",
                                           caption="Отчёт")
            sent_photo = await bot.send_photo(CHAT, photo=photo, caption="Фото")
            again = await bot.get_file(sent.document.file_id)
            again_bytes = bytes(await again.download_as_bytearray())
            return f, downloaded, sent, sent_photo, again_bytes

    f, downloaded, sent, sent_photo, again_bytes = run(scenario())
    assert f.file_unique_id == user_file["file_unique_id"]
    assert f.file_size == len(photo)
    assert downloaded == photo
    assert sent.document.file_name == "report.pdf"
    assert sent.document.mime_type == "application/pdf"
    assert sent.caption == "Отчёт"
    assert again_bytes == b"%PDF-1.4 report"
    assert sent_photo.photo[-1].width == 1600 and sent_photo.photo[0].width <= 90
    call = double.calls(method="sendPhoto")[0]
    assert call["files"][0]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert call["files"][0]["size"] == len(photo)
    assert double.file_bytes(call["files"][0]["file_id"]) == photo


def test_file_too_big(double, control):
    big = control.put_file(b"\0" * (MAX_DOWNLOAD_SIZE + 1), "video.mp4")
    ok = control.put_file(b"\0" * 10, "small.mp4")

    async def scenario():
        async with ptb_bot(double) as bot:
            with pytest.raises(BadRequest, match="(?i)file is too big"):
                await bot.get_file(big["file_id"])
            with pytest.raises(BadRequest, match="(?i)wrong file_id"):
                await bot.get_file("nope")
            return await bot.get_file(ok["file_id"])

    assert run(scenario()).file_size == 10
    failed = double.calls(method="getFile")[0]
    assert failed["status"] == 400
    assert failed["response"] == {"ok": False, "error_code": 400,
                                  "description": "Bad Request: file is too big"}
    fake = control.put_file(b"x", "huge.mp4", fake_size=MAX_DOWNLOAD_SIZE + 1)
    r = httpx.post(f"{double.api_url}/getFile", json={"file_id": fake["file_id"]})
    assert r.status_code == 400 and r.json()["description"] == "Bad Request: file is too big"


# ------------------------------------------------------------------ raw HTTP errors and parsing


def test_wrong_token_unknown_method(double):
    r = httpx.post(f"{double.base_url}/bot123:WRONG/getMe")
    assert r.status_code == 401
    assert r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    r = httpx.post(f"{double.api_url}/sendMessages", json={"chat_id": 1, "text": "x"})
    assert r.status_code == 404
    assert r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    r = httpx.get(f"{double.base_url}/file/bot123:WRONG/photos/file_1.jpg")
    assert r.status_code == 401


def test_method_names_case_insensitive_and_query_string(api, double):
    r = api.get("/SENDMESSAGE", params={"chat_id": "77", "text": "hi"})
    assert r.status_code == 200 and r.json()["result"]["chat"]["id"] == 77
    assert double.calls()[0]["method"] == "sendMessage"
    assert api.get("/getme").json()["result"]["is_bot"] is True


def test_unknown_and_missing_and_typed_parameters(api):
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "x", "reply_murkup": {}})
    assert r.status_code == 400
    body = r.json()
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ") and "reply_murkup" in body["description"]

    r = api.post("/sendMessage", json={"text": "x"})
    assert r.status_code == 400 and "chat_id" in r.json()["description"]
    r = api.post("/deleteMessage", json={"chat_id": 1})
    assert r.status_code == 400 and "message_id" in r.json()["description"]
    r = api.post("/deleteMessage", json={"chat_id": 1, "message_id": "abc"})
    assert r.status_code == 400 and "Integer" in r.json()["description"]
    r = api.post("/sendMessage", data={"chat_id": "1", "text": "x", "reply_markup": "{not json"})
    assert r.status_code == 400
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "x",
                                       "reply_markup": {"inline_keyboard": [[
                                           {"text": "b", "callback_data": "x" * 65}]]}})
    assert r.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    # any other known method answers true
    r = api.post("/setChatMenuButton", json={"chat_id": 1})
    assert r.json() == {"ok": True, "result": True}


def test_text_empty_and_too_long(api, double):
    r = api.post("/sendMessage", json={"chat_id": 1, "text": ""})
    assert r.json()["description"] == "Bad Request: message text is empty"
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "я" * 4097})
    assert r.status_code == 400
    assert r.json()["description"] == "Bad Request: message is too long"
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "я" * 4096})
    assert r.status_code == 200
    # HTML is parsed: length counts text after entities; bad markup is refused
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "<b>" + "a" * 4096 + "</b>",
                                       "parse_mode": "HTML"})
    assert r.status_code == 200 and r.json()["result"]["entities"][0]["type"] == "bold"
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "<b>open", "parse_mode": "HTML"})
    assert r.status_code == 400 and "can't parse entities" in r.json()["description"]
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "1.5 kg", "parse_mode": "MarkdownV2"})
    assert r.status_code == 400 and "reserved" in r.json()["description"]
    assert [m["message_id"] for m in double.messages(1)] == [1, 2]


def test_message_store_edit_markup_and_delete(api, control):
    kb = {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]}
    msg = api.post("/sendMessage", data={"chat_id": "5", "text": "Вопрос?",
                                         "reply_markup": json.dumps(kb)}).json()["result"]
    assert msg["reply_markup"] == kb
    r = api.post("/editMessageReplyMarkup", json={"chat_id": 5, "message_id": msg["message_id"],
                                                  "reply_markup": kb})
    assert r.status_code == 400 and "message is not modified" in r.json()["description"]
    r = api.post("/editMessageReplyMarkup", json={"chat_id": 5, "message_id": msg["message_id"]})
    assert r.status_code == 200 and "reply_markup" not in r.json()["result"]
    assert "reply_markup" not in control.messages(5)[0]
    assert api.post("/deleteMessage", json={"chat_id": 5, "message_id": 1}).json()["result"] is True
    assert control.messages(5) == []
    r = api.post("/deleteMessage", json={"chat_id": 5, "message_id": 1})
    assert r.json()["description"] == "Bad Request: message to delete not found"
    r = api.post("/sendChatAction", json={"chat_id": 5, "action": "typing"})
    assert r.json() == {"ok": True, "result": True}
    r = api.post("/answerCallbackQuery", json={"callback_query_id": "1", "text": "ok"})
    assert r.json() == {"ok": True, "result": True}
    inv = api.post("/sendInvoice", json={"chat_id": 5, "title": "Консультация",
                                         "description": "30 минут", "payload": "c1",
                                         "currency": "XTR",
                                         "prices": [{"label": "Консультация", "amount": 50}]})
    assert inv.json()["result"]["invoice"]["total_amount"] == 50
    assert api.post("/answerPreCheckoutQuery",
                    json={"pre_checkout_query_id": "q", "ok": True}).json()["result"] is True


def test_control_calls_since_reset_and_inject(api, control, double):
    assert control.last_seq() == 0
    api.post("/sendMessage", json={"chat_id": 1, "text": "a"})
    api.post("/getMe")
    seen = control.calls()
    assert [c["method"] for c in seen] == ["sendMessage", "getMe"]
    assert control.last_seq() == double.last_seq() == seen[-1]["seq"]
    api.post("/sendMessage", json={"chat_id": 1, "text": "b"})
    newer = control.calls(method="sendMessage", since=seen[-1]["seq"])
    assert [c["params"]["text"] for c in newer] == ["b"]
    assert all("ts" in c and "response" in c and "files" in c for c in newer)
    control.inject_error("sendMessage", 429, retry_after=3)
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "c"})
    assert r.status_code == 429 and r.json()["parameters"] == {"retry_after": 3}
    control.block(1)
    assert api.post("/sendMessage", json={"chat_id": 1, "text": "d"}).status_code == 403
    control.reset()
    assert control.calls() == [] and control.messages(1) == [] and control.last_seq() == 0
    assert api.post("/sendMessage", json={"chat_id": 1, "text": "e"}).json()["result"]["message_id"] == 1


def test_answers_come_without_a_nagle_stall(double):
    """Headers and body leave together: a keep-alive client is not held ~40 ms per call by Nagle's
    algorithm waiting on the client's delayed ACK (every call took 44 ms before)."""
    async def scenario():
        async with ptb_bot(double) as bot:
            times = []
            for i in range(15):
                started = time.perf_counter()
                await bot.send_message(CHAT, f"ping {i}")
                times.append(time.perf_counter() - started)
            return sorted(times)[len(times) // 2]

    assert run(scenario()) < 0.02


# ------------------------------------------------------------------ callback queries: exactly one answer


def test_second_answer_to_a_callback_query_is_refused_like_telegram(double, control):
    updates = UpdateFactory(double)
    pressed = updates.callback("pet:add", user_id=CHAT)["callback_query"]
    ignored = updates.callback("pets:list", user_id=CHAT)["callback_query"]
    delivered = {"update_id": 1, "callback_query": {**pressed, "id": "delivered-1", "data": "x"}}
    double.deliver(delivered)  # no webhook set: still a query Telegram made and waits to see answered

    async def scenario():
        async with ptb_bot(double) as bot:
            assert await bot.answer_callback_query(pressed["id"]) is True
            with pytest.raises(BadRequest, match="(?i)query is too old and response timeout expired"):
                await bot.answer_callback_query(pressed["id"], text="again")
            assert await bot.answer_callback_query("built-by-hand") is True  # unknown id: accepted once

    run(scenario())
    refused = double.calls(method="answerCallbackQuery")[1]
    assert refused["status"] == 400 and refused["response"] == {
        "ok": False, "error_code": 400,
        "description": "Bad Request: query is too old and response timeout expired or query ID is invalid"}
    faults = double.callback_query_faults()
    assert faults == control.callback_query_faults()
    assert faults["answered_twice"] == [{"id": pressed["id"], "data": "pet:add", "answers": 1, "refused": 1}]
    assert [(q["id"], q["data"]) for q in faults["unanswered"]] == [(ignored["id"], "pets:list"),
                                                                     ("delivered-1", "x")]
    # a failed (injected) answer is no answer: the retry is the first real one
    double.inject_error("answerCallbackQuery", 502)
    assert httpx.post(f"{double.api_url}/answerCallbackQuery",
                      json={"callback_query_id": ignored["id"]}).status_code == 502
    assert httpx.post(f"{double.api_url}/answerCallbackQuery",
                      json={"callback_query_id": ignored["id"]}).json() == {"ok": True, "result": True}
    assert [q["id"] for q in double.callback_query_faults()["unanswered"]] == ["delivered-1"]
    control.register_callback_query({"id": "via-control", "data": "d"})
    assert [q["id"] for q in control.callback_query_faults()["unanswered"]] == ["delivered-1", "via-control"]
    double.reset()
    assert double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


# ------------------------------------------------------------------ failure injection


def test_scripted_failures_for_the_next_n_calls(double, control, api):
    control.inject_error("sendMessage", 502, count=2, html=True)  # Telegram's front nginx
    control.inject_error("sendMessage", 429, retry_after=2)
    for _ in range(2):
        r = api.post("/sendMessage", json={"chat_id": 1, "text": "a"})
        assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in r.text
    r = api.post("/sendMessage", json={"chat_id": 1, "text": "a"})
    assert r.status_code == 429 and r.json() == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2}}
    assert api.post("/sendMessage", json={"chat_id": 1, "text": "a"}).status_code == 200
    assert [m["text"] for m in double.messages(1)] == ["a"]  # failed calls did nothing
    assert [c["status"] for c in double.calls(method="sendMessage")] == [502, 502, 429, 200]
    assert double.calls()[0]["response"]["html"].startswith("<html>")

    control.inject_error("editMessageText", 500, count=1)
    control.inject_error("getMe", 504, delay=0.3)
    assert api.post("/editMessageText", json={"chat_id": 1, "message_id": 1, "text": "b"}).json() == {
        "ok": False, "error_code": 500, "description": "Internal Server Error"}
    started = time.perf_counter()
    assert api.post("/getMe").status_code == 504
    assert time.perf_counter() - started >= 0.3
    assert api.post("/getMe").status_code == 200

    async def flood():
        double.inject_error("sendMessage", 429)  # Telegram always says how long to wait
        async with ptb_bot(double) as bot:
            with pytest.raises(RetryAfter, match="Retry in 1 second"):
                await bot.send_message(1, "x")

    run(flood())


# ------------------------------------------------------------------ webhook delivery


def test_webhook_delivery_secret_and_redelivery_on_500(double, control):
    updates = UpdateFactory(double)
    with Webhook(statuses=[500, 200]) as hook:
        control.set_webhook(hook.url, "s3cr3t-token")
        update = updates.message("Привет", CHAT)
        del update["update_id"]
        res = control.deliver(update, retries=3, backoff=0.01)
        assert res["statuses"] == [500, 200]
        assert res["delivered"] is True
        assert len(hook.requests) == 2
        for req in hook.requests:
            assert req["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t-token"
            assert req["headers"]["Content-Type"] == "application/json"
            assert req["path"] == "/telegram/webhook"
        assert hook.requests[0]["body"] == hook.requests[1]["body"]
        assert hook.requests[0]["body"]["update_id"] == res["update_id"]
        nxt = control.deliver(updates.message("ещё", CHAT), backoff=0.01)
        assert nxt["statuses"] == [200]

        # the same update delivered twice (Telegram redelivers after a lost answer)
        hook.requests.clear()
        dup = control.deliver(updates.command("start"), times=2, backoff=0.01)
        assert dup["statuses"] == [200, 200] and dup["deliveries"] == 2
        assert hook.requests[0]["body"] == hook.requests[1]["body"]
        assert hook.requests[0]["body"]["message"]["entities"][0]["type"] == "bot_command"

        hook.statuses = [500]
        failed = control.deliver(updates.message("x", CHAT), retries=3, backoff=0.01)
        assert failed["statuses"] == [500, 500, 500] and failed["delivered"] is False
    info = httpx.get(f"{double.api_url}/getWebhookInfo").json()["result"]
    assert info["url"] == hook.url
    assert info["last_error_message"].startswith("Wrong response from the webhook: 500")


def test_update_ids_increment_and_connection_errors(double):
    with Webhook() as hook:
        url = hook.url
        double.set_webhook(url)
        a = double.deliver({"message": {"message_id": 1, "date": 0, "text": "a",
                                        "chat": {"id": 9, "type": "private"}}})
        b = double.deliver({"message": {"message_id": 2, "date": 0, "text": "b",
                                        "chat": {"id": 9, "type": "private"}}})
        assert b["update_id"] == a["update_id"] + 1
        assert "X-Telegram-Bot-Api-Secret-Token" not in hook.requests[0]["headers"]
    res = double.deliver({"message": {}}, retries=2, backoff=0.01)  # receiver is gone now
    assert res["statuses"] == [0, 0] and res["delivered"] is False
    assert res["attempts"][0]["error"]


def test_set_webhook_from_bot_then_reply_in_webhook_response(double):
    reply = {"method": "sendMessage", "chat_id": CHAT, "text": "ответ из вебхука"}
    with Webhook(reply=reply) as hook:
        async def scenario():
            async with ptb_bot(double) as bot:
                assert await bot.set_webhook(hook.url, secret_token="abc_DEF-1")
                with pytest.raises(BadRequest, match="(?i)secret token"):
                    await bot.set_webhook(hook.url, secret_token="bad secret!")
                await bot.set_webhook(hook.url, secret_token="abc_DEF-1")
                return await bot.get_webhook_info()

        info = run(scenario())
        assert info.url == hook.url
        res = double.deliver(UpdateFactory(double).message("hi", CHAT))
        assert res["delivered"]
        assert hook.requests[0]["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "abc_DEF-1"
    assert double.messages(CHAT)[-1]["text"] == "ответ из вебхука"
    assert double.calls(method="sendMessage")[-1]["source"] == "webhook_reply"


# ------------------------------------------------------------------ update factory


def test_update_factory_shapes_parse_with_ptb(double, api):
    kb = {"inline_keyboard": [[{"text": "Собака", "callback_data": "pet:dog"}]]}
    sent = api.post("/sendMessage", json={"chat_id": CHAT, "text": "Кто у вас?",
                                          "reply_markup": kb}).json()["result"]
    f = UpdateFactory(double)
    msg = f.message("Здравствуйте", CHAT)
    assert msg["message"]["from"] == {"id": CHAT, "is_bot": False, "first_name": "Анна",
                                      "username": "anna_pets", "language_code": "ru"}
    assert msg["message"]["chat"]["type"] == "private"
    assert msg["message"]["message_id"] > sent["message_id"]
    cb = f.callback("pet:dog", sent["message_id"], CHAT)
    assert cb["callback_query"]["message"] == sent
    latest = f.callback("pet:dog", user_id=CHAT)
    assert latest["callback_query"]["message"]["message_id"] == sent["message_id"]
    pic = double.put_file(b"\xff\xd8\xff\xe0" + b"\0" * 64, "cat.jpg")
    doc = double.put_file(b"%PDF-1.7", "analysis.pdf")
    bot = ptb_bot(double)
    built = [
        msg, cb, f.command("start", "ref42", CHAT, language_code="en"),
        f.photo(pic, CHAT, caption="Кот чихает"), f.document(doc, "application/pdf", CHAT),
        f.edited_message("Исправлено", msg["message"]["message_id"], CHAT), f.sticker(CHAT),
        f.channel_post("Новости"), f.voice(doc, 4, CHAT), f.contact(user_id=CHAT),
        f.pre_checkout_query("c1", 50, user_id=CHAT), f.successful_payment("c1", 50, user_id=CHAT),
        f.my_chat_member("kicked", user_id=CHAT),
    ]
    ids = [u["update_id"] for u in built]
    assert len(set(ids)) == len(ids)
    parsed = [Update.de_json(u, bot) for u in built]
    assert parsed[1].callback_query.message.reply_markup.inline_keyboard[0][0].text == "Собака"
    assert parsed[2].message.text == "/start ref42"
    assert parsed[2].message.from_user.language_code == "en"
    assert parsed[3].message.photo[-1].file_id == pic["file_id"]
    assert parsed[4].message.document.file_name == "analysis.pdf"
    assert parsed[5].edited_message.edit_date is not None
    assert parsed[7].channel_post.chat.type == "channel"
    assert parsed[12].my_chat_member.new_chat_member.status == "kicked"


# ------------------------------------------------------------------ subprocess CLI


def test_cli_prints_ready_and_serves():
    proc = subprocess.Popen(
        # "--secret=...": secrets are random URL-safe text and may start with "-" (as the stack passes them)
        [sys.executable, "-m", "infra.local.bot_api_double", "--port", "0", "--token", TOKEN,
         "--webhook-url", "http://127.0.0.1:9/hook", "--secret=-s"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split(" ", 1)[1]
        assert int(base.rsplit(":", 1)[1]) > 0
        assert httpx.get(f"{base}/bot{TOKEN}/getMe").json()["result"]["id"] == 123456789
        with BotApiDoubleClient(base) as c:
            assert c.webhook() == {"url": "http://127.0.0.1:9/hook", "secret": "-s"}
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0

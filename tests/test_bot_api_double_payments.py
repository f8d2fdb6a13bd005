"""The Bot API double's payments: invoices checked like Telegram, pre-checkout answers within 10 s and
only once, Stars refunds only of known unrefunded charges, and `pay` playing the updates as Telegram does."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from infra.local.bot_api_double import BotApiDouble, BotApiDoubleClient
from infra.local.yookassa_double import YooKassaDouble

TOKEN = "123456:PAYMENTS"
CHAT = 5150


class Bot:
    """A webhook that answers pre_checkout_query as told and records every update."""

    def __init__(self, double: BotApiDouble):
        self.double = double
        self.updates: list[dict] = []
        self.answer = {"ok": True}
        self.delay = 0.0
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                update = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                bot.updates.append(update)
                if "pre_checkout_query" in update:
                    time.sleep(bot.delay)
                    bot.last_answer = httpx.post(f"{double.api_url}/answerPreCheckoutQuery", json={
                        "pre_checkout_query_id": update["pre_checkout_query"]["id"], **bot.answer}).json()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        double.set_webhook(f"http://127.0.0.1:{self.server.server_address[1]}/")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def double():
    with BotApiDouble(TOKEN) as d:
        yield d


@pytest.fixture
def bot(double):
    b = Bot(double)
    yield b
    b.close()


@pytest.fixture
def api(double):
    with httpx.Client(base_url=double.api_url, timeout=20) as http:
        yield http


RUB = {"chat_id": CHAT, "title": "Консультация", "description": "30 минут, ветеринар", "payload": "bk1",
       "provider_token": "381764678:TEST:1", "currency": "RUB", "prices": [{"label": "Консультация", "amount": 150000}],
       "need_email": True, "send_email_to_provider": True, "provider_data": json.dumps({"receipt": {"items": []}})}
XTR = {"chat_id": CHAT, "title": "Консультация", "description": "30 минут", "payload": "bk2", "currency": "XTR",
       "prices": [{"label": "Консультация", "amount": 750}]}


def error(resp) -> str:
    assert resp.status_code == 400, resp.text
    return resp.json()["description"]


def test_invoices_are_checked_like_telegram(api):
    assert error(api.post("/sendInvoice", json={**RUB, "provider_token": ""})) == "Bad Request: PAYMENT_PROVIDER_INVALID"
    assert error(api.post("/sendInvoice", json={**XTR, "provider_token": "x"})) == "Bad Request: STARS_INVOICE_INVALID"
    assert error(api.post("/sendInvoice", json={**XTR, "prices": XTR["prices"] * 2})) == "Bad Request: STARS_INVOICE_INVALID"
    assert error(api.post("/sendInvoice", json={**RUB, "prices": [{"label": "x", "amount": 0}]})) == (
        "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    assert error(api.post("/sendInvoice", json={**RUB, "payload": "x" * 129})) == "Bad Request: INVOICE_PAYLOAD_INVALID"
    assert error(api.post("/sendInvoice", json={**RUB, "title": "x" * 33})) == "Bad Request: INVOICE_TITLE_INVALID"
    assert error(api.post("/sendInvoice", json={**RUB, "provider_data": "{"})) == "Bad Request: DATA_JSON_INVALID"
    assert error(api.post("/sendInvoice", json={**RUB, "currency": "rub"})) == "Bad Request: CURRENCY_INVALID"
    no_pay = {"inline_keyboard": [[{"text": "Отмена", "callback_data": "x"}]]}
    assert error(api.post("/sendInvoice", json={**RUB, "reply_markup": no_pay})) == "Bad Request: REPLY_MARKUP_BUY_EMPTY"
    sent = api.post("/sendInvoice", json=RUB).json()["result"]
    assert sent["invoice"] == {"title": "Консультация", "description": "30 минут, ветеринар", "start_parameter": "",
                               "currency": "RUB", "total_amount": 150000}
    link = api.post("/createInvoiceLink", json={k: v for k, v in XTR.items() if k != "chat_id"}).json()["result"]
    assert link.startswith("https://t.me/$")


def test_pay_plays_pre_checkout_then_successful_payment_with_the_provider_payment(double, bot, api):
    sent = api.post("/sendInvoice", json=RUB).json()["result"]
    with YooKassaDouble() as yookassa:
        paid = double.pay(sent, yookassa=yookassa)
        payment = yookassa.payment(paid["provider_payment_charge_id"])
    assert paid["ok"] and paid["answer"]["ok"] and paid["answer"]["elapsed"] < 10
    pre, message = bot.updates
    assert pre["pre_checkout_query"]["invoice_payload"] == "bk1"
    assert pre["pre_checkout_query"]["total_amount"] == 150000 and pre["pre_checkout_query"]["currency"] == "RUB"
    assert pre["pre_checkout_query"]["order_info"] == {"email": "owner@example.com"}  # need_email
    sp = message["message"]["successful_payment"]
    assert sp["telegram_payment_charge_id"] == paid["charge_id"]
    assert sp["provider_payment_charge_id"] == payment["id"] and payment["amount"]["value"] == "1500.00"
    assert message["message"]["from"]["id"] == CHAT and message["message"]["chat"]["id"] == CHAT


def test_a_refused_pre_checkout_charges_nothing(double, bot, api):
    bot.answer = {"ok": False, "error_message": "Время вышло"}
    sent = api.post("/sendInvoice", json=XTR).json()["result"]
    paid = double.pay(sent)
    assert paid["ok"] is False and paid["error_message"] == "Время вышло"
    assert double.charges() == [] and len(bot.updates) == 1


def test_pre_checkout_answers_are_refused_after_ten_seconds_and_the_second_time(double, bot, api):
    double.pre_checkout_timeout = 0.3  # Telegram's 10 s, shortened
    bot.delay = 0.5
    sent = api.post("/sendInvoice", json=XTR).json()["result"]
    paid = double.pay(sent)
    assert paid["ok"] is False and bot.last_answer["ok"] is False
    [query] = double.pre_checkout_answers()
    assert query["answers"] == [] and query["refused"][0]["elapsed"] >= 0.5
    bot.delay = 0.0
    double.pre_checkout_timeout = 10.0
    ok = double.pay(sent)
    assert ok["ok"]
    again = api.post("/answerPreCheckoutQuery", json={"pre_checkout_query_id": ok["pre_checkout"]["pre_checkout_query"]["id"],
                                                      "ok": True})
    assert "query is too old" in error(again)
    assert error(api.post("/answerPreCheckoutQuery", json={"pre_checkout_query_id": "z", "ok": False})) == (
        "Bad Request: ERROR_MESSAGE_EMPTY")


def test_star_refunds_only_for_a_known_charge_of_that_user_and_once(double, bot, api):
    sent = api.post("/sendInvoice", json=XTR).json()["result"]
    charge = double.pay(sent)["charge_id"]
    assert error(api.post("/refundStarPayment", json={"user_id": CHAT, "telegram_payment_charge_id": "nope"})) == (
        "Bad Request: CHARGE_NOT_FOUND")
    assert error(api.post("/refundStarPayment", json={"user_id": 1, "telegram_payment_charge_id": charge})) == (
        "Bad Request: USER_ID_INVALID")
    assert api.post("/refundStarPayment", json={"user_id": CHAT, "telegram_payment_charge_id": charge}).json()["result"]
    assert error(api.post("/refundStarPayment", json={"user_id": CHAT, "telegram_payment_charge_id": charge})) == (
        "Bad Request: CHARGE_ALREADY_REFUNDED")
    assert double.charges()[0]["refunded"] is True


def test_pay_through_the_control_api_and_without_delivering(double, bot, api):
    link = api.post("/createInvoiceLink", json={k: v for k, v in XTR.items() if k != "chat_id"}).json()["result"]
    with BotApiDoubleClient(double.base_url) as control:
        built = control.pay(link, user_id=CHAT, deliver=False)
        assert bot.updates == []  # nothing posted: the test posts them itself
        assert built["successful_payment"]["message"]["successful_payment"]["telegram_payment_charge_id"] == built["charge_id"]
        assert control.pre_checkout_answers(built["pre_checkout"]["pre_checkout_query"]["id"])[0]["answers"] == []
        assert [c["charge_id"] for c in control.charges()] == [built["charge_id"]]
        sent = api.post("/sendInvoice", json=XTR).json()["result"]
        assert control.invoice(sent)["payload"] == "bk2"
        assert control.pay(sent)["ok"] is True and len(bot.updates) == 2

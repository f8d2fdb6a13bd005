"""The YooKassa adapter (shared/adapters/yookassa.py) against the local double of YooKassa's API
(infra/local/yookassa_double.py), over real HTTP; receipts and notifications checked against the
copied schema (infra/local/providers/yookassa-v3-subset.schema.json)."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from infra.local.yookassa_double import (
    IDEMPOTENCE_TTL,
    YooKassaDouble,
    YooKassaDoubleClient,
    validator,
)
from shared.adapters.yookassa import (
    Notification,
    RetryPolicy,
    YooKassa,
    YooKassaBadRequest,
    YooKassaNotFound,
    YooKassaUnauthorized,
    YooKassaUnavailable,
    kopecks_to_value,
    notification_ip_allowed,
    parse_notification,
    provider_data,
    receipt_for,
    value_to_kopecks,
)
from shared.services.ports import PaymentProvider, ProviderPayment, ProviderRefund, WebhookRejected

ROOT = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(attempts=4, processing_attempts=5, backoff=0.01, max_pause=2.0, deadline=10.0)


@pytest.fixture()
def double():
    with YooKassaDouble() as d:
        yield d


@pytest.fixture()
async def kassa(double):
    async with YooKassa(double.shop_id, double.secret_key, base_url=double.api_url, retry=FAST,
                        timeout=2.0) as k:
        yield k


def refund_calls(double):
    return double.calls("POST /refunds")


# ---- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kopecks, value", [
    (0, "0.00"), (1, "0.01"), (10, "0.10"), (99, "0.99"), (100, "1.00"), (10000, "100.00"),
    (10001, "100.01"), (150050, "1500.50"), (99_999_999_999, "999999999.99"),
    (12345678901234567890, "123456789012345678.90"),
])
def test_amount_conversion_is_exact_both_ways(kopecks, value):
    assert kopecks_to_value(kopecks) == value
    assert value_to_kopecks(value) == kopecks


def test_amount_round_trip_over_a_range():
    for k in range(0, 100_001, 7):
        assert value_to_kopecks(kopecks_to_value(k)) == k


def test_amount_values_yookassa_might_write_shorter_are_read():
    assert value_to_kopecks("100") == 10000
    assert value_to_kopecks("100.5") == 10050
    assert value_to_kopecks("0.1") == 10


@pytest.mark.parametrize("bad", ["100.001", "-1.00", "1e3", "", " 1.00", "1.00\n", "1,00", "1.", ".50",
                                 "+1.00", "NaN", "１.00"])
def test_amount_values_that_are_not_whole_kopecks_are_refused(bad):
    with pytest.raises(ValueError):
        value_to_kopecks(bad)


@pytest.mark.parametrize("bad", [100.0, 1, None, b"1.00"])
def test_amount_values_must_be_strings(bad):
    with pytest.raises(TypeError):
        value_to_kopecks(bad)


@pytest.mark.parametrize("bad, exc", [(100.0, TypeError), (True, TypeError), ("100", TypeError),
                                      (-1, ValueError)])
def test_kopecks_must_be_non_negative_ints(bad, exc):
    with pytest.raises(exc):
        kopecks_to_value(bad)


# ---- refunds -------------------------------------------------------------------------------------


def test_the_adapter_has_the_ports_methods():
    for name in ("get_payment", "refund"):
        port = list(inspect.signature(getattr(PaymentProvider, name)).parameters)
        ours = list(inspect.signature(getattr(YooKassa, name)).parameters)
        assert ours[:len(port)] == port
        assert inspect.iscoroutinefunction(getattr(YooKassa, name))


async def test_refund_happy_path(double, kassa):
    payment = double.create_payment(150000, metadata={"booking": "b1"})
    refund = await kassa.refund(payment["id"], 50000, "booking-b1-refund")
    assert isinstance(refund, ProviderRefund)
    assert (refund.payment_id, refund.status, refund.amount_kopecks) == (payment["id"], "succeeded", 50000)
    assert len(refund.id) == 36

    [stored] = double.refunds(payment["id"])
    assert stored["id"] == refund.id and stored["amount"] == {"value": "500.00", "currency": "RUB"}
    [call] = refund_calls(double)
    assert call["idempotence_key"] == "booking-b1-refund"
    assert call["body"] == {"payment_id": payment["id"], "amount": {"value": "500.00", "currency": "RUB"}}
    assert call["status"] == 200

    seen = await kassa.get_payment(payment["id"])
    assert seen == ProviderPayment(id=payment["id"], status="succeeded", amount_kopecks=150000,
                                   currency="RUB", refunded_kopecks=50000, metadata={"booking": "b1"})


async def test_a_payment_without_refunds_has_nothing_refunded(double, kassa):
    payment = double.create_payment(9900)
    assert "refunded_amount" not in payment  # YooKassa adds it only once something is refunded
    seen = await kassa.get_payment(payment["id"])
    assert (seen.amount_kopecks, seen.refunded_kopecks, seen.status) == (9900, 0, "succeeded")


async def test_same_key_twice_makes_one_refund(double, kassa):
    payment = double.create_payment(10000)
    first = await kassa.refund(payment["id"], 10000, "key-1")
    second = await kassa.refund(payment["id"], 10000, "key-1")
    assert first == second
    assert len(double.refunds(payment["id"])) == 1
    assert len(refund_calls(double)) == 2


async def test_same_key_with_another_body_is_refused(double, kassa):
    payment = double.create_payment(10000)
    await kassa.refund(payment["id"], 3000, "key-1")
    with pytest.raises(YooKassaBadRequest) as err:
        await kassa.refund(payment["id"], 4000, "key-1")
    assert (err.value.status, err.value.code, err.value.parameter) == (400, "invalid_request",
                                                                        "Idempotence-Key")
    assert len(refund_calls(double)) == 2  # a 400 is not retried
    assert [r["amount"]["value"] for r in double.refunds(payment["id"])] == ["30.00"]


async def test_202_is_retried_with_the_same_key_after_retry_after_milliseconds(double, kassa):
    payment = double.create_payment(10000)
    double.inject(202, count=2, retry_after=150)
    started = time.monotonic()
    refund = await kassa.refund(payment["id"], 10000, "key-202")
    elapsed = time.monotonic() - started
    assert refund.status == "succeeded"
    assert 0.3 <= elapsed < 1.5, elapsed  # 2 x 150 ms, not 2 x 150 s capped at max_pause
    calls = refund_calls(double)
    assert [c["status"] for c in calls] == [202, 202, 200]
    assert {c["idempotence_key"] for c in calls} == {"key-202"}
    assert len({json.dumps(c["body"], sort_keys=True) for c in calls}) == 1
    assert len(double.refunds()) == 1


async def test_202_after_the_work_is_done_still_makes_one_refund(double, kassa):
    payment = double.create_payment(10000)
    double.inject(202, retry_after=20, execute=True)
    refund = await kassa.refund(payment["id"], 2500, "key-202x")
    assert [r["id"] for r in double.refunds()] == [refund.id]


async def test_500_after_the_refund_was_made_then_success_with_the_same_key(double, kassa):
    payment = double.create_payment(10000)
    double.inject(500, execute=True)  # YooKassa refunded but the answer was lost: "result unknown"
    refund = await kassa.refund(payment["id"], 10000, "key-500")
    calls = refund_calls(double)
    assert [c["status"] for c in calls] == [500, 200]
    assert {c["idempotence_key"] for c in calls} == {"key-500"}
    assert [r["id"] for r in double.refunds()] == [refund.id]


async def test_500s_before_the_work_then_success(double, kassa):
    payment = double.create_payment(10000)
    double.inject(503, count=2)
    double.inject(429, retry_after=10)
    refund = await kassa.refund(payment["id"], 10000, "key-5xx")
    assert [c["status"] for c in refund_calls(double)] == [503, 503, 429, 200]
    assert [r["id"] for r in double.refunds()] == [refund.id]


async def test_a_timeout_after_the_refund_was_made_does_not_refund_twice(double):
    payment = double.create_payment(10000)
    double.inject("timeout", execute=True, delay=1.0)
    async with YooKassa(double.shop_id, double.secret_key, base_url=double.api_url, retry=FAST,
                        timeout=0.3) as kassa:
        refund = await kassa.refund(payment["id"], 10000, "key-timeout")
    calls = refund_calls(double)
    assert [c["status"] for c in calls] == ["timeout", 200]
    assert {c["idempotence_key"] for c in calls} == {"key-timeout"}
    assert [r["id"] for r in double.refunds()] == [refund.id]


async def test_a_dropped_connection_is_retried(double, kassa):
    payment = double.create_payment(10000)
    double.inject("timeout", delay=0.05)  # hangs up before the client's timeout: no answer at all
    refund = await kassa.refund(payment["id"], 10000, "key-dropped")
    assert [c["status"] for c in refund_calls(double)] == ["timeout", 200]
    assert [r["id"] for r in double.refunds()] == [refund.id]


async def test_retries_are_bounded_and_the_same_key_works_later(double, kassa):
    payment = double.create_payment(10000)
    double.inject(500, count=10)
    with pytest.raises(YooKassaUnavailable) as err:
        await kassa.refund(payment["id"], 10000, "key-later")
    assert err.value.status == 500 and err.value.code == "internal_server_error"
    assert len(refund_calls(double)) == FAST.attempts
    assert double.refunds() == []
    double.reset()
    payment = double.create_payment(10000, payment_id=payment["id"])
    refund = await kassa.refund(payment["id"], 10000, "key-later")
    assert refund.status == "succeeded"


async def test_endless_processing_gives_up_with_result_unknown(double, kassa):
    payment = double.create_payment(10000)
    double.inject(202, count=50, retry_after=1)
    with pytest.raises(YooKassaUnavailable) as err:
        await kassa.refund(payment["id"], 10000, "key-202-forever")
    assert err.value.code == "processing"
    assert len(refund_calls(double)) == FAST.processing_attempts


async def test_the_deadline_stops_retrying(double):
    payment = double.create_payment(10000)
    double.inject(202, count=50, retry_after=60_000)  # "come back in a minute"
    policy = RetryPolicy(attempts=4, processing_attempts=50, backoff=0.01, max_pause=0.2, deadline=0.5)
    async with YooKassa(double.shop_id, double.secret_key, base_url=double.api_url, retry=policy) as kassa:
        started = time.monotonic()
        with pytest.raises(YooKassaUnavailable):
            await kassa.refund(payment["id"], 10000, "key-deadline")
    assert time.monotonic() - started < 1.5
    assert 2 <= len(refund_calls(double)) <= 4


async def test_over_refund_is_refused(double, kassa):
    payment = double.create_payment(10000)
    await kassa.refund(payment["id"], 6000, "r1")
    with pytest.raises(YooKassaBadRequest) as err:
        await kassa.refund(payment["id"], 4001, "r2")
    assert err.value.parameter == "amount.value"
    await kassa.refund(payment["id"], 4000, "r3")
    with pytest.raises(YooKassaBadRequest):
        await kassa.refund(payment["id"], 1, "r4")
    assert (await kassa.get_payment(payment["id"])).refunded_kopecks == 10000
    assert double.payment(payment["id"])["status"] == "succeeded"  # a refunded payment stays succeeded


@pytest.mark.parametrize("status", ["canceled", "pending", "waiting_for_capture"])
async def test_only_succeeded_payments_are_refunded(double, kassa, status):
    payment = double.create_payment(10000, status=status)
    with pytest.raises(YooKassaBadRequest) as err:
        await kassa.refund(payment["id"], 10000, f"k-{status}")
    assert err.value.parameter == "payment_id"
    assert double.refunds() == []


async def test_refund_currency_must_be_the_payments(double, kassa):
    payment = double.create_payment(10000)
    with pytest.raises(YooKassaBadRequest) as err:
        await kassa.refund(payment["id"], 10000, "k-usd", currency="USD")
    assert err.value.parameter == "amount.currency"


async def test_refund_of_an_unknown_payment_is_refused(kassa):
    with pytest.raises(YooKassaBadRequest) as err:
        await kassa.refund(str(uuid.uuid4()), 100, "k-unknown")
    assert err.value.parameter == "payment_id"


async def test_unknown_payment_is_404(double, kassa):
    with pytest.raises(YooKassaNotFound) as err:
        await kassa.get_payment(str(uuid.uuid4()))
    assert (err.value.status, err.value.code) == (404, "not_found")
    assert len(double.calls("GET /payments/{id}")) == 1  # not retried


async def test_bad_credentials_are_401_and_not_retried(double):
    payment = double.create_payment(10000)
    async with YooKassa(double.shop_id, "test_wrong", base_url=double.api_url, retry=FAST) as kassa:
        with pytest.raises(YooKassaUnauthorized) as err:
            await kassa.refund(payment["id"], 10000, "k-auth")
        assert (err.value.status, err.value.code) == (401, "invalid_credentials")
        with pytest.raises(YooKassaUnauthorized):
            await kassa.get_payment(payment["id"])
    async with YooKassa("999999", double.secret_key, base_url=double.api_url, retry=FAST) as kassa:
        with pytest.raises(YooKassaUnauthorized):
            await kassa.get_payment(payment["id"])
    assert len(double.calls()) == 3
    assert double.refunds() == []


@pytest.mark.parametrize("kopecks, value", [(1, "0.01"), (10000, "100.00"), (99_999_999_999, "999999999.99")])
async def test_amounts_on_the_wire_are_rouble_strings(double, kassa, kopecks, value):
    payment = double.create_payment(kopecks)
    assert payment["amount"]["value"] == value
    refund = await kassa.refund(payment["id"], kopecks, f"k-{kopecks}")
    assert refund.amount_kopecks == kopecks
    assert refund_calls(double)[0]["body"]["amount"] == {"value": value, "currency": "RUB"}
    assert (await kassa.get_payment(payment["id"])).refunded_kopecks == kopecks


async def test_client_refuses_bad_arguments_without_calling(double, kassa):
    pid = double.create_payment(10000)["id"]
    for args in [("short-id", 100, "k"), (pid, 0, "k"), (pid, -5, "k"), (pid, 100.0, "k"),
                 (pid, True, "k"), (pid, 100, ""), (pid, 100, "k" * 65), (pid, 100, "ключ")]:
        with pytest.raises(ValueError):
            await kassa.refund(*args)
    with pytest.raises(ValueError):
        await kassa.get_payment("../refunds")
    assert double.calls() == []


async def test_idempotence_keys_live_24_hours(double, kassa):
    payment = double.create_payment(10000)
    first = await kassa.refund(payment["id"], 1000, "k-day")
    double.advance(IDEMPOTENCE_TTL - 60)
    assert await kassa.refund(payment["id"], 1000, "k-day") == first
    double.advance(120)
    second = await kassa.refund(payment["id"], 1000, "k-day")
    assert second.id != first.id  # the key was forgotten: a new refund
    assert len(double.refunds()) == 2


async def test_pending_refund_settles_later():
    with YooKassaDouble(refund_status="pending") as double:
        async with YooKassa(double.shop_id, double.secret_key, base_url=double.api_url, retry=FAST) as k:
            payment = double.create_payment(10000)
            refund = await k.refund(payment["id"], 10000, "k-pending")
            assert refund.status == "pending"
            assert (await k.get_payment(payment["id"])).refunded_kopecks == 0
            with pytest.raises(YooKassaBadRequest):  # a pending refund counts against what is left
                await k.refund(payment["id"], 1, "k-more")
            double.set_refund_status(refund.id, "succeeded")
            assert (await k.get_refund(refund.id)).status == "succeeded"
            assert (await k.get_payment(payment["id"])).refunded_kopecks == 10000
            with pytest.raises(YooKassaNotFound):
                await k.get_refund(str(uuid.uuid4()))


# ---- the double's strictness (raw HTTP) ----------------------------------------------------------


def test_double_is_strict_about_requests(double):
    pid = double.create_payment(10000)["id"]
    auth = (double.shop_id, double.secret_key)
    ok_body = {"payment_id": pid, "amount": {"value": "1.00", "currency": "RUB"}}
    with httpx.Client(base_url=double.api_url, auth=auth, timeout=5) as http:
        def post(body, key="k", **kw):
            headers = {"Idempotence-Key": key} if key else {}
            return http.post("/refunds", json=body, headers=headers, **kw)

        for value in [100, "100", "1.5", "1.000", "-1.00"]:
            r = post({"payment_id": pid, "amount": {"value": value, "currency": "RUB"}})
            assert r.status_code == 400 and r.json()["parameter"] == "amount.value", (value, r.text)
        r = post({"payment_id": pid, "amount": {"value": "0.00", "currency": "RUB"}})
        assert (r.status_code, r.json()["parameter"]) == (400, "amount.value")
        r = post({"payment_id": "short", "amount": {"value": "1.00", "currency": "RUB"}})
        assert (r.status_code, r.json()["parameter"]) == (400, "payment_id")
        r = post({"amount": {"value": "1.00", "currency": "RUB"}})
        assert (r.status_code, r.json()["parameter"]) == (400, "payment_id")
        assert post(ok_body, key=None).json()["parameter"] == "Idempotence-Key"
        assert post(ok_body, key="x" * 65).json()["parameter"] == "Idempotence-Key"
        r = http.post("/refunds", content=b"payment_id=x", headers={
            "Idempotence-Key": "k", "Content-Type": "application/x-www-form-urlencoded"})
        assert (r.status_code, r.content) == (415, b"")
        r = http.delete("/refunds")
        assert (r.status_code, r.content) == (405, b"")
        r = http.post(f"/payments/{pid}", json={}, headers={"Idempotence-Key": "k"})
        assert (r.status_code, r.content) == (405, b"")
        r = http.get("/receipts")
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
        r = httpx.get(f"{double.api_url}/payments/{pid}", auth=(double.shop_id, "nope"))
        assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
        for bad in [r.json(), post(ok_body, key=None).json()]:
            assert not list(validator("Error").iter_errors(bad))
        assert post(ok_body).status_code == 200
    assert len(double.refunds()) == 1


def test_double_lists_refunds_newest_first(double):
    pid = double.create_payment(10000)["id"]
    other = double.create_payment(10000)["id"]
    auth = (double.shop_id, double.secret_key)
    with httpx.Client(base_url=double.api_url, auth=auth, timeout=5) as http:
        for i, p in enumerate([pid, other, pid, pid]):
            r = http.post("/refunds", json={"payment_id": p, "amount": {"value": "1.00", "currency": "RUB"}},
                          headers={"Idempotence-Key": f"k{i}"})
            assert r.status_code == 200
        page = http.get("/refunds", params={"payment_id": pid, "limit": 2}).json()
        assert not list(validator("RefundList").iter_errors(page))
        rest = http.get("/refunds", params={"payment_id": pid, "limit": 2,
                                            "cursor": page["next_cursor"]}).json()
        assert "next_cursor" not in rest
        ids = [r["id"] for r in page["items"] + rest["items"]]
        assert ids == [r["id"] for r in reversed(double.refunds(pid))]


# ---- receipts ------------------------------------------------------------------------------------


def test_receipt_builder_matches_the_schema():
    receipt = receipt_for(150000, "Видеоконсультация ветеринара, 30 мин", "owner@example.ru")
    assert not list(validator("Receipt").iter_errors(receipt))
    [item] = receipt["items"]
    assert item == {"description": "Видеоконсультация ветеринара, 30 мин", "quantity": "1.00",
                    "amount": {"value": "1500.00", "currency": "RUB"}, "vat_code": 1,
                    "payment_mode": "full_payment", "payment_subject": "service"}
    assert receipt["customer"] == {"email": "owner@example.ru"}
    assert "tax_system_code" not in receipt
    data = json.loads(provider_data(receipt))
    assert data == {"receipt": receipt}
    assert "Видеоконсультация" in provider_data(receipt)  # UTF-8, not \u escapes


@pytest.mark.parametrize("vat_code", list(range(1, 13)))
def test_every_vat_code_including_22_percent(vat_code):
    receipt = receipt_for(100, "Консультация", None, vat_code=vat_code, tax_system_code=2,
                          payment_mode="full_prepayment")
    assert not list(validator("Receipt").iter_errors(receipt))
    assert "customer" not in receipt  # Telegram sends the e-mail (need_email + send_email_to_provider)


@pytest.mark.parametrize("kwargs", [
    {"amount_kopecks": 0}, {"amount_kopecks": 100.0}, {"description": ""}, {"description": "x" * 129},
    {"email": "not-an-email"}, {"vat_code": 0}, {"vat_code": 13}, {"vat_code": True},
    {"payment_subject": "consultation"}, {"payment_mode": "prepaid"}, {"tax_system_code": 7},
])
def test_receipt_builder_refuses_what_yookassa_would(kwargs):
    args = {"amount_kopecks": 100, "description": "Консультация", "email": "a@b.ru", **kwargs}
    with pytest.raises(ValueError):
        receipt_for(**args)


async def test_partial_refund_with_a_receipt_when_the_shop_sends_receipts():
    with YooKassaDouble(receipts_required=True) as double:
        async with YooKassa(double.shop_id, double.secret_key, base_url=double.api_url, retry=FAST) as k:
            payment = double.create_payment(200000)
            with pytest.raises(YooKassaBadRequest) as err:
                await k.refund(payment["id"], 50000, "r-no-receipt")
            assert err.value.parameter == "receipt"
            with pytest.raises(YooKassaBadRequest) as err:  # lines must add up to the refund
                await k.refund(payment["id"], 50000, "r-wrong-total",
                               receipt=receipt_for(60000, "Консультация", "a@b.ru"))
            assert err.value.parameter == "receipt.items"
            with pytest.raises(YooKassaBadRequest) as err:
                await k.refund(payment["id"], 50000, "r-no-contact",
                               receipt=receipt_for(50000, "Консультация", None))
            assert err.value.parameter == "receipt.customer"
            partial = await k.refund(payment["id"], 50000, "r-partial",
                                     receipt=receipt_for(50000, "Консультация (часть)", "a@b.ru"),
                                     description="Консультация сокращена")
            body = double.calls("POST /refunds")[-1]["body"]
            assert not list(validator("RefundCreateRequest").iter_errors(body))
            with pytest.raises(YooKassaBadRequest):  # the rest is a partial refund too
                await k.refund(payment["id"], 150000, "r-rest")
            rest = await k.refund(payment["id"], 150000, "r-rest-2",
                                  receipt=receipt_for(150000, "Консультация (остаток)", "a@b.ru"))
            assert (partial.amount_kopecks, rest.amount_kopecks) == (50000, 150000)
            assert double.refunds()[0]["description"] == "Консультация сокращена"
            other = double.create_payment(200000)
            assert (await k.refund(other["id"], 200000, "r-full")).status == "succeeded"  # full: none needed


# ---- notifications -------------------------------------------------------------------------------


def test_notifications_are_parsed(double):
    paid = double.create_payment(10000)
    canceled = double.create_payment(10000, status="canceled")
    with httpx.Client(base_url=double.api_url, auth=(double.shop_id, double.secret_key)) as http:
        refund = http.post("/refunds", json={"payment_id": paid["id"],
                                             "amount": {"value": "100.00", "currency": "RUB"}},
                           headers={"Idempotence-Key": "n1"}).json()
    for event, oid in [("payment.succeeded", paid["id"]), ("payment.canceled", canceled["id"]),
                       ("refund.succeeded", refund["id"])]:
        body = json.dumps(double.notification(event, oid)).encode()
        assert parse_notification(body) == Notification(event, oid) == (event, oid)


def test_notifications_this_bot_does_not_use_are_ignored(double):
    payment = double.create_payment(10000, status="waiting_for_capture")
    body = json.dumps(double.notification("payment.waiting_for_capture", payment["id"])).encode()
    assert parse_notification(body) is None
    later = {"type": "notification", "event": "payout.succeeded", "object": {"id": "x"}}
    assert parse_notification(json.dumps(later).encode()) is None


def _good(double) -> dict:
    return double.notification("payment.succeeded", double.create_payment(10000)["id"])


@pytest.mark.parametrize("spoil", [
    lambda n: b"not json",
    lambda n: b"\xff\xfe",
    lambda n: json.dumps([n]).encode(),
    lambda n: json.dumps({**n, "type": "error"}).encode(),
    lambda n: json.dumps({k: v for k, v in n.items() if k != "event"}).encode(),
    lambda n: json.dumps({**n, "event": "payment"}).encode(),
    lambda n: json.dumps({**n, "object": "id"}).encode(),
    lambda n: json.dumps({**n, "object": {**n["object"], "id": "short"}}).encode(),
    lambda n: json.dumps({**n, "object": {k: v for k, v in n["object"].items() if k != "id"}}).encode(),
    lambda n: json.dumps({**n, "object": {**n["object"], "status": "canceled"}}).encode(),
    lambda n: json.dumps({**n, "event": "refund.succeeded"}).encode(),  # a payment is no refund
])
def test_malformed_notifications_are_rejected(double, spoil):
    with pytest.raises(WebhookRejected):
        parse_notification(spoil(_good(double)))


async def test_a_forged_notification_is_caught_by_the_re_check(double, kassa):
    payment = double.create_payment(10000, status="canceled")
    forged = double.notification("payment.canceled", payment["id"])
    forged["object"]["status"] = "succeeded"
    forged["event"] = "payment.succeeded"
    event, oid = parse_notification(json.dumps(forged).encode())  # well-formed, so it parses...
    assert (await kassa.get_payment(oid)).status == "canceled"  # ...and the re-read tells the truth


def test_notification_delivery_carries_the_source_address(double):
    got: list[tuple[str, bytes]] = []

    class Merchant(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((self.headers.get("X-Forwarded-For"),
                        self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Merchant)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        payment = double.create_payment(10000)
        url = f"http://127.0.0.1:{server.server_address[1]}/yookassa"
        assert double.deliver_notification(url, "payment.succeeded", payment["id"]) == 200
        assert double.deliver_notification(url, "payment.succeeded", payment["id"],
                                           source_ip="203.0.113.7") == 200
    finally:
        server.shutdown()
        server.server_close()
    (ip1, body1), (ip2, _) = got
    assert notification_ip_allowed(ip1) and not notification_ip_allowed(ip2)
    assert parse_notification(body1) == ("payment.succeeded", payment["id"])


@pytest.mark.parametrize("ip, allowed", [
    ("185.71.76.0", True), ("185.71.76.31", True), ("185.71.76.32", False), ("77.75.156.11", True),
    ("77.75.156.12", False), ("77.75.154.200", True), ("2a02:5180:0:1509::1", True),
    ("::ffff:185.71.77.5", True), ("10.0.0.1", False), ("127.0.0.1", False), ("", False),
    ("185.71.76.1, 10.0.0.1", False), ("not an ip", False),
])
def test_notification_ip_allow_list(ip, allowed):
    assert notification_ip_allowed(ip) is allowed


# ---- the double as a process ---------------------------------------------------------------------


async def test_double_as_a_subprocess_with_its_control_client():
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.yookassa_double", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY "), line
        with YooKassaDoubleClient(line.split()[1]) as control:
            payment = control.create_payment(10000, payment_id=str(uuid.uuid4()))
            control.inject(500, execute=True)
            from infra.local.yookassa_double import DEFAULT_SECRET_KEY, DEFAULT_SHOP_ID
            async with YooKassa(DEFAULT_SHOP_ID, DEFAULT_SECRET_KEY, base_url=control.api_url,
                                retry=FAST) as k:
                refund = await k.refund(payment["id"], 2500, "sub-1")
            assert [r["id"] for r in control.refunds(payment["id"])] == [refund.id]
            assert [c["status"] for c in control.calls("POST /refunds")] == [500, 200]
            assert control.payment(payment["id"])["refunded_amount"]["value"] == "25.00"
            assert control.notification("refund.succeeded", refund.id)["object"]["id"] == refund.id
            control.reset()
            assert control.refunds() == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- the refund's 54-FZ receipt, through the bot ---------------------------------------------------------

@pytest.mark.parametrize("hours_ahead, refunded", [(4, "750.00"), (48, "1500.00")])
async def test_a_refund_carries_the_payments_receipt_with_the_refunded_amount(clean_firestore, hours_ahead, refunded):
    """An owner pays in roubles (Telegram sends YooKassa the e-mail the form asked for) and cancels: the
    refund - the late-cancel share 4 h ahead, all of it 48 h ahead - goes with a receipt of the refunded
    amount, the invoice's VAT code, payment subject and mode, and that e-mail. The double refuses a partial
    refund without one (a shop sending 54-FZ receipts through YooKassa), as YooKassa does."""
    from datetime import timedelta

    from google.cloud import firestore as gcf

    from infra.local.bot_api_double import BotApiDouble
    from shared.services.payments import RECEIPT_ITEM
    from tests.booking_harness import NOW, TOKEN, BookingBot, vet
    from tests.test_bookings_bot import ANNA, OWNER, book

    client = gcf.AsyncClient()
    with BotApiDouble(TOKEN) as double, YooKassaDouble(receipts_required=True) as yookassa:
        bot = BookingBot(client, double, yookassa)
        await bot.vets(vet(ANNA, name="Анна Петрова"))
        await bot.owner(OWNER)
        booking = await book(bot, OWNER, at=NOW + timedelta(hours=hours_ahead))
        await bot.press(f"bk:c:{booking['id']}", OWNER)
        done = await bot.press(f"bk:cy:{booking['id']}", OWNER)
        await bot.app.shutdown()
    client.close()
    [call] = yookassa.calls("POST /refunds")
    assert call["status"] == 200 and call["body"]["amount"]["value"] == refunded, (call, done)
    [item] = call["body"]["receipt"]["items"]
    assert item == {"description": RECEIPT_ITEM, "quantity": "1.00", "amount": {"value": refunded, "currency": "RUB"},
                    "vat_code": 1, "payment_mode": "full_payment", "payment_subject": "service"}
    [invoice] = [c["params"] for c in double.calls() if c["method"] == "sendInvoice"]
    assert json.loads(invoice["provider_data"])["receipt"]["items"][0]["vat_code"] == item["vat_code"]
    assert call["body"]["receipt"]["customer"] == {"email": "owner@example.com"}   # what the payment form took


def test_the_double_refuses_a_receipt_in_another_currency():
    with YooKassaDouble() as yookassa:
        payment = yookassa.create_payment(150000)
        receipt = receipt_for(150000, "Консультация", "a@example.ru")
        receipt["items"][0]["amount"]["currency"] = "USD"
        answer = httpx.post(f"{yookassa.api_url}/refunds", auth=(yookassa.shop_id, yookassa.secret_key),
                            headers={"Idempotence-Key": "k1"},
                            json={"payment_id": payment["id"], "amount": {"value": "1500.00", "currency": "RUB"},
                                  "receipt": receipt})
        assert answer.status_code == 400 and answer.json()["parameter"] == "receipt.items.0.amount"

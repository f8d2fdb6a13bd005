"""A strict local double of YooKassa's REST API v3 (the part the bot uses).

An HTTP server on 127.0.0.1 answering ``/v3/payments/{id}``, ``POST /v3/refunds``,
``/v3/refunds/{id}`` and ``GET /v3/refunds`` like YooKassa: HTTP Basic auth ``shopId:secretKey``
(else 401 invalid_credentials), JSON only (a POST of anything else: 415 without a body; a wrong
method: 405 without a body), ``Idempotence-Key`` on POST (same key + same body within 24 h -> the
same answer, nothing done twice; same key + another body -> 400), YooKassa's error body
``{"type": "error", "id", "code", "description", "parameter"}``. Requests are validated, and every
answer checked, against ``providers/yookassa-v3-subset.schema.json`` (written for this project from
the MIT yookassa-sdk-python, see providers/YOOKASSA-LICENSE; not an official YooKassa file).

Refund rules: the payment must exist (else 400, parameter payment_id — UNCONFIRMED whether YooKassa
says 400 or 404 there) and be ``succeeded``; the currency is the payment's; the amount is > 0 and at
most what is left (payment amount - succeeded and pending refunds); a receipt's lines must add up to
the refund and name the customer's e-mail or phone; with ``receipts_required`` (a shop sending 54-FZ
receipts through YooKassa) a partial refund without a receipt is refused. The double is stricter
than YooKassa in one place: amounts must be strings with exactly two decimals, as YooKassa answers.

Payments are made by tests (as YooKassa would after a Telegram payment: the id is what Telegram puts
in ``provider_payment_charge_id``)::

    with YooKassaDouble() as double:
        payment = double.create_payment(10000)            # 100.00 RUB, succeeded
        client = YooKassa(double.shop_id, double.secret_key, base_url=double.api_url)
        ...
        double.refunds(payment["id"])
        double.inject(500, count=1, execute=True)        # next POST /refunds: done, but answered 500

Failure injection (chaos tests): :meth:`YooKassaDouble.inject` makes the next N calls of an endpoint
answer 202 (processing, with ``retry_after`` in ms), 500 or another error, or hang and drop the
connection ("timeout"), either without doing anything or after doing the work (``execute=True``: the
refund exists, the client just never heard of it). Notifications: :meth:`notification` builds the
body YooKassa would send for an object, :meth:`deliver_notification` POSTs it to a URL with
``X-Forwarded-For`` set to a chosen source address.

As a subprocess::

    python -m infra.local.yookassa_double --port 0 [--shop-id ID --secret-key KEY]

prints ``READY http://127.0.0.1:PORT`` once listening; the control API under ``/_double/`` is used
through :class:`YooKassaDoubleClient`. Only the standard library, httpx and jsonschema.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import itertools
import json
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from infra.local.http_double import LoopbackServer
from shared.adapters.yookassa import amount as money
from shared.adapters.yookassa import value_to_kopecks

__all__ = ["YooKassaDouble", "YooKassaDoubleClient", "ApiError", "SCHEMA_PATH", "validator"]

SCHEMA_PATH = Path(__file__).parent / "providers" / "yookassa-v3-subset.schema.json"
IDEMPOTENCE_TTL = 24 * 3600.0
MAX_IDEMPOTENCE_KEY = 64
DEFAULT_SHOP_ID = "506751"
DEFAULT_SECRET_KEY = "test_double_secret_key_not_a_real_one"
DEFAULT_SOURCE_IP = "185.71.76.10"   # inside YooKassa's 185.71.76.0/27
_STATUS_CODES = {400: "invalid_request", 401: "invalid_credentials", 403: "forbidden",
                 404: "not_found", 429: "too_many_requests", 500: "internal_server_error"}

_SCHEMA: dict | None = None
_VALIDATORS: dict[str, Draft202012Validator] = {}
_SCHEMA_LOCK = threading.Lock()


def validator(definition: str) -> Draft202012Validator:
    """A validator for one ``$defs`` entry of the schema (Receipt, RefundCreateRequest, Refund...)."""
    global _SCHEMA
    with _SCHEMA_LOCK:
        if definition not in _VALIDATORS:
            if _SCHEMA is None:
                _SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
                Draft202012Validator.check_schema(_SCHEMA)
            if definition not in _SCHEMA["$defs"]:
                raise KeyError(definition)
            _VALIDATORS[definition] = Draft202012Validator(
                {**_SCHEMA, "$ref": f"#/$defs/{definition}"})
        return _VALIDATORS[definition]


class ApiError(Exception):
    """An answer in YooKassa's error shape."""

    def __init__(self, status: int, description: str, parameter: str | None = None,
                 retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameter = parameter
        self.retry_after = retry_after

    def body(self) -> dict:
        out: dict[str, Any] = {"type": "error", "id": str(uuid.uuid4()),
                               "code": _STATUS_CODES.get(self.status, "internal_server_error"),
                               "description": self.description}
        if self.parameter:
            out["parameter"] = self.parameter
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


class _Bare(Exception):
    """An answer without a body (405, 415), as YooKassa's front gives them."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _bad(description: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, description, parameter)


def _schema_error(definition: str, data: Any) -> ApiError | None:
    err = best_match(validator(definition).iter_errors(data))
    if err is None:
        return None
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [k for k in err.validator_value if k not in err.instance]
        if missing:
            path = f"{path}.{missing[0]}" if path else missing[0]
    return _bad(f"Invalid request: {err.message}", path or None)


def _timestamp(at: float) -> str:
    dt = datetime.fromtimestamp(at, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


class YooKassaDouble(LoopbackServer):
    """In-process YooKassa API double (ThreadingHTTPServer on 127.0.0.1, port 0 = any free one).

    ``refund_status``: the status new refunds get ("succeeded" as for cards, or "pending": settle them
    with :meth:`set_refund_status`). ``receipts_required``: partial refunds need a receipt.
    """

    thread_name = "yookassa-double"

    def __init__(self, shop_id: str = DEFAULT_SHOP_ID, secret_key: str = DEFAULT_SECRET_KEY,
                 host: str = "127.0.0.1", port: int = 0, *, refund_status: str = "succeeded",
                 receipts_required: bool = False, verbose: bool = False):
        super().__init__(host, port)
        if refund_status not in ("succeeded", "pending"):
            raise ValueError("refund_status: succeeded or pending")
        self.shop_id = str(shop_id)
        self.secret_key = secret_key
        self.refund_status = refund_status
        self.receipts_required = receipts_required
        self.verbose = verbose
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._reset_state()

    # ---- lifecycle -------------------------------------------------------------------------

    def bound_handler(self) -> type[BaseHTTPRequestHandler]:
        return type("BoundHandler", (_Handler,), {"double": self})

    @property
    def api_url(self) -> str:
        """What the client takes as ``base_url`` (YooKassa's ``https://api.yookassa.ru/v3``)."""
        return f"{self.base_url}/v3"

    def start(self) -> "YooKassaDouble":
        if self._server is None:
            self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()  # wakes handlers holding a "timeout"
        super().stop()

    def client(self) -> "YooKassaDoubleClient":
        return YooKassaDoubleClient(self.base_url)

    # ---- state -----------------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self._payments: dict[str, dict] = {}
            self._refunds: dict[str, dict] = {}        # insertion order = creation order
            self._idempotence: dict[str, dict] = {}    # key -> {fingerprint, status, body, at}
            self._injected: list[dict] = []
            self._calls: list[dict] = []
            self._seq = itertools.count(1)
            self._skew = 0.0

    def reset(self) -> None:
        """Forget payments, refunds, idempotence keys, calls and injections; the clock is real again."""
        self._reset_state()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._skew

    def advance(self, seconds: float) -> None:
        """Move the double's clock on (idempotence keys live 24 h)."""
        with self._lock:
            self._skew += float(seconds)

    # ---- test helpers ----------------------------------------------------------------------

    def create_payment(self, amount_kopecks: int, currency: str = "RUB", *, status: str = "succeeded",
                       payment_id: str | None = None, description: str | None = None,
                       metadata: dict[str, str] | None = None) -> dict:
        """A payment as YooKassa holds it after a Telegram payment (card, one stage, test shop);
        ``payment_id`` (36 characters) is what Telegram reports as ``provider_payment_charge_id``."""
        if status not in ("pending", "waiting_for_capture", "succeeded", "canceled"):
            raise ValueError(f"unknown payment status {status!r}")
        pid = payment_id or str(uuid.uuid4())
        if len(pid) != 36:
            raise ValueError("YooKassa payment ids have 36 characters")
        at = self.now()
        kopecks = int(amount_kopecks)
        if kopecks <= 0:
            raise ValueError("amount_kopecks must be positive")
        payment: dict[str, Any] = {
            "id": pid,
            "status": status,
            "paid": status in ("succeeded", "waiting_for_capture"),
            "amount": money(kopecks, currency),
            "created_at": _timestamp(at - 2.5 if status == "succeeded" else at),
            "description": description or "Telegram payment",
            "recipient": {"account_id": self.shop_id, "gateway_id": "2110947"},
            "payment_method": {
                "type": "bank_card", "id": pid, "saved": False, "title": "Bank card *4444",
                "card": {"first6": "555555", "last4": "4444", "expiry_month": "12",
                         "expiry_year": "2030", "card_type": "MasterCard", "issuer_country": "RU"},
            },
            "refundable": status == "succeeded",
            "test": self.secret_key.startswith("test_"),
            "metadata": dict(metadata or {}),
        }
        if status == "succeeded":
            fee = (kopecks * 35 + 500) // 1000  # 3.5 %, what the shop does not get
            payment["income_amount"] = money(kopecks - fee, currency)
            payment["captured_at"] = _timestamp(at)
            payment["receipt_registration"] = "succeeded"
            payment["authorization_details"] = {"rrn": "603668680243", "auth_code": "000000",
                                                "three_d_secure": {"applied": False}}
        if status == "canceled":
            payment["cancellation_details"] = {"party": "payment_network", "reason": "insufficient_funds"}
        self._check_answer("Payment", payment)
        with self._lock:
            if pid in self._payments:
                raise ValueError(f"payment {pid} exists")
            self._payments[pid] = payment
        return _copy(payment)

    def payment(self, payment_id: str) -> dict:
        with self._lock:
            return _copy(self._payments[payment_id])

    def refunds(self, payment_id: str | None = None) -> list[dict]:
        """Refunds in the order they were made (of one payment, or all)."""
        with self._lock:
            return [_copy(r) for r in self._refunds.values()
                    if payment_id is None or r["payment_id"] == payment_id]

    def set_refund_status(self, refund_id: str, status: str) -> dict:
        """Settle a pending refund (succeeded or canceled by the bank)."""
        if status not in ("succeeded", "canceled"):
            raise ValueError("a pending refund becomes succeeded or canceled")
        with self._lock:
            refund = self._refunds[refund_id]
            if refund["status"] != "pending":
                raise ValueError(f"refund {refund_id} is {refund['status']} already")
            refund["status"] = status
            if status == "canceled":
                refund["cancellation_details"] = {"party": "payment_network", "reason": "general_decline"}
            self._update_refunded(refund["payment_id"])
            return _copy(refund)

    def calls(self, endpoint: str | None = None) -> list[dict]:
        """API calls as received: {seq, method, path, endpoint, idempotence_key, body, status, injected}.
        ``endpoint`` like "POST /refunds" or "GET /payments/{id}"."""
        with self._lock:
            return [_copy(c) for c in self._calls if endpoint is None or c["endpoint"] == endpoint]

    def inject(self, answer: int | str, count: int = 1, *, endpoint: str | None = "POST /refunds",
               retry_after: int | None = None, delay: float = 2.0, execute: bool = False) -> None:
        """The next ``count`` authenticated calls of ``endpoint`` (None: any) answer ``answer``:
        202 (processing; ``retry_after`` ms, 1800 when not given), a 4xx/5xx code (YooKassa's error
        body; ``retry_after`` ms added when given) or "timeout" (nothing for ``delay`` seconds, then the
        connection is dropped). ``execute``: do the work first (the refund is made and remembered under
        its idempotence key) and only then answer badly. Injections queue, the oldest first."""
        if answer != "timeout" and not (isinstance(answer, int) and (answer == 202 or 400 <= answer < 600)):
            raise ValueError("answer: 202, an HTTP error code or 'timeout'")
        if count < 1:
            raise ValueError("count must be at least 1")
        if answer == 202 and retry_after is None:
            retry_after = 1800
        with self._lock:
            self._injected.append({"answer": answer, "count": int(count), "endpoint": endpoint,
                                   "retry_after": retry_after, "delay": float(delay),
                                   "execute": bool(execute)})

    def notification(self, event: str, object_id: str) -> dict:
        """The body YooKassa sends for ``event`` about the payment or refund ``object_id`` as it is now
        (tests may also send it for an object in another state: a forged or stale notification)."""
        kind = event.partition(".")[0]
        with self._lock:
            store = self._refunds if kind == "refund" else self._payments
            obj = _copy(store[object_id])
        body = {"type": "notification", "event": event, "object": obj}
        self._check_answer("Notification", body)
        return body

    def deliver_notification(self, url: str, event: str, object_id: str, *,
                             source_ip: str = DEFAULT_SOURCE_IP, timeout: float = 10.0) -> int:
        """POSTs :meth:`notification` to ``url`` as YooKassa would behind a load balancer (the source
        address in ``X-Forwarded-For``); returns the HTTP status the merchant answered."""
        body = json.dumps(self.notification(event, object_id), ensure_ascii=False).encode()
        resp = httpx.post(url, content=body, timeout=timeout,
                          headers={"Content-Type": "application/json", "X-Forwarded-For": source_ip})
        return resp.status_code

    # ---- the API ---------------------------------------------------------------------------

    def _check_answer(self, definition: str, data: Any) -> None:
        errors = list(validator(definition).iter_errors(data))
        if errors:
            raise AssertionError(f"the double produced an invalid {definition}: {errors[0].message}")

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        shop, sep, secret = decoded.partition(":")
        return bool(sep) and hmac.compare_digest(shop.encode(), self.shop_id.encode()) \
            and hmac.compare_digest(secret.encode(), self.secret_key.encode())

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str | None]:
        """(endpoint, id) for a path under /v3; raises ApiError 404 or _Bare 405."""
        parts = [p for p in path.split("/") if p]
        if parts == ["refunds"]:
            if method not in ("GET", "POST"):
                raise _Bare(405)
            return f"{method} /refunds", None
        if len(parts) == 2 and parts[0] in ("refunds", "payments"):
            if method != "GET":
                raise _Bare(405)
            return f"GET /{parts[0]}/{{id}}", urllib.parse.unquote(parts[1])
        raise ApiError(404, "Not found: no such API endpoint")

    def _take_injection(self, endpoint: str) -> dict | None:
        with self._lock:
            for inj in self._injected:
                if inj["count"] > 0 and inj["endpoint"] in (None, endpoint):
                    inj["count"] -= 1
                    if inj["count"] == 0:
                        self._injected.remove(inj)
                    return dict(inj)
        return None

    def handle(self, method: str, path: str, query: dict, headers: Any, body: bytes) -> tuple[int, Any]:
        """One API call (path below /v3): (status, JSON body, or None for a bare answer, or
        ("timeout", delay) to hang up)."""
        record: dict[str, Any] = {
            "method": method, "path": path, "endpoint": None,
            "idempotence_key": headers.get("Idempotence-Key"), "body": None, "status": None,
            "injected": None,
        }
        try:
            record["body"] = json.loads(body) if body else None
        except ValueError:
            record["body"] = body.decode("utf-8", "replace")
        try:
            status, answer = self._handle(method, path, query, headers, body, record)
        except ApiError as err:
            status, answer = err.status, err.body()
            self._check_answer("Error", answer)
        except _Bare as bare:
            status, answer = bare.status, None
        record["status"] = status if not isinstance(answer, tuple) else "timeout"
        with self._lock:
            record["seq"] = next(self._seq)
            self._calls.append(record)
        return status, answer

    def _handle(self, method: str, path: str, query: dict, headers: Any, body: bytes,
                record: dict) -> tuple[int, Any]:
        if not self._authorized(headers.get("Authorization")):
            raise ApiError(401, "Login and password are incorrect or the shop is blocked",
                           "Authorization")
        endpoint, object_id = self._route(method, path)
        record["endpoint"] = endpoint
        if method == "POST":
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise _Bare(415)
        injection = self._take_injection(endpoint)
        if injection:
            record["injected"] = injection["answer"]
            if injection["execute"]:
                try:
                    self._dispatch(endpoint, object_id, query, headers, body)
                except ApiError:
                    pass  # the work failed anyway; the client still gets the injected answer
            answer = injection["answer"]
            if answer == "timeout":
                return 0, ("timeout", injection["delay"])
            if answer == 202:
                processing = {"type": "processing", "description": "Request accepted, result unknown",
                              "retry_after": injection["retry_after"]}
                self._check_answer("Processing", processing)
                return 202, processing
            raise ApiError(answer, "Internal server error" if answer >= 500 else "Injected error",
                           retry_after=injection["retry_after"])
        return self._dispatch(endpoint, object_id, query, headers, body)

    def _dispatch(self, endpoint: str, object_id: str | None, query: dict, headers: Any,
                  body: bytes) -> tuple[int, Any]:
        with self._lock:
            if endpoint == "GET /payments/{id}":
                payment = self._payments.get(object_id or "")
                if payment is None:
                    raise ApiError(404, f"Payment {object_id} not found", "payment_id")
                return 200, _copy(payment)
            if endpoint == "GET /refunds/{id}":
                refund = self._refunds.get(object_id or "")
                if refund is None:
                    raise ApiError(404, f"Refund {object_id} not found", "refund_id")
                return 200, _copy(refund)
            if endpoint == "GET /refunds":
                return 200, self._list_refunds(query)
            return self._post_refund(headers, body)

    def _list_refunds(self, query: dict) -> dict:
        q = {k: v[-1] for k, v in query.items()}
        unknown = set(q) - {"payment_id", "status", "limit", "cursor", "created_at.gte",
                            "created_at.gt", "created_at.lte", "created_at.lt"}
        if unknown:
            raise _bad(f"Unknown parameter {sorted(unknown)[0]}", sorted(unknown)[0])
        try:
            limit = int(q.get("limit", "10"))
        except ValueError:
            raise _bad("limit must be an integer", "limit") from None
        if not 1 <= limit <= 100:
            raise _bad("limit must be 1..100", "limit")
        items = [r for r in self._refunds.values()
                 if q.get("payment_id") in (None, r["payment_id"])
                 and q.get("status") in (None, r["status"])]
        items.reverse()  # newest first, as YooKassa lists
        start = 0
        if q.get("cursor"):
            try:
                start = int(q["cursor"])
            except ValueError:
                raise _bad("Invalid cursor", "cursor") from None
        page = items[start:start + limit]
        out: dict[str, Any] = {"type": "list", "items": _copy(page)}
        if start + limit < len(items):
            out["next_cursor"] = str(start + limit)
        self._check_answer("RefundList", out)
        return out

    def _post_refund(self, headers: Any, body: bytes) -> tuple[int, Any]:
        key = headers.get("Idempotence-Key")
        if not key:
            raise _bad("Idempotence-Key header is required", "Idempotence-Key")
        if len(key) > MAX_IDEMPOTENCE_KEY:
            raise _bad(f"Idempotence-Key is longer than {MAX_IDEMPOTENCE_KEY} characters",
                       "Idempotence-Key")
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("Request body is not valid JSON") from None
        fingerprint = ("POST /refunds", json.dumps(data, sort_keys=True, ensure_ascii=False))
        now = self.now()
        for old in [k for k, v in self._idempotence.items() if v["at"] + IDEMPOTENCE_TTL <= now]:
            del self._idempotence[old]
        seen = self._idempotence.get(key)
        if seen is not None:
            if seen["fingerprint"] != fingerprint:
                raise _bad("Idempotence key duplicated: it was used with another request",
                           "Idempotence-Key")
            return seen["status"], _copy(seen["body"])
        error = _schema_error("RefundCreateRequest", data)
        if error:
            raise error
        refund = self._make_refund(data, now)
        # only a done refund is remembered: a refused request may be corrected and sent again
        self._idempotence[key] = {"fingerprint": fingerprint, "status": 200, "body": _copy(refund),
                                  "at": now}
        return 200, _copy(refund)

    def _make_refund(self, data: dict, now: float) -> dict:
        payment = self._payments.get(data["payment_id"])
        if payment is None:
            raise _bad(f"Payment {data['payment_id']} not found", "payment_id")
        if payment["status"] != "succeeded":
            raise _bad(f"Payment in status {payment['status']} can't be refunded; only succeeded ones",
                       "payment_id")
        currency = payment["amount"]["currency"]
        if data["amount"]["currency"] != currency:
            raise _bad(f"Refund currency must be the payment's ({currency})", "amount.currency")
        kopecks = value_to_kopecks(data["amount"]["value"])
        if kopecks <= 0:
            raise _bad("Refund amount must be greater than zero", "amount.value")
        left = value_to_kopecks(payment["amount"]["value"]) - sum(
            value_to_kopecks(r["amount"]["value"]) for r in self._refunds.values()
            if r["payment_id"] == payment["id"] and r["status"] in ("pending", "succeeded"))
        if kopecks > left:
            raise _bad(f"Refund amount exceeds what is left to refund ({money(left, currency)['value']})",
                       "amount.value")
        receipt = data.get("receipt")
        if receipt is not None:
            self._check_receipt(receipt, kopecks, currency)
        elif self.receipts_required and kopecks != value_to_kopecks(payment["amount"]["value"]):
            raise _bad("Receipt is required for a partial refund", "receipt")
        refund: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "payment_id": payment["id"],
            "status": self.refund_status,
            "created_at": _timestamp(now),
            "amount": money(kopecks, currency),
        }
        if data.get("description") is not None:
            refund["description"] = data["description"]
        if receipt is not None:
            refund["receipt_registration"] = "pending"
        self._check_answer("Refund", refund)
        self._refunds[refund["id"]] = refund
        self._update_refunded(payment["id"])
        return refund

    @staticmethod
    def _check_receipt(receipt: dict, kopecks: int, currency: str) -> None:
        customer = receipt.get("customer") or {}
        if not any(customer.get(k) for k in ("email", "phone")) and not any(
                receipt.get(k) for k in ("email", "phone")):
            raise _bad("Receipt needs the customer's email or phone", "receipt.customer")
        total = Decimal(0)
        for i, item in enumerate(receipt["items"]):
            try:
                quantity = Decimal(str(item["quantity"]))
            except InvalidOperation:
                raise _bad("Quantity is not a number", f"receipt.items.{i}.quantity") from None
            if not quantity.is_finite() or quantity <= 0:
                raise _bad("Quantity must be positive", f"receipt.items.{i}.quantity")
            if item["amount"]["currency"] != currency:
                raise _bad(f"Receipt item currency must be the refund's ({currency})", f"receipt.items.{i}.amount")
            total += Decimal(item["amount"]["value"]) * quantity
        if total != Decimal(kopecks) / 100:
            raise _bad(f"Receipt items add up to {total}, not to the refund amount", "receipt.items")

    def _update_refunded(self, payment_id: str) -> None:
        payment = self._payments[payment_id]
        done = sum(value_to_kopecks(r["amount"]["value"]) for r in self._refunds.values()
                   if r["payment_id"] == payment_id and r["status"] == "succeeded")
        if done:
            payment["refunded_amount"] = money(done, payment["amount"]["currency"])
        else:
            payment.pop("refunded_amount", None)

    # ---- control API (/_double/...) -------------------------------------------------------------

    def control(self, verb: str, name: str, query: dict, body: bytes) -> tuple[int, Any]:
        def js() -> dict:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return data

        q = {k: v[-1] for k, v in query.items()}
        try:
            if name == "payments" and verb == "POST":
                d = js()
                return 200, self.create_payment(
                    int(d["amount_kopecks"]), d.get("currency", "RUB"), status=d.get("status", "succeeded"),
                    payment_id=d.get("payment_id"), description=d.get("description"),
                    metadata=d.get("metadata"))
            if name.startswith("payments/") and verb == "GET":
                return 200, self.payment(name[len("payments/"):])
            if name == "refunds" and verb == "GET":
                return 200, self.refunds(q.get("payment_id"))
            if name.startswith("refunds/") and verb == "POST":
                return 200, self.set_refund_status(name[len("refunds/"):], js()["status"])
            if name == "calls" and verb == "GET":
                return 200, self.calls(q.get("endpoint"))
            if name == "inject" and verb == "POST":
                d = js()
                self.inject(d["answer"], int(d.get("count", 1)), endpoint=d.get("endpoint", "POST /refunds"),
                            retry_after=d.get("retry_after"), delay=float(d.get("delay", 2.0)),
                            execute=bool(d.get("execute", False)))
                return 200, {"ok": True}
            if name == "advance" and verb == "POST":
                self.advance(float(js()["seconds"]))
                return 200, {"ok": True}
            if name == "reset" and verb == "POST":
                self.reset()
                return 200, {"ok": True}
            if name == "notification" and verb == "GET":
                return 200, self.notification(q["event"], q["id"])
            if name == "notify" and verb == "POST":
                d = js()
                status = self.deliver_notification(d["url"], d["event"], d["id"],
                                                   source_ip=d.get("source_ip", DEFAULT_SOURCE_IP))
                return 200, {"status": status}
        except KeyError as exc:
            return 404 if verb == "GET" else 400, {"ok": False, "error": f"not found or missing: {exc}"}
        except (ValueError, TypeError) as exc:
            return 400, {"ok": False, "error": str(exc)}
        return 404, {"ok": False, "error": f"unknown control endpoint {verb} /_double/{name}"}


class _Handler(BaseHTTPRequestHandler):
    double: YooKassaDouble
    protocol_version = "HTTP/1.1"
    # headers and body in two writes + Nagle + delayed ACK = ~40 ms per answer: answer in one go
    disable_nagle_algorithm = True
    server_version = "nginx"
    sys_version = ""

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.double.verbose:
            super().log_message(fmt, *args)

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, verb: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            if parts.path.startswith("/_double/"):
                self._send(*self.double.control(verb, urllib.parse.unquote(parts.path[len("/_double/"):]),
                                                query, body))
                return
            if parts.path == "/v3" or parts.path.startswith("/v3/"):
                status, answer = self.double.handle(verb, parts.path[len("/v3"):], query,
                                                    self.headers, body)
                if isinstance(answer, tuple):  # injected timeout: say nothing, then hang up
                    self.double._stopping.wait(answer[1])
                    self.close_connection = True
                    return
                self._send(status, answer)
                return
            self._send(404, ApiError(404, "Not found").body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a double must answer, not hang
            self._send(500, {"type": "error", "id": str(uuid.uuid4()), "code": "internal_server_error",
                             "description": f"double failure: {type(exc).__name__}: {exc}"})


class YooKassaDoubleClient:
    """Sync httpx client for the control API of a running double (in-process or subprocess)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "YooKassaDoubleClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v3"

    def _json(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            raise RuntimeError(f"yookassa double: {resp.status_code} {resp.text}")
        return resp.json()

    def create_payment(self, amount_kopecks: int, currency: str = "RUB", *, status: str = "succeeded",
                       payment_id: str | None = None, description: str | None = None,
                       metadata: dict[str, str] | None = None) -> dict:
        return self._json(self._http.post("/_double/payments", json={
            "amount_kopecks": amount_kopecks, "currency": currency, "status": status,
            "payment_id": payment_id, "description": description, "metadata": metadata}))

    def payment(self, payment_id: str) -> dict:
        return self._json(self._http.get(f"/_double/payments/{payment_id}"))

    def refunds(self, payment_id: str | None = None) -> list[dict]:
        params = {"payment_id": payment_id} if payment_id else {}
        return self._json(self._http.get("/_double/refunds", params=params))

    def set_refund_status(self, refund_id: str, status: str) -> dict:
        return self._json(self._http.post(f"/_double/refunds/{refund_id}", json={"status": status}))

    def calls(self, endpoint: str | None = None) -> list[dict]:
        params = {"endpoint": endpoint} if endpoint else {}
        return self._json(self._http.get("/_double/calls", params=params))

    def inject(self, answer: int | str, count: int = 1, *, endpoint: str | None = "POST /refunds",
               retry_after: int | None = None, delay: float = 2.0, execute: bool = False) -> None:
        self._json(self._http.post("/_double/inject", json={
            "answer": answer, "count": count, "endpoint": endpoint, "retry_after": retry_after,
            "delay": delay, "execute": execute}))

    def advance(self, seconds: float) -> None:
        self._json(self._http.post("/_double/advance", json={"seconds": seconds}))

    def reset(self) -> None:
        self._json(self._http.post("/_double/reset", json={}))

    def notification(self, event: str, object_id: str) -> dict:
        return self._json(self._http.get("/_double/notification", params={"event": event, "id": object_id}))

    def deliver_notification(self, url: str, event: str, object_id: str, *,
                             source_ip: str = DEFAULT_SOURCE_IP) -> int:
        return self._json(self._http.post("/_double/notify", json={
            "url": url, "event": event, "id": object_id, "source_ip": source_ip}))["status"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="YooKassa API v3 test double")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--shop-id", default=DEFAULT_SHOP_ID)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--refund-status", default="succeeded", choices=("succeeded", "pending"))
    parser.add_argument("--receipts-required", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    double = YooKassaDouble(args.shop_id, args.secret_key, port=args.port,
                            refund_status=args.refund_status,
                            receipts_required=args.receipts_required, verbose=args.verbose)
    double.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"READY {double.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

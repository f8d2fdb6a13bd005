"""YooKassa (ЮKassa) API v3: payment look-ups, refunds, notifications and the 54-FZ receipt.

Telegram Payments with YooKassa as the provider: Telegram creates the payment in YooKassa, and
``successful_payment.provider_payment_charge_id`` is YooKassa's payment id. This module reads that
payment back, refunds it, parses YooKassa's notifications and builds the receipt that goes into the
invoice's ``provider_data``. Only httpx and the standard library: the functions deploy it as is.

Money: Telegram counts integer kopecks (``total_amount`` 10000), YooKassa strings of roubles with two
decimals (``"100.00"``). :func:`kopecks_to_value` and :func:`value_to_kopecks` are the only conversions,
exact (integers and strings, never floats).

Refunds (``POST /refunds``) carry an ``Idempotence-Key``: the same key with the same body returns the
refund already made, the same key with another body is refused (400). Every retry therefore sends the
very same bytes with the same key:

- HTTP 202 (still processing): retried after the answer's ``retry_after`` (milliseconds), up to
  ``RetryPolicy.processing_attempts`` tries;
- 5xx, 429, timeouts and broken connections (the refund may or may not have been made): retried with
  exponential backoff (or the error's ``retry_after``), up to ``RetryPolicy.attempts`` tries;
- any pause is capped by ``RetryPolicy.max_pause`` and a call gives up after ``RetryPolicy.deadline``
  seconds: then :class:`YooKassaUnavailable` says "result unknown, try again later with the same key";
- other 4xx raise at once (:class:`YooKassaBadRequest`, ``...Unauthorized``, ``...Forbidden``,
  ``...NotFound``), with YooKassa's ``code``, ``description`` and ``parameter``.

Notifications carry no signature: :func:`parse_notification` only extracts (event, object id) from a
well-formed body; the caller checks the source address (:func:`notification_ip_allowed`) and re-reads
the object with :meth:`YooKassa.get_payment` / :meth:`YooKassa.get_refund` before acting on it.

VAT: a vet consultation sold by a platform on the simplified tax system (USN) carries no VAT, hence
the default ``vat_code`` 1 ("без НДС"). It depends on the seller's tax regime, so it is a parameter:
a seller paying VAT passes 11 (22 %, from 1 Jan 2026) or whatever its accountant says.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx

from shared.services.ports import ProviderPayment, ProviderRefund, WebhookRejected

API_BASE = "https://api.yookassa.ru/v3"
CURRENCY = "RUB"
ID_LENGTH = 36                    # payment and refund ids
MAX_IDEMPOTENCE_KEY = 64
MAX_REFUND_DESCRIPTION = 250      # the API refuses 256+; the schema we test against says 250
MAX_ITEM_DESCRIPTION = 128

# ---- money ------------------------------------------------------------------------------------

_VALUE_RE = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")


def kopecks_to_value(kopecks: int) -> str:
    """10000 -> "100.00", 1 -> "0.01" (YooKassa's amount ``value``)."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise TypeError(f"kopecks must be an int, not {type(kopecks).__name__}")
    if kopecks < 0:
        raise ValueError("kopecks must not be negative")
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def value_to_kopecks(value: str) -> int:
    """"100.00" -> 10000; "100" and "100.5" are read too. Anything that is not a whole number of
    kopecks (more decimals, a sign, an exponent, a float) is refused."""
    if not isinstance(value, str):
        raise TypeError(f"amount value must be a string like '100.00', not {type(value).__name__}")
    m = _VALUE_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"not an amount in roubles with at most two decimals: {value!r}")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


def amount(kopecks: int, currency: str = CURRENCY) -> dict:
    """YooKassa's Amount object."""
    return {"value": kopecks_to_value(kopecks), "currency": currency}


# ---- 54-FZ receipt --------------------------------------------------------------------------------

VAT_WITHOUT = 1          # "без НДС": the default (platform on USN); see the module docstring
VAT_CODES = range(1, 13)  # 1 no VAT, 2 0%, 3 10%, 4 20%, 5 10/110, 6 20/120, 7 5%, 8 7%, 9 5/105,
#                           10 7/107, 11 22% and 12 22/122 (from 1 Jan 2026)
PAYMENT_SUBJECTS = frozenset({
    "commodity", "excise", "job", "service", "gambling_bet", "gambling_prize", "lottery",
    "lottery_prize", "intellectual_activity", "payment", "agent_commission", "composite", "another",
})
PAYMENT_MODES = frozenset({
    "full_prepayment", "partial_prepayment", "advance", "full_payment", "partial_payment", "credit",
    "credit_payment",
})


def receipt_for(amount_kopecks: int, description: str, email: str | None, *,
                vat_code: int = VAT_WITHOUT, payment_subject: str = "service",
                payment_mode: str = "full_payment", tax_system_code: int | None = None,
                currency: str = CURRENCY) -> dict:
    """The receipt (one line, quantity 1) for a consultation of ``amount_kopecks``.

    It is the ``receipt`` object of the API: put it in the invoice with :func:`provider_data`, or pass
    it to :meth:`YooKassa.refund` for a partial refund. ``email`` None leaves out the customer: then the
    invoice must ask Telegram for it (``need_email=True, send_email_to_provider=True``) — YooKassa's
    own fiscal service delivers receipts by e-mail only. ``payment_mode`` "full_payment" fits a
    consultation paid when it is booked and given soon after; "full_prepayment" is the stricter reading
    for one paid days ahead (then a closing receipt is due after the session).
    """
    if isinstance(amount_kopecks, bool) or not isinstance(amount_kopecks, int) or amount_kopecks <= 0:
        raise ValueError("amount_kopecks must be a positive int")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("description is required")
    if len(description) > MAX_ITEM_DESCRIPTION:
        raise ValueError(f"description longer than {MAX_ITEM_DESCRIPTION} characters")
    if isinstance(vat_code, bool) or vat_code not in VAT_CODES:
        raise ValueError(f"vat_code must be 1..12, not {vat_code!r}")
    if payment_subject not in PAYMENT_SUBJECTS:
        raise ValueError(f"unknown payment_subject {payment_subject!r}")
    if payment_mode not in PAYMENT_MODES:
        raise ValueError(f"unknown payment_mode {payment_mode!r}")
    receipt: dict[str, Any] = {
        "items": [{
            "description": description,
            "quantity": "1.00",
            "amount": amount(amount_kopecks, currency),  # price per unit; quantity 1 makes it the total
            "vat_code": vat_code,
            "payment_mode": payment_mode,
            "payment_subject": payment_subject,
        }],
    }
    if email is not None:
        if not isinstance(email, str) or "@" not in email.strip("@"):
            raise ValueError("email does not look like an e-mail address")
        receipt["customer"] = {"email": email}
    if tax_system_code is not None:
        if isinstance(tax_system_code, bool) or tax_system_code not in range(1, 7):
            raise ValueError("tax_system_code must be 1..6")
        receipt["tax_system_code"] = tax_system_code
    return receipt


def provider_data(receipt: dict) -> str:
    """``sendInvoice``'s ``provider_data`` for YooKassa: ``{"receipt": {...}}`` as JSON text."""
    return json.dumps({"receipt": receipt}, ensure_ascii=False, separators=(",", ":"))


# ---- notifications --------------------------------------------------------------------------------

EVENTS = frozenset({"payment.succeeded", "payment.canceled", "refund.succeeded"})

# SecurityHelper.YOOKASSA_NETWORKS of yookassa-sdk-python 2.3.0 (2022): re-check yookassa.ru before going live
YOOKASSA_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "77.75.153.0/25", "77.75.156.11/32", "77.75.156.35/32", "77.75.154.128/25", "185.71.76.0/27",
    "185.71.77.0/27", "2a02:5180:0:1509::/64", "2a02:5180:0:2655::/64", "2a02:5180:0:1533::/64",
    "2a02:5180:0:2669::/64",
))


class Notification(NamedTuple):
    event: str        # payment.succeeded | payment.canceled | refund.succeeded
    object_id: str    # the payment's or the refund's id: re-read it before believing the event


def notification_ip_allowed(address: str) -> bool:
    """Whether a notification's source address (behind a load balancer: the client address the
    platform puts in X-Forwarded-For, not the last proxy) is one of YooKassa's."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in YOOKASSA_NETWORKS)


def parse_notification(body: bytes) -> Notification | None:
    """(event, object id) of a notification; None for well-formed events this bot does not use
    (``payment.waiting_for_capture``, payouts, deals...: answer 200 and ignore them, or YooKassa keeps
    re-delivering). Raises WebhookRejected for a body that is not a YooKassa notification."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("notification body is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "notification":
        raise WebhookRejected("not a YooKassa notification")
    event, obj = data.get("event"), data.get("object")
    if not isinstance(event, str) or not isinstance(obj, dict):
        raise WebhookRejected("notification without event or object")
    kind, _, status = event.partition(".")
    if not kind or not status:
        raise WebhookRejected(f"malformed event {event!r}")
    if event not in EVENTS:
        return None
    object_id = obj.get("id")
    if not isinstance(object_id, str) or len(object_id) != ID_LENGTH:
        raise WebhookRejected("notification object without a valid id")
    if obj.get("status") != status:
        raise WebhookRejected(f"{event} for an object in status {obj.get('status')!r}")
    if kind == "refund" and not (isinstance(obj.get("payment_id"), str)
                                 and len(obj["payment_id"]) == ID_LENGTH):
        raise WebhookRejected("refund notification without its payment id")
    return Notification(event, object_id)


# ---- errors ---------------------------------------------------------------------------------------


class YooKassaError(Exception):
    """An answer of YooKassa that is not a success. ``status`` the HTTP status (0: no answer at all),
    ``code``/``description``/``parameter``/``error_id`` from YooKassa's error body when there is one."""

    def __init__(self, status: int, code: str, description: str = "", parameter: str | None = None,
                 error_id: str | None = None, retry_after_ms: int | None = None):
        detail = f" ({parameter})" if parameter else ""
        super().__init__(f"YooKassa {status or 'no answer'} {code}{detail}: {description}".rstrip(": "))
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter
        self.error_id = error_id
        self.retry_after_ms = retry_after_ms


class YooKassaBadRequest(YooKassaError):
    """400 invalid_request: the request is wrong (amount over what is left, payment not succeeded,
    idempotence key reused with another body...). Retrying the same request changes nothing."""


class YooKassaUnauthorized(YooKassaError):
    """401 invalid_credentials: wrong shopId or secret key."""


class YooKassaForbidden(YooKassaError):
    """403: the shop may not do this (operation not enabled for it)."""


class YooKassaNotFound(YooKassaError):
    """404: no such payment or refund in this shop."""


class YooKassaUnavailable(YooKassaError):
    """Transient failures (5xx, 429, timeouts, 202 still processing) outlasted the retry budget: the
    result is unknown. Try again later with the same idempotence key — never with a new one."""


_ERRORS = {400: YooKassaBadRequest, 401: YooKassaUnauthorized, 403: YooKassaForbidden,
           404: YooKassaNotFound}


def _error_body(resp: httpx.Response) -> dict:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after_ms(body: dict) -> int | None:
    value = body.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _error(resp: httpx.Response, cls: type[YooKassaError] | None = None) -> YooKassaError:
    body = _error_body(resp)
    cls = cls or _ERRORS.get(resp.status_code, YooKassaError)
    description = body.get("description")
    if not isinstance(description, str):
        description = resp.reason_phrase or ""
    return cls(resp.status_code, str(body.get("code") or f"http_{resp.status_code}"), description,
               body.get("parameter") if isinstance(body.get("parameter"), str) else None,
               body.get("id") if isinstance(body.get("id"), str) else None, _retry_after_ms(body))


# ---- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4              # tries of one call through 5xx / 429 / timeouts / broken connections
    processing_attempts: int = 10  # tries of one call while YooKassa answers 202
    backoff: float = 0.5           # first pause after a failure without retry_after (s), doubled each time
    max_pause: float = 5.0         # cap on any single pause, retry_after included (s)
    deadline: float = 25.0         # no retry starts after this many seconds from the first try


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) != ID_LENGTH or "/" in value:
        raise ValueError(f"{what} must be YooKassa's {ID_LENGTH}-character id, got {value!r}")
    return value


def _payment(data: dict) -> ProviderPayment:
    refunded = data.get("refunded_amount")  # present only once something was refunded
    return ProviderPayment(
        id=data["id"],
        status=data["status"],
        amount_kopecks=value_to_kopecks(data["amount"]["value"]),
        currency=data["amount"]["currency"],
        refunded_kopecks=value_to_kopecks(refunded["value"]) if refunded else 0,
        metadata=dict(data.get("metadata") or {}),
    )


def _refund(data: dict) -> ProviderRefund:
    return ProviderRefund(
        id=data["id"],
        payment_id=data["payment_id"],
        status=data["status"],
        amount_kopecks=value_to_kopecks(data["amount"]["value"]),
    )


def _parsed(parse, data: dict, what: str):
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise YooKassaError(200, "unexpected_response", f"{what} not understood: {exc!r}") from None


class YooKassa:
    """The PaymentProvider for Telegram Payments through YooKassa (Basic auth ``shop_id:secret_key``).

    ``http``: an httpx.AsyncClient to share (its base_url is not used; it is not closed here);
    without it the instance owns one, made on the first call (its TLS context loads the CA certificates,
    50-100 ms that a function's cold start should not pay for a client it may never use; close it with
    :meth:`aclose` or ``async with``).
    """

    def __init__(self, shop_id: str, secret_key: str, base_url: str = API_BASE,
                 http: httpx.AsyncClient | None = None, *,
                 timeout: float | httpx.Timeout = httpx.Timeout(10.0, connect=5.0),
                 retry: RetryPolicy = RetryPolicy()):
        if not shop_id or not secret_key:
            raise ValueError("YooKassa needs the shop id and the secret key")
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._auth = httpx.BasicAuth(str(shop_id), secret_key)
        self._timeout = timeout
        self._owns_http = http is None
        self._client = http

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        if self._owns_http and self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> "YooKassa":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # -- PaymentProvider --------------------------------------------------------------------------

    async def get_payment(self, payment_id: str) -> ProviderPayment:
        data = await self._call("GET", f"/payments/{_check_id(payment_id, 'payment_id')}")
        return _parsed(_payment, data, "payment")

    async def refund(self, payment_id: str, amount_kopecks: int, idempotence_key: str,
                     receipt: dict | None = None, *, description: str | None = None,
                     currency: str = CURRENCY) -> ProviderRefund:
        """Refunds ``amount_kopecks`` of the payment; with a key already used for this very refund,
        returns that refund (nothing is refunded twice). The refund may come back ``pending``: it then
        ends with a ``refund.succeeded`` notification or is seen with :meth:`get_refund`.
        ``receipt`` (:func:`receipt_for` of the refunded amount) is needed for a partial refund when the
        shop sends 54-FZ receipts through YooKassa; a full refund takes the payment's."""
        _check_id(payment_id, "payment_id")
        if isinstance(amount_kopecks, bool) or not isinstance(amount_kopecks, int) or amount_kopecks <= 0:
            raise ValueError("amount_kopecks must be a positive int")
        if (not isinstance(idempotence_key, str) or not idempotence_key
                or len(idempotence_key) > MAX_IDEMPOTENCE_KEY or not idempotence_key.isascii()
                or not idempotence_key.isprintable()):
            raise ValueError(f"idempotence_key must be 1..{MAX_IDEMPOTENCE_KEY} printable ASCII characters")
        body: dict[str, Any] = {"payment_id": payment_id, "amount": amount(amount_kopecks, currency)}
        if description is not None:
            if len(description) > MAX_REFUND_DESCRIPTION:
                raise ValueError(f"description longer than {MAX_REFUND_DESCRIPTION} characters")
            body["description"] = description
        if receipt is not None:
            body["receipt"] = receipt
        data = await self._call("POST", "/refunds", body=body, idempotence_key=idempotence_key)
        refund = _parsed(_refund, data, "refund")
        if refund.payment_id != payment_id or refund.amount_kopecks != amount_kopecks:
            raise YooKassaError(200, "unexpected_response",
                                f"refund {refund.id} is for {refund.payment_id} {refund.amount_kopecks}")
        return refund

    # -- beyond the port ---------------------------------------------------------------------------

    async def get_refund(self, refund_id: str) -> ProviderRefund:
        """A refund as YooKassa has it now (re-check of a ``refund.succeeded`` notification)."""
        data = await self._call("GET", f"/refunds/{_check_id(refund_id, 'refund_id')}")
        return _parsed(_refund, data, "refund")

    # -- transport -----------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, *, body: dict | None = None,
                    idempotence_key: str | None = None) -> dict:
        """One API call with the retries of the module docstring; the same bytes and key every try."""
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if idempotence_key is not None:
            headers["Idempotence-Key"] = idempotence_key
        policy = self.retry
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.deadline
        failures = processing = 0
        while True:
            try:
                resp = await self._http.request(method, self.base_url + path, content=content,
                                                headers=headers, auth=self._auth, timeout=self._timeout)
            except httpx.TransportError as exc:  # timeouts, refused/broken connections
                failures += 1
                last = YooKassaUnavailable(0, "no_answer", f"{type(exc).__name__}: {exc}")
                if failures >= policy.attempts:
                    raise last from exc
                pause = policy.backoff * 2 ** (failures - 1)
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        data = resp.json()
                    except ValueError:
                        data = None
                    if not isinstance(data, dict):
                        raise YooKassaError(200, "unexpected_response", "answer is not a JSON object")
                    return data
                if status == 202:
                    processing += 1
                    last = _error(resp, YooKassaUnavailable)
                    last.code = "processing"
                    if processing >= policy.processing_attempts:
                        raise last
                    ms = last.retry_after_ms
                    pause = ms / 1000 if ms is not None else policy.backoff
                elif status == 429 or status >= 500:
                    failures += 1
                    last = _error(resp, YooKassaUnavailable)
                    if failures >= policy.attempts:
                        raise last
                    ms = last.retry_after_ms
                    pause = ms / 1000 if ms is not None else policy.backoff * 2 ** (failures - 1)
                else:
                    raise _error(resp)
            pause = min(pause, policy.max_pause)
            if loop.time() + pause > deadline:
                raise last
            await asyncio.sleep(pause)

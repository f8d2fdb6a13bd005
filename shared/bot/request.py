"""Bot API calls that ride out Telegram's transient failures, inside a bounded time budget.

What is retried (python-telegram-bot retries nothing itself; its AIORateLimiter only waits out 429s):
- 429 Too Many Requests: after its ``retry_after``, when that still fits the budget; when it does not,
  the call is given up at once (waiting longer would hold the webhook past Telegram's patience).
- 5xx (Telegram's JSON error or its front proxy's HTML page): after a short backoff (0.2 s, 0.5 s, 1 s, 2 s).
- a connection that could not be made (connect error or timeout, pool timeout): the request never left,
  so any method is retried.
- a connection lost or timed out after the request was sent: Telegram may have executed it. Retried
  only for methods that are safe to repeat (edits, deletes, reads, settings); sends and answers are
  not, since a repeat would post a second message or be refused as a second answer to a query.
- any other 4xx: never; the same request gets the same answer.

Budget: a call's attempts and waits end within ``budget`` seconds of its start and, inside an update
(``delivery_scope``, opened by the webhook), within the update's shared deadline, so the webhook answers
Telegram well inside its timeout. A call that is given up is recorded in the update's :class:`Delivery`
(method and form parameters); later calls of the same update are not attempted but recorded behind it,
so what the owner eventually receives keeps its order. The webhook decides what happens to those.

In the webhook's response: inside an update whose webhook can answer Telegram with a method
(``delivery_scope(may_reply=True)``), the first answerCallbackQuery or answerPreCheckoutQuery is not
sent but kept as ``Delivery.reply``, which the webhook returns for Telegram to execute (one request fewer
per button press and per payment's pre-checkout query). Only those: their result is always True, nobody
needs it before the update ends, and if Telegram could not execute one nothing is lost (the button's
spinner stops by itself; a pre-checkout query left unanswered is a payment Telegram does not take). For
pre-checkout queries it takes about a third off the p99 answer time of 50 payers at once
(benchmarks/pre_checkout.py). A message whose loss or id matters is sent and retried as above.

A dialog's next question may be the update's last word (:func:`last_word`): when nothing took the
response, the question rides in it; a call made after it in the same update sends it first, as a request,
so the order the person sees is kept. Its message id is never known, and if Telegram cannot execute it
nobody hears of it; the dialog is resumable (/help asks the open question again). It takes the question's
round trip off the critical path of every typed dialog step (benchmarks/webhook.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator

import httpx
from telegram.error import NetworkError, TelegramError
from telegram.request import HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

log = logging.getLogger(__name__)

BACKOFF = (0.2, 0.5, 1.0, 2.0)
MAX_ATTEMPTS = 5
MIN_ATTEMPT_TIMEOUT = 1.0  # a retry gets at least this long, even at the end of the budget
# Methods Telegram does not execute twice harmlessly: a repeat after an ambiguous failure (sent, no
# answer) could post the message twice, or be refused as a second answer to the same query.
_NOT_REPEATABLE = ("send", "forward", "copy", "answer")
# httpx errors raised before the request reached the server: safe to repeat for any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_DEFAULT = type(HTTPXRequest.DEFAULT_NONE)  # "use the client's timeout" (PTB's DefaultValue)
IN_RESPONSE = ("answerCallbackQuery", "answerPreCheckoutQuery")  # may ride in the response (docstring)
_TRUE = b'{"ok":true,"result":true}'
_DEFAULT_TIMEOUTS = dict.fromkeys(("read_timeout", "write_timeout", "connect_timeout", "pool_timeout"),
                                  HTTPXRequest.DEFAULT_NONE)


@dataclass
class UndeliveredCall:
    method: str
    params: dict[str, str]  # the form fields as posted (nested values JSON-encoded)
    reason: str


@dataclass
class Delivery:
    """The Bot API calls of one update: the deadline they share and the calls that were given up."""

    deadline: float | None
    undelivered: list[UndeliveredCall] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # given-up calls that cannot be replayed (file uploads)
    may_reply: bool = False  # the webhook can hand Telegram one call in its response
    reply: dict | None = None  # that call, {"method": ..., parameters}, once a handler made it
    last_word: bool = False  # the reply is a question (last_word): sent as a request if a call follows
    flushing: asyncio.Task | None = None  # that request, which every later call of the update waits for
    redeliver: str | None = None  # why the update must come again (ask_redelivery); the webhook answers 500

    @property
    def failed(self) -> bool:
        return bool(self.undelivered or self.lost)

    def give_up(self, method: str, request_data: RequestData | None, reason: str) -> None:
        if request_data is not None and request_data.contains_files:
            self.lost.append(method)
        else:
            params = request_data.json_parameters if request_data is not None else {}
            self.undelivered.append(UndeliveredCall(method, dict(params), reason))


_current: ContextVar[Delivery | None] = ContextVar("bot_api_delivery", default=None)
_sent_now: ContextVar[bool] = ContextVar("bot_api_sent_now", default=False)


def ask_redelivery(reason: str) -> bool:
    """Inside an update (delivery_scope): the webhook gives it back for Telegram to deliver again (500, its
    claim released) instead of consuming it; for an update whose effect must not be lost, such as a
    successful payment that could not be recorded. False outside an update."""
    delivery = _current.get()
    if delivery is None:
        return False
    delivery.redeliver = reason
    return True


def last_word(method: str, params: dict) -> bool:
    """Inside an update whose webhook can answer with a method, and whose response nothing took yet: keeps
    this call (form parameters, as PTB would post them) for the response and returns True; else False,
    and the caller sends it. See the module docstring."""
    delivery = _current.get()
    if delivery is None or not delivery.may_reply or delivery.reply is not None or delivery.failed:
        return False
    data = RequestData([RequestParameter.from_input(k, v) for k, v in params.items() if v is not None])
    delivery.reply, delivery.last_word = {"method": method, **data.parameters}, True
    return True


@contextmanager
def sent_now() -> Iterator[None]:
    """Calls made inside are sent as requests at once, even when they could ride in the response, and in no
    order with the update's last word (a press's answer and keyboard drop, sent while the step commits, so
    that the next question can take the response)."""
    token = _sent_now.set(True)
    try:
        yield
    finally:
        _sent_now.reset(token)


@contextmanager
def delivery_scope(budget: float | None, may_reply: bool = False) -> Iterator[Delivery]:
    """Bot API calls made inside (tasks started inside included) share one deadline and one record;
    with `may_reply`, the first of IN_RESPONSE is kept for the webhook's response instead of sent."""
    delivery = Delivery(None if budget is None else time.monotonic() + budget, may_reply=may_reply)
    token = _current.set(delivery)
    try:
        yield delivery
    finally:
        _current.reset(token)


def is_undelivered(error: BaseException) -> bool:
    """A call failed because Telegram could not be reached or refused for now (not a wrong request)."""
    from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter

    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, (BadRequest, Forbidden, InvalidToken,
                                                                       ChatMigrated))


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that retries what can be retried (see the module docstring)."""

    def __init__(self, *args, budget: float = 8.0, backoff: tuple[float, ...] = BACKOFF,
                 max_attempts: int = MAX_ATTEMPTS, sleep=asyncio.sleep, clock=time.monotonic, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = budget
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=HTTPXRequest.DEFAULT_NONE, write_timeout=HTTPXRequest.DEFAULT_NONE,
                         connect_timeout=HTTPXRequest.DEFAULT_NONE,
                         pool_timeout=HTTPXRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1] if method == "POST" else None  # GET: a file download
        delivery = _current.get()
        if delivery is not None and api_method and (delivery.last_word or delivery.flushing) and not _sent_now.get():
            await self._flush_last_word(url, delivery)
        if delivery is not None and delivery.failed and api_method:
            delivery.give_up(api_method, request_data, "behind an undelivered call")
            raise NetworkError(f"{api_method} not sent: an earlier call of this update was not delivered")
        if (delivery is not None and delivery.may_reply and delivery.reply is None and api_method in IN_RESPONSE
                and request_data is not None and not request_data.contains_files and not _sent_now.get()):
            delivery.reply = {"method": api_method, **request_data.parameters}
            return 200, _TRUE
        return await self._attempts(url, method, api_method, request_data, delivery, {
            "read_timeout": read_timeout, "write_timeout": write_timeout, "connect_timeout": connect_timeout,
            "pool_timeout": pool_timeout})

    async def _attempts(self, url: str, method: str, api_method: str | None, request_data: RequestData | None,
                        delivery: Delivery | None, timeouts: dict) -> tuple[int, bytes]:
        """The call, retried within its budget and the update's deadline (the module docstring)."""
        deadline = self._clock() + self.budget
        if delivery is not None and delivery.deadline is not None:
            deadline = min(deadline, delivery.deadline)
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                timeouts = self._capped(timeouts, deadline - self._clock(), files=bool(
                    request_data and request_data.contains_files))
            error: TelegramError | None = None
            try:
                code, payload = await super().do_request(url, method, request_data, **timeouts)
            except TelegramError as exc:  # TimedOut / NetworkError raised for httpx errors
                error, reason = exc, type(exc.__cause__ or exc).__name__
                wait = self._pause(attempt) if self._repeatable(exc, api_method) else None
            else:
                if code < 500 and code != 429:
                    return code, payload
                reason = str(code)
                wait = _retry_after(payload) if code == 429 else self._pause(attempt)
            if wait is None or attempt >= self._max_attempts or self._clock() + wait >= deadline:
                if api_method:
                    log.warning("Bot API %s given up after %d attempt(s): %s", api_method, attempt, reason)
                    if delivery is not None:
                        delivery.give_up(api_method, request_data, reason)
                if error is not None:
                    raise error
                return code, payload
            log.info("Bot API %s: %s, retry %d in %.1f s", api_method or "download", reason, attempt, wait)
            await self._sleep(wait)

    async def send_last_word(self, base_url: str, delivery: Delivery) -> None:
        """Sends the update's last word as a request, when its response will not carry it (``base_url``:
        the bot's, ``https://api.telegram.org/bot<token>``)."""
        await self._flush_last_word(f"{base_url}/{delivery.reply['method']}", delivery)

    async def _flush_last_word(self, url: str, delivery: Delivery) -> None:
        """Another call follows the update's last word: the word goes first, as a request of its own (calls
        made at once wait for the same request)."""
        if delivery.last_word:
            word, delivery.reply, delivery.last_word = dict(delivery.reply), None, False
            method = word.pop("method")
            data = RequestData([RequestParameter.from_input(k, v) for k, v in word.items()])
            delivery.flushing = asyncio.ensure_future(
                self._send_word(f"{url.rsplit('/', 1)[0]}/{method}", method, data, delivery))
        try:
            await delivery.flushing
        except TelegramError:
            pass  # given up and recorded in the delivery: the calls behind it are given up too

    async def _send_word(self, url: str, method: str, data: RequestData, delivery: Delivery) -> None:
        code, _ = await self._attempts(url, "POST", method, data, delivery, _DEFAULT_TIMEOUTS)
        if code >= 400:  # nobody awaits this call's result: say so here
            log.error("Bot API %s refused with %d (an update's last word)", method, code)

    def _pause(self, attempt: int) -> float:
        return self._backoff[min(attempt, len(self._backoff)) - 1]

    @staticmethod
    def _repeatable(error: TelegramError, api_method: str | None) -> bool:
        if isinstance(error.__cause__, _NOT_SENT):
            return True
        if not isinstance(error.__cause__, httpx.HTTPError):
            return False  # not a transport failure (e.g. an unparseable answer): don't guess
        return api_method is None or not api_method.lower().startswith(_NOT_REPEATABLE)

    def _capped(self, timeouts: dict, remaining: float, files: bool) -> dict:
        """This attempt's timeouts, cut to what is left of the budget (at least MIN_ATTEMPT_TIMEOUT)."""
        limit = max(remaining, MIN_ATTEMPT_TIMEOUT)
        defaults = self._client.timeout
        default_of = {"read_timeout": defaults.read, "connect_timeout": defaults.connect,
                      "pool_timeout": defaults.pool,
                      "write_timeout": self._media_write_timeout if files else defaults.write}
        capped = {}
        for name, value in timeouts.items():
            value = default_of[name] if isinstance(value, _DEFAULT) else value
            capped[name] = limit if value is None else min(value, limit)
        return capped


def _retry_after(payload: bytes) -> float | None:
    try:
        retry_after = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None  # a 429 without retry_after: no way to know when; give up
    return float(retry_after) if isinstance(retry_after, (int, float)) and retry_after >= 0 else None

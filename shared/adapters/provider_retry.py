"""Bounded retries for calls to outside providers (video rooms, payments).

``await retrying(op, policy, wait_for)`` runs ``op()``; when it raises, ``wait_for(exc, attempt)`` says how
long to wait before the next attempt (None: not retryable, re-raise). Attempts are capped by
``policy.attempts`` and all waits together by ``policy.budget`` seconds; a wait the provider asks for
(``Retry-After``) longer than ``policy.max_wait`` is not waited out: the call fails at once.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
    max_wait: float = 10.0     # longest Retry-After honoured
    budget: float = 20.0       # all waits of one call together
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def pause(self, attempt: int) -> float:
        return self.backoff[min(attempt, len(self.backoff)) - 1]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


async def retrying(op: Callable[[], Awaitable[T]], policy: RetryPolicy,
                   wait_for: Callable[[Exception, int], float | None], what: str = "provider call") -> T:
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return await op()
        except Exception as exc:
            wait = wait_for(exc, attempt)
            if wait is None or attempt >= policy.attempts or wait > policy.max_wait \
                    or waited + wait > policy.budget:
                raise
            log.info("%s: %s, retry %d in %.1f s", what, type(exc).__name__, attempt, wait)
            waited += wait
            await policy.sleep(wait)

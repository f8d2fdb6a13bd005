"""The chaos run (tests/chaos_payments.py): owners hold and pay through the webhook on the Firestore
emulator while the Bot API double answers 5xx, Firestore commits of the bookings abort, YooKassa's refunds
time out, fail or are still processing, payments come late, twice and out of order and tasks twice and
out of order; after settle_pending every charge ended booked or refunded, once, and no time is sold twice.

CHAOS_OWNERS sets the number of owners (default 200); CHAOS_SEED the seed."""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone

from google.api_core import exceptions as gexc

from shared.services import payments
from tests.booking_harness import BookingBot, client, double, vet, yookassa  # noqa: F401 - fixtures
from tests.chaos_payments import SEED, ChaosRun

ANNA, OWNER = 101, 5001
SLOT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


async def test_every_charge_ends_booked_or_refunded_through_the_chaos(client, double, yookassa):
    run = ChaosRun(client, double, yookassa, owners=int(os.environ.get("CHAOS_OWNERS", "200")),
                   seed=int(os.environ.get("CHAOS_SEED", str(SEED))))
    report = await run.run()
    try:
        await run.check()
    finally:
        print("\n".join(report.lines()))  # pytest -s shows it (the figures the report quotes)
    # the chaos did happen
    assert report.aborted > 0 and sum(report.bot_5xx.values()) > 0 and sum(report.yookassa_injected.values()) > 0
    assert report.pending_before_settle > 0 and report.refunded_no_show > 0 and report.booked > 0
    assert report.task_runs["hold_expired:done"] > 0 and report.task_runs["hold_expired:skipped"] > 0


class _Outage:
    """The bookings repository with its payment writes failing `times` times (an outage that outlasted the
    client library's retries), then working."""

    def __init__(self, bookings, times: int):
        self._bookings, self.times = bookings, times

    def __getattr__(self, name):
        return getattr(self._bookings, name)

    async def apply_payment(self, *args, **kwargs):
        if self.times > 0:
            self.times -= 1
            raise gexc.ServiceUnavailable("the service is currently unavailable")
        return await self._bookings.apply_payment(*args, **kwargs)


async def test_a_payment_not_recorded_is_given_back_to_telegram_until_it_is(client, double, yookassa):
    """Telegram took the money but the ledger could not be written: the webhook answers 500 (the update
    not consumed) and says nothing; the redelivery books it and tells the owner once."""
    bot = BookingBot(client, double, yookassa)
    bot.crash_ok = True
    await bot.vets(vet(ANNA, name="Анна Петрова"))
    await bot.owner(OWNER)
    await bot.say("/consult", OWNER)
    await bot.say("Чешет ухо", OWNER)
    await bot.press(f"cs:s:{ANNA}:{SLOT:%Y%m%d%H%M}", OWNER)
    bot.services = replace(bot.services, bookings=_Outage(bot.services.bookings, times=2))
    bot.app.bot_data["services"] = bot.services
    built = double.pay(bot.invoices(OWNER)[-1], OWNER, deliver=False, yookassa=yookassa)
    assert await bot.deliver(built["pre_checkout"]) == 200
    since = bot.seq()
    paid = built["successful_payment"]
    assert [await bot.deliver(paid) for _ in range(2)] == [500, 500]
    assert bot.texts(OWNER, since) == [] and await bot.services.bookings.ledger(built["charge_id"]) is None
    assert await bot.deliver(paid) == 200
    assert await bot.deliver(paid) == 200  # a late duplicate: consumed, nothing more
    told = [t for t in bot.texts(OWNER, since) if "вы записаны" in t]
    assert len(told) == 1 and len(bot.texts(OWNER, since)) == 1
    entry = await bot.services.bookings.ledger(built["charge_id"])
    assert entry.status == "confirmed" and await payments.reconcile(bot.services.bookings) == []

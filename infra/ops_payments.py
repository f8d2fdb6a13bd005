"""`python -m infra.ops payments ...`: the payments ledger for operations.

    python -m infra.ops payments reconcile            every charge that ended neither with a booking
                                                      confirmed by it nor with a refund (and paid bookings
                                                      whose charge the ledger lacks); exit 1 if any
    python -m infra.ops payments reconcile --settle   first retries the refunds the ledger says are owed
                                                      (the same idempotence key: never a second refund)

Reads GOOGLE_CLOUD_PROJECT (FIRESTORE_EMULATOR_HOST for the local stack). --settle pays back through
YooKassa (YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY, YOOKASSA_API_URL) or, for Stars, the Bot API
(TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE).
"""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone


def add_parser(areas) -> None:
    """The `payments` area of infra.ops's command line."""
    payments = areas.add_parser("payments", help="the payments ledger").add_subparsers(dest="command", required=True)
    reconcile = payments.add_parser("reconcile", help="charges with neither a confirmed booking nor a refund")
    reconcile.add_argument("--settle", action="store_true", help="first retry the refunds owed")


def _refunder(env):
    from shared.adapters.yookassa import YooKassa
    from shared.config import TELEGRAM_API
    from shared.services.payments import Refunder

    provider = None
    if env.get("YOOKASSA_SHOP_ID") and env.get("YOOKASSA_SECRET_KEY"):
        provider = YooKassa(env["YOOKASSA_SHOP_ID"], env["YOOKASSA_SECRET_KEY"],
                            env.get("YOOKASSA_API_URL", "https://api.yookassa.ru/v3"))

    async def stars(user_id: int, charge_id: str) -> None:
        from telegram import Bot
        from telegram.error import BadRequest

        if not env.get("TELEGRAM_BOT_TOKEN"):
            raise RuntimeError("missing configuration: TELEGRAM_BOT_TOKEN (to refund Stars)")
        base = env.get("TELEGRAM_API_BASE", TELEGRAM_API).rstrip("/")
        async with Bot(env["TELEGRAM_BOT_TOKEN"], base_url=f"{base}/bot") as bot:
            try:
                await bot.refund_star_payment(user_id, charge_id)
            except BadRequest as err:
                if "CHARGE_ALREADY_REFUNDED" not in err.message.upper():
                    raise

    return Refunder(provider, stars, lambda: datetime.now(timezone.utc))


async def run(args, env=os.environ, out=sys.stdout, bookings=None) -> int:
    """0: every charge settled; 1: problems listed (one per line, tab-separated)."""
    from shared.services import payments as payment_service

    client = None
    if bookings is None:
        from google.cloud import firestore

        from shared.adapters.firestore_bookings import FirestoreBookings
        from shared.adapters.firestore_repositories import OpStats

        client = firestore.AsyncClient(project=env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"))
        bookings = FirestoreBookings(client, OpStats())
    try:
        if args.settle:
            for charge, done in await payment_service.settle_pending(bookings, _refunder(env)):
                print(f"refund\t{charge}\t{'done' if done else 'failed: still owed'}", file=out)
        problems = await payment_service.reconcile(bookings)
    finally:
        if client is not None:
            client.close()
    for p in problems:
        print(f"{p.charge_id}\t{p.booking_id}\t{p.amount} {p.currency}\t{p.what}", file=out)
    if not problems:
        print("every charge ended with a confirmed booking or a refund", file=out)
    return 1 if problems else 0

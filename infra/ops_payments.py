"""`python -m infra.ops payments ...`: the payments ledger for operations.

    python -m infra.ops payments list [--since YYYY-MM-DD] [--status confirmed|refunded|refund_pending]
                                                      one line per charge, newest first (tab-separated:
                                                      time, charge, booking, amount, platform fee, vet's
                                                      share, status, refunded), then the totals per
                                                      currency; ids only (the ledger keeps no names)
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

import argparse
import os
import sys
from datetime import date, datetime, time, timezone

from shared.adapters.yookassa import YooKassa, kopecks_to_value
from shared.domain.bookings import Currency
from shared.services import payments as payment_service
from shared.services.payments import LEDGER_STATUSES


def add_parser(areas) -> None:
    """The `payments` area of infra.ops's command line."""
    payments = areas.add_parser("payments", help="the payments ledger").add_subparsers(dest="command", required=True)
    listing = payments.add_parser("list", help="the charges, newest first, and their totals")
    listing.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="charges made that day (UTC) or later")
    listing.add_argument("--status", choices=LEDGER_STATUSES, help="only charges in this status")
    reconcile = payments.add_parser("reconcile", help="charges with neither a confirmed booking nor a refund")
    reconcile.add_argument("--settle", action="store_true", help="first retry the refunds owed")


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(0), timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def refunder(env):
    """Pays back through YooKassa or the Bot API (Stars), as the bot's own refunder does, configured from `env`."""
    from shared.config import TELEGRAM_API

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

    return payment_service.Refunder(provider, stars, lambda: datetime.now(timezone.utc))


async def run(args, env=os.environ, out=sys.stdout, bookings=None) -> int:
    """list: 0. reconcile: 0 when every charge is settled; 1 with the problems listed (one per line,
    tab-separated)."""
    client = None
    if bookings is None:
        from google.cloud import firestore

        from shared.adapters.firestore_bookings import FirestoreBookings
        from shared.adapters.firestore_repositories import OpStats

        client = firestore.AsyncClient(project=env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"))
        bookings = FirestoreBookings(client, OpStats())
    try:
        if args.command == "list":
            return await _list(args, bookings, out)
        return await _reconcile(args, env, bookings, out)
    finally:
        if client is not None:
            client.close()


async def _list(args, bookings, out) -> int:
    entries, totals = await payment_service.ledger(bookings, args.since, args.status)
    for e in entries:
        print(f"{f'{e.created_at:%Y-%m-%d %H:%M}Z' if e.created_at else '-'}\t{e.charge_id}\t{e.booking_id}\t"
              f"{money(e.amount, e.currency)} {e.currency}\t{money(e.fee, e.currency)}\t"
              f"{money(e.vet_share, e.currency)}\t{e.status}\t{money(e.refunded, e.currency)}", file=out)
    for s in totals:
        print(f"total {s.currency}\tcharges {s.charges}\tcharged {money(s.charged, s.currency)}\t"
              f"refunded {money(s.refunded, s.currency)}\towed {money(s.owed, s.currency)}\t"
              f"fees {money(s.fees, s.currency)}\tvets' shares {money(s.vet_shares, s.currency)}", file=out)
    if not entries:
        print("no charges", file=out)
    return 0


def money(amount: int, currency: str) -> str:
    """Minor units as the currency counts them: kopecks as roubles ("1500.00"), stars whole."""
    return str(amount) if currency == Currency.XTR.value else kopecks_to_value(amount)


async def _reconcile(args, env, bookings, out) -> int:
    if args.settle:
        for charge, done in await payment_service.settle_pending(bookings, refunder(env)):
            print(f"refund\t{charge}\t{'done' if done else 'failed: still owed'}", file=out)
    problems = await payment_service.reconcile(bookings)
    for p in problems:
        print(f"{p.charge_id}\t{p.booking_id}\t{p.amount} {p.currency}\t{p.what}", file=out)
    if not problems:
        print("every charge ended with a confirmed booking or a refund", file=out)
    return 1 if problems else 0

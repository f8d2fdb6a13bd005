"""`python -m infra.ops bookings ...`: a booked consultation, as ops see it from the bot's `/booking <id>`.

    python -m infra.ops bookings show ID                           the booking: status, vet and owner ids,
                                                                   start (UTC), price, charge, ledger status
    python -m infra.ops bookings cancel ID --reason TEXT [--as OPS_ID]
                                                                   cancel with a full refund, as the bot's
                                                                   ops "Cancel with refund" does

`cancel` is the bot's ops cancellation (services.cancellations.cancel as ops): a full refund through
YooKassa (YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY, YOOKASSA_API_URL) or, for Stars, the Bot API; the vet's
time free again; with TELEGRAM_BOT_TOKEN (and TELEGRAM_API_BASE) set, the owner and the vet are told the
reason as the bot tells them (if Telegram fails, the cancellation stands and the command says who may not
know). Only an ops id (OPS_USER_IDS) may; a booking already cancelled, over, or
never paid is refused and nothing changes, so a second run refunds nothing. A refund the provider cannot
make now stays owed: `python -m infra.ops payments reconcile --settle` pays it. Reads
GOOGLE_CLOUD_PROJECT (FIRESTORE_EMULATOR_HOST for the local stack).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from infra.ops_payments import money, refunder
from shared.bootstrap import utcnow
from shared.config import TELEGRAM_API, payment_settings
from shared.domain.bookings import Party
from shared.domain.pets import InvalidInput
from shared.i18n import t
from shared.services import cancellations
from shared.services import payments as payment_service
from shared.services.payments import PaymentsConfig, Refunder

if TYPE_CHECKING:
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.services.repositories import Owners, Vets

LANGUAGE = "en"   # what the command line prints (the service's error texts)


@dataclass(frozen=True)
class BookingsOps:
    """What the bookings commands work with: the same repositories and payment terms the bot's ops use."""

    bookings: FirestoreBookings
    owners: Owners      # people's languages and zones, to tell them
    vets: Vets
    payments: PaymentsConfig
    refunder: Refunder
    clock: Callable[[], datetime] = utcnow


def add_parser(areas) -> None:
    """The `bookings` area of infra.ops's command line."""
    bookings = areas.add_parser("bookings", help="booked consultations").add_subparsers(dest="command",
                                                                                        required=True)
    bookings.add_parser("show", help="a booking with its charge").add_argument("booking_id")
    cancel = bookings.add_parser("cancel", help="cancel with a full refund (the owner and the vet are told)")
    cancel.add_argument("booking_id")
    cancel.add_argument("--reason", required=True, help="why (the owner and the vet see it)")
    cancel.add_argument("--as", dest="as_id", type=int, help="the ops id to act as (one of OPS_USER_IDS)")


def services_from(env, terms: dict, client) -> BookingsOps:
    """Firestore's repositories, the deployment's payment terms (shared.config.payment_settings), its refunder."""
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
    from shared.adapters.firestore_vets import FirestoreVets

    stats = OpStats()
    return BookingsOps(FirestoreBookings(client, stats), FirestoreOwners(client, stats), FirestoreVets(client, stats),
                       PaymentsConfig(mode=terms["payments_mode"], fee_percent=terms["fee_percent"],
                                      late_cancel_refund_percent=terms["late_cancel_refund_percent"]),
                       refunder(env))


async def run(args, ops_ids: frozenset[int], acting_ops, env=os.environ, out=sys.stdout, err=sys.stderr,
              services: BookingsOps | None = None) -> int:
    """0 done; 1 refused, the reason printed to `err`. `acting_ops(as_id, ops_ids)`: who cancels (infra.ops)."""
    client = None
    if services is None:
        from google.cloud import firestore

        try:
            terms = payment_settings(env)
        except RuntimeError as bad:  # PAYMENTS_MODE or a percentage that makes no sense
            print(bad, file=err)
            return 2
        client = firestore.AsyncClient(project=env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"))
        services = services_from(env, terms, client)
    try:
        if args.command == "show":
            await _show(services, args.booking_id, out)
            return 0
        by = acting_ops(args.as_id, ops_ids)
        if by not in ops_ids:
            print(f"{by} is not on the ops list (OPS_USER_IDS): nothing changed", file=err)
            return 1
        return await _cancel(services, args, by, ops_ids, env, out, err)
    except InvalidInput as refused:  # booking.err.*: none such, cancelled already, not cancellable
        print(t(LANGUAGE, refused.code, **refused.params), file=err)
        return 1
    finally:
        if client is not None:
            client.close()


async def _show(s: BookingsOps, booking_id: str, out) -> None:
    booking, entry = await payment_service.booking_and_charge(s.bookings, booking_id)
    currency = booking.price.currency.value
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    ledger = "-" if entry is None else entry.status + "".join(
        f"\t{label} {money(value, entry.currency)} {entry.currency}"
        for label, value in (("refunded", entry.refunded), ("owed", entry.refund_due)) if value)
    for label, value in (("booking", booking.id), ("status", booking.status.value), ("vet", booking.vet_id),
                         ("owner", booking.owner_id), ("start", f"{booking.start:%Y-%m-%d %H:%M}Z ({minutes} min)"),
                         ("price", f"{money(booking.price.amount, currency)} {currency}"),
                         ("charge", booking.charge_id or "-"), ("ledger", ledger)):
        print(f"{label}\t{value}", file=out)


async def _cancel(s: BookingsOps, args, by: int, ops_ids: frozenset[int], env, out, err) -> int:
    now = s.clock()
    # as the bot's /booking card offers it: a consultation not over yet (the service refuses the rest)
    terms = await cancellations.cancel_terms(s.bookings, s.payments, args.booking_id, by, now, as_party=Party.OPS,
                                             ops=ops_ids)
    if terms.booking.end <= now:
        print(f"booking {terms.booking.id} is over (ended {terms.booking.end:%Y-%m-%d %H:%M}Z): nothing changed",
              file=err)
        return 1
    done = await cancellations.cancel(s.bookings, s.refunder, s.payments, args.booking_id, by, now,
                                      as_party=Party.OPS, ops=ops_ids, note=args.reason)
    currency = done.booking.price.currency.value
    refund = f"{money(done.refund, currency)} {currency}"
    print(f"{done.booking.id}\tcancelled\t" + (f"refunded {refund}" if done.refunded else
          f"refund of {refund} owed: `python -m infra.ops payments reconcile --settle` pays it"), file=out)
    if env.get("TELEGRAM_BOT_TOKEN"):
        from telegram.error import TelegramError

        try:
            await _tell_both(s, done, env)
        except TelegramError as error:  # Telegram unreachable or refusing: the cancellation stands all the same
            print(f"the owner and the vet may not have been told ({type(error).__name__}): the cancellation stands;"
                  " tell them from the ops chat", file=err)
        else:
            print("the owner and the vet are told", file=out)
    else:
        print("nobody told (TELEGRAM_BOT_TOKEN is not set)", file=out)
    return 0


async def _tell_both(s: BookingsOps, done: cancellations.Cancellation, env) -> None:
    from telegram import Bot

    from shared.bot.handlers.bookings import CANCELLED, tell_owner_vet_cancelled, tell_vet
    from shared.bot.notice_context import NoticeContext

    base = env.get("TELEGRAM_API_BASE", TELEGRAM_API).rstrip("/")
    async with Bot(env["TELEGRAM_BOT_TOKEN"], base_url=f"{base}/bot") as bot:
        context = NoticeContext(bot, s)
        await tell_owner_vet_cancelled(context, done)
        await tell_vet(context, done.booking, CANCELLED, cancelled=done)

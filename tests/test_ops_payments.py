"""`python -m infra.ops payments list|reconcile [--settle]` against the Firestore emulator and the YooKassa
double: the ledger listed newest first with its totals per currency, filtered by day and status (only the
entries listed are read); nothing
to report when every charge is settled; an owed refund listed, then settled once."""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from google.cloud import firestore

from infra import ops, ops_payments
from infra.local.yookassa_double import YooKassaDouble
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_repositories import OpStats
from shared.domain.bookings import Booking, BookingStatus, Currency, Price, split
from shared.domain.slots import HOLD_TTL, lock_cells
from shared.services import cancellations
from shared.services.payments import PaymentsConfig

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
START = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def bookings(clean_firestore):
    client = firestore.AsyncClient(project=clean_firestore["project"])
    yield FirestoreBookings(client, OpStats(), require_parties=False)  # the ledger's mechanics: no people made
    client.close()


def held(repo, owner: int) -> Booking:
    end = START + timedelta(minutes=30)
    return Booking(id=repo.new_id(), owner_id=owner, vet_id=77, pet_id="p", start=START, end=end, buffer_minutes=0,
                   price=Price(150000, Currency.RUB), status=BookingStatus.HELD, hold_expires_at=NOW + HOLD_TTL,
                   cells=tuple(lock_cells("77", START, end)))


async def reconcile(repo, settle=False, env=None) -> tuple[int, str]:
    out = io.StringIO()
    code = await ops_payments.run(argparse.Namespace(command="reconcile", settle=settle), env=env or {}, out=out,
                                  bookings=repo)
    return code, out.getvalue()


async def listed(repo, since: str | None = None, status: str | None = None) -> list[str]:
    out = io.StringIO()
    args = ops.parser().parse_args(["payments", "list", *(["--since", since] if since else []),
                                    *(["--status", status] if status else [])])
    assert await ops_payments.run(args, env={}, out=out, bookings=repo) == 0
    return out.getvalue().splitlines()


async def test_reconcile_lists_an_owed_refund_and_settle_pays_it_back_once(bookings):
    first = await bookings.hold(held(bookings, 1), NOW)
    late = NOW + HOLD_TTL + timedelta(minutes=1)
    await bookings.hold(replace(held(bookings, 2), hold_expires_at=late + HOLD_TTL), late)  # took the slot
    with YooKassaDouble() as yookassa:
        payment = yookassa.create_payment(150000)
        applied = await bookings.apply_payment(first.id, "tg-1", 1, 150000, "RUB", payment["id"],
                                               lambda a: split(a, 20), late)
        assert applied.ledger.status == "refund_pending"
        code, text = await reconcile(bookings)
        assert code == 1 and "tg-1" in text and "not refunded" in text
        env = {"YOOKASSA_SHOP_ID": yookassa.shop_id, "YOOKASSA_SECRET_KEY": yookassa.secret_key,
               "YOOKASSA_API_URL": yookassa.api_url}
        code, text = await reconcile(bookings, settle=True, env=env)
        assert code == 0 and "refund\ttg-1\tdone" in text and "every charge ended" in text
        assert len(yookassa.refunds(payment["id"])) == 1
        code, text = await reconcile(bookings, settle=True, env=env)
        assert code == 0 and "refund\t" not in text and len(yookassa.refunds(payment["id"])) == 1


async def test_reconcile_finds_a_paid_booking_the_ledger_lacks(bookings):
    booking = await bookings.hold(held(bookings, 3), NOW)
    await bookings.apply_payment(booking.id, "tg-2", 3, 150000, "RUB", "", lambda a: split(a, 20), NOW)
    assert await reconcile(bookings) == (0, "every charge ended with a confirmed booking or a refund\n")
    await bookings._payments.document("tg-2").delete()
    code, text = await reconcile(bookings)
    assert code == 1 and "not in the ledger" in text


async def paid(repo, owner: int, start: datetime, at: datetime, charge: str, price: Price,
               provider_charge_id: str = "") -> Booking:
    """A booking held and paid at `at` (its charge in the ledger then)."""
    end = start + timedelta(minutes=30)
    booking = await repo.hold(Booking(id=repo.new_id(), owner_id=owner, vet_id=77, pet_id="p", start=start, end=end,
                                      buffer_minutes=0, price=price, status=BookingStatus.HELD,
                                      hold_expires_at=at + HOLD_TTL, cells=tuple(lock_cells("77", start, end))), at)
    applied = await repo.apply_payment(booking.id, charge, owner, price.amount, price.currency.value,
                                       provider_charge_id, lambda a: split(a, 20), at)
    return applied.booking


async def test_list_shows_each_charge_newest_first_with_totals_per_currency_and_filters(bookings):
    day = timedelta(days=1)
    with YooKassaDouble() as yookassa:
        env = {"YOOKASSA_SHOP_ID": yookassa.shop_id, "YOOKASSA_SECRET_KEY": yookassa.secret_key,
               "YOOKASSA_API_URL": yookassa.api_url}
        kept = await paid(bookings, 1, START, NOW, "tg-a", Price(150000, Currency.RUB))
        cancelled = await paid(bookings, 2, START + timedelta(hours=1), NOW + day, "tg-b",
                               Price(150000, Currency.RUB), yookassa.create_payment(150000)["id"])
        done = await cancellations.cancel(bookings, ops_payments.refunder(env), PaymentsConfig(fee_percent=20),
                                          cancelled.id, 700101, NOW + day, ops={700101}, note="Врач заболел")
        assert done.refunded and len(yookassa.refunds()) == 1
    stars = await paid(bookings, 3, START + timedelta(hours=2), NOW + day + timedelta(hours=1), "tg-d",
                       Price(75, Currency.XTR))
    await bookings.record_orphan_charge("tg-c", "nosuchbooking", 4, 50000, "RUB", "", NOW + day + timedelta(hours=2))
    a, b, c, d = (f"2026-12-01 09:00Z\ttg-a\t{kept.id}\t1500.00 RUB\t300.00\t1200.00\tconfirmed\t0.00",
                  f"2026-12-02 09:00Z\ttg-b\t{cancelled.id}\t1500.00 RUB\t0.00\t0.00\trefunded\t1500.00",
                  "2026-12-02 11:00Z\ttg-c\tnosuchbooking\t500.00 RUB\t0.00\t0.00\trefund_pending\t0.00",
                  f"2026-12-02 10:00Z\ttg-d\t{stars.id}\t75 XTR\t15\t60\tconfirmed\t0")
    assert await listed(bookings) == [
        c, d, b, a,
        "total RUB\tcharges 3\tcharged 3500.00\trefunded 1500.00\towed 500.00\tfees 300.00\tvets' shares 1200.00",
        "total XTR\tcharges 1\tcharged 75\trefunded 0\towed 0\tfees 15\tvets' shares 60"]
    reads = bookings._stats.reads
    assert await listed(bookings, since="2026-12-02") == [
        c, d, b,
        "total RUB\tcharges 2\tcharged 2000.00\trefunded 1500.00\towed 500.00\tfees 0.00\tvets' shares 0.00",
        "total XTR\tcharges 1\tcharged 75\trefunded 0\towed 0\tfees 15\tvets' shares 60"]
    assert await listed(bookings, status="refunded") == [
        b, "total RUB\tcharges 1\tcharged 1500.00\trefunded 1500.00\towed 0.00\tfees 0.00\tvets' shares 0.00"]
    assert (await listed(bookings, since="2026-12-02", status="confirmed"))[0] == d
    assert bookings._stats.reads - reads == 3 + 1 + 1  # the entries listed, not the whole ledger each time
    assert await listed(bookings, since="2026-12-03") == ["no charges"]


def test_the_command_line_runs_it(firestore_emulator):
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator["firestore_emulator_host"],
           "GOOGLE_CLOUD_PROJECT": firestore_emulator["project"]}
    from infra.local.stack import clear_firestore

    clear_firestore(firestore_emulator["firestore_emulator_host"], firestore_emulator["project"])
    done = subprocess.run([sys.executable, "-m", "infra.ops", "payments", "reconcile"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "every charge ended with a confirmed booking or a refund" in done.stdout
    listing = subprocess.run([sys.executable, "-m", "infra.ops", "payments", "list", "--status", "refunded"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert (listing.returncode, listing.stdout) == (0, "no charges\n"), listing.stderr

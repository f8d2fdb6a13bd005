"""`python -m infra.ops payments reconcile [--settle]` against the Firestore emulator and the YooKassa
double: nothing to report when every charge is settled; an owed refund listed, then settled once."""
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

from infra import ops_payments
from infra.local.yookassa_double import YooKassaDouble
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_repositories import OpStats
from shared.domain.bookings import Booking, BookingStatus, Currency, Price, split
from shared.domain.slots import HOLD_TTL, lock_cells

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
    code = await ops_payments.run(argparse.Namespace(settle=settle), env=env or {}, out=out, bookings=repo)
    return code, out.getvalue()


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


def test_the_command_line_runs_it(firestore_emulator):
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator["firestore_emulator_host"],
           "GOOGLE_CLOUD_PROJECT": firestore_emulator["project"]}
    from infra.local.stack import clear_firestore

    clear_firestore(firestore_emulator["firestore_emulator_host"], firestore_emulator["project"])
    done = subprocess.run([sys.executable, "-m", "infra.ops", "payments", "reconcile"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "every charge ended with a confirmed booking or a refund" in done.stdout

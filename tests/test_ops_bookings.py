"""`python -m infra.ops bookings show|cancel` on the Firestore emulator with the Bot API and YooKassa doubles,
over bookings made and paid through the bot: show prints the booking with its charge; cancel is the bot's
ops cancellation (a full refund even hours before the start, the ledger refunded, the time free again, the
owner and the vet told the reason), refunding once however often it is run; anyone not on the ops list, an
unknown booking and one that is over change nothing."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from infra import ops, ops_bookings
from shared.config import payment_settings
from tests.booking_harness import TOKEN, BookingBot, client, double, vet, yookassa  # noqa: F401 - fixtures
from tests.test_bookings_bot import ANNA, OTHER, OWNER, SOON, book, docs, sent

ROOT = Path(__file__).resolve().parents[1]
OPS, OTHER_OPS = 790_000_001, 790_000_002


@pytest.fixture
async def bot(client, double, yookassa):
    b = BookingBot(client, double, yookassa)
    await b.vets(vet(ANNA, name="Анна Петрова"))
    await b.owner(ANNA, pets=0)
    await b.owner(OWNER)
    return b


def environment(bot: BookingBot, tell: bool = True) -> dict:
    env = {"YOOKASSA_SHOP_ID": bot.yookassa.shop_id, "YOOKASSA_SECRET_KEY": bot.yookassa.secret_key,
           "YOOKASSA_API_URL": bot.yookassa.api_url, "PLATFORM_FEE_PERCENT": "20"}
    return {**env, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": bot.double.base_url} if tell else env


async def cli(bot: BookingBot, *args: str, ops_ids=frozenset({OPS, OTHER_OPS}), tell: bool = True) -> tuple[int, str, str]:
    """The command run in this process, on the bot's Firestore client and clock: (exit code, stdout, stderr)."""
    env = environment(bot, tell)
    services = replace(ops_bookings.services_from(env, payment_settings(env), bot.client), clock=lambda: bot.now)
    out, err = io.StringIO(), io.StringIO()
    code = await ops_bookings.run(ops.parser().parse_args(["bookings", *args]), ops_ids, ops.acting_ops, env=env,
                                  out=out, err=err, services=services)
    return code, out.getvalue(), err.getvalue()


async def stored(bot: BookingBot, booking_id: str) -> tuple[dict, dict]:
    booking = next(d for d in await docs(bot) if d["id"] == booking_id)
    return booking, next(d for d in await docs(bot, "payments") if d["booking_id"] == booking_id)


async def test_show_prints_the_booking_and_its_charge(bot):
    booking = await book(bot, OWNER, at=SOON)
    code, out, _ = await cli(bot, "show", booking["id"])
    assert code == 0
    assert out.splitlines() == [f"booking\t{booking['id']}", "status\tconfirmed", f"vet\t{ANNA}", f"owner\t{OWNER}",
                                "start\t2026-12-01 13:00Z (30 min)", "price\t1500.00 RUB",
                                f"charge\t{booking['charge_id']}", "ledger\tconfirmed"]


async def test_cancel_refunds_in_full_once_tells_both_and_frees_the_time(bot, yookassa):
    booking = await book(bot, OWNER, at=SOON)     # 4 h ahead: the owner would get half back
    since = bot.seq()
    code, out, err = await cli(bot, "cancel", booking["id"], "--reason", "Врач в больнице", "--as", str(OPS))
    assert code == 0, err
    assert out.splitlines() == [f"{booking['id']}\tcancelled\trefunded 1500.00 RUB", "the owner and the vet are told"]
    [refund] = yookassa.refunds()
    assert (refund["amount"]["value"], refund["status"]) == ("1500.00", "succeeded")
    cancelled, charge = await stored(bot, booking["id"])
    assert (cancelled["status"], cancelled["cancelled_by"], cancelled["cancel_note"]) == ("cancelled", "ops",
                                                                                         "Врач в больнице")
    assert (charge["status"], charge["refund_due"], [r["amount"] for r in charge["refunds"]]) == ("refunded", 0, [150000])
    [owner_told] = sent(bot, OWNER, since)
    assert "отменена нашей поддержкой — Врач в больнице" in owner_told and "Вернули 1\u00a0500 ₽" in owner_told
    assert bot.buttons(OWNER) == {"Выбрать другого врача": f"bk:o:{booking['id']}"}
    [vet_told] = sent(bot, ANNA, since)
    assert "Поддержка отменила" in vet_told and "Причина: Врач в больнице" in vet_told

    _, out, _ = await cli(bot, "show", booking["id"])
    assert "status\tcancelled" in out and "ledger\trefunded\trefunded 1500.00 RUB" in out
    since = bot.seq()
    assert await cli(bot, "cancel", booking["id"], "--reason", "ещё раз", "--as", str(OTHER_OPS)) == (
        1, "", "This consultation is cancelled already.\n")
    assert len(yookassa.refunds()) == 1 and sent(bot, OWNER, since) == sent(bot, ANNA, since) == []
    assert await stored(bot, booking["id"]) == (cancelled, charge)
    # the vet's time is free again: another owner books it
    await bot.owner(OTHER)
    assert (await book(bot, OTHER, at=SOON))["status"] == "confirmed"


async def test_anyone_not_on_the_ops_list_an_unknown_or_an_ended_booking_changes_nothing(bot, yookassa):
    booking = await book(bot, OWNER, at=SOON)
    before = await stored(bot, booking["id"])
    for someone in (OWNER, ANNA, OTHER):
        assert await cli(bot, "cancel", booking["id"], "--reason", "просто так", "--as", str(someone)) == (
            1, "", f"{someone} is not on the ops list (OPS_USER_IDS): nothing changed\n")
    assert await cli(bot, "cancel", "nosuchbooking", "--reason", "x", "--as", str(OPS)) == (
        1, "", "Booking not found.\n")
    assert await cli(bot, "show", "nosuchbooking") == (1, "", "Booking not found.\n")
    bot.now = SOON + timedelta(minutes=30)        # the consultation's time is over
    assert await cli(bot, "cancel", booking["id"], "--reason", "поздно", "--as", str(OPS)) == (
        1, "", f"booking {booking['id']} is over (ended 2026-12-01 13:30Z): nothing changed\n")
    assert await stored(bot, booking["id"]) == before and yookassa.refunds() == []


async def test_without_a_bot_token_it_cancels_and_says_nobody_was_told(bot, yookassa):
    booking = await book(bot, OWNER, at=SOON)
    since = bot.seq()
    code, out, _ = await cli(bot, "cancel", booking["id"], "--reason", "Врач в больнице", tell=False,
                             ops_ids=frozenset({OPS}))    # the only ops id: no --as needed
    assert code == 0 and out.splitlines()[-1] == "nobody told (TELEGRAM_BOT_TOKEN is not set)"
    assert len(yookassa.refunds()) == 1 and sent(bot, OWNER, since) == sent(bot, ANNA, since) == []


async def test_when_telegram_fails_the_cancellation_stands_and_ops_are_told_so(bot, yookassa):
    booking = await book(bot, OWNER, at=SOON)
    bot.double.inject_error("sendMessage", 502, count=10, html=True)   # Telegram's front proxy, for a while
    code, out, err = await cli(bot, "cancel", booking["id"], "--reason", "Врач в больнице", "--as", str(OPS))
    assert code == 0 and out.splitlines() == [f"{booking['id']}\tcancelled\trefunded 1500.00 RUB"]
    assert err.startswith("the owner and the vet may not have been told (NetworkError): the cancellation stands")
    cancelled, charge = await stored(bot, booking["id"])
    assert cancelled["status"] == "cancelled" and charge["status"] == "refunded" and len(yookassa.refunds()) == 1


def test_the_command_line_runs_it(firestore_emulator):
    from infra.local.stack import clear_firestore

    clear_firestore(firestore_emulator["firestore_emulator_host"], firestore_emulator["project"])
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator["firestore_emulator_host"],
           "GOOGLE_CLOUD_PROJECT": firestore_emulator["project"], "OPS_USER_IDS": f"{OPS},{OTHER_OPS}"}
    env.pop("TELEGRAM_BOT_TOKEN", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "infra.ops", "bookings", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    shown = run("show", "nosuchbooking")
    assert (shown.returncode, shown.stderr) == (1, "Booking not found.\n")
    refused = run("cancel", "nosuchbooking", "--reason", "x", "--as", "12345")
    assert (refused.returncode, refused.stderr) == (1, "12345 is not on the ops list (OPS_USER_IDS): nothing changed\n")
    several = run("cancel", "nosuchbooking", "--reason", "x")
    assert several.returncode == 2 and "--as" in several.stderr

"""pre_checkout_query answer time under concurrent payers (manual, not a test). Telegram cancels a payment
whose pre-checkout query is not answered within 10 s; target on the local stack: p99 < 1 s with 50 payers.

    .venv/bin/python -m benchmarks.pre_checkout [--payers 50] [--rounds 6]

The local stack's emulator, Bot API double and telegram_webhook under functions-framework (one instance:
gunicorn, 1 worker, 4 threads per core). 50 owners each hold a time (live holds seeded through the bookings
repository); per round, 50 threads, released together by a barrier, each register its query with the
double (Telegram's clock for the 10 s starts) and post the update to the webhook; the time counted is
until the double recorded the answer (answerPreCheckoutQuery, or the webhook's response executed as
Telegram would: the answer rides in it). Rounds alternate with the same webhook sending its answer as a
request of its own, as it did before (benchmarks/webhook_answer_sent.py, "answer sent"), and with a bare
functions-framework function that answers at once with one Bot API call (benchmarks/bare_pre_checkout.py),
under the same load. The first round of each is a warm-up (not counted): instances and emulator warm, no
cold start."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx

from benchmarks.webhook import ROOT, first_ok, pct, serve
from infra.local.bot_api_double import BotApiDoubleClient, UpdateFactory
from infra.local.stack import LocalStack
from shared.bot.webhook import SECRET_HEADER

FIRST_OWNER = 880_000
AMOUNT = 150000


async def seed(project: str, payers: int) -> list[tuple[int, str]]:
    """`payers` consented owners, one vet, a live hold (an hour long) for each owner: (owner, booking id)."""
    from google.cloud import firestore

    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_repositories import FirestoreOwners, OpStats
    from shared.adapters.firestore_vets import FirestoreVets
    from shared.domain import slots as slot_rules
    from shared.domain.bookings import Booking, BookingStatus, Currency, Price
    from shared.domain.owners import Owner
    from tests.booking_harness import vet

    client, stats = firestore.AsyncClient(project=project), OpStats()
    owners, bookings = FirestoreOwners(client, stats), FirestoreBookings(client, stats)
    now = datetime.now(timezone.utc)
    the_vet = vet(870_001)
    await FirestoreVets(client, stats).create(the_vet)
    free = slot_rules.free_slots(the_vet.schedule, [], now)
    out = []
    for n in range(payers):
        uid = FIRST_OWNER + n
        await owners.create(Owner(id=uid, language="ru", consent_at=now - timedelta(days=1)))
        slot = free[n]
        held = Booking(id=bookings.new_id(), owner_id=uid, vet_id=the_vet.id, pet_id="p", start=slot.start,
                       end=slot.end, buffer_minutes=0, price=Price(AMOUNT, Currency.RUB), status=BookingStatus.HELD,
                       hold_expires_at=now + timedelta(hours=1),
                       cells=tuple(slot_rules.slot_cells(str(the_vet.id), slot, 0)))
        await bookings.hold(held, now)
        out.append((uid, held.id))
    client.close()
    return out


def one_round(url: str, headers: dict, double: BotApiDoubleClient, holds: list[tuple[int, str]]) -> list[float]:
    """All payers at once; seconds from each post to the answer the double recorded for its query."""
    factory = UpdateFactory(double)
    barrier = threading.Barrier(len(holds))
    sent: dict[str, float] = {}
    errors: list[str] = []

    def payer(uid: int, booking_id: str) -> None:
        with httpx.Client(timeout=30) as http, BotApiDoubleClient(double.base_url) as telegram:
            barrier.wait()
            update = factory.pre_checkout_query(booking_id, AMOUNT, "RUB", user_id=uid)  # Telegram's 10 s start
            qid = update["pre_checkout_query"]["id"]
            sent[qid] = time.time()
            response = http.post(url, content=json.dumps(update).encode(), headers=headers)
            if response.status_code != 200:
                errors.append(f"{response.status_code}")
            telegram.webhook_reply(response)  # an answer in the response: Telegram executes it at once

    threads = [threading.Thread(target=payer, args=hold) for hold in holds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = {q["id"]: q for q in double.pre_checkout_answers() if q["id"] in sent}
    calls = {c["params"]["pre_checkout_query_id"]: c["ts"] for c in double.calls("answerPreCheckoutQuery")
             if c.get("status") == 200 and c["params"]["pre_checkout_query_id"] in sent}
    bad = [q for q in answered.values() if len(q["answers"]) != 1 or not q["answers"][0]["ok"]]
    if errors or bad or len(calls) != len(holds):
        raise RuntimeError(f"round failed: {len(errors)} non-200, {len(bad)} not answered ok once, "
                           f"{len(calls)} of {len(holds)} answers recorded")
    return [calls[qid] - t0 for qid, t0 in sent.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds of each (after one warm-up round)")
    args = parser.parse_args()
    with LocalStack(ROOT).running(("firestore", "telegram", "functions")) as info:
        stack_env = LocalStack(ROOT)
        stack_env.info = info
        env = dict(stack_env.function_env(), K_SERVICE="bench")
        os.environ["FIRESTORE_EMULATOR_HOST"] = info["firestore_emulator_host"]
        holds = asyncio.run(seed(info["project"], args.payers))
        double = BotApiDoubleClient(info["telegram_api_base"])
        headers = {SECRET_HEADER: info["webhook_secret"], "Content-Type": "application/json"}
        webhook_url = info["functions"]["telegram_webhook"]
        served = [serve("benchmarks/bare_pre_checkout.py", "bare", env),
                  serve("benchmarks/webhook_answer_sent.py", "telegram_webhook", env)]
        try:
            warm = json.dumps(UpdateFactory(double).pre_checkout_query("warm", 1, "RUB", user_id=1)).encode()
            for _, url, started in served:
                first_ok(url, warm, headers, started)
            cases = {"webhook (shipped)": webhook_url, "webhook, answer sent": served[1][1],
                     "bare function": served[0][1]}
            times: dict[str, list[float]] = {name: [] for name in cases}
            rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
            for n in range(args.rounds + 1):
                for name, url in cases.items():
                    took = one_round(url, headers, double, holds)
                    if n:  # the first round warms them up
                        times[name] += took
                        rounds[name].append((pct(took, 50), pct(took, 99)))
        finally:
            for proc, _, _ in served:
                proc.terminate()
                proc.wait()
    print(f"pre_checkout_query: post → answer recorded by the Bot API double, {args.payers} payers released"
          f" together, {args.rounds} rounds each after a warm-up (ms); Telegram allows 10 000, target p99 < 1000")
    for name, values in times.items():
        per_round = "  ".join(f"{p50 * 1000:.0f}/{p99 * 1000:.0f}" for p50, p99 in rounds[name])
        print(f"  {name:<20} p50 {pct(values, 50) * 1000:6.0f}   p99 {pct(values, 99) * 1000:6.0f}   max"
              f" {max(values) * 1000:6.0f}   mean {statistics.mean(values) * 1000:6.0f}"
              f"   per round p50/p99: {per_round}")
    w, sent, b = times["webhook (shipped)"], times["webhook, answer sent"], times["bare function"]
    print(f"  webhook − bare: p50 {(pct(w, 50) - pct(b, 50)) * 1000:+.0f} ms,"
          f" p99 {(pct(w, 99) - pct(b, 99)) * 1000:+.0f} ms; answer in the response saves p50"
          f" {(pct(sent, 50) - pct(w, 50)) * 1000:+.0f} ms, p99 {(pct(sent, 99) - pct(w, 99)) * 1000:+.0f} ms;"
          f" target p99 < 1000 ms: {'met' if pct(w, 99) < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()

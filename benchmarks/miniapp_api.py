"""The Mini App's API (manual, not a test): p50 latency and Firestore reads of the pets list and of a vet's
14-day calendar, against the bot's equivalent updates (/pets; a vet pressed in /consult), on the emulator.

    .venv/bin/python -m benchmarks.miniapp_api [--runs 50] [--pets 3] [--http]

In process: MiniAppApi.handle (initData check included) over the same repositories as the webhook of
tests/booking_harness.py, reads counted with the repositories' stats (OpStats). With --http, also p50
through the miniapp_api function under functions-framework on the local stack (its own process: latency only).
Target: the same reads as the bot's equivalent.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from benchmarks.webhook import ROOT
from infra.local.stack import LocalStack

OWNER = 880_001
VET = 880_500


async def measure(project: str, runs: int, n_pets: int) -> dict:
    from google.cloud import firestore

    from infra.local.bot_api_double import BotApiDouble
    from tests.booking_harness import TOKEN, BookingBot, vet
    from tests.miniapp_harness import MiniApp

    client = firestore.AsyncClient(project=project)
    out: dict = {}
    with BotApiDouble(TOKEN) as double:
        bot = BookingBot(client, double, None)
        app = MiniApp(bot)
        s = bot.services
        pets = await bot.owner(OWNER, pets=n_pets, tz="Europe/Moscow")
        await bot.vets(vet(VET, name="Врач Бенч"))
        pet = pets[0]

        async def timed(label: str, call) -> None:
            times, reads = [], []
            for _ in range(runs):
                s.stats.reset()
                t0 = time.perf_counter()
                status = await call()
                times.append((time.perf_counter() - t0) * 1000)
                reads.append(s.stats.reads)
                assert status == 200, (label, status)
            out[label] = (statistics.median(times), statistics.median(reads))

        await timed("api GET /api/pets", lambda: _status(app.call("GET", "/api/pets", OWNER)))
        await timed("api GET calendar ?pet=", lambda: _status(app.call(
            "GET", f"/api/vets/{VET}/calendar?pet={pet.id}&days=14", OWNER)))
        await timed("api GET calendar ?species=", lambda: _status(app.call(
            "GET", f"/api/vets/{VET}/calendar?species=dog&days=14", OWNER)))
        # the bot's equivalents, whole updates through the webhook adapter (claim and owner read included)
        await bot.app.initialize()

        async def command() -> int:
            return await bot.deliver(bot.updates.command("pets", "", user_id=OWNER))

        await timed("bot /pets (update)", command)
        draft = {"pet_id": pet.id, "name": pet.name, "species": "dog", "reason": "Чешет ухо"}

        async def press_vet() -> int:
            await s.owners.ref(OWNER).update({"dialog": {"name": "consult", "step": "c_pick", "draft": draft}})
            s.stats.reset()
            return await bot.deliver(bot.updates.callback(f"cs:v:{VET}", user_id=OWNER))

        await timed("bot press a vet (update)", press_vet)
        await bot.app.shutdown()
    client.close()
    return out


async def _status(call) -> int:
    return (await call)[0]


def measure_http(info: dict, runs: int) -> dict:
    import httpx

    from tests.miniapp_harness import signed_init_data

    base = info["miniapp_api"].rstrip("/")
    auth = {"Authorization": "tma " + signed_init_data(OWNER, info["bot_token"])}
    out = {}
    with httpx.Client(timeout=10) as http:
        pets = http.get(f"{base}/api/pets", headers=auth).json()["pets"]
        for label, path in (("http GET /api/pets", "/api/pets"),
                            ("http GET calendar ?pet=", f"/api/vets/{VET}/calendar?pet={pets[0]['id']}&days=14")):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = http.get(base + path, headers=auth)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
            out[label] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pets", type=int, default=3)
    parser.add_argument("--http", action="store_true", help="also through the function on the local stack")
    args = parser.parse_args()
    parts = None if args.http else ("firestore",)
    stack = LocalStack(ROOT, parts=parts, state_dir=ROOT / ".local" / "bench-miniapp")
    with stack.running() as info:
        os.environ["FIRESTORE_EMULATOR_HOST"] = info["firestore_emulator_host"]
        stack.clear_firestore()
        out = asyncio.run(measure(info["project"], args.runs, args.pets))
        print(f"Mini App API vs the bot, {args.runs} runs each, an owner with {args.pets} pets "
              "(p50 ms; Firestore reads per request, median)")
        for label, (ms, reads) in out.items():
            print(f"  {label:<30} p50 {ms:7.1f} ms   {reads:>3.0f} reads")
        if args.http:
            for label, ms in measure_http(info, args.runs).items():
                print(f"  {label:<30} p50 {ms:7.1f} ms   (functions-framework on the local stack)")


if __name__ == "__main__":
    main()

"""Firestore reads of booking a vet (manual, not a test): a page of the vet list (5 vets, each with their next
free slot) and one vet's 14-day calendar, counted with the repositories' stats (OpStats) on the emulator.
Targets: ≤ 12 reads for the page, ≤ 3 for the calendar.

    .venv/bin/python -m benchmarks.booking_reads [--vets 5 12 30 100]

Per number of bookable vets: the use cases alone (services.booking.list_vets: page 0, then every later
page as the bot and the Mini App ask for it, with the vets of the pages before as `shown`, and page 1 the
old way, without them, for comparison; vet_slots), then the whole update through the webhook adapter in
process (the owner's read, the claim and the unit of work included): the press of 'vets' (cs:l:0), of
'next' (cs:l:1) and of a vet (cs:v:<id>). The first vets' calendars are partly booked (holds and confirmed
bookings), two are booked up for the next days."""
from __future__ import annotations

import argparse
import asyncio
import os
import random
from datetime import timedelta

from benchmarks.webhook import ROOT
from infra.local.stack import LocalStack

OWNER = 990_001


async def measure(n_vets: int, project: str) -> dict:
    from google.cloud import firestore

    from infra.local.bot_api_double import BotApiDouble
    from shared.domain import slots as slot_rules
    from shared.domain.bookings import Booking, BookingStatus, Currency, Price, split
    from shared.domain.pets import Species
    from shared.domain.slots import HOLD_TTL
    from shared.services import booking as booking_service
    from tests.booking_harness import NOW, TOKEN, BookingBot, vet

    client = firestore.AsyncClient(project=project)
    rng = random.Random(n_vets)
    with BotApiDouble(TOKEN) as double:
        bot = BookingBot(client, double, None)
        s = bot.services
        vets = [vet(1000 + n, name=f"Врач {n}", price=100000 + 1000 * n) for n in range(n_vets)]
        await bot.vets(*vets)
        owners = list(range(OWNER + 1, OWNER + 40))
        for o in [OWNER, *owners]:
            await bot.owner(o)
        # bookings: the first vets partly booked, two booked up for the next days
        for v in vets[: min(6, n_vets)]:
            full = v.id in (1000, 1001)
            free = slot_rules.free_slots(v.schedule, [], NOW)
            chosen = [x for x in free if x.start < NOW + timedelta(days=3)] if full else rng.sample(free, 6)
            for i, slot in enumerate(chosen):
                held = Booking(id=s.bookings.new_id(), owner_id=owners[i % len(owners)], vet_id=v.id, pet_id="p",
                               start=slot.start, end=slot.end, buffer_minutes=0, price=Price(150000, Currency.RUB),
                               status=BookingStatus.HELD, hold_expires_at=NOW + HOLD_TTL,
                               cells=tuple(slot_rules.slot_cells(str(v.id), slot, 0)))
                await s.bookings.hold(held, NOW)
                if i % 2 == 0:
                    await s.bookings.apply_payment(held.id, f"c{held.id}", held.owner_id, 150000, "RUB", "",
                                                   lambda amount: split(amount, 20), NOW)

        def list_page(page: int, shown=()):
            return booking_service.list_vets(s.vets, s.bookings, Species.DOG, NOW, s.payments.pricing, page=page,
                                             shown=shown)

        out = {}
        s.stats.reset()
        found = await list_page(0)
        out["list page 0"] = (s.stats.reads, len(found.offers))
        shown, later = [o.vet.id for o in found.offers], []
        for page in range(1, found.pages):
            s.stats.reset()
            found = await list_page(page, shown)
            later.append((s.stats.reads, len(found.offers)))
            shown += [o.vet.id for o in found.offers]
        out["later pages"] = later
        out["each vet listed once"] = sorted(shown) == [v.id for v in vets]
        s.stats.reset()
        found = await list_page(1)
        out["page 1 without shown"] = (s.stats.reads, len(found.offers))
        s.stats.reset()
        _, free = await booking_service.vet_slots(s.vets, s.bookings, 1002 if n_vets > 2 else 1000, Species.DOG, NOW)
        out["calendar"] = (s.stats.reads, len(free))
        # whole updates through the webhook adapter (in process)
        [pet] = await s.pets.list(OWNER)
        draft = {"pet_id": pet.id, "name": pet.name, "species": "dog", "reason": "Чешет ухо"}
        await s.owners.ref(OWNER).update({"dialog": {"name": "consult", "step": "c_pick", "draft": draft}})
        await bot.app.initialize()
        presses = [("press 'vets'", "cs:l:0"), *([("press 'next'", "cs:l:1")] if later else []),
                   ("press a vet", "cs:v:1002")]
        out["updates"] = []
        for label, data in presses:
            s.stats.reset()
            assert await bot.deliver(bot.updates.callback(data, user_id=OWNER)) == 200
            out["updates"].append((label, s.stats.reads, s.stats.writes))
        await bot.app.shutdown()
    client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vets", type=int, nargs="+", default=[5, 12, 30, 100])
    args = parser.parse_args()
    stack = LocalStack(ROOT, parts=("firestore",), state_dir=ROOT / ".local" / "bench-booking-reads")
    with stack.running() as info:
        os.environ["FIRESTORE_EMULATOR_HOST"] = info["firestore_emulator_host"]
        print("Firestore reads (targets: a page of 5 vets with next free slots ≤ 12, a vet's 14-day calendar ≤ 3)")
        worst_page = 0
        for n in args.vets:
            stack.clear_firestore()
            out = asyncio.run(measure(n, info["project"]))
            p0, later, old, cal = out["list page 0"], out["later pages"], out["page 1 without shown"], out["calendar"]
            worst_page = max([worst_page, p0[0], *(reads for reads, _ in later)])
            print(f"  {n:>4} bookable vets: list page 0 {p0[0]:>4} reads ({p0[1]} vets)   calendar {cal[0]} reads"
                  f" ({cal[1]} free slots)")
            if later:
                print(f"        pages 1-{len(later)} with `shown`: page 1 {later[0][0]} reads ({later[0][1]} vets),"
                      f" at most {max(r for r, _ in later)}; each vet listed once: {out['each vet listed once']}")
                print(f"        page 1 without `shown` (old buttons): {old[0]} reads ({old[1]} vets)")
            for label, reads, writes in out["updates"]:
                print(f"        update: {label:<14} {reads:>4} reads, {writes} writes (the webhook's own included)")
        print(f"target: every page of the list ≤ 12 reads: {'met' if worst_page <= 12 else 'MISSED'}"
              f" (the costliest page read {worst_page})")


if __name__ == "__main__":
    main()

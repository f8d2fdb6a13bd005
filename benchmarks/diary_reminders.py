"""Benchmark (run by hand, not a test): the due-reminders job's cost does not grow with pets.

    .venv/bin/python benchmarks/diary_reminders.py [--pets 10000,100000] [--due 100]

Starts its own Firestore emulator (infra.local.stack, part "firestore") unless FIRESTORE_EMULATOR_HOST
is set. For each scale it seeds N pets (users/{owner}/pets/{pet}), one future reminder per pet (so the
reminders collection is as big as the pet count) and `--due` due ones, runs the job once with a
sender that only counts, and prints Firestore reads per reminder sent and wall time. Then the time to
render the weight chart for 365 entries and the PDF export of a year of records.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


class CountingSender:
    def __init__(self):
        self.sent = 0

    async def send(self, reminder):
        self.sent += 1


async def seed(client, pets: int, due: int, offset: int) -> float:
    from shared.adapters.firestore_diary import _reminder_to
    from shared.domain import reminders as r

    started = time.perf_counter()
    gate = asyncio.Semaphore(8)

    async def commit(rows):
        async with gate:
            batch = client.batch()
            for ref, data in rows:
                batch.set(ref, data)
            await batch.commit()

    rows, tasks = [], []
    for n in range(pets):
        owner, pet_id = offset + n // 2, f"p{offset + n}"
        rows.append((client.collection("users").document(str(owner)).collection("pets").document(pet_id),
                     {"species": "cat", "name": f"Pet{n}", "neutered": "yes", "sex": "unknown"}))
        is_due = n < due
        fire = NOW - timedelta(minutes=5) if is_due else NOW + timedelta(days=1 + n % 300)
        rem = r.Reminder(id=r.reminder_id(owner, pet_id, f"t{n}", r.Step.DUE), owner_id=owner, pet_id=pet_id,
                         treatment_id=f"t{n}", step=r.Step.DUE, due_on=fire.date(), fire_at=fire, chat_id=owner,
                         language="ru", pet_name=f"Pet{n}", kind="vaccine", product="Nobivac", timezone="Europe/Moscow")
        rows.append((client.collection("reminders").document(rem.id), _reminder_to(rem)))
        if len(rows) >= 500:
            tasks.append(asyncio.create_task(commit(rows)))
            rows = []
    if rows:
        tasks.append(asyncio.create_task(commit(rows)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


async def run_scale(pets: int, due: int) -> None:
    from google.cloud import firestore

    from infra.local.stack import clear_firestore
    from shared.adapters.firestore_diary import FirestoreReminders
    from shared.adapters.firestore_repositories import OpStats
    from shared.services.reminders import due_reminders

    clear_firestore(os.environ["FIRESTORE_EMULATOR_HOST"], os.environ["GOOGLE_CLOUD_PROJECT"])
    client = firestore.AsyncClient(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    seconds = await seed(client, pets, due, offset=10_000_000)
    stats, sender = OpStats(), CountingSender()
    reminders = FirestoreReminders(client, stats)
    started = time.perf_counter()
    result = await due_reminders(reminders, sender, NOW, stats=stats)
    wall = time.perf_counter() - started
    again = await due_reminders(reminders, sender, NOW, stats=stats)
    print(f"pets={pets:>7} reminders={pets + 0:>7} (due {due}) seeded in {seconds:6.1f}s | job: sent={result.sent} "
          f"reads={result.reads} reads/sent={result.reads / max(1, result.sent):.3f} wall={wall * 1000:.0f} ms | "
          f"rerun sent={again.sent} reads={again.reads}", flush=True)


def render_times() -> None:
    from shared.adapters.charts import weight_chart
    from shared.adapters.pdf_export import pet_record_pdf

    points = [(date(2025, 12, 1) + timedelta(days=i), 4 + (i % 40) / 40) for i in range(365)]
    weight_chart(points[:3], "warm-up")  # the one-off import of matplotlib is not the chart's cost
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        png = weight_chart(points, "Мурка: вес", "кг")
        runs.append(time.perf_counter() - started)
    print(f"weight chart, 365 entries: median {sorted(runs)[2] * 1000:.0f} ms, best {min(runs) * 1000:.0f} ms "
          f"({len(png) // 1024} KiB PNG)")
    rows = [[p[0].strftime("%d.%m.%Y"), f"{p[1]:.2f}"] for p in points]
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        pdf = pet_record_pdf("Медицинская карта: Мурка", [("Вид", "кошка")] * 7,
                             [("Вес", ["Дата", "кг"], rows),
                              ("Прививки", ["Дата", "Препарат", "Следующая"], [["01.11.2026", "Нобивак", "01.11.2027"]] * 5),
                              ("Заметки", ["Дата", "Заметка"], [["01.11.2026", "Гуляли, ела хорошо. " * 5]] * 30)],
                             "Телемед-Питомец")
        runs.append(time.perf_counter() - started)
    print(f"PDF export, 365 weights + 35 records: median {sorted(runs)[1] * 1000:.0f} ms ({len(pdf) // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pets", default="10000,100000")
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args()
    stack = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        from infra.local.stack import LocalStack

        stack = LocalStack(ROOT, parts=(), state_dir=ROOT / ".local" / "bench")
        info = stack.start(("firestore",))
        os.environ["FIRESTORE_EMULATOR_HOST"] = info["firestore_emulator_host"]
        os.environ["GOOGLE_CLOUD_PROJECT"] = info["project"]
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "telemed-pet-local")
    try:
        render_times()
        for pets in (int(x) for x in args.pets.split(",")):
            asyncio.run(run_scale(pets, args.due))
    finally:
        if stack:
            stack.stop()


if __name__ == "__main__":
    main()

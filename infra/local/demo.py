"""The scripted conversation: brings the local stack up, plays an owner (and, for the consultation, a
vet and an ops person), prints the chat.

    python -m infra.local.demo            (or: bash infra/demo.sh)

Each part is a function `part(info, client, chat)`: `info` is the stack.json dict, `client` the Bot API
double's control client, `chat` the OwnerChat whose transcript the part extends (tests/test_demo.py
plays the same parts against the test session's stack). Files the bot sent (the weight chart, the PDF)
are saved under .local/demo/. The consultation's steps are infra/local/demo_consultation.py's; the vet
and the ops person share the owner's transcript, each line naming who did it or whom the bot told.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from infra.local import demo_consultation as consultation
from infra.local import demo_miniapp
from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat, render_call
from infra.local.stack import LocalStack, move_clock, ops_cli

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = Path(__file__).resolve().parent / "demo_photos"
OUT_DIR = ROOT / ".local" / "demo"
USER_ID = 700001
# The owner writes in Russian and never picks a time zone: the bot infers Moscow from the language.
OWNER_TZ = ZoneInfo("Europe/Moscow")
DATE_RE = re.compile(r"\b(\d{2})\.(\d{2})\.(\d{4})\b")
# (days ago, kg): Шарик's weighings before the demo's day
WEIGHT_HISTORY = ((150, 17.2), (118, 17.9), (85, 18.4), (52, 18.6), (21, 18.5))
# The vet who applies during the demo (their Telegram id: the owner's + 10) and the hours they publish for
# the day after tomorrow; the owner books its first slot.
VET = consultation.Application(
    full_name="Ирина Волкова", city="Казань", education="КГАВМ им. Баумана, 2012", experience="12",
    bio="Дерматолог: зуд, облысение, клещи и аллергии у собак и кошек.", price="1500")
VET_HOURS = "10:00-14:00"


def publish_commands(info: dict) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": info["bot_token"], "TELEGRAM_WEBHOOK_SECRET": info["webhook_secret"],
           "TELEGRAM_API_BASE": info["telegram_api_base"], "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "infra.publish_commands"], env=env, check=True, cwd=ROOT)


def section(chat: OwnerChat, title: str) -> None:
    chat.transcript.append(f"\n== {title} ==")


def note(chat: OwnerChat, text: str) -> None:
    """A line of the demo's own (not the chat): what it did behind the scenes."""
    chat.transcript.append(f"   ⋯ {text}")


# ---- parts ---------------------------------------------------------------------------------------

def profiles(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """Onboarding and pet profiles (issue 2): two pets, bad answers on the way, an edit, a deletion."""
    section(chat, "Profiles")
    chat.send("/start")
    chat.press("Согласен")
    chat.press("Добавить питомца")
    chat.press("Кошка")
    chat.send("М" * 500)              # a 500-character name
    chat.send("Мурка")
    chat.press("Британская")
    chat.press("Девочка")
    chat.send("01.01.2030")           # a birth date in the future
    chat.send("3 года")
    chat.send("abc")                  # not a weight
    chat.send("45")                   # no cat weighs 45 kg
    chat.send("4,2")
    chat.press("Да")
    chat.send("/addpet")
    chat.press("Собака")
    chat.send("Шарик")
    chat.send("Дворняга")
    chat.press("Мальчик")
    chat.press("Не знаю")
    chat.send("18")
    chat.press("Нет")
    chat.send("/pets")
    chat.press("Шарик")
    chat.press("Изменить")
    chat.press("Вес")
    chat.send("18,5 кг")
    chat.send("/pets")
    chat.press("Мурка")               # the cat goes; the dog (the triage model covers dogs) stays
    chat.press("Удалить")
    chat.press("Да, удалить")
    chat.send("/pets")
    chat.send("/fly")                 # an unknown command


def diary(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The health diary (issue 3): weights and the chart, a vaccination, a meal, a walk, /vaccines, /diary, PDF."""
    section(chat, "Diary")
    # The bot logs a weighing for "today" only; a few months of history make the chart worth reading.
    today = datetime.now(OWNER_TZ).date()
    history = [(today - timedelta(days=d), kg) for d, kg in WEIGHT_HISTORY]
    seed_weights(info, chat.user_id, "Шарик", history)
    note(chat, "history: " + ", ".join(f"{on:%d.%m} {kg:g} кг" for on, kg in history)
         + " (written straight to Firestore, as if logged on those days)")
    chat.send("/weight -3 кг")        # refused, with an example
    chat.send("/weight 16,4")         # −11 % in three weeks: a warning and the offer to see a vet
    turn = chat.press("График веса")
    _save_sent_file(client, chat, turn.calls, "sendPhoto", OUT_DIR / "weight_chart.png")

    chat.send("/vaccines")
    chat.press("Добавить прививку")
    chat.press("Прививка")
    chat.send("Нобивак DHPPi+L")
    # Given almost a year ago: the standard interval (a year for a dog's vaccine) makes it due in 5 days.
    given = datetime.now(OWNER_TZ).date() - timedelta(days=360)
    chat.send(given.strftime("%d.%m.%Y"))
    chat.press("Через стандартный срок")
    chat.send("/vaccines")

    chat.send("/food")
    chat.press("Royal Canin Medium Adult")
    chat.send("250")
    chat.send("/activity")
    chat.press("60")
    chat.press("4 — хорошо")
    chat.press("5 — отлично")
    chat.send("Гуляли в парке, бегал за мячом")

    chat.send("/diary")
    turn = chat.press("PDF для клиники")
    docs = [c for c in turn.calls if c["method"] == "sendDocument"]
    name = (docs[-1]["response"]["result"]["document"].get("file_name") if docs else None) or "record.pdf"
    _save_sent_file(client, chat, turn.calls, "sendDocument", OUT_DIR / name)


def reminders(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The scheduled reminder job with a moved clock: the day before and the due day, each run twice."""
    due = vaccine_due_date(chat)
    for day, label in ((due - timedelta(days=1), "the day before"), (due, "the due date")):
        at = datetime.combine(day, datetime.min.time(), OWNER_TZ).replace(hour=10, minute=5)
        section(chat, f"Reminders (clock moved to {at:%d.%m.%Y %H:%M} Moscow, {label})")
        for run in ("run", "run again"):
            counts = run_reminder_job(info, client, chat, at)
            note(chat, f"scheduled_jobs {run}: sent={counts.get('sent')} reads={counts.get('reads')}")
    section(chat, "Reminder answered")
    note(chat, "the webhook runs on the real clock: \"done\" is logged for today")
    chat.press("Сделано")
    chat.send("/vaccines")


def photo_triage(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """Photo triage (issue 4): a photo of the dog's skin, the same photo too dark, a text file named .jpg."""
    section(chat, "Photo triage")
    photo = (PHOTOS / "dog_skin.jpg").read_bytes()
    send_photo(client, chat, photo, "dog_skin.jpg", caption="Пятна на коже у Шарика")
    section(chat, "Photo triage: a photo taken in the dark")
    send_photo(client, chat, darkened(photo), "dark.jpg", caption="кожа")
    section(chat, "Photo triage: not a photo at all")
    info_ = client.put_file(b"this is a text file, not a photo\n", name="rash.jpg", mime_type="image/jpeg")
    chat.send_update(chat.updates.document(info_, mime_type="image/jpeg", user_id=chat.user_id, caption="сыпь",
                                           language_code=chat.language_code, file_name="rash.jpg"),
                     "[file rash.jpg — a text file with a .jpg name]")


def a_vet_joins(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """Consultations: the demo vets through the ops command line, then a vet applies in the bot, ops
    approve in the ops chat, the vet publishes hours."""
    section(chat, "A vet joins: applies, ops approve, hours")
    s = _scene(info, client, chat)
    note(chat, f"from here three people: {chat.icon} {chat.name} (the owner), {s.vet.icon} {s.vet.name} (a vet, "
               f"id {s.vet.user_id}), {s.ops.icon} {s.ops.name} (ops, in the ops chat); 🤖 → whom the bot wrote to")
    code, lines = ops_cli(info, "vets", "demo", "--as", str(s.ops.user_id))
    note(chat, f"ops: python -m infra.ops vets demo → exit {code} (demo vets, made through the vets' use cases, marked demo):")
    for line in lines:
        note(chat, "  " + line)
    consultation.apply(s.vet, VET)
    consultation.approve(s.ops, s.vet.user_id)
    consultation.publish_hours(s.vet, consultation_day(), VET_HOURS)


def booking(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The owner books from the photo check's answer (the first, readable photo) and pays in roubles."""
    section(chat, "Booking from the photo check, paying")
    s = _scene(info, client, chat)
    checked = next(m for m in chat.messages() if any(d.startswith("tr:b:") for _, d in chat.buttons(m)))
    chat.press(data="tr:b:", where=lambda m: m["message_id"] == checked["message_id"])
    start = consultation.free_start(consultation_day(), VET_HOURS.split("-")[0], "Europe/Moscow")
    consultation.book(s, s.vet.user_id, start, "Пятна и зуд на боку уже вторую неделю, ночью чешется", "Europe/Moscow")
    _, paid = consultation.pay(s)
    note(chat, f"YooKassa's double holds the payment {paid['provider_payment_charge_id']}; "
               f"the webhook's ledger: payments/{paid['charge_id']}")


def the_call(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The stack's clock moves on: the reminders, the room and the links, both join, the no-show check."""
    s = _scene(info, client, chat)
    start = s.start
    for at, title in ((start - timedelta(hours=24), "the day before"), (start - timedelta(minutes=10), "10 minutes before")):
        section(chat, f"The consultation: {title} (clock moved to {_moscow(at)})")
        ran = consultation.tasks_until(s, at)
        note(chat, "booking_callbacks ran the tasks: " + ", ".join(ran))
    section(chat, f"The call (clock moved to {_moscow(start + timedelta(minutes=1))})")
    for who, minutes in ((s.owner, 1), (s.vet, 2)):
        hook = consultation.join(s, who, start + timedelta(minutes=minutes))
        note(chat, f"{who.name} opens the link: the video room lets them in; its signed participant.joined "
                   f"→ booking_callbacks: {hook['status']}")
    ran = consultation.tasks_until(s, start + timedelta(minutes=10))
    note(chat, f"{_moscow(start + timedelta(minutes=10))}: {', '.join(ran)} - both came, nothing to do")
    consultation.leave_all(s, start + timedelta(minutes=27))
    ran = consultation.tasks_until(s, start + timedelta(minutes=30))
    note(chat, f"{_moscow(start + timedelta(minutes=30))}: the slot ends, {', '.join(ran)}: the room is closed")


def after_the_call(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The vet's conclusion, the owner's stars and comment, a question and its answer, the diary."""
    s = _scene(info, client, chat)
    at = s.start + timedelta(minutes=35)
    section(chat, f"After the call: the conclusion, the rating, messages, the diary (clock moved to {_moscow(at)})")
    s.stack.move_clock(at)
    consultation.conclude(
        s, "Демодекоз, локальная форма: два очага на боку, без вторичной инфекции.",
        "Препарат от клещей группы изоксазолинов по весу; лечебный шампунь 2 раза в неделю; "
        "контрольный соскоб через 4 недели.", follow_up_days=30, verdict="r")
    consultation.rate(s, 5, "Спасибо, всё понятно объяснили!", keep_label=True)
    chat.reply("А купать Шарика пока можно?", to=consultation.conclusion_message(s))
    s.vet.reply("Можно, тем же шампунем, не чаще двух раз в неделю.", to=consultation.relayed(s.vet, s.booking_id))
    chat.send("/diary")
    s.stack.move_clock(None)  # (play() moves it back too, whatever happens)


def cancellation(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """A check-up booked for a week later, paid, then cancelled more than 24 h ahead: the whole price back
    through YooKassa, the vet told; the ops command line finds every charge settled."""
    section(chat, "A check-up booked and cancelled: the refund")
    s = _scene(info, client, chat)
    chat.send("/consult")
    start = consultation.free_start(consultation_day() + timedelta(days=7), VET_HOURS.split("-")[0], "Europe/Moscow")
    consultation.book(s, s.vet.user_id, start, "Контрольный осмотр кожи через неделю", "Europe/Moscow")
    _, paid = consultation.pay(s)
    consultation.cancel(s)
    refunds = s.stack.yookassa.refunds(paid["provider_payment_charge_id"])
    note(chat, "YooKassa's double: " + "; ".join(f"refund {r['id']} of {r['amount']['value']} {r['amount']['currency']}"
                                               f" {r['status']}" for r in refunds))
    code, lines = ops_cli(info, "payments", "reconcile")
    note(chat, f"ops: python -m infra.ops payments reconcile → exit {code}: " + " / ".join(lines))


def mini_app(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    """The check-up booked again, this time in the Mini App (headless Chromium, screenshots in
    .local/demo/miniapp/), paid there; the bot's /bookings lists it."""
    section(chat, "The Mini App: the check-up booked again, in the app")
    s = _scene(info, client, chat)
    booked = demo_miniapp.book(s, pet="Шарик", vet_id=s.vet.user_id, day=consultation_day() + timedelta(days=7),
                               reason="Контрольный осмотр кожи", out=OUT_DIR / "miniapp")
    note(chat, f"the booking made in the app, {booked.booking_id}, in the bot's /bookings:")
    chat.send("/bookings")


def language(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> None:
    section(chat, "Language")
    chat.send("/language")
    chat.press("English")
    chat.send("/help")


PARTS = (profiles, diary, reminders, photo_triage, a_vet_joins, booking, the_call, after_the_call, cancellation,
         mini_app, language)


# ---- helpers -------------------------------------------------------------------------------------

def _scene(info: dict, client: BotApiDoubleClient, chat: OwnerChat) -> consultation.Scene:
    return consultation.scene(info, client, chat, vet_id=chat.user_id + 10, vet_name=VET.full_name.split()[0])


def consultation_day() -> date:
    """The day after tomorrow in Moscow: the reminder a day ahead has its time."""
    return datetime.now(OWNER_TZ).date() + timedelta(days=2)


def _moscow(at: datetime) -> str:
    return f"{at.astimezone(OWNER_TZ):%d.%m.%Y %H:%M} Moscow"


def _save_sent_file(client: BotApiDoubleClient, chat: OwnerChat, calls: list[dict], method: str, path: Path) -> Path | None:
    """Fetches from the double the bytes the bot uploaded with its last `method` call and saves them."""
    sent = [c for c in calls if c["method"] == method and c.get("response", {}).get("ok")]
    if not sent:
        note(chat, f"(the bot sent no {method})")
        return None
    call = sent[-1]
    file_id = next((f.get("file_id") for f in call.get("files") or [] if f.get("file_id")), None)
    if file_id is None:  # a reused file_id instead of an upload
        result = call["response"]["result"]
        file_id = (result.get("photo") or [{}])[-1].get("file_id") or (result.get("document") or {}).get("file_id")
    data = client.file_bytes(file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    note(chat, f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(data) // 1024} KB)")
    return path


def seed_weights(info: dict, user_id: int, pet_name: str, history: list[tuple[date, float]]) -> None:
    """Writes earlier weighings of the owner's pet through the project's Firestore repository."""
    import asyncio

    os.environ["FIRESTORE_EMULATOR_HOST"] = info["firestore_emulator_host"]
    from google.cloud import firestore

    from shared.adapters.firestore_diary import FirestoreDiary
    from shared.adapters.firestore_repositories import FirestorePets, OpStats
    from shared.domain.diary import WeightEntry

    async def go() -> None:
        client, stats = firestore.AsyncClient(project=info["project"]), OpStats()
        pet = next(p for p in await FirestorePets(client, stats).list(user_id) if p.name == pet_name)
        diary_repo = FirestoreDiary(client, stats)
        for on, kg in history:
            await diary_repo.add_weight(user_id, pet.id, WeightEntry("", on, kg))
        client.close()

    asyncio.run(go())


def vaccine_due_date(chat: OwnerChat) -> date:
    """The next due date the bot announced for the vaccination ("Следующий раз: DD.MM.YYYY")."""
    for message in reversed(chat.messages()):
        text = message.get("text") or ""
        if "Следующий раз" in text or "Next time" in text:
            tail = text.split("Следующий раз")[-1].split("Next time")[-1]
            d, m, y = DATE_RE.search(tail).groups()
            return date(int(y), int(m), int(d))
    raise LookupError("the bot announced no next due date")


def run_reminder_job(info: dict, client: BotApiDoubleClient, chat: OwnerChat, now: datetime) -> dict:
    """POSTs the due_reminders job as Cloud Scheduler would, with the clock moved to `now` (local stack
    only: ALLOW_CLOCK_OVERRIDE); renders into the transcript what the bot sent to this chat."""
    since = _last_seq(client)
    resp = httpx.post(info["functions"]["scheduled_jobs"], headers={"X-Jobs-Token": info["jobs_auth_token"]},
                      json={"job": "due_reminders", "now": now.isoformat()}, timeout=60)
    resp.raise_for_status()
    for call in client.calls(since=since):
        if str(call["params"].get("chat_id")) == str(chat.user_id):
            line = render_call(call)
            if line:
                chat.transcript.append(line)
    return resp.json()


def send_photo(client: BotApiDoubleClient, chat: OwnerChat, data: bytes, name: str, caption: str | None = None,
               timeout: float = 60) -> dict | None:
    """Sends a photo; waits for the triage function to edit the "analysing…" message; returns that edit."""
    t0 = time.monotonic()
    info = client.put_file(data, name=name, mime_type="image/jpeg")
    turn = chat.send_update(chat.updates.photo(info, user_id=chat.user_id, caption=caption,
                                               language_code=chat.language_code),
                            f"[photo {name}]" + (f" {caption}" if caption else ""))
    edits = [c for c in turn.calls if c["method"] == "editMessageText"]
    if edits:  # the function was faster than the webhook's answer
        return edits[-1]
    since = max((c["seq"] for c in turn.calls), default=_last_seq(client))
    calls = chat.wait_for(lambda c: c["method"] == "editMessageText", timeout=timeout, since=since)
    note(chat, f"photo → webhook → Storage → photo_triage → edited message: {time.monotonic() - t0:.1f} s")
    return [c for c in calls if c["method"] == "editMessageText"][-1]


def darkened(jpeg: bytes, factor: float = 0.06) -> bytes:
    """The same photo as if taken in a dark room."""
    from PIL import Image, ImageEnhance

    img = ImageEnhance.Brightness(Image.open(io.BytesIO(jpeg)).convert("RGB")).enhance(factor)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def _last_seq(client: BotApiDoubleClient) -> int:
    return client.last_seq()


def compact(entry: str, max_rows: int = 5) -> str:
    """A transcript entry for reading: a long keyboard (the food list) shows its first rows only."""
    lines = entry.split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("   [")]
    if len(rows) <= max_rows:
        return entry
    hidden = rows[max_rows - 1:]
    buttons = sum(lines[i].count("]  [") + 1 for i in hidden)
    keep = [line for i, line in enumerate(lines) if i not in set(hidden)]
    return "\n".join(keep[:hidden[0]] + [f"   [… {buttons} more buttons]"] + keep[hidden[0]:])


def play(info: dict, client: BotApiDoubleClient, chat: OwnerChat, parts=PARTS, echo: bool = False) -> None:
    try:
        for part in parts:
            start = len(chat.transcript)
            part(info, client, chat)
            if echo:
                print("\n".join(compact(e) for e in chat.transcript[start:]), flush=True)
    finally:
        move_clock(info, None)  # a part that failed with the clock moved leaves the stack on the real time


def main() -> int:
    t0 = time.monotonic()
    with LocalStack(ROOT).running() as info:
        publish_commands(info)
        with BotApiDoubleClient(info["telegram_api_base"]) as client:
            chat = OwnerChat(client, user_id=USER_ID, language_code="ru", first_name="Анна")
            play(info, client, chat, echo=True)
            menus = client.calls(method="setMyCommands")
            print(f"\n(command menus published: {', '.join(c['params'].get('language_code', 'default') for c in menus)})")
    print(f"(files the bot sent are in {OUT_DIR.relative_to(ROOT)}/, the Mini App's screenshots in "
          f"{(OUT_DIR / 'miniapp').relative_to(ROOT)}/; the demo took {time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

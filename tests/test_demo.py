"""The demo's conversation (infra/local/demo.py) played against the test session's stack: the parts
run in order on one owner (and, from the consultation on, a vet and an ops person in the same transcript)
and leave the transcript the demo prints; key lines are asserted."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from google.cloud import firestore
from PIL import Image

from infra.local import demo
from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from shared.i18n import t

pytestmark = pytest.mark.e2e

USER = 700901  # not the demo's own id: the session stack is shared with other tests


@pytest.fixture(scope="module")
def played(stack, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    saved = demo.OUT_DIR
    demo.OUT_DIR = out
    try:
        with BotApiDoubleClient(stack["telegram_api_base"]) as client:
            chat = OwnerChat(client, user_id=USER, language_code="ru", first_name="Анна")
            seq = demo._last_seq(client)
            demo.play(stack, client, chat)
            calls = [c for c in client.calls(since=seq) if str(c["params"].get("chat_id")) == str(USER)]
            yield chat, calls, out
    finally:
        demo.OUT_DIR = saved


def _section(chat: OwnerChat, title: str) -> str:
    lines = "\n".join(chat.transcript).split("\n== ")
    return next(part for part in lines if part.startswith(title))


def _count(text: str, line_start: str) -> int:
    return sum(line.startswith(line_start) for line in text.split("\n"))


def test_profiles_keep_the_dog_and_delete_the_cat(played):
    chat, _, _ = played
    text = _section(chat, "Profiles")
    assert "Мурка" in text and "Шарик" in text
    after_delete = text.split("[Да, удалить]")[-1]
    pets_list = after_delete.split("👤 Анна: /pets")[-1]
    assert "Шарик" in pets_list and "Мурка" not in pets_list


def test_diary_sends_the_chart_as_a_photo_and_the_pdf(played):
    chat, calls, out = played
    text = _section(chat, "Diary")
    assert "🤖 [photo]" in text and "Шарик" in text
    assert "16,4 кг" in text and "ветеринар" in text          # the weight warning
    assert "Нобивак DHPPi+L" in text and "Следующий раз" in text
    assert "Royal Canin Medium Adult" in text and "955 ккал" in text
    assert "🤖 [document]" in text
    chart = Image.open(out / "weight_chart.png")
    assert chart.format == "PNG" and chart.width >= 600
    [pdf] = out.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sum(c["method"] == "sendPhoto" for c in calls) == 1


def test_each_reminder_step_is_sent_exactly_once(played):
    chat, calls, _ = played
    reminders = [c["params"]["text"] for c in calls if c["method"] == "sendMessage"
                 and c["params"].get("text", "").startswith("🔔")]
    assert len(reminders) == 2
    assert reminders[0].startswith("🔔 Завтра") and reminders[1].startswith("🔔 Сегодня")
    for step in ("the day before", "the due date"):  # other tests' reminders may share the emulator: the
        text = next(p for p in "\n".join(chat.transcript).split("\n== ") if step in p.split("\n")[0])
        assert text.count("🔔") == 1 and "run again: sent=0" in text  # second run sends nothing at all
    answered = _section(chat, "Reminder answered")
    assert "Отметил как сделанное" in answered


def test_photo_triage_edits_the_progress_message(played):
    chat, calls, _ = played
    edits = [c for c in calls if c["method"] == "editMessageText" and "Результат проверки фото" in c["params"]["text"]]
    assert len(edits) == 2  # the real photo and the dark one; one edit each
    progress_ids = {c["response"]["result"]["message_id"] for c in calls
                    if c["method"] == "sendMessage" and "Анализирую фото" in c["params"]["text"]}
    assert {c["params"]["message_id"] for c in edits} == progress_ids
    real, dark = (c["params"]["text"] for c in edits)
    assert "не диагноз" in real
    assert "%" in real and t("ru", "triage.outcome.unavailable") not in real  # the shipped model's findings
    assert "слишком темно" in dark
    assert "Это не изображение" in _section(chat, "Photo triage: not a photo")


def test_the_demo_photo_is_small_and_shipped():
    data = (demo.PHOTOS / "dog_skin.jpg").read_bytes()
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and max(img.size) <= 640 and len(data) <= 100_000
    assert "MIT" in (demo.PHOTOS / "README.md").read_text()


# ---- the consultation: owner 👤 Анна, vet 🩺 Ирина (id USER + 10), ops 🛡 Олег in the ops chat -----------

def test_a_vet_applies_ops_approve_and_hours_are_published(played):
    chat, _, _ = played
    text = _section(chat, "A vet joins")
    assert "vets demo → exit 0" in text and "Анна Соколова (демо)\tactive" in text   # the ops command line
    assert "🩺 Ирина: /vet" in text and "🤖 → Ирина: (edited) Заявка отправлена!" in text
    assert f"🤖 → ops chat: Новая заявка ветеринара\n   \n   Заявка #{USER + 10}" in text
    assert "🛡 Олег: [Одобрить]" in text and "🤖 → ops chat: (popup) Одобрено." in text
    assert "🤖 → Ирина: Ваша заявка одобрена!" in text
    published = text.split("🩺 Ирина: 10:00-14:00")[1]
    assert published.startswith("\n🤖 → Ирина: Часы опубликованы") and ": 10:00-14:00" in published


def test_the_owner_books_from_the_photo_check_and_pays_once(played):
    chat, calls, _ = played
    text = _section(chat, "Booking from the photo check")
    assert text.split("\n")[1] == "👤 Анна: [🩺 Записаться к ветеринару]"
    assert "Результат фото-проверки, фото и срочность врач увидит вместе с записью." in text
    assert "🤖 → Анна: [invoice] Консультация ветеринара: Ирина Волкова" in text and "— 1 500 ₽" in text
    assert "👤 Анна: [pays 1 500 ₽ in Telegram's payment form" in text and "Telegram:" not in text
    assert _count(text, "🤖 → Анна: Готово, вы записаны!") == 1
    vet_told = text.split("🤖 → Ирина: Новая консультация")[1]
    assert "Причина: Пятна и зуд на боку" in vet_told and "demodicosis" in vet_told   # the photo check came along
    assert sum(c["method"] == "sendInvoice" for c in calls) == 2                         # this and the check-up


def test_reminders_links_and_the_call_reach_both_once(played):
    chat, _, _ = played
    day_before, soon = _section(chat, "The consultation: the day before"), _section(chat, "The consultation: 10 minutes")
    assert _count(day_before, "🤖 → Анна: ⏰") == 1 and _count(day_before, "🤖 → Ирина: ⏰") == 1
    assert "через 24 часа" in day_before and "ran the tasks: hold_expired, remind_24h" in day_before
    assert _count(soon, "🤖 → Анна: ⏰") == 1 and "через 15 минут" in soon
    assert _count(soon, "🤖 → Анна: 🎥 Комната открыта") == 1 and _count(soon, "🤖 → Ирина: 🎥 Комната открыта") == 1
    assert soon.count("[Войти]") == 2 and "remind_15m, create_room, send_links" in soon
    call = _section(chat, "The call")
    assert call.count("participant.joined → booking_callbacks: 200") == 2
    assert "no_show_check - both came" in call and "end_room: the room is closed" in call


def test_the_conclusion_rating_messages_and_diary(played):
    chat, _, _ = played
    text = _section(chat, "After the call")
    conclusion = text.split("🤖 → Анна: 🩺 Заключение врача Ирина Волкова")[1]
    assert "Демодекоз, локальная форма" in conclusion and "Повторный осмотр" in conclusion
    assert "[⭐⭐⭐⭐⭐]" in conclusion
    assert "🩺 Ирина: [✅ Прав]" in text                                   # the vet's word on the photo check
    assert "🤖 → Анна: (popup) Спасибо! Ваша оценка: ⭐⭐⭐⭐⭐" in text
    question = text.split("👤 Анна: (replying to")[1]
    assert "🤖 → Ирина: 💬 Владелец «Шарик»" in question and "[✉️ Написать владельцу]" in question
    answer = text.split("🩺 Ирина: (replying to")[1]
    assert "🤖 → Анна: 💬 Врач Ирина Волкова" in answer and "Можно, тем же шампунем" in answer
    diary = text.split("👤 Анна: /diary")[1]
    assert "🩺 Консультация" in diary and "(Ирина Волкова): Демодекоз" in diary


def test_the_check_up_is_cancelled_with_its_refund_and_the_ledger_is_settled(played):
    chat, _, _ = played
    text = _section(chat, "A check-up booked and cancelled")
    assert "🤖 → Анна: Консультация отменена, врача предупредили.\n   Вернули 1\u00a0500 ₽" in text
    assert "🤖 → Ирина: Владелец отменил консультацию" in text
    assert "refund " in text and "of 1500.00 RUB succeeded" in text
    assert "payments reconcile → exit 0: every charge ended with a confirmed booking or a refund" in text


def test_the_mini_app_books_a_real_consultation_and_saves_its_screens(played, stack):
    """The check-up booked again in the Mini App (headless Chromium): each screen told and saved, the payment
    played by the Bot API double, the booking confirmed in Firestore with its charge in the ledger, the bot's
    /bookings listing it."""
    chat, _, out = played
    text = _section(chat, "The Mini App")
    assert "📱 Mini App: «Мои питомцы»: Шарик (Дворняга · 16,4 кг)" in text
    assert "«🐶 Шарик»: the card (Вид: 🐶 Собака" in text and "the weight chart with 6 weighings" in text
    vets = next(line for line in text.split("\n") if line.startswith("📱 Mini App: «Ветеринары» for Шарик: "))
    assert "Ирина Волкова (★ 5.0 (1)" in vets and "Анна Соколова (демо)" in vets
    day = demo.consultation_day() + timedelta(days=7)
    assert "(Ирина Волкова · 1\u00a0500\u00a0₽ · " in text and "Анна picks 10:00" in text
    assert "👤 Анна: [pays 1 500 ₽ in Telegram's payment form, opened by the app]" in text
    assert _count(text, "🤖 → Анна: Готово, вы записаны!") == 1 and "Причина: Контрольный осмотр кожи" in text
    assert _count(text, "🤖 → Ирина: Новая консультация") == 1
    [booking_id] = re.findall(r"\(booking (\w+)\)", text)
    assert "📱 Mini App: «Запись подтверждена»: ✅" in text and "Врач: Ирина Волкова" in text

    booking = firestore.Client(project=stack["project"]).document(f"bookings/{booking_id}").get().to_dict()
    assert (booking["status"], booking["owner_id"], booking["vet_id"]) == ("confirmed", USER, USER + 10)
    assert booking["reason"] == "Контрольный осмотр кожи"
    assert booking["start"] == datetime(day.year, day.month, day.day, 10, 0, tzinfo=demo.OWNER_TZ)
    ledger = firestore.Client(project=stack["project"]).document(f"payments/{booking['charge_id']}").get()
    assert ledger.get("booking_id") == booking_id
    listed = text.split("👤 Анна: /bookings")[1]
    assert f"🗓 {['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс'][day.weekday()]}, {day.day} " in listed
    assert "10:00 — Ирина Волкова, Шарик (30 мин), 1\u00a0500 ₽" in listed

    names = ["01-pets", "02-pet", "03-vets", "04-calendar", "05-checkout", "06-confirmed", "07-bookings",
             "08-bookings-dark"]
    assert sorted(p.stem for p in (out / "miniapp").iterdir()) == names
    for name in names:
        path = out / "miniapp" / f"{name}.png"
        assert f"→ {path}" in text
        shot = Image.open(path)
        assert shot.format == "PNG" and shot.width == 390 and shot.height >= 780
        corner = sum(shot.convert("RGB").getpixel((2, 2))) / 3             # Telegram's theme behind the screen
        assert corner < 60 if name.endswith("-dark") else corner > 200

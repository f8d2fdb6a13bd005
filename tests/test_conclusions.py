"""After the call: the vet's conclusion, the owner's rating, labels kept with consent, messages relayed for
48 hours. The rules alone, then the bot through the webhook adapter on the Firestore emulator (Bot API and
YooKassa doubles; bookings made and paid through /consult; racing presses delivered at once, as one function
instance runs them). The export of kept labels: tests/test_export_labels.py."""
from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from google.cloud import firestore
from pypdf import PdfReader

from shared.adapters.firestore_conclusions import FirestoreConclusions, LabelPhotos
from shared.bot.reminder_messages import reminder_keyboard, reminder_text
from shared.domain import conclusions as rules
from shared.domain.bookings import Booking, BookingStatus, Currency, Price
from shared.domain.photos import Area
from shared.domain.pets import InvalidInput
from shared.domain.reminders import FOLLOW_UP
from shared.domain.triage import Outcome, TriageResult, Urgency
from shared.domain.pets import Species
from shared.services import conclusions as svc
from tests.booking_harness import NOW, BookingBot, client, double, pay, vet, yookassa  # noqa: F401 - fixtures

OWNER, STRANGER = 5101, 5102
ANNA, BORIS = 101, 102
SLOT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)   # 15:00 in Moscow, 3 h after NOW
DURING = SLOT + timedelta(minutes=35)


# ---- the rules ------------------------------------------------------------------------------------

def _booking(status=BookingStatus.CONFIRMED, triage=None, **changes) -> Booking:
    b = Booking(id="bk1", owner_id=1, vet_id=2, pet_id="p1", start=SLOT, end=SLOT + timedelta(minutes=30),
                buffer_minutes=0, price=Price(150000, Currency.RUB), status=status, hold_expires_at=None, cells=(),
                triage_result_id="r1" if triage else None, triage=triage, pet={"name": "Рекс", "species": "dog"})
    return replace(b, **changes)


def _code(call) -> str:
    with pytest.raises(InvalidInput) as err:
        call()
    return err.value.code


def test_who_may_conclude_rate_and_write_when():
    b = _booking()
    assert _code(lambda: rules.check_can_conclude(b, 1, DURING)) == "booking.err.not_found"   # the owner
    assert _code(lambda: rules.check_can_conclude(b, 3, DURING)) == "booking.err.not_found"   # anybody else
    assert _code(lambda: rules.check_can_conclude(b, 2, SLOT - timedelta(seconds=1))) == "conclusion.err.not_started"
    rules.check_can_conclude(b, 2, SLOT)
    assert _code(lambda: rules.check_can_conclude(replace(b, status=BookingStatus.COMPLETED), 2, DURING)) == \
        "conclusion.err.already"
    for status in (BookingStatus.CANCELLED, BookingStatus.NO_SHOW_VET, BookingStatus.NO_SHOW_OWNER, BookingStatus.HELD):
        assert _code(lambda: rules.check_can_conclude(replace(b, status=status), 2, DURING)) == "conclusion.err.not_held"
    assert _code(lambda: rules.check_can_rate(b, 1)) == "conclusion.err.rate_not_completed"
    assert _code(lambda: rules.check_can_rate(replace(b, status=BookingStatus.COMPLETED), 2)) == "booking.err.not_found"
    rules.check_can_rate(replace(b, status=BookingStatus.COMPLETED), 1)
    # messages: both ways, from the start until 48 h after the end, only of a consultation that took place
    closes = b.end + timedelta(hours=48)
    assert rules.check_relay(b, 1, SLOT) == 2 and rules.check_relay(b, 2, closes - timedelta(seconds=1)) == 1
    assert _code(lambda: rules.check_relay(b, 1, SLOT - timedelta(minutes=1))) == "conclusion.err.relay_not_yet"
    assert _code(lambda: rules.check_relay(b, 2, closes)) == "conclusion.err.relay_closed"
    assert _code(lambda: rules.check_relay(b, 3, DURING)) == "booking.err.not_found"
    assert _code(lambda: rules.check_relay(replace(b, status=BookingStatus.CANCELLED), 1, DURING)) == \
        "conclusion.err.relay_closed"


def test_texts_dates_and_stars_are_bounded():
    assert rules.check_summary("  Отит  ") == "Отит"
    assert _code(lambda: rules.check_summary(" \n ")) == "conclusion.err.summary_empty"
    assert _code(lambda: rules.check_summary("а" * 2001)) == "conclusion.err.summary_too_long"
    assert _code(lambda: rules.check_comment("\u200b\u200b")) == "err.text_invisible"
    assert _code(lambda: rules.check_relay_text("x\u202eevil")) == "err.text_direction"
    assert rules.check_relay_text(None, required=False) == ""
    today = date(2026, 12, 1)
    assert _code(lambda: rules.check_follow_up(today, today)) == "conclusion.err.follow_up_past"
    assert _code(lambda: rules.check_follow_up(today + timedelta(days=400), today)) == "conclusion.err.follow_up_too_far"
    assert rules.check_follow_up(today + timedelta(days=14), today) == today + timedelta(days=14)
    for bad in (0, 6, True, -1):
        assert _code(lambda: rules.check_stars(bad)) == "err.use_buttons"


def test_the_vets_word_on_the_ai_answer():
    assert rules.label_question(_booking()) is None                               # not from triage
    skin = {"area": "skin", "findings": [{"label": "dermatitis", "p": 0.7}, {"label": "healthy", "p": 0.2}]}
    q = rules.label_question(_booking(triage=skin))
    assert (q.area, q.ai_label, q.species) == (Area.SKIN, "dermatitis", "dog") and "ringworm" in q.classes
    v = rules.check_verdict(q, rules.RIGHT)
    assert (v.verdict, v.label) == (rules.Verdict.RIGHT, "dermatitis")
    assert rules.check_verdict(q, "ringworm").verdict is rules.Verdict.WRONG
    assert rules.check_verdict(q, "dermatitis").verdict is rules.Verdict.RIGHT
    assert rules.check_verdict(q, rules.CANNOT_TELL).label is None
    assert _code(lambda: rules.check_verdict(q, "cataract")) == "err.use_buttons"  # an eye class for skin
    eye = rules.label_question(_booking(triage={"area": "eye", "findings": []}))   # no AI answer for eyes
    assert eye.ai_label is None and "cataract" in eye.classes
    assert _code(lambda: rules.check_verdict(eye, rules.RIGHT)) == "err.use_buttons"
    assert rules.check_verdict(eye, "cataract").verdict is rules.Verdict.LABELLED
    assert rules.label_question(_booking(triage={"area": "other", "findings": []})) is None


# ---- through the bot -------------------------------------------------------------------------------

@pytest.fixture
async def bot(client, double, yookassa):
    b = BookingBot(client, double, yookassa)
    b.services = replace(b.services, conclusions=FirestoreConclusions(client, b.stats),
                         label_photos=LabelPhotos(b.services.photos))
    b.app.bot_data["services"] = b.services
    await b.vets(vet(ANNA, name="Анна Петрова", areas=("dermatology",)), vet(BORIS, name="Борис Иванов"))
    await b.owner(ANNA, pets=0)
    await b.owner(BORIS, pets=0)
    await b.owner(OWNER)
    await b.owner(STRANGER)
    yield b


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%d%H%M}"


async def pet_id(bot: BookingBot) -> str:
    return (await bot.services.pets.list(OWNER))[0].id


async def triage_result(bot: BookingBot, rid: str = "res1", findings=(("dermatitis", 0.7), ("healthy", 0.2))) -> str:
    pid = await pet_id(bot)
    path = f"photos/owner/{pid}/{rid}.jpg"
    await bot.services.triage.create(TriageResult(
        id=rid, owner_id=OWNER, pet_id=pid, photo_path=path, area=Area.SKIN, species=Species.DOG,
        outcome=Outcome.FINDINGS if findings else Outcome.UNCERTAIN, urgency=Urgency.CONSULT,
        findings=list(findings), top_label=findings[0][0] if findings else None, created_at=NOW))
    bot.services.photos.objects[path] = (b"JPEG-" + rid.encode(), {})
    return rid


async def book(bot: BookingBot, at: datetime = SLOT, triage: str | None = None) -> str:
    """Through /consult (or a triage answer's "Book a vet") to a paid booking with Anna; its id."""
    bot.now = NOW
    if triage:
        await bot.press(f"tr:b:{await pet_id(bot)}:{triage}", OWNER)
    else:
        await bot.say("/consult", OWNER)
    await bot.say("Чешет ухо третий день", OWNER)
    await bot.press(f"cs:s:{ANNA}:{stamp(at)}", OWNER)
    paid = await pay(bot, OWNER, bot.invoices(OWNER)[-1])
    assert paid["answer"]["ok"]
    docs = [d async for d in bot.client.collection("bookings").where(filter=firestore.FieldFilter("start", "==", at)).stream()]
    [doc] = [d for d in docs if d.get("status") == "confirmed"]
    return doc.id


def vet_booking_message(bot: BookingBot, booking_id: str) -> dict:
    return next(m for m in bot.double.messages(ANNA)
                if any(b.get("callback_data") == f"cn:w:{booking_id}"
                       for row in (m.get("reply_markup") or {}).get("inline_keyboard", []) for b in row))


async def conclude(bot: BookingBot, booking_id: str, *answers: str, at: datetime = DURING) -> list[str]:
    """The vet's whole dialog from the booking message's button; `answers`: the label buttons pressed."""
    bot.now = at
    message = vet_booking_message(bot, booking_id)
    assert await bot.deliver(bot.updates.callback(f"cn:w:{booking_id}", user_id=ANNA, message=message)) == 200
    await bot.say("Наружный отит, без осложнений", ANNA)
    await bot.say("Капли 2 раза в день 7 дней", ANNA)
    await bot.press("cn:f:14", ANNA)
    for answer in answers:
        await bot.press(answer, ANNA)
    return await bot.press("cn:s", ANNA)


async def say_reply(bot: BookingBot, text: str, user_id: int, message: dict) -> list[str]:
    """Text sent as a reply (Telegram's "Reply") to `message`: what the sender is told."""
    since = bot.seq()
    assert await bot.deliver(bot.updates.message(text, user_id=user_id, reply_to_message=message)) == 200
    return bot.texts(user_id, since)


def conclusion_message(bot: BookingBot) -> dict:
    return next(m for m in reversed(bot.double.messages(OWNER)) if "Заключение врача" in (m.get("text") or ""))


async def doc(bot: BookingBot, path: str) -> dict | None:
    snap = await bot.client.document(path).get()
    return snap.to_dict() if snap.exists else None


async def test_only_the_bookings_vet_writes_it_from_the_start_once_and_it_goes_everywhere(bot, double):
    booking_id = await book(bot)
    # the vet's booking message carries the entry point; before the start it is refused
    message = vet_booking_message(bot, booking_id)
    bot.now = SLOT - timedelta(minutes=5)
    assert await bot.deliver(bot.updates.callback(f"cn:w:{booking_id}", user_id=ANNA, message=message)) == 200
    assert any("когда консультация начнётся" in t for t in bot.texts(ANNA, 0))
    bot.now = DURING
    for other in (BORIS, OWNER, STRANGER):   # another vet, the owner, a stranger: as if there were no booking
        assert "Запись не найдена." in await bot.press(f"cn:w:{booking_id}", other)
        assert (await bot.services.owners.get(other)).dialog is None
    since = bot.seq()
    sent = await conclude(bot, booking_id)
    assert "Заключение отправлено" in sent[0] and any("До 03.12.2026 15:30" in t for t in sent)
    text = conclusion_message(bot)["text"]
    assert ("Анна Петрова" in text and "Наружный отит" in text and "Капли 2 раза" in text and "15.12.2026" in text
            and "напомню накануне" in text and "дневнике «Рекс»" in text and "Оцените" in text)
    stars = [b["callback_data"] for row in conclusion_message(bot)["reply_markup"]["inline_keyboard"] for b in row]
    assert stars == [f"cr:r:{booking_id}:{n}" for n in range(1, 6)] + [f"cr:w:{booking_id}"]
    assert len([c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == OWNER]) == 1  # no label asked
    assert (await doc(bot, f"bookings/{booking_id}"))["status"] == "completed"
    stored = await doc(bot, f"conclusions/{booking_id}")
    assert (stored["summary"], stored["follow_up"], stored["vet_id"], stored["label"]) == (
        "Наружный отит, без осложнений", "2026-12-15", ANNA, None)
    assert (await bot.services.owners.get(ANNA)).dialog is None
    # once: the button again, and a new dialog's "Send", find it written
    assert "Заключение по этой консультации уже написано." in await bot.press(f"cn:w:{booking_id}", ANNA)
    # the diary, the week's summary and the PDF
    pid = await pet_id(bot)
    [note] = await bot.services.diary.consultations(OWNER, pid)
    assert (note.id, note.on, note.vet_name, note.follow_up) == (booking_id, date(2026, 12, 1), "Анна Петрова",
                                                                 date(2026, 12, 15))
    week = await bot.say("/diary", OWNER)
    assert any("Консультация 01.12.2026 (Анна Петрова): Наружный отит" in t for t in week)
    since = bot.seq()
    await bot.press(f"dy:x:{pid}", OWNER)
    [pdf] = double.calls("sendDocument", since=since)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(double.file_bytes(
        pdf["response"]["result"]["document"]["file_id"]))).pages)
    assert "Консультации ветеринара" in text and "Наружный отит" in text and "Анна Петрова" in text
    # the follow-up: the owner's reminders, the day before and the day, at 10:00 in their zone
    reminders = sorted(await bot.services.reminders.active_for_owner(OWNER), key=lambda r: r.fire_at)
    assert [(r.kind, r.step.value, r.due_on, r.fire_at) for r in reminders] == [
        (FOLLOW_UP, "before", date(2026, 12, 15), datetime(2026, 12, 14, 7, 0, tzinfo=timezone.utc)),
        (FOLLOW_UP, "due", date(2026, 12, 15), datetime(2026, 12, 15, 7, 0, tzinfo=timezone.utc))]
    assert "повторный осмотр «Рекс»" in reminder_text(reminders[0]) and "Анна Петрова" in reminder_text(reminders[0])
    buttons = [b.callback_data for row in reminder_keyboard(reminders[0]).inline_keyboard for b in row]
    assert buttons[0] == f"cs:p:{pid}" and buttons[2].startswith("rm:n:")
    await bot.press(buttons[2], OWNER)   # "not needed": no more reminders of it
    assert await bot.services.reminders.active_for_owner(OWNER) == []


async def test_a_double_tap_on_send_writes_one_conclusion(bot, double):
    booking_id = await book(bot)
    bot.now = DURING
    await bot.press(f"cn:w:{booking_id}", ANNA)
    await bot.say("Наружный отит", ANNA)
    await bot.press("cn:k", ANNA)
    await bot.press("cn:f:7", ANNA)
    preview = next(m for m in reversed(double.messages(ANNA)) if "Отправить владельцу?" in (m.get("text") or ""))
    since = bot.seq()
    taps = [bot.updates.callback("cn:s", user_id=ANNA, message=preview) for _ in range(3)]
    assert await bot.together(taps) == [200] * 3
    sent = [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == OWNER]
    assert len(sent) == 1 and "Заключение врача" in sent[0]["params"]["text"]
    assert len([c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA]) == 1
    assert len([d async for d in bot.client.collection("conclusions").stream()]) == 1
    assert len(await bot.services.diary.consultations(OWNER, await pet_id(bot))) == 1
    assert len(await bot.services.reminders.active_for_owner(OWNER)) == 2
    assert double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_rated_once_by_the_owner_and_only_when_completed(bot):
    booking_id = await book(bot)
    bot.now = DURING
    assert any("завершённую" in t for t in await bot.press(f"cr:r:{booking_id}:5", OWNER))   # not concluded yet
    await conclude(bot, booking_id)
    for other in (STRANGER, ANNA):
        assert "Запись не найдена." in await bot.press(f"cr:r:{booking_id}:1", other)
    message = conclusion_message(bot)
    assert await bot.deliver(bot.updates.callback(f"cr:r:{booking_id}:4", user_id=OWNER, message=message)) == 200
    anna = await bot.services.vets.get(ANNA)
    assert (anna.rating_sum, anna.rating_count, anna.rating) == (4, 1, 4.0)
    assert "Вы уже оценили эту консультацию." in await bot.press(f"cr:r:{booking_id}:1", OWNER)
    assert (await bot.services.vets.get(ANNA)).rating_count == 1
    await bot.press(f"cr:c:{booking_id}", OWNER)
    assert "Спасибо за отзыв!" in await bot.say("Всё понятно объяснила", OWNER)
    assert (await doc(bot, f"conclusions/{booking_id}"))["rating"]["comment"] == "Всё понятно объяснила"
    await bot.press(f"cr:c:{booking_id}", OWNER)   # a second comment: nothing opens
    assert (await bot.services.owners.get(OWNER)).dialog is None
    # a booking that never completed cannot be rated: a vet's rating counts completed ones only
    other = await book(bot, at=SLOT + timedelta(hours=1))
    bot.now = SLOT + timedelta(hours=2)
    assert any("завершённую" in t for t in await bot.press(f"cr:r:{other}:5", OWNER))
    assert (await bot.services.vets.get(ANNA)).rating_count == 1


async def test_messages_both_ways_for_48_hours_without_accounts(bot, double):
    booking_id = await book(bot)
    vet_message = vet_booking_message(bot, booking_id)
    bot.now = SLOT - timedelta(minutes=30)     # before the start: not yet
    replies = await say_reply(bot, "Можно вопрос?", ANNA, vet_message)
    assert any("откроется с началом консультации (01.12.2026 15:00)" in t for t in replies)
    await conclude(bot, booking_id)
    since = bot.seq()
    replies = await say_reply(bot, "А капли греть?", OWNER, conclusion_message(bot))
    assert replies == ["✓ Отправлено"]
    [to_vet] = [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA]
    text = to_vet["params"]["text"]
    assert text.startswith("💬 Владелец «Рекс» (консультация 01.12.2026 15:00):") and "А капли греть?" in text
    owner_user = bot.updates.user(OWNER)
    assert str(OWNER) not in text and owner_user["first_name"] not in text
    relayed = next(m for m in reversed(double.messages(ANNA)) if "А капли греть?" in (m.get("text") or ""))
    bot.now = DURING + timedelta(hours=30)
    since = bot.seq()
    assert await say_reply(bot, "Да, до комнатной температуры", ANNA, relayed) == ["✓ Отправлено"]
    [to_owner] = [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == OWNER]
    assert to_owner["params"]["text"].startswith("💬 Врач Анна Петрова (консультация «Рекс»):")
    assert str(ANNA) not in to_owner["params"]["text"]
    # a photo goes as the bot's photo (no forward, no copy that would name the sender)
    info = double.put_file(b"\xff\xd8\xff\xe0photo", name="ear.jpg", mime_type="image/jpeg", kind="photo")
    update = bot.updates.photo(info, user_id=OWNER, caption="Вот так сейчас")
    update["message"]["reply_to_message"] = next(m for m in reversed(double.messages(OWNER))
                                                 if "Да, до комнатной" in (m.get("text") or ""))
    since = bot.seq()
    assert await bot.deliver(update) == 200
    [photo] = double.calls("sendPhoto", since=since)
    assert photo["params"]["chat_id"] == ANNA and "Вот так сейчас" in photo["params"]["caption"]
    assert not double.calls("forwardMessage") and not double.calls("copyMessage")
    # after 48 hours from the end: closed, both ways, nothing reaches the other side
    bot.now = SLOT + timedelta(minutes=30, hours=48)
    since = bot.seq()
    for sender, message in ((OWNER, conclusion_message(bot)), (ANNA, relayed)):
        replies = await say_reply(bot, "Ещё вопрос", sender, message)
        assert any("закрыта (была открыта до 03.12.2026 15:30)" in t for t in replies)
    assert not [c for c in double.calls("sendMessage", since=since) if "Ещё вопрос" in c["params"]["text"]]
    # somebody else replying to a message of theirs that names this booking gets nothing through
    forged = dict(conclusion_message(bot), chat={"id": STRANGER, "type": "private"})
    bot.now = DURING
    replies = await say_reply(bot, "Привет", STRANGER, forged)
    assert replies == ["Запись не найдена."]


async def test_labels_kept_only_with_consent_revoked_in_privacy_and_erased(bot, double):
    first = await book(bot, triage=await triage_result(bot, "res1"))
    since = bot.seq()
    await conclude(bot, first, "cn:v:w", "cn:c:ringworm")   # the AI was wrong: ringworm
    owner_msgs = [c["params"] for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == OWNER]
    assert any("Можно сохранить фото «Рекс»" in p["text"] for p in owner_msgs)
    stored = await doc(bot, f"conclusions/{first}")
    assert (stored["label"], stored["label_kept"]) == ({"verdict": "wrong", "area": "skin", "species": "dog",
                                                        "ai_label": "dermatitis", "label": "ringworm"}, False)
    assert [d async for d in bot.client.collection("labels").stream()] == []   # not without consent
    await bot.press(f"lc:y:{first}", OWNER)
    assert (await bot.services.owners.get(OWNER)).label_consent is True
    [label] = [d async for d in bot.client.collection("labels").stream()]
    data = label.to_dict()
    assert label.id == svc.label_id(first) and data["label"] == stored["label"]["label"]
    assert set(data) == {"label", "area", "species", "verdict", "ai_label", "kept_on", "owner_key"}
    assert str(OWNER) not in json.dumps(data, default=str) and first not in json.dumps(data, default=str)
    assert bot.services.photos.objects[f"labels/{label.id}.jpg"][0] == b"JPEG-res1"
    # the next one is kept at once, without asking again
    second = await book(bot, at=SLOT + timedelta(hours=1), triage=await triage_result(bot, "res2"))
    since = bot.seq()
    await conclude(bot, second, "cn:v:r", at=DURING + timedelta(hours=1))
    assert not any("Можно сохранить" in c["params"]["text"] for c in double.calls("sendMessage", since=since)
                   if c["params"]["chat_id"] == OWNER)
    assert len([d async for d in bot.client.collection("labels").stream()]) == 2
    # /privacy: the owner withdraws; every kept label and its photo goes
    shown = await bot.say("/privacy", OWNER)
    assert any("хранятся для обучения ИИ" in t for t in shown) and bot.buttons(OWNER)["🚫 Не хранить фото для обучения ИИ"] == "lc:off"
    assert any("Удалено сохранённых: 2" in t for t in await bot.press("lc:off", OWNER))
    assert [d async for d in bot.client.collection("labels").stream()] == []
    assert not [n for n in bot.services.photos.objects if n.startswith("labels/")]
    assert (await bot.services.owners.get(OWNER)).label_consent is False
    # allowed again later; a new case is kept; erasing the owner's data erases it too
    await bot.say("/privacy", OWNER)
    await bot.press("lc:on", OWNER)
    third = await book(bot, at=SLOT + timedelta(hours=2), triage=await triage_result(bot, "res3"))
    await conclude(bot, third, "cn:v:x", at=DURING + timedelta(hours=2))   # cannot tell: nothing to keep
    assert [d async for d in bot.client.collection("labels").stream()] == []
    await bot.press("privacy:forget_yes", OWNER)
    assert (await bot.services.owners.get(OWNER)) is None


async def test_no_means_nothing_is_kept_and_nobody_asks_again(bot, double):
    first = await book(bot, triage=await triage_result(bot, "res1"))
    await conclude(bot, first, "cn:v:r")
    await bot.press(f"lc:n:{first}", OWNER)
    assert (await bot.services.owners.get(OWNER)).label_consent is False
    second = await book(bot, at=SLOT + timedelta(hours=1), triage=await triage_result(bot, "res2"))
    since = bot.seq()
    await conclude(bot, second, "cn:v:r", at=DURING + timedelta(hours=1))
    assert not any("Можно сохранить" in c["params"]["text"] for c in double.calls("sendMessage", since=since))
    assert [d async for d in bot.client.collection("labels").stream()] == []
    # erasure with labels kept: they go with the owner
    await bot.say("/privacy", OWNER)
    await bot.press("lc:on", OWNER)
    await bot.press(f"lc:y:{second}", OWNER)   # the question's button, pressed late, keeps that case
    assert len([d async for d in bot.client.collection("labels").stream()]) == 1
    await bot.press("privacy:forget_yes", OWNER)
    assert [d async for d in bot.client.collection("labels").stream()] == []
    assert not [n for n in bot.services.photos.objects if n.startswith("labels/")]

"""/bookings and the buttons of a booked consultation through the webhook adapter, on the Firestore emulator
with the Bot API and YooKassa doubles: cancelling (what comes back, shown first), a double tap refunding
once, moving once, the vet's card and cancellation with a reason, forged buttons refused, the vet told
of every new, moved or cancelled booking, and erasure (owner or vet) with a payment racing it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.diary import WeightEntry
from shared.domain.photos import Area as PhotoArea
from shared.domain.pets import Species
from shared.domain.triage import Outcome, TriageResult, Urgency
from shared.services import payments
from shared.adapters.firestore_bookings import ledger_from
from shared.services.cancellations import charge_pseudonym, pseudonym
from tests.booking_harness import BookingBot, client, double, mentions, pay, vet, yookassa  # noqa: F401 - fixtures

# Telegram-sized ids: the checks for what is left of a person look for their id in every string stored
OWNER, OTHER = 610_000_001, 610_000_002
ANNA, BORIS = 720_000_201, 720_000_202
AHEAD = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)    # 12:00 Moscow, two days after the harness's NOW
SOON = datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc)    # 4 h ahead


@pytest.fixture
async def bot(client, double, yookassa):
    b = BookingBot(client, double, yookassa)
    await b.vets(vet(ANNA, name="Анна Петрова"), vet(BORIS, name="Борис Иванов"))
    for vet_id in (ANNA, BORIS):   # vets are people of the bot too: they press buttons
        await b.owner(vet_id, pets=0)
    return b


async def book(bot: BookingBot, user_id: int, at: datetime = AHEAD, vet_id: int = ANNA) -> dict:
    """From /consult to a paid booking; returns its document."""
    await bot.say("/consult", user_id)
    await bot.say("Чешет ухо третий день", user_id)
    await bot.press(f"cs:s:{vet_id}:{at:%Y%m%d%H%M}", user_id)
    paid = await pay(bot, user_id, bot.invoices(user_id)[-1])
    assert paid["answer"]["ok"]
    return next(d for d in await docs(bot) if d.get("charge_id") == paid["charge_id"])


async def docs(bot, collection="bookings") -> list[dict]:
    return [d.to_dict() | {"id": d.id} async for d in bot.client.collection(collection).stream()]


def sent(bot, chat_id: int, since: int) -> list[str]:
    return [c["params"].get("text") or "" for c in bot.double.calls(since=since)
            if c["method"] == "sendMessage" and str(c["params"].get("chat_id")) == str(chat_id)]


def alerts(bot, since: int) -> list[str]:
    return [c["params"].get("text") or "" for c in bot.double.calls("answerCallbackQuery", since=since)]


def assert_each_press_answered_once(bot, updates: list[dict]) -> None:
    ids = {u["callback_query"]["id"] for u in updates}
    faults = bot.double.callback_query_faults()
    assert not any(q.get("id") in ids for queries in faults.values() for q in queries), faults


# ---- the owner cancels -----------------------------------------------------------------------------

async def test_bookings_lists_and_a_cancellation_a_day_ahead_refunds_everything(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER)
    listed = await bot.say("/bookings", OWNER)
    assert any("Анна Петрова" in x and "Рекс" in x and "1\u00a0500 ₽" in x for x in listed), listed
    assert set(bot.buttons(OWNER).values()) == {f"bk:r:{booking['id']}", f"bk:c:{booking['id']}"}
    asked = await bot.press(f"bk:c:{booking['id']}", OWNER)
    assert "Вернём всю сумму — 1\u00a0500 ₽" in asked[-1]
    since = bot.seq()
    done = await bot.press(f"bk:cy:{booking['id']}", OWNER)
    assert any("Консультация отменена" in x and "Вернули 1\u00a0500 ₽" in x for x in done), done
    [told] = sent(bot, ANNA, since)
    assert "Владелец отменил консультацию" in told and "Рекс" in told and "Чешет ухо" in told
    [refund] = yookassa.refunds()
    assert refund["amount"]["value"] == "1500.00"
    assert "Предстоящих консультаций нет" in (await bot.say("/bookings", OWNER))[-1]
    assert await payments.reconcile(bot.services.bookings) == []


async def test_late_the_owner_sees_the_share_first_and_gets_it(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER, at=SOON)
    asked = await bot.press(f"bk:c:{booking['id']}", OWNER)
    assert "меньше 24 часов" in asked[-1] and "750 ₽ из 1\u00a0500 ₽" in asked[-1]
    assert "bk:r:" not in " ".join(bot.buttons(OWNER).values())
    await bot.press(f"bk:cy:{booking['id']}", OWNER)
    [refund] = yookassa.refunds()
    assert refund["amount"]["value"] == "750.00"


async def test_a_double_tap_on_cancel_refunds_once_and_answers_every_press(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER)
    presses = [bot.updates.callback(f"bk:cy:{booking['id']}", user_id=OWNER) for _ in range(8)]
    since = bot.seq()
    assert await bot.together(presses) == [200] * 8
    assert len(yookassa.refunds()) == 1
    assert sum("Консультация отменена" in x for x in sent(bot, OWNER, since)) == 1
    assert sum("уже отменена" in x for x in alerts(bot, since)) == 7
    assert sum("Владелец отменил" in x for x in sent(bot, ANNA, since)) == 1
    assert_each_press_answered_once(bot, presses)
    entry = await bot.services.bookings.ledger(booking["charge_id"])
    assert entry.status == "refunded" and len(entry.refunds) == 1


# ---- moving ----------------------------------------------------------------------------------------

async def test_a_booking_moves_once_and_the_vet_gets_the_card_with_its_new_time(bot):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER)
    days = await bot.press(f"bk:r:{booking['id']}", OWNER)
    assert "Перенести можно один раз" in days[-1]
    day = next(d for d in bot.buttons(OWNER).values() if d.endswith(":20261204"))
    await bot.press(day, OWNER)
    slot = next(d for d in bot.buttons(OWNER).values() if d.startswith(f"bk:rs:{booking['id']}:"))
    since = bot.seq()
    moved = await bot.press(slot, OWNER)
    assert any("консультация перенесена на пт, 4 дек" in x for x in moved), moved
    [told] = sent(bot, ANNA, since)
    assert "Консультация перенесена" in told and "было чт, 3 дек, 12:00" in told and "Чешет ухо" in told
    stored = next(d for d in await docs(bot) if d["id"] == booking["id"])
    assert stored["reschedules_left"] == 0 and stored["start"].date().isoformat() == "2026-12-04"
    again = await bot.press(f"bk:r:{booking['id']}", OWNER)
    assert "уже переносили" in again[-1] or "один раз" in again[-1], again


# ---- forged buttons ----------------------------------------------------------------------------------

async def test_nobody_acts_on_someone_elses_booking(bot, yookassa):
    await bot.owner(OWNER)
    await bot.owner(OTHER)
    booking = await book(bot, OWNER)
    b = booking["id"]
    since = bot.seq()
    for user, data in ((OTHER, f"bk:c:{b}"), (OTHER, f"bk:cy:{b}"), (OTHER, f"bk:r:{b}"),
                       (OTHER, f"bk:rs:{b}:202612041000"), (OTHER, f"bk:o:{b}"), (OTHER, f"bk:v:{b}"),
                       (ANNA, f"bk:cy:{b}"), (ANNA, f"bk:r:{b}"),                          # its vet, as owner
                       (BORIS, f"bk:v:{b}"), (BORIS, f"bk:vc:{b}"), (BORIS, f"bk:vr:{b}:illness"),  # another vet
                       (OWNER, f"bk:v:{b}"), (OWNER, f"bk:vr:{b}:illness"),                # the owner, as vet
                       (OTHER, "bk:cy:nosuchbooking")):
        replies = await bot.press(data, user)
        assert replies == ["Запись не найдена."] or any("не найдена" in r for r in replies), (user, data, replies)
    assert yookassa.refunds() == []
    stored = next(d for d in await docs(bot) if d["id"] == b)
    assert (stored["status"], stored["reschedules_left"]) == ("confirmed", 1)
    assert sent(bot, OTHER, since) == [] and sent(bot, BORIS, since) == []


# ---- the vet -----------------------------------------------------------------------------------------

async def test_the_vet_is_told_of_a_new_booking_with_the_card_photo_link_and_diary(bot, double):
    await bot.owner(OWNER)
    [pet] = await bot.services.pets.list(OWNER)
    await bot.services.diary.add_weight(OWNER, pet.id, WeightEntry(id="", on=datetime(2026, 11, 30).date(), kg=12.4))
    result = TriageResult(id="r1", owner_id=OWNER, pet_id=pet.id, photo_path=f"photos/f/{pet.id}/p.jpg",
                          area=PhotoArea.SKIN, species=Species.DOG, outcome=Outcome.FINDINGS, urgency=Urgency.CONSULT,
                          findings=[("dermatitis", 0.71)])
    await bot.services.triage.create(result)
    await bot.press(f"tr:b:{pet.id}:r1", OWNER)
    await bot.say("Красное пятно на боку", OWNER)
    await bot.press(f"cs:s:{ANNA}:{AHEAD:%Y%m%d%H%M}", OWNER)
    since = bot.seq()
    await pay(bot, OWNER, bot.invoices(OWNER)[-1])
    [notice] = [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA]
    text = notice["params"]["text"]
    assert "Новая консультация" in text and "Рекс" in text and "Красное пятно" in text and "12,4" in text
    assert "срочность" in text
    keyboard = [b for row in notice["params"]["reply_markup"]["inline_keyboard"] for b in row]
    [photo] = [b for b in keyboard if "url" in b]
    assert photo["url"].startswith(f"https://storage.test/photos/f/{pet.id}/p.jpg") and "X-Goog-Expires=900" in photo["url"]
    assert any(b.get("callback_data", "").startswith("cn:w:") for b in keyboard)   # the conclusion, after the call
    [booking] = [d for d in await docs(bot) if d["status"] == "confirmed"]
    card = await bot.press(f"bk:v:{booking['id']}", ANNA)
    assert "Красное пятно" in card[-1] and "Мои консультации" not in card[-1]
    listed = await bot.press("bk:vl", ANNA)
    assert "Рекс" in listed[-1]


async def test_a_vet_cancels_with_a_reason_and_the_owner_gets_an_apology_refund_and_other_vets(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER)
    asked = await bot.press(f"bk:vc:{booking['id']}", ANNA)
    assert "Почему отменяете" in asked[-1]
    assert f"bk:vr:{booking['id']}:illness" in bot.buttons(ANNA).values()
    since = bot.seq()
    await bot.press(f"bk:vr:{booking['id']}:illness", ANNA)
    [apology] = sent(bot, OWNER, since)
    assert "Приносим извинения" in apology and "Анна Петрова" in apology and "врач заболел" in apology
    assert "Вернули 1\u00a0500 ₽" in apology
    assert bot.buttons(OWNER) == {"Выбрать другого врача": f"bk:o:{booking['id']}"}
    assert yookassa.refunds()[0]["amount"]["value"] == "1500.00"
    vets = await bot.press(f"bk:o:{booking['id']}", OWNER)
    assert "Борис Иванов" in vets[-1]
    assert (await bot.services.owners.get(OWNER)).dialog.draft["reason"] == "Чешет ухо третий день"
    again = await bot.press(f"bk:vr:{booking['id']}:illness", ANNA)
    assert any("уже отменена" in x for x in again) and len(yookassa.refunds()) == 1


# ---- erasure -----------------------------------------------------------------------------------------

async def everything_of(bot, person: int) -> list[str]:
    found = []

    async def walk(collection):
        async for snap in collection.stream():
            if str(person) in snap.reference.path or mentions(snap.to_dict(), person):
                found.append(snap.reference.path)
        async for doc in collection.list_documents():
            async for sub in doc.collections():
                await walk(sub)

    async for collection in bot.client.collections():
        if collection.id != "processed_updates":
            await walk(collection)
    return found


async def forget_press(bot, user_id: int) -> dict:
    await bot.say("/privacy", user_id)
    return bot.updates.callback("privacy:forget_yes", user_id=user_id)


async def test_an_owner_erasing_racing_their_payment_is_refunded_told_nothing_and_leaves_nothing(bot, yookassa):
    """The successful payment and the erasure's press delivered together, or one a little later: the
    payment confirms and the erasure cancels and refunds it, or the erasure comes first and the payment is
    refunded. Either way: refunded once, the ledger pseudonymised, nothing else left, nothing said after."""
    import asyncio

    outcomes = set()
    for n, (pay_after, forget_after) in enumerate(((0, 0), (0, 0), (0, 0.05), (0.05, 0), (0, 0.5), (1.0, 0))):
        owner = OWNER + 10 * n
        await bot.owner(owner)
        await bot.say("/consult", owner)
        await bot.say("Чешет ухо", owner)
        await bot.press(f"cs:s:{ANNA}:{AHEAD + timedelta(hours=n % 6):%Y%m%d%H%M}", owner)
        built = bot.double.pay(bot.invoices(owner)[-1], owner, deliver=False, yookassa=yookassa)
        assert await bot.deliver(built["pre_checkout"]) == 200
        forget = await forget_press(bot, owner)
        since = bot.seq()

        async def later(update, delay):
            await asyncio.sleep(delay)
            return await bot.deliver(update)

        assert await asyncio.gather(later(built["successful_payment"], pay_after), later(forget, forget_after)) == [200] * 2
        texts = sent(bot, owner, since) + [c["params"].get("text", "") for c in bot.double.calls(
            "editMessageText", since=since) if str(c["params"].get("chat_id")) == str(owner)]
        assert any("удалены" in x for x in texts), texts
        [entry] = [ledger_from(d) async for d in bot.client.collection("payments").stream()
                   if d.get("provider_payment_charge_id") == built["provider_payment_charge_id"]]
        assert entry.status == "refunded" and entry.refunded == entry.amount
        assert (entry.owner_id, entry.owner_ref, entry.charge_id) == (0, pseudonym(owner), charge_pseudonym(built["charge_id"]))
        [booking] = [d for d in await docs(bot) if d["id"] == built["successful_payment"]["message"][
            "successful_payment"]["invoice_payload"]]
        outcomes.add(booking["status"])   # cancelled: the payment came first; expired: the erasure did
        erased_at = texts.index(next(x for x in texts if "удалены" in x))
        assert not any("Вернули" in x or "записаны" in x for x in texts[erased_at:]), texts   # nothing said after
        assert await everything_of(bot, owner) == []
        assert await payments.reconcile(bot.services.bookings) == []
    assert outcomes == {"cancelled", "expired"}   # both orders were raced
    assert len(yookassa.refunds()) == 6


async def test_a_vet_erasing_cancels_their_bookings_and_the_owners_are_told_and_refunded(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER)
    since = bot.seq()
    forget = await forget_press(bot, ANNA)
    assert await bot.deliver(forget) == 200
    [apology] = sent(bot, OWNER, since)
    assert "врач больше не работает с нами" in apology and "Вернули 1\u00a0500 ₽" in apology
    assert bot.buttons(OWNER) == {"Выбрать другого врача": f"bk:o:{booking['id']}"}
    assert await everything_of(bot, ANNA) == []
    assert (await bot.services.bookings.ledger(booking["charge_id"])).vet_ref == pseudonym(ANNA)
    assert await payments.reconcile(bot.services.bookings) == []
    vets = await bot.press(f"bk:o:{booking['id']}", OWNER)
    assert "Борис Иванов" in vets[-1] and "Анна" not in vets[-1]

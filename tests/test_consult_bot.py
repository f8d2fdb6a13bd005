"""/consult and Telegram Payments through the webhook adapter, on the Firestore emulator with the Bot API
and YooKassa doubles: the whole flow, pre-checkout answers, payments applied once, late payments refunded
once, forged buttons, and owners racing for slots."""
from __future__ import annotations

import json
from dataclasses import replace
import random
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.owners import Dialog
from shared.domain.photos import Area as PhotoArea
from shared.domain.pets import Species
from shared.domain.schedule import parse_hours
from shared.domain.slots import HOLD_TTL
from shared.domain.triage import Outcome, TriageResult, Urgency
from shared.domain.vets import VetStatus
from shared.i18n import t
from shared.services import booking as booking_service
from shared.services import payments
from tests.booking_harness import (NOW, PROVIDER_TOKEN, BookingBot, client, double, pay, schedule, vet,  # noqa: F401
                                   yookassa)

OWNER, OTHER = 5001, 5002
ANNA, BORIS, PAUSED, UNVERIFIED = 101, 102, 107, 108


@pytest.fixture
async def bot(client, double, yookassa):
    b = BookingBot(client, double, yookassa)
    await b.vets(vet(ANNA, name="Анна Петрова"), vet(BORIS, name="Борис Иванов", price=120000),
                 vet(PAUSED, status=VetStatus.PAUSED, hours=schedule()), vet(UNVERIFIED, status=VetStatus.VERIFIED))
    yield b


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%d%H%M}"


SLOT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)   # 15:00 in Moscow, 3 h ahead of NOW


async def to_the_vets(bot: BookingBot, user_id: int) -> None:
    await bot.say("/consult", user_id)
    await bot.say("Чешет ухо третий день", user_id)


async def hold(bot: BookingBot, user_id: int, vet_id: int = ANNA, at: datetime = SLOT) -> dict:
    """From /consult to the invoice for `at`; returns the invoice message."""
    await to_the_vets(bot, user_id)
    replies = await bot.press(f"cs:s:{vet_id}:{stamp(at)}", user_id)
    assert any(r.startswith("INVOICE") for r in replies), replies
    return bot.invoices(user_id)[-1]


def booking_docs(bot, status=None):
    async def read():
        docs = [d.to_dict() | {"id": d.id} async for d in bot.client.collection("bookings").stream()]
        return [d for d in docs if status is None or d["status"] == status]
    return read()


async def test_the_whole_flow_books_and_pays_once(bot, double, yookassa):
    await bot.owner(OWNER)
    asked = await bot.say("/consult", OWNER)
    assert "Что беспокоит Рекс" in asked[-1]
    listed = await bot.say("Чешет ухо третий день", OWNER)
    assert "Анна Петрова" in listed[-1] and "1\u00a0500 ₽" in listed[-1] and "Борис" in listed[-1]
    assert "Врач 107" not in listed[-1] and "Врач 108" not in listed[-1]   # paused, unverified
    days = await bot.press("cs:v:101", OWNER)
    assert "Выберите день" in days[-1]
    first_day = next(data for text, data in bot.buttons(OWNER).items() if data.startswith("cs:d:101:"))
    times = await bot.press(first_day, OWNER)
    assert "выберите время" in times[-1]
    first_time = next(data for data in bot.buttons(OWNER).values() if data.startswith("cs:s:101:"))
    assert first_time == f"cs:s:101:{stamp(datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc))}"  # 14:00 MSK, 2 h notice
    summary = await bot.press(first_time, OWNER)
    assert any("Врач: Анна Петрова" in r and "14:00" in r and "Чешет ухо" in r for r in summary), summary
    [call] = double.calls("sendInvoice")
    p = call["params"]
    assert (p["currency"], p["prices"][0]["amount"], p["provider_token"]) == ("RUB", 150000, PROVIDER_TOKEN)
    assert p["need_email"] and p["send_email_to_provider"]
    receipt = json.loads(p["provider_data"])["receipt"]
    assert receipt["items"][0]["amount"]["value"] == "1500.00" and receipt["items"][0]["vat_code"] == 1
    [booking] = await booking_docs(bot)
    assert p["payload"] == booking["id"] and booking["status"] == "held"
    since = bot.seq()
    paid = await pay(bot, OWNER, bot.invoices(OWNER)[-1])
    assert paid["answer"]["ok"] and paid["answer"]["elapsed"] < 10
    owner_msgs = [t for t in bot.texts(OWNER, since) if "вы записаны" in t]
    vet_msgs = [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA]
    assert len(owner_msgs) == 1 and len(vet_msgs) == 1 and "Чешет ухо" in vet_msgs[0]["params"]["text"]
    [confirmed] = await booking_docs(bot, "confirmed")
    assert confirmed["charge_id"] == paid["charge_id"]
    entry = await bot.services.bookings.ledger(paid["charge_id"])
    assert (entry.status, entry.fee, entry.vet_share) == ("confirmed", 30000, 120000)
    assert entry.provider_charge_id == paid["provider_payment_charge_id"]
    assert (await bot.services.owners.get(OWNER)).dialog is None
    assert await payments.reconcile(bot.services.bookings) == []
    assert double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_pre_checkout_is_refused_with_a_reason_well_inside_ten_seconds(bot, double):
    await bot.owner(OWNER)
    await bot.owner(OTHER)
    invoice = await hold(bot, OWNER)
    payload = double.invoice(invoice)["payload"]
    f = bot.updates
    cases = [(f.pre_checkout_query("nosuchbooking", 150000, "RUB", user_id=OWNER), "не знаком"),
             (f.pre_checkout_query(payload, 100, "RUB", user_id=OWNER), "не совпадает"),
             (f.pre_checkout_query(payload, 150000, "XTR", user_id=OWNER), "не совпадает"),
             (f.pre_checkout_query(payload, 150000, "RUB", user_id=OTHER), "не вам")]
    for update, reason in cases:
        await bot.deliver(update)
        [q] = double.pre_checkout_answers(update["pre_checkout_query"]["id"])
        [answer] = q["answers"]
        assert answer["ok"] is False and reason in answer["error_message"] and answer["elapsed"] < 2
    bot.now = NOW + HOLD_TTL
    late = f.pre_checkout_query(payload, 150000, "RUB", user_id=OWNER)
    await bot.deliver(late)
    [q] = double.pre_checkout_answers(late["pre_checkout_query"]["id"])
    assert q["answers"][0]["ok"] is False and "10 минут" in q["answers"][0]["error_message"]
    assert await booking_docs(bot, "confirmed") == []


@pytest.mark.parametrize("same_update", [True, False])
async def test_twenty_deliveries_of_one_payment_book_once_and_tell_each_side_once(bot, double, same_update):
    await bot.owner(OWNER)
    invoice = await hold(bot, OWNER)
    built = double.pay(invoice, OWNER, deliver=False, yookassa=bot.yookassa)
    await bot.deliver(built["pre_checkout"])
    since = bot.seq()
    paid = built["successful_payment"]
    copies = [paid if same_update else dict(paid, update_id=paid["update_id"] + n) for n in range(20)]
    assert await bot.together(copies) == [200] * 20
    assert len([t for t in bot.texts(OWNER, since) if "вы записаны" in t]) == 1
    assert len([c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA]) == 1
    assert len(await booking_docs(bot, "confirmed")) == 1
    assert len([d async for d in bot.client.collection("payments").stream()]) == 1
    assert bot.yookassa.refunds() == []


async def test_a_late_payment_for_a_taken_slot_is_refunded_once_and_other_times_offered(bot, double, yookassa):
    await bot.owner(OWNER)
    await bot.owner(OTHER)
    invoice = await hold(bot, OWNER)
    bot.now = NOW + HOLD_TTL + timedelta(minutes=1)   # the hold ran out; the expiry task has not run yet
    await hold(bot, OTHER)                             # the same time, for someone else
    since = bot.seq()
    built = double.pay(invoice, OWNER, deliver=False, yookassa=yookassa)  # Telegram charged before it expired
    copies = [dict(built["successful_payment"], update_id=built["successful_payment"]["update_id"] + n)
              for n in range(20)]
    assert await bot.together(copies) == [200] * 20
    [refund] = yookassa.refunds(built["provider_payment_charge_id"])
    assert refund["amount"]["value"] == "1500.00" and refund["status"] == "succeeded"
    told = [t for t in bot.texts(OWNER, since) if "Вернули" in t]
    assert len(told) == 1 and "10 минут" in told[0] and "1\u00a0500 ₽" in told[0]
    assert "cs:v:101" in bot.buttons(OWNER).values()      # other times of the same vet
    assert [c for c in double.calls("sendMessage", since=since) if c["params"]["chat_id"] == ANNA] == []
    entry = await bot.services.bookings.ledger(built["charge_id"])
    assert entry.status == "refunded" and entry.refunded == 150000
    assert await payments.reconcile(bot.services.bookings) == []


async def test_a_late_payment_with_the_slot_still_free_books_it(bot, double):
    await bot.owner(OWNER)
    invoice = await hold(bot, OWNER)
    built = double.pay(invoice, OWNER, deliver=False, yookassa=bot.yookassa)
    bot.now = NOW + HOLD_TTL + timedelta(minutes=3)
    await bot.deliver(built["successful_payment"])
    [confirmed] = await booking_docs(bot, "confirmed")
    assert confirmed["charge_id"] == built["charge_id"] and bot.yookassa.refunds() == []


async def test_stars_are_charged_as_stars_and_a_late_one_refunded_by_telegram(client, double):
    bot = BookingBot(client, double, None, mode="stars")
    await bot.vets(vet(ANNA, name="Анна Петрова"))
    await bot.owner(OWNER)
    await bot.owner(OTHER)
    invoice = await hold(bot, OWNER)
    [call] = double.calls("sendInvoice")
    assert call["params"]["currency"] == "XTR" and call["params"]["prices"][0]["amount"] == 750
    assert "provider_token" not in call["params"] or not call["params"]["provider_token"]
    built = double.pay(invoice, OWNER, deliver=False)
    bot.now = NOW + HOLD_TTL + timedelta(minutes=1)
    await hold(bot, OTHER)
    await bot.together([dict(built["successful_payment"], update_id=built["successful_payment"]["update_id"] + n)
                        for n in range(5)])
    refunds = double.calls("refundStarPayment")
    assert len(refunds) == 1 and refunds[0]["params"]["telegram_payment_charge_id"] == built["charge_id"]
    assert double.charges()[0]["refunded"] is True
    assert await payments.reconcile(bot.services.bookings) == []


async def test_forged_and_outdated_buttons_change_nothing(bot, double):
    await bot.owner(OWNER)
    await bot.owner(OTHER)
    assert "устарела" in (await bot.press(f"cs:s:{ANNA}:{stamp(SLOT)}", OWNER))[-1]  # no /consult open
    await to_the_vets(bot, OWNER)
    for vet_id in (PAUSED, UNVERIFIED, 999):
        said = await bot.press(f"cs:s:{vet_id}:{stamp(SLOT)}", OWNER)
        assert any("не принимает" in s for s in said), said
        said = await bot.press(f"cs:v:{vet_id}", OWNER)
        assert any("не принимает" in s for s in said), said
    past = await bot.press(f"cs:s:{ANNA}:{stamp(NOW - timedelta(hours=1))}", OWNER)
    assert any("уже прошло" in s for s in past), past
    odd = await bot.press(f"cs:s:{ANNA}:{stamp(SLOT + timedelta(minutes=15))}", OWNER)
    assert any("не принимает в это время" in s for s in odd), odd
    assert await booking_docs(bot) == []
    await hold(bot, OTHER)
    [theirs] = await booking_docs(bot)
    said = await bot.press(f"cs:x:{theirs['id']}", OWNER)    # another owner's booking
    assert any("не найдена" in s for s in said)
    assert (await booking_docs(bot))[0]["status"] == "held"
    assert double.calls("sendInvoice")[-1]["params"]["chat_id"] == OTHER


async def test_the_owner_may_let_an_unpaid_hold_go(bot, double):
    await bot.owner(OWNER)
    await hold(bot, OWNER)
    cancel = bot.buttons(OWNER)["Отменить"]
    said = await bot.press(cancel, OWNER)
    assert any("время снова свободно" in s for s in said)
    assert [b["status"] for b in await booking_docs(bot)] == ["expired"]
    assert await bot.services.bookings.calendar(ANNA) == []


async def test_the_triage_answers_book_button_carries_the_result_and_filters_by_area(bot, double):
    [pet] = await bot.owner(OWNER)
    await bot.vets(vet(201, name="Дерматолог Дина", areas=("dermatology",)))
    result = TriageResult(id="res1", owner_id=OWNER, pet_id=pet.id, photo_path="photos/x/1.jpg", area=PhotoArea.SKIN,
                          species=Species.DOG, outcome=Outcome.FINDINGS, urgency=Urgency.CONSULT,
                          findings=[("dermatitis", 0.81)], created_at=NOW)
    await bot.services.triage.create(result)
    asked = await bot.press(f"tr:b:{pet.id}:res1", OWNER)
    assert any("фото-проверки" in a for a in asked), asked
    listed = await bot.say("Покраснение на животе", OWNER)
    assert "Дерматолог Дина" in listed[-1] and "Анна" not in listed[-1]
    await bot.press(f"cs:s:201:{stamp(SLOT)}", OWNER)
    [booking] = await booking_docs(bot)
    assert booking["triage_result_id"] == "res1" and booking["triage"]["urgency"] == "consult"
    assert (await bot.press("tr:b:nosuchpet:res1", OWNER))[-1]  # another's or no pet: refused, nothing held
    assert len(await booking_docs(bot)) == 1


async def test_two_hundred_owners_pressing_one_slot_get_one_hold(bot, double):
    draft = {"pet_id": "", "name": "Рекс", "species": "dog", "reason": "Чешет ухо"}
    owners = list(range(600000, 600200))
    for user_id in owners:
        [pet] = await bot.owner(user_id)
        await bot.services.owners.ref(user_id).update({"dialog": {"name": "consult", "step": "c_pick",
                                                                  "draft": {**draft, "pet_id": pet.id}}})
    since = bot.seq()
    presses = [bot.updates.callback(f"cs:s:{ANNA}:{stamp(SLOT)}", user_id=u) for u in owners]
    assert await bot.together(presses) == [200] * 200
    invoices = double.calls("sendInvoice", since=since)
    assert len(invoices) == 1
    assert len(await booking_docs(bot)) == 1
    assert double.callback_query_faults() == {"unanswered": [], "answered_twice": []}
    taken = [c for c in double.calls("answerCallbackQuery", since=since) if "заняли" in c["params"].get("text", "")]
    assert len(taken) == 199


async def test_four_hundred_owners_over_fifty_slots_never_share_one(bot, double):
    await bot.vets(*(vet(300 + n, hours=schedule(slot_minutes=45, buffer_minutes=15)) for n in range(4)))
    vets = [ANNA, BORIS, 300, 301, 302, 303]
    # the first eight or nine offered slots of each vet (the grids differ: 30 min, and 45 + 15)
    choices = []
    for v in vets:
        _, free = await booking_service.vet_slots(bot.services.vets, bot.services.bookings, v, Species.DOG, NOW)
        choices += [(v, s.start) for s in free[:9 if v in (ANNA, BORIS) else 8]]
    assert len(choices) == 50
    random.seed(11)
    draft = {"pet_id": "", "name": "Рекс", "species": "dog", "reason": "Чешет ухо"}
    presses = []
    for n in range(400):
        user_id = 700000 + n
        [pet] = await bot.owner(user_id)
        await bot.services.owners.ref(user_id).update({"dialog": {"name": "consult", "step": "c_pick",
                                                                  "draft": {**draft, "pet_id": pet.id}}})
        v, start = random.choice(choices)
        presses.append(bot.updates.callback(f"cs:s:{v}:{stamp(start)}", user_id=user_id))
    assert await bot.together(presses, at_once=100) == [200] * 400
    held = await booking_docs(bot, "held")
    assert len(held) == len({(b["vet_id"], b["start"]) for b in held}) == len(double.calls("sendInvoice"))
    for v in vets:
        mine = sorted((b for b in held if b["vet_id"] == v), key=lambda b: b["start"])
        for a, b in zip(mine, mine[1:]):
            assert a["end"] + timedelta(minutes=a["buffer_minutes"]) <= b["start"]
    cells = [d.to_dict()["booking_id"] async for d in bot.client.collection("slot_locks").stream()]
    assert set(cells) == {b["id"] for b in held}


async def test_without_a_provider_token_nothing_is_held_and_the_owner_is_told(client, double):
    bot = BookingBot(client, double, None)
    bot.services = replace(bot.services, payments=payments.PaymentsConfig(provider_token=""))
    bot.app.bot_data["services"] = bot.services
    await bot.vets(vet(ANNA))
    await bot.owner(OWNER)
    await to_the_vets(bot, OWNER)
    said = await bot.press(f"cs:s:{ANNA}:{stamp(SLOT)}", OWNER)
    assert any("Оплата сейчас недоступна" in s for s in said) and double.calls("sendInvoice") == []
    assert [b["status"] for b in await booking_docs(bot)] == ["expired"]
    assert await bot.services.bookings.calendar(ANNA) == []


async def test_help_repeats_the_open_consult_question(bot):
    await bot.owner(OWNER)
    await bot.say("/consult", OWNER)
    said = await bot.say("/help", OWNER)
    assert "Что беспокоит Рекс" in said[-1]
    await bot.say("Чешет ухо", OWNER)
    said = await bot.say("/help", OWNER)
    assert "Анна Петрова" in said[-1]  # the vets again


def listed_vets(bot: BookingBot, user_id: int) -> list[int]:
    """The vets of the newest list the owner sees, in its order."""
    return [int(data.split(":")[2]) for data in bot.buttons(user_id).values() if data.startswith("cs:v:")]


def pager(bot: BookingBot, user_id: int) -> dict[str, str]:
    """"next" / "prev" -> the callback data of the newest list's page buttons."""
    buttons = bot.buttons(user_id)
    return {way: buttons[t("ru", f"booking.btn.{way}")] for way in ("next", "prev")
            if t("ru", f"booking.btn.{way}") in buttons}


async def test_the_vet_list_pages_on_past_the_vets_shown_before_at_the_cost_of_the_first_page(bot):
    await bot.vets(*(vet(300 + n, hours=schedule(weekly={d: parse_hours(f"{8 + n % 10:02d}:00-20:00") for d in range(7)}))
                     for n in range(20)))  # 22 bookable vets with ANNA and BORIS: 5 pages
    await bot.owner(OWNER)
    await to_the_vets(bot, OWNER)
    pages, reads = [listed_vets(bot, OWNER)], []
    while "next" in pager(bot, OWNER):
        bot.stats.reset()
        await bot.press(pager(bot, OWNER)["next"], OWNER)
        reads.append(bot.stats.reads)  # the whole update: the owner, the directory, the page's calendars
        pages.append(listed_vets(bot, OWNER))
    services = bot.services
    exact = await booking_service.list_vets(services.vets, services.bookings, Species.DOG, NOW,
                                            services.payments.pricing, page_size=100)
    assert [vet_id for page in pages for vet_id in page] == [o.vet.id for o in exact.offers]  # each vet once, in order
    assert [len(page) for page in pages] == [5, 5, 5, 5, 2] and max(reads) <= 12, reads
    draft = (await services.owners.get(OWNER)).dialog.draft
    assert draft["pages"] == [{"vets": page} for page in pages]
    for n in (3, 2, 1, 0):  # Prev: the same vets, page by page; the pages after the one shown forgotten
        await bot.press(pager(bot, OWNER)["prev"], OWNER)
        assert listed_vets(bot, OWNER) == pages[n]
        assert (await services.owners.get(OWNER)).dialog.draft["pages"] == [{"vets": page} for page in pages[:n + 1]]

    await bot.press(pager(bot, OWNER)["next"], OWNER)
    await bot.press(pager(bot, OWNER)["next"], OWNER)
    await bot.press(f"cs:v:{pages[2][0]}", OWNER)
    await bot.press(bot.buttons(OWNER)[t("ru", "booking.btn.other_vets")], OWNER)  # the vet's card: from the start
    assert listed_vets(bot, OWNER) == pages[0]
    assert (await services.owners.get(OWNER)).dialog.draft["pages"] == [{"vets": pages[0]}]
    await bot.press(pager(bot, OWNER)["next"], OWNER)
    assert listed_vets(bot, OWNER) == pages[1]

    # a button from before the draft kept its pages: that page exactly (the old way, more reads)
    del draft["pages"]
    await services.owners.ref(OWNER).update({"dialog": {"name": "consult", "step": "c_pick", "draft": draft}})
    await bot.press("cs:l:3", OWNER)
    assert listed_vets(bot, OWNER) == pages[3]
    assert "pages" not in (await services.owners.get(OWNER)).dialog.draft  # pages 0-2 unknown: nothing to keep

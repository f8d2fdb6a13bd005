"""Ops cancel a booking from the bot (handlers.booking_ops) through the webhook adapter, on the Firestore
emulator with the Bot API and YooKassa doubles: /booking <id> in the ops chat shows it with "Cancel with
refund", the press asks the reason, the reply cancels with a full refund (even hours before the start, when
the owner would get only the late share), both parties are told with the reason, the vet's time is free
again; a second reply refunds nothing more; anyone else's command, press or reply changes nothing."""
from __future__ import annotations

import pytest

from tests.booking_harness import BookingBot, client, double, pay, vet, yookassa  # noqa: F401 - fixtures
from tests.test_bookings_bot import ANNA, OTHER, OWNER, SOON, book, docs, sent

OPS, OPS_CHAT = 790_000_001, -1007900001
GROUP = {"id": OPS_CHAT, "type": "supergroup", "title": "Ops"}


@pytest.fixture
async def bot(client, double, yookassa):
    b = BookingBot(client, double, yookassa)
    b.app.bot_data.update(ops_ids=frozenset({OPS}), ops_chat_id=OPS_CHAT)
    await b.vets(vet(ANNA, name="Анна Петрова"))
    await b.owner(ANNA, pets=0)
    return b


async def in_ops_chat(bot: BookingBot, update: dict) -> list[str]:
    """Delivers an update from the ops chat; what the bot said there (messages and popups)."""
    if "message" in update:      # a press carries the ops chat's message it was made on
        update["message"]["chat"] = GROUP
    since = bot.seq()
    assert await bot.deliver(update) == 200
    return [c["params"].get("text") or "" for c in bot.double.calls(since=since)
            if c["method"] == "answerCallbackQuery" and c["params"].get("text")
            or c["method"] == "sendMessage" and str(c["params"].get("chat_id")) == str(OPS_CHAT)]


def command(bot: BookingBot, text: str, user_id: int) -> dict:
    name, _, args = text[1:].partition(" ")
    return bot.updates.command(name, args, user_id=user_id)


def press(bot: BookingBot, data: str, user_id: int) -> dict:
    card = next(m for m in reversed(bot.double.messages(OPS_CHAT)) if m.get("reply_markup"))
    return bot.updates.callback(data, user_id=user_id, message=card)


def reply(bot: BookingBot, text: str, user_id: int) -> dict:
    prompt = next(m for m in reversed(bot.double.messages(OPS_CHAT)) if "#bk" in m.get("text", ""))
    return bot.updates.message(text, user_id=user_id, reply_to_message=prompt)


async def test_ops_cancel_with_a_full_refund_and_a_reason_both_told_the_time_freed(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER, at=SOON)     # 4 h ahead: the owner would get half back
    shown = await in_ops_chat(bot, command(bot, f"/booking {booking['id']}", OPS))
    assert booking["id"] in shown[0] and "Анна Петрова" in shown[0] and "confirmed" in shown[0]
    asked = await in_ops_chat(bot, press(bot, f"bo:c:{booking['id']}", OPS))
    assert "1\u00a0500 ₽" in asked[-1] and asked[-1].endswith(f"#bk{booking['id']}")
    assert (await docs(bot))[0]["status"] == "confirmed"          # nothing until the reason comes
    since = bot.seq()
    done = await in_ops_chat(bot, reply(bot, "Врач в больнице", OPS))
    assert "отменена" in done[0] and "Вернули 1\u00a0500 ₽" in done[0]
    [owner_told] = sent(bot, OWNER, since)
    assert "отменена нашей поддержкой — Врач в больнице" in owner_told and "Вернули 1\u00a0500 ₽" in owner_told
    assert bot.buttons(OWNER) == {"Выбрать другого врача": f"bk:o:{booking['id']}"}
    [vet_told] = sent(bot, ANNA, since)
    assert "Поддержка отменила" in vet_told and "Причина: Врач в больнице" in vet_told
    [refund] = yookassa.refunds()
    assert (refund["amount"]["value"], refund["status"]) == ("1500.00", "succeeded")
    stored = next(d for d in await docs(bot) if d["id"] == booking["id"])
    assert (stored["status"], stored["cancelled_by"], stored["cancel_note"]) == ("cancelled", "ops", "Врач в больнице")
    again = await in_ops_chat(bot, reply(bot, "ещё раз", OPS))
    assert again == ["Эта консультация уже отменена."] and len(yookassa.refunds()) == 1
    # the vet's time is free again: another owner books it
    await bot.owner(OTHER)
    assert (await book(bot, OTHER, at=SOON))["status"] == "confirmed"


async def test_anyone_but_ops_changes_nothing(bot, yookassa):
    await bot.owner(OWNER)
    booking = await book(bot, OWNER, at=SOON)
    await in_ops_chat(bot, command(bot, f"/booking {booking['id']}", OPS))
    await in_ops_chat(bot, press(bot, f"bo:c:{booking['id']}", OPS))
    for someone in (OWNER, ANNA, OTHER):
        assert await in_ops_chat(bot, command(bot, f"/booking {booking['id']}", someone)) == [
            "Отменять консультации могут только сотрудники поддержки."]
        assert await in_ops_chat(bot, press(bot, f"bo:c:{booking['id']}", someone)) == [
            "Отменять консультации могут только сотрудники поддержки."]
    for someone in (OWNER, ANNA, OTHER):
        assert await in_ops_chat(bot, reply(bot, "отменить", someone)) == [
            "Отменять консультации могут только сотрудники поддержки."]
    stored = next(d for d in await docs(bot) if d["id"] == booking["id"])
    assert stored["status"] == "confirmed" and yookassa.refunds() == []
    assert await in_ops_chat(bot, command(bot, "/booking nosuchbooking", OPS)) == ["Запись не найдена."]

"""Vets through the bot (webhook adapter, fake repositories, the in-process Bot API double): the /vet
application end to end, ops decisions in the ops chat (forged presses from others change nothing), the
rejection reason, /schedule editing with bad input, /pause and /resume, erasure of a vet."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from infra.local.bot_api_double import BotApiDouble
from shared.domain.vets import Action, VetStatus
from shared.services import vets as vet_service
from tests.bot_harness import TOKEN, BotHarness
from tests.test_photo_hostile import exif_rotated, jpeg

VET, OTHER, OPS, OPS_CHAT = 3003, 4004, 9009, -1001234


@pytest.fixture
async def bot():
    with BotApiDouble(TOKEN) as double:
        harness = BotHarness(double)
        harness.app.bot_data.update(ops_ids=frozenset({OPS}), ops_chat_id=OPS_CHAT)
        yield harness
        await harness.app.shutdown()


async def send_photo(bot: BotHarness, user_id: int, data: bytes, name="doc.jpg") -> list[str]:
    seq = bot._seq()
    info = bot.double.put_file(data, name=name, mime_type="image/jpeg", kind="photo")
    assert await bot.deliver(bot.updates.photo(info, user_id=user_id)) == 200
    return bot.replies(seq)


async def apply(bot: BotHarness, user_id: int = VET, documents=1, price: str = "1500") -> None:
    """The whole application, answered right."""
    await bot.onboard(user_id)
    await bot.say("/vet", user_id)
    await bot.say("Анна Петрова", user_id)
    await bot.say("Казань", user_id)
    await bot.say("КГАВМ, 2012", user_id)
    for n in range(documents):
        await send_photo(bot, user_id, jpeg(seed=n))
    await bot.press("va:n:dc", user_id)
    await bot.press("va:t:sp:cat", user_id)
    await bot.press("va:n:sp", user_id)
    await bot.press("va:t:ar:dermatology", user_id)
    await bot.press("va:n:ar", user_id)
    await bot.say("12", user_id)
    await bot.press("va:t:lg:ru", user_id)
    await bot.press("va:n:lg", user_id)
    await bot.say("Кошки и их кожа.", user_id)
    await send_photo(bot, user_id, jpeg(seed=9), "me.jpg")
    await bot.say(price, user_id)
    await bot.press("va:z:1", user_id)  # Moscow
    await bot.press("va:s", user_id)


def ops_messages(bot: BotHarness) -> list[dict]:
    return bot.double.messages(OPS_CHAT)


def ops_press(bot: BotHarness, data: str, user_id: int = OPS) -> dict:
    """A press in the ops chat on the newest notice (or a forged one: any data on it)."""
    notice = next(m for m in reversed(ops_messages(bot)) if "Новая заявка" in m.get("text", ""))
    return bot.updates.callback(data, user_id=user_id, message=notice)


async def deliver(bot: BotHarness, update: dict) -> list[str]:
    seq = bot._seq()
    assert await bot.deliver(update) == 200
    return bot.replies(seq)


# ---- the application ---------------------------------------------------------------------------

async def test_the_application_end_to_end_with_wrong_answers_on_the_way(bot):
    await bot.onboard(VET)
    intro = await bot.say("/vet", VET)
    assert "только наша команда проверки" in intro[0] and "фамилия" in intro[-1]
    assert "не видно" in (await bot.say("\u200b \u200b", VET))[0]
    assert "не больше 100" in (await bot.say("А" * 101, VET))[0]
    await bot.say("Анна Петрова", VET)
    await bot.say("Казань", VET)
    await bot.say("КГАВМ, 2012", VET)
    assert "нужна фотография" in (await bot.say("вот диплом", VET))[0]
    assert "хотя бы одно фото" in (await bot.press("va:n:dc", VET))[0]
    got = await send_photo(bot, VET, exif_rotated(6))
    assert "1 из 6" in got[0]
    await send_photo(bot, VET, jpeg(seed=2))
    await bot.press("va:n:dc", VET)
    assert "хотя бы один" in (await bot.press("va:n:sp", VET))[0]
    await bot.press("va:t:sp:cat", VET)
    await bot.press("va:t:sp:dog", VET)
    await bot.press("va:t:sp:dog", VET)  # off again
    ticked = [text for text in bot.last_buttons(VET) if text.startswith("✅")]
    assert len(ticked) == 1 and "Кошка" in ticked[0]
    await bot.press("va:n:sp", VET)
    assert "устарела" in (await bot.press("va:t:sp:bird", VET))[0]  # the species question is closed
    await bot.press("va:t:ar:dermatology", VET)
    await bot.press("va:n:ar", VET)
    assert "от 0 до 70" in (await bot.say("семь", VET))[0]
    await bot.say("12", VET)
    await bot.press("va:t:lg:ru", VET)
    await bot.press("va:t:lg:en", VET)
    await bot.press("va:n:lg", VET)
    await bot.say("Кошки и их кожа.", VET)
    await send_photo(bot, VET, jpeg(seed=9), "me.jpg")
    assert "от 500 до 15000" in (await bot.say("100", VET))[0]
    await bot.say("2 000 ₽", VET)
    assert "Не знаю такой часовой пояс" in (await bot.say("Moon/Base", VET))[0]
    confirm = await bot.say("Asia/Almaty", VET)
    assert "Анна Петрова" in confirm[-1] and "2000 ₽" in confirm[-1] and "дерматология" in confirm[-1]
    assert "Отправить" in bot.last_buttons(VET)
    done = await bot.press("va:s", VET)
    assert "Заявка отправлена" in done[0]
    vet = bot.services.vets.vets[VET]
    assert vet.status == VetStatus.APPLIED and vet.timezone == "Asia/Almaty" and vet.price_kopecks == 2000_00
    assert vet.languages == ("ru", "en") and [s.value for s in vet.species] == ["cat"]
    assert len(vet.documents) == 2 and vet.portrait
    assert bot.services.owners.owners[VET].dialog is None
    # stored cleaned, privately, under names without the Telegram id
    photos = bot.services.photos.objects
    for name in (*vet.documents, vet.portrait):
        assert name.startswith(("vet-documents/", "vet-portraits/")) and str(VET) not in name
        with Image.open(io.BytesIO(photos[name][0])) as img:
            assert not img.getexif() and img.size == (640, 480)  # the rotated one upright
        assert photos[name][1] == {}
    # ops were told, with the documents and the portrait, and the buttons
    notices = ops_messages(bot)
    assert "Новая заявка" in notices[0]["text"] and str(VET) in notices[0]["text"]
    assert {b["callback_data"] for row in notices[0]["reply_markup"]["inline_keyboard"] for b in row} == {
        f"vo:a:{VET}", f"vo:r:{VET}"}
    assert sum("photo" in m for m in notices) == 3
    # and asking again says it is being reviewed
    assert "на проверке" in (await bot.say("/vet", VET))[0]


async def test_a_second_press_of_submit_makes_no_second_application(bot):
    await apply(bot)
    again = await bot.press("va:s", VET)
    assert "устарела" in again[0]
    assert len([m for m in ops_messages(bot) if m.get("reply_markup")]) == 1


async def test_help_and_a_sticker_repeat_the_applications_question(bot):
    await bot.onboard(VET)
    await bot.say("/vet", VET)
    await bot.say("Анна Петрова", VET)
    assert "В каком городе" in (await bot.say("/help", VET))[-1]


async def test_a_photo_at_a_text_step_is_not_taken_for_triage(bot):
    await bot.onboard(VET)
    await bot.say("/vet", VET)
    replies = await send_photo(bot, VET, jpeg())
    assert "заявка ветеринара" in replies[0] and "фамилия" in replies[-1]
    assert bot.services.photos.objects == {}


# ---- ops ---------------------------------------------------------------------------------------

async def test_a_forged_approve_from_anyone_but_ops_changes_nothing(bot):
    await apply(bot)
    await bot.onboard(OTHER)
    before = bot.services.vets.vets[VET]
    for user in (OTHER, VET):  # someone else, and the applicant themselves
        replies = await deliver(bot, ops_press(bot, f"vo:a:{VET}", user_id=user))
        assert "только сотрудники проверки" in replies[0]
        replies = await bot.press(f"vo:a:{VET}", user)  # and from their own chat
        assert "только сотрудники проверки" in replies[0]
    assert bot.services.vets.vets[VET] == before and bot.services.vets.vets[VET].status == VetStatus.APPLIED
    assert not bot.crashes


async def test_the_service_checks_the_allow_list_too(bot):
    await apply(bot)
    with pytest.raises(vet_service.NotOps):
        await vet_service.decide(bot.services.vets, VET, Action.APPROVE, OTHER, bot.clock(), {OPS})


async def test_ops_approve_in_the_ops_chat_and_the_vet_is_told(bot):
    await apply(bot)
    replies = await deliver(bot, ops_press(bot, f"vo:a:{VET}"))
    assert "Одобрено" in replies[0]
    vet = bot.services.vets.vets[VET]
    assert vet.status == VetStatus.VERIFIED and vet.last_decision.by == OPS and vet.last_decision.at == bot.clock()
    assert "одобрена" in bot.double.messages(VET)[-1]["text"]
    notice = next(m for m in ops_messages(bot) if "Новая заявка" in m.get("text", ""))
    assert "reply_markup" not in notice and "одобрение (9009)" in notice["text"]
    # the vet's chat now has the vet's commands
    commands = [c for c in bot.double.calls("setMyCommands") if c["params"].get("scope", {}).get("chat_id") == VET]
    assert "schedule" in str(commands[-1]["params"]["commands"])
    # a second press: decided already, nothing more recorded
    replies = await deliver(bot, ops_press(bot, f"vo:a:{VET}"))
    assert "невозможно" in replies[0]
    assert len(bot.services.vets.vets[VET].decisions) == 2


async def test_ops_reject_asks_for_the_reason_and_the_vet_may_apply_again(bot):
    await apply(bot)
    await deliver(bot, ops_press(bot, f"vo:r:{VET}"))
    prompt = ops_messages(bot)[-1]
    assert "Причина отказа" in prompt["text"] and prompt["text"].endswith(f"#vet{VET}")
    assert bot.services.vets.vets[VET].status == VetStatus.APPLIED  # nothing decided yet

    def reply(user_id, text):
        update = bot.updates.message(text, user_id=user_id, reply_to_message=prompt)
        update["message"]["chat"] = prompt["chat"]  # in the ops group
        return update

    refused = await deliver(bot, reply(OTHER, "не нравится"))
    assert "только сотрудники проверки" in refused[0]
    assert bot.services.vets.vets[VET].status == VetStatus.APPLIED
    done = await deliver(bot, reply(OPS, "Диплом нечитаем, пришлите скан"))
    assert "отклонена" in done[0]
    vet = bot.services.vets.vets[VET]
    assert vet.status == VetStatus.REJECTED and vet.last_decision.reason == "Диплом нечитаем, пришлите скан"
    assert "Диплом нечитаем" in bot.double.messages(VET)[-1]["text"]
    again = await bot.say("/vet", VET)
    assert "Диплом нечитаем" in again[0] and "Подать заявку снова" in bot.last_buttons(VET)
    await bot.press("va:a", VET)
    assert not bot.services.photos.objects  # the old application's photos are gone
    await bot.say("Анна Петрова", VET)
    assert bot.services.owners.owners[VET].dialog.step == "vt_city"


async def test_a_reply_to_some_other_bot_message_is_no_reason(bot):
    await apply(bot)
    update = bot.updates.message("отклонить", user_id=OPS, reply_to_message=ops_messages(bot)[0])
    update["message"]["chat"] = ops_messages(bot)[0]["chat"]
    await deliver(bot, update)
    assert bot.services.vets.vets[VET].status == VetStatus.APPLIED


# ---- hours ---------------------------------------------------------------------------------------

async def verified(bot: BotHarness) -> None:
    await apply(bot)
    await deliver(bot, ops_press(bot, f"vo:a:{VET}"))


async def test_schedule_and_pause_answer_others_clearly(bot):
    await bot.onboard(OTHER)
    assert "для ветеринаров" in (await bot.say("/schedule", OTHER))[0]
    assert "для ветеринаров" in (await bot.say("/pause", OTHER))[0]
    assert "для ветеринаров" in (await bot.press("vs:d:0", OTHER))[0]
    await apply(bot)
    assert "на проверке" in (await bot.say("/schedule", VET))[0]


async def test_schedule_editing_with_bad_input_and_publishing(bot):
    await verified(bot)
    shown = await bot.say("/schedule", VET)
    assert "Понедельник: выходной" in shown[0] and "Ближайших записей нет" in shown[0]
    await bot.press("vs:d:0", VET)
    assert "пересекаются" in (await bot.say("09:00-13:00, 12:00-15:00", VET))[0]
    assert "конец раньше начала" in (await bot.say("18:00-09:00", VET))[0]
    assert "Понедельник" in (await bot.say("18:00-09:00", VET))[0]  # the weekday named, not its number
    assert "кратно 15" in (await bot.say("09:10-12:00", VET))[0]
    assert bot.services.vets.vets[VET].status == VetStatus.VERIFIED  # nothing saved
    published = await bot.say("09:00-13:00, 14:00-18:00", VET)
    assert "Часы опубликованы" in published[0] and "Понедельник: 09:00-13:00, 14:00-18:00" in published[0]
    vet = bot.services.vets.vets[VET]
    assert vet.status == VetStatus.ACTIVE and vet.bookable
    assert [v.id for v in await vet_service.bookable(bot.services.vets, vet.species[0])] == [VET]
    # a slot too long for a stretch
    await bot.press("vs:d:1", VET)
    await bot.say("10:00-10:30", VET)
    await bot.press("vs:l", VET)
    assert "не помещается" in (await bot.press("vs:l:45", VET))[-1]
    assert bot.services.vets.vets[VET].schedule.slot_minutes == 30
    await bot.press("vs:b:15", VET)
    # a date off, notice, horizon, cap
    await bot.press("vs:o", VET)
    assert "уже прошла" in (await bot.say("01.01.2020", VET))[0]
    await bot.say("31.12", VET)
    await bot.say("выходной", VET)
    await bot.press("vs:n", VET)
    assert "число часов" in (await bot.say("много", VET))[0]
    await bot.say("0,5", VET)
    await bot.press("vs:h", VET)
    assert "не дальше чем на 60" in (await bot.say("90", VET))[0]
    await bot.say("21", VET)
    await bot.press("vs:c", VET)
    shown = await bot.say("6", VET)
    assert "31.12.2026: выходной" in shown[0] and "лимит в день: 6" in shown[0] and "0,5 ч" in shown[0]
    schedule = bot.services.vets.vets[VET].schedule
    assert (schedule.buffer_minutes, schedule.min_notice, schedule.horizon_days, schedule.daily_cap) == (
        15, timedelta(minutes=30), 21, 6)
    assert bot.services.owners.owners[VET].dialog is None


async def test_pause_and_resume(bot):
    await verified(bot)
    assert "ещё не открыта" in (await bot.say("/pause", VET))[0]
    await bot.press("vs:d:0", VET)
    await bot.say("09:00-18:00", VET)
    assert "приостановлена" in (await bot.say("/pause", VET))[0]
    vet = bot.services.vets.vets[VET]
    assert vet.status == VetStatus.PAUSED and not vet.bookable and vet.schedule is not None
    assert await vet_service.bookable(bot.services.vets, vet.species[0]) == []
    assert "уже приостановлена" in (await bot.say("/pause", VET))[0]
    assert "снова открыта" in (await bot.press("vs:r", VET))[0]
    assert bot.services.vets.vets[VET].status == VetStatus.ACTIVE


# ---- erasure -----------------------------------------------------------------------------------

async def test_privacy_erases_the_vet_documents_and_portrait(bot):
    await verified(bot)
    assert bot.services.photos.objects
    await bot.say("/privacy", VET)
    await bot.press("privacy:forget", VET)
    await bot.press("privacy:forget_yes", VET)
    assert VET not in bot.services.vets.vets and VET not in bot.services.owners.owners
    assert bot.services.photos.objects == {}


async def test_an_abandoned_applications_photos_go_with_erasure_too(bot):
    await bot.onboard(VET)
    for text in ("/vet", "Анна", "Казань", "КГАВМ"):
        await bot.say(text, VET)
    await send_photo(bot, VET, jpeg())
    await bot.say("/cancel", VET)
    assert bot.services.photos.objects
    await bot.press("privacy:forget_yes", VET)
    assert bot.services.photos.objects == {}


async def test_an_erasure_that_fails_midway_is_finished_by_pressing_again(bot):
    """The owner's record goes first; a Storage failure after it left the documents with no way to erase
    them (the person, without a record, was asked to consent again). Now the person is told and given the
    button again, which works without a record."""
    await verified(bot)
    photos = bot.services.photos
    delete_prefix = photos.delete_prefix

    async def down_once(prefix):
        photos.delete_prefix = delete_prefix
        raise OSError("storage down")

    photos.delete_prefix = down_once
    await bot.say("/privacy", VET)
    await bot.press("privacy:forget", VET)
    said = await bot.press("privacy:forget_yes", VET)
    assert "ещё раз" in said[-1] and photos.objects and VET not in bot.services.owners.owners
    assert "privacy:forget_yes" in str(bot.double.calls()[-1]["params"].get("reply_markup"))
    assert "удалены" in (await bot.press("privacy:forget_yes", VET))[-1]
    assert photos.objects == {} and VET not in bot.services.vets.vets and VET not in bot.services.owners.owners


async def test_confirming_erasure_without_a_record_erases_nothing_and_creates_nothing(bot):
    assert "удалены" in (await bot.press("privacy:forget_yes", VET))[-1]
    assert VET not in bot.services.owners.owners


async def test_schedule_lists_the_next_bookings_in_the_vets_zone(bot):
    import dataclasses
    from datetime import datetime, timezone

    from shared.domain.slots import Busy

    class Calendar:
        async def calendar(self, vet_id):
            assert vet_id == VET
            at = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)  # 09:00 in Moscow
            return [Busy(at, at + timedelta(minutes=30)),
                    Busy(at + timedelta(hours=1), at + timedelta(hours=1, minutes=30),
                         expires_at=at),  # a hold: not a booking
                    Busy(at - timedelta(days=2), at - timedelta(days=2, minutes=-30))]  # past

    await verified(bot)
    bot.app.bot_data["services"] = dataclasses.replace(bot.services, bookings=Calendar())
    shown = await bot.say("/schedule", VET)
    assert "Ближайшие записи:\n25.11 09:00" in shown[0] and "10:00" not in shown[0]


async def test_the_price_bounds_are_the_deployments(bot):
    """VET_PRICE_MIN/MAX (PaymentsConfig.vet_price_bounds): the question names them, a price inside the
    default bounds but outside these is refused, one above the default maximum but inside them is taken."""
    from dataclasses import replace

    from shared.config import payment_settings
    from shared.services.payments import PaymentsConfig

    settings = payment_settings({"VET_PRICE_MIN": "2000000", "VET_PRICE_MAX": "3000000"})
    bot.services = replace(bot.services, payments=PaymentsConfig(
        vet_price_bounds=(settings["vet_price_min"], settings["vet_price_max"])))
    bot.app.bot_data["services"] = bot.services
    await apply(bot, price="1500")
    assert bot.services.vets.vets.get(VET) is None
    texts = [m.get("text", "") for m in bot.double.messages(VET)]
    assert any("от 20000 до 30000 ₽" in x for x in texts)                   # asked
    assert any("Цена — целое число рублей от 20000 до 30000." in x for x in texts)   # 1500 refused
    await bot.say("25000", VET)
    await bot.press("va:z:1", VET)
    await bot.press("va:s", VET)
    assert bot.services.vets.vets[VET].price_kopecks == 25000_00


@pytest.mark.parametrize("env", [{"VET_PRICE_MIN": "300000", "VET_PRICE_MAX": "200000"},
                                 {"VET_PRICE_MIN": "50050"}, {"VET_PRICE_MAX": "lots"}])
def test_price_bounds_that_make_no_sense_fail_the_start(env):
    from shared.config import payment_settings

    with pytest.raises(RuntimeError, match="VET_PRICE_M"):
        payment_settings(env)

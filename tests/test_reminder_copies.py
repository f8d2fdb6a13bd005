"""Reminders carry the pet's name and the owner's language, so the job sends them without reading the
pet or the owner; renaming the pet or changing the language must reach reminders already scheduled."""
import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.bot.reminder_messages import ReminderSender
from shared.services import reminders as reminder_service
from tests.bot_harness import NOW, TOKEN, BotHarness

ANNA = 3101


@pytest.fixture
async def bot():
    with BotApiDouble(TOKEN) as double:
        harness = BotHarness(double)
        yield harness
        await harness.app.shutdown()


async def _pet_with_reminders(bot: BotHarness) -> str:
    await bot.onboard(ANNA)
    pet_id = await bot.add_pet(ANNA, species="dog", name="Шарик", weight="12")
    await bot.press(f"dy:a:{pet_id}", ANNA)
    await bot.press("dyk:vaccine", ANNA)
    await bot.say("Нобивак", ANNA)
    await bot.press("dyd:g:today", ANNA)
    await bot.press("dyd:n:30", ANNA)
    assert len(await bot.services.reminders.active_for_owner(ANNA)) == 2
    return pet_id


async def _job_texts(bot: BotHarness) -> list[str]:
    seq = bot._seq()
    later = NOW.replace(year=NOW.year + 1)
    await reminder_service.due_reminders(bot.services.reminders, ReminderSender(bot.app.bot), later)
    return [c["params"]["text"] for c in bot.double.calls("sendMessage", since=seq)]


async def test_a_renamed_pet_is_reminded_under_its_new_name(bot):
    pet_id = await _pet_with_reminders(bot)
    await bot.press(f"pet:ef:{pet_id}:name", ANNA)
    assert any("Бобик" in text for text in await bot.say("Бобик", ANNA))
    assert {r.pet_name for r in await bot.services.reminders.active_for_owner(ANNA)} == {"Бобик"}
    texts = await _job_texts(bot)
    assert len(texts) == 2 and all("Бобик" in text and "Шарик" not in text for text in texts)


async def test_reminders_follow_the_owners_new_language(bot):
    await _pet_with_reminders(bot)
    await bot.say("/language", ANNA)
    await bot.press("lang:en", ANNA)
    assert {r.language for r in await bot.services.reminders.active_for_owner(ANNA)} == {"en"}
    texts = await _job_texts(bot)
    assert len(texts) == 2 and all("Шарик" in text and "прививк" not in text.lower() for text in texts)

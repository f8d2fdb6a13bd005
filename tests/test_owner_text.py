"""Owner text that nobody can see, or that turns the bot's messages around (a direction override), is
refused with a clear reply wherever it is typed: pet names and breeds, diary products and notes, free
meal names. One domain helper (domain.pets.visible_text) decides for all of them."""
import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.domain import diary, nutrition
from shared.domain.pets import InvalidInput, parse_breed, parse_name, visible_text
from shared.i18n import t
from tests.bot_harness import TOKEN, BotHarness

ANNA = 3003

INVISIBLE = [
    "\u200b", "\u200b\u200c\u200d",          # zero-width space, non-joiner, joiner
    "\u2060\ufeff", "\u00ad\u061c",          # word joiner, BOM; soft hyphen, Arabic letter mark
    "\u200e\u200f", "\u3000\u200b",          # LRM and RLM alone; an ideographic space and a zero-width one
    "\u3164", "\u115f\u1160", "\u2800",      # Hangul fillers, the blank Braille pattern
    "\ufe0f", "\u034f", "\U000e0041\U000e007f", "\u180e",  # a variation selector, CGJ, tags, Mongolian VS
]
OVERRIDES = ["\u202eакрум", "Мур\u202dка", "\u202aRex", "\u202bRex\u202c", "\u2066Rex\u2069", "Rex\u2067",
             "\u2068Rex"]
VISIBLE = ["Мурка", "Rex", "🐱", "👩\u200d🚀", "❤\ufe0f", "שלום", "مرحبا", "a\u200bb", "Мурка\u200e", "e\u0301", "7"]

PARSERS = {
    "name": parse_name,
    "breed": parse_breed,
    "product": diary.parse_product,
    "notes": diary.parse_notes,
    "meal": lambda text: nutrition.parse_free_meal(f"{text} 190 50")[0],
}


@pytest.mark.parametrize("field", PARSERS)
@pytest.mark.parametrize("text, code", [(text, "err.text_invisible") for text in INVISIBLE] +
                         [(text, "err.text_direction") for text in OVERRIDES])
def test_invisible_text_and_direction_overrides_are_refused_everywhere(field, text, code):
    with pytest.raises(InvalidInput) as err:
        PARSERS[field](text)
    assert err.value.code == code


@pytest.mark.parametrize("field", PARSERS)
@pytest.mark.parametrize("text", VISIBLE)
def test_visible_text_in_any_script_passes(field, text):
    assert PARSERS[field](text) == text
    assert visible_text(text) == text


def test_the_replies_say_what_is_wrong_in_both_languages():
    for code in ("err.text_invisible", "err.text_direction"):
        ru, en = t("ru", code), t("en", code)
        assert ru != code and en != code and ru != en
    assert "невидим" in t("ru", "err.text_invisible") and "направление" in t("ru", "err.text_direction")


# ---- through the bot ----------------------------------------------------------------------------

@pytest.fixture
async def bot():
    with BotApiDouble(TOKEN) as double:
        harness = BotHarness(double)
        await harness.onboard(ANNA)
        yield harness
        await harness.app.shutdown()


async def test_a_pet_named_with_invisible_characters_is_refused_and_asked_again(bot):
    await bot.press("pet:add", ANNA)
    await bot.press("f:species:cat", ANNA)
    assert await bot.say("\u200b\u200b", ANNA) == [t("ru", "err.text_invisible"), t("ru", "ask.name", name="")]
    assert (await bot.say("\u202eакрум", ANNA))[0] == t("ru", "err.text_direction")
    dialog = bot.services.owners.owners[ANNA].dialog
    assert (dialog.step, "name" in dialog.draft) == ("name", False)
    await bot.say("Мурка", ANNA)
    assert bot.services.owners.owners[ANNA].dialog.step == "breed"
    assert (await bot.say("\u2066Британская\u2069", ANNA))[0] == t("ru", "err.text_direction")
    assert bot.services.owners.owners[ANNA].dialog.step == "breed"


async def test_renaming_a_pet_to_nothing_visible_changes_nothing(bot):
    pet_id = await bot.add_pet(ANNA)
    await bot.press(f"pet:ef:{pet_id}:name", ANNA)
    assert (await bot.say("\u3164", ANNA))[0] == t("ru", "err.text_invisible")
    assert (await bot.services.pets.get(ANNA, pet_id)).name == "Мурка"


async def test_diary_products_notes_and_meals_nobody_can_read_are_refused(bot):
    pet_id = await bot.add_pet(ANNA)
    await bot.press(f"dy:a:{pet_id}", ANNA)
    await bot.press("dyk:vaccine", ANNA)
    assert await bot.say("\u200b", ANNA) == [t("ru", "err.text_invisible")]
    assert await bot.say("Нобивак\u202e", ANNA) == [t("ru", "err.text_direction")]
    await bot.say("/cancel", ANNA)
    await bot.press(f"dy:m:{pet_id}", ANNA)
    for data in ("dyd:m:30", "dyd:o:4", "dyd:p:4"):
        await bot.press(data, ANNA)
    assert await bot.say("\u2060 \u200d", ANNA) == [t("ru", "err.text_invisible")]
    await bot.say("/cancel", ANNA)
    await bot.press(f"dy:f:{pet_id}", ANNA)
    await bot.press("dyf:free", ANNA)
    assert await bot.say("\u2067курица 190 50", ANNA) == [t("ru", "err.text_direction")]
    diary_ = bot.services.diary
    assert not any([*diary_.treatments_by.values(), *diary_.activity_by.values(), *diary_.meals_by.values()])

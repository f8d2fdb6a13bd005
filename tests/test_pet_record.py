"""Every value accepted in the pet dialog is checked against the whole record as it will be saved, in
edits too: a species that the weight or the age already on the card rules out, a weight checked against
a species changed meanwhile. An invalid change gets a clear reply and changes nothing."""
from datetime import date

import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.bot import render
from shared.domain import pet_form
from shared.domain.pets import WEIGHT_RANGE_KG, InvalidInput, Pet, Species, check_pet
from shared.i18n import t
from tests.bot_harness import NOW, TOKEN, BotHarness

TODAY = NOW.date()
ANNA = 4004


def _code(call) -> str:
    with pytest.raises(InvalidInput) as err:
        call()
    return err.value.code


def test_a_species_that_the_weight_or_the_age_rules_out_is_refused():
    dog = Pet("p", 1, Species.DOG, "Шарик", weight_kg=30.0, birth_date=date(1998, 1, 1))
    assert check_pet(dog, TODAY) == dog
    assert _code(lambda: check_pet(dog.with_changes(species=Species.CAT), TODAY)) == "err.record_weight_species"
    assert _code(lambda: check_pet(dog.with_changes(species=Species.RODENT), TODAY)) == "err.record_age_species"
    assert _code(lambda: check_pet(dog.with_changes(weight_kg=130.0), TODAY)) == "err.record_weight_species"
    assert _code(lambda: check_pet(dog.with_changes(birth_date=date(2027, 1, 1)), TODAY)) == "err.date_in_future"
    assert _code(lambda: check_pet(dog.with_changes(name="\u200b"), TODAY)) == "err.text_invisible"
    assert _code(lambda: check_pet(dog.with_changes(breed="\u202eхаски"), TODAY)) == "err.text_direction"
    assert _code(lambda: check_pet(dog.with_changes(name="x" * 41), TODAY)) == "err.name_too_long"
    with pytest.raises(InvalidInput) as err:
        check_pet(dog.with_changes(species=Species.CAT), TODAY)
    assert err.value.params == {"weight": 30.0, "low": 0.05, "high": 20.0}


def test_the_checked_record_is_what_adding_and_editing_build():
    draft = {"species": "dog", "name": "Шарик", "weight_kg": 30.0, "birth_date": "2020-05-01"}
    assert pet_form.checked_pet(7, draft, TODAY) == pet_form.pet_from_draft(7, draft)
    assert _code(lambda: pet_form.checked_pet(7, {**draft, "species": "cat"}, TODAY)) == "err.record_weight_species"
    # reading a stored record builds it as it is: a card saved before these checks still shows
    assert pet_form.pet_from_draft(7, {**draft, "species": "cat"}).weight_kg == 30.0


# ---- through the bot ----------------------------------------------------------------------------

@pytest.fixture
async def bot():
    with BotApiDouble(TOKEN) as double:
        harness = BotHarness(double)
        await harness.onboard(ANNA)
        yield harness
        await harness.app.shutdown()


async def _edit(bot, pet_id: str, field: str, answer: str) -> list[str]:
    await bot.press(f"pet:ef:{pet_id}:{field}", ANNA)
    if answer.startswith("f:"):
        return await bot.press(answer, ANNA)
    return await bot.say(answer, ANNA)


def _weight_refusal(kg: float, species: Species) -> str:
    low, high = WEIGHT_RANGE_KG[species]
    return t("ru", "err.record_weight_species", weight=render.number("ru", kg), low=render.number("ru", low),
             high=render.number("ru", high))


async def test_changing_the_species_of_a_30_kg_dog_to_cat_is_refused(bot):
    pet_id = await bot.add_pet(ANNA, species="dog", name="Шарик", weight="30")
    before = await bot.services.pets.get(ANNA, pet_id)
    replies = await _edit(bot, pet_id, "species", "f:species:cat")
    assert replies[0] == _weight_refusal(30.0, Species.CAT)
    assert "30 кг" in replies[0] and "0,05" in replies[0] and "20" in replies[0]
    assert await bot.services.pets.get(ANNA, pet_id) == before
    assert bot.services.owners.owners[ANNA].dialog.step == "species"  # asked again; /cancel leaves it


async def test_changing_the_species_of_an_old_dog_to_one_that_never_lives_so_long_is_refused(bot):
    pet_id = await bot.add_pet(ANNA, species="dog", name="Шарик", weight="30")
    old = (await bot.services.pets.get(ANNA, pet_id)).with_changes(birth_date=date(2000, 1, 1))
    await bot.services.pets.update(old)
    replies = await _edit(bot, pet_id, "species", "f:species:rodent")
    assert replies[0] == t("ru", "err.record_age_species", max=20)
    assert await bot.services.pets.get(ANNA, pet_id) == old


async def test_a_weight_is_checked_against_the_species_on_the_card_not_the_one_the_dialog_began_with(bot):
    pet_id = await bot.add_pet(ANNA, species="dog", name="Шарик", weight="4")
    await bot.press(f"pet:ef:{pet_id}:weight_kg", ANNA)  # the dialog's draft says "dog" (up to 120 kg)
    cat = (await bot.services.pets.get(ANNA, pet_id)).with_changes(species=Species.CAT)
    await bot.services.pets.update(cat)  # meanwhile, from another chat: now a cat (up to 20 kg)
    replies = await bot.say("30", ANNA)
    assert replies[0] == _weight_refusal(30.0, Species.CAT)
    assert await bot.services.pets.get(ANNA, pet_id) == cat


async def test_editing_the_birth_date_checks_the_weight_already_on_the_card(bot):
    pet_id = await bot.add_pet(ANNA, species="dog", name="Шарик", weight="30")
    # a card saved before records were checked whole: a 30 kg cat
    legacy = (await bot.services.pets.get(ANNA, pet_id)).with_changes(species=Species.CAT)
    await bot.services.pets.update(legacy)
    replies = await _edit(bot, pet_id, "birth_date", "2")
    assert replies[0] == _weight_refusal(30.0, Species.CAT)
    assert await bot.services.pets.get(ANNA, pet_id) == legacy
    # fixing the weight first is accepted, then the birth date
    assert "Сохранено" in (await _edit(bot, pet_id, "weight_kg", "4,5"))[0]
    assert "Сохранено" in (await _edit(bot, pet_id, "birth_date", "2"))[0]
    assert (await bot.services.pets.get(ANNA, pet_id)).weight_kg == 4.5


async def test_a_change_that_fits_the_record_is_saved(bot):
    pet_id = await bot.add_pet(ANNA, species="cat", name="Мурка", weight="4,2")
    assert "Сохранено" in (await _edit(bot, pet_id, "species", "f:species:dog"))[0]
    assert (await bot.services.pets.get(ANNA, pet_id)).species == Species.DOG
    assert bot.services.owners.owners[ANNA].dialog is None

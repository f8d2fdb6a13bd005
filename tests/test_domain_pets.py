from datetime import date

import pytest

from shared.domain import pet_form
from shared.domain.owners import language_for
from shared.domain.pets import InvalidInput, Species, parse_birth_date, parse_name, parse_weight

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("text, species, kg", [
    ("4.2", Species.CAT, 4.2), ("4,2", Species.CAT, 4.2), ("4,2 кг", Species.CAT, 4.2),
    ("350 г", Species.RODENT, 0.35), ("30 kg", Species.DOG, 30.0), ("0.03", Species.BIRD, 0.03),
])
def test_weight_accepts_owner_spellings(text, species, kg):
    assert parse_weight(text, species) == kg


@pytest.mark.parametrize("text, species, code", [
    ("abc", Species.CAT, "err.weight_not_number"),
    ("-3", Species.CAT, "err.weight_not_positive"),
    ("0", Species.DOG, "err.weight_not_positive"),
    ("4200", Species.CAT, "err.weight_out_of_range"),
    ("90", Species.CAT, "err.weight_out_of_range"),
    ("4.2 lbs", Species.CAT, "err.weight_not_number"),
    ("", Species.CAT, "err.weight_not_number"),
])
def test_weight_rejects_what_no_pet_weighs(text, species, code):
    with pytest.raises(InvalidInput) as err:
        parse_weight(text, species)
    assert err.value.code == code


def test_name_is_cleaned_and_bounded():
    assert parse_name("  Мурка\n ") == "Мурка"
    with pytest.raises(InvalidInput, match="err.name_too_long"):
        parse_name("x" * 500)
    with pytest.raises(InvalidInput, match="err.name_empty"):
        parse_name(" \t ")


@pytest.mark.parametrize("text, expected, approximate", [
    ("01.02.2020", date(2020, 2, 1), False),
    ("2020-02-01", date(2020, 2, 1), False),
    ("3 года", date(2023, 11, 24), True),
    ("3", date(2023, 11, 24), True),
    ("6 мес", date(2026, 5, 25), True),
    ("8 months", date(2026, 3, 27), True),
])
def test_birth_date_from_date_or_age(text, expected, approximate):
    born, approx = parse_birth_date(text, Species.DOG, TODAY)
    assert approx is approximate
    assert abs((born - expected).days) <= 2


@pytest.mark.parametrize("text, species, code", [
    ("01.01.2027", Species.CAT, "err.date_in_future"),
    ("31.02.2020", Species.CAT, "err.date_invalid"),
    ("01.01.1900", Species.CAT, "err.age_too_old"),
    ("50 лет", Species.DOG, "err.age_too_old"),
    ("вчера", Species.DOG, "err.date_invalid"),
])
def test_birth_date_rejects_impossible_dates(text, species, code):
    with pytest.raises(InvalidInput) as err:
        parse_birth_date(text, species, TODAY)
    assert err.value.code == code


def test_a_parrot_may_be_older_than_any_cat():
    born, _ = parse_birth_date("60 лет", Species.BIRD, TODAY)
    assert born.year == 1966


def test_form_walks_every_step_then_builds_the_pet():
    draft, step = {}, pet_form.ADD_STEPS[0]
    answers = {"species": ("choice", "dog"), "name": ("text", "Шарик"), "breed": ("skip", None),
               "sex": ("choice", "male"), "birth_date": ("text", "2 года"), "weight_kg": ("text", "12,5"),
               "neutered": ("choice", "no")}
    while step:
        kind, value = answers[step]
        if kind == "choice":
            draft.update(pet_form.answer_choice(step, value))
        elif kind == "skip":
            draft.update(pet_form.skip(step))
        else:
            draft.update(pet_form.answer_text(step, value, draft, TODAY))
        step = pet_form.next_step(step)
    pet = pet_form.pet_from_draft(7, draft)
    assert (pet.name, pet.species, pet.weight_kg, pet.breed, pet.owner_id) == ("Шарик", Species.DOG, 12.5, None, 7)
    assert pet.birth_date_approximate


def test_choice_fields_refuse_typed_text_and_forged_values():
    with pytest.raises(InvalidInput, match="err.use_buttons"):
        pet_form.answer_text("species", "кот", {}, TODAY)
    with pytest.raises(InvalidInput, match="err.use_buttons"):
        pet_form.answer_choice("species", "dragon")
    with pytest.raises(InvalidInput, match="err.use_buttons"):
        pet_form.skip("name")


@pytest.mark.parametrize("code, language", [("ru", "ru"), ("en-US", "en"), ("kk", "ru"), ("uk", "ru"),
                                            ("de", "en"), (None, "en")])
def test_language_from_telegram_client(code, language):
    assert language_for(code) == language

"""Units: due-date rules, energy requirement, weight warnings, input validation."""
from datetime import date, timedelta

import pytest

from shared.domain import diary as d
from shared.domain import nutrition as n
from shared.domain.diary import Kind, Treatment, WeightEntry
from shared.domain.pets import InvalidInput, Neutered, Pet, Species

TODAY = date(2026, 11, 24)


def pet(species=Species.CAT, born=None, neutered=Neutered.YES):
    return Pet(id="p1", owner_id=1, species=species, name="Мурка", birth_date=born, neutered=neutered)


# ---- due dates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("species,kind,days", [
    (Species.CAT, Kind.VACCINE, 365), (Species.DOG, Kind.VACCINE, 365),
    (Species.CAT, Kind.DEWORMING, 90), (Species.DOG, Kind.FLEA_TICK, 30),
    (Species.RODENT, Kind.VACCINE, 365), (Species.BIRD, Kind.DEWORMING, 180),
])
def test_next_due_is_proposed_from_the_interval_table(species, kind, days):
    assert d.propose_next_due(species, kind, TODAY) == TODAY + timedelta(days=days)


@pytest.mark.parametrize("species,kind", [(Species.BIRD, Kind.VACCINE), (Species.REPTILE, Kind.FLEA_TICK),
                                          (Species.OTHER, Kind.DEWORMING)])
def test_no_standard_interval_proposes_nothing(species, kind):
    assert d.propose_next_due(species, kind, TODAY) is None


def test_due_status_overdue_due_planned_and_closed():
    tr = Treatment("t", Kind.VACCINE, "Nobivac", TODAY - timedelta(days=400), TODAY - timedelta(days=35))
    assert d.due_status(tr, TODAY) == d.DueStatus.OVERDUE
    assert d.due_status(tr.with_changes(next_due=TODAY + timedelta(days=3)), TODAY) == d.DueStatus.DUE
    assert d.due_status(tr.with_changes(next_due=TODAY), TODAY) == d.DueStatus.DUE
    assert d.due_status(tr.with_changes(next_due=TODAY + timedelta(days=60)), TODAY) == d.DueStatus.PLANNED
    assert d.due_status(tr.with_changes(reminders_off=True), TODAY) == d.DueStatus.NONE
    assert d.due_status(tr.with_changes(followed_by="x"), TODAY) == d.DueStatus.NONE


def test_current_treatments_keep_the_latest_dose_per_product():
    old = Treatment("a", Kind.VACCINE, "Nobivac", date(2025, 1, 1), date(2026, 1, 1))
    new = Treatment("b", Kind.VACCINE, "nobivac", date(2026, 1, 2), date(2027, 1, 2))
    other = Treatment("c", Kind.DEWORMING, "Milbemax", date(2026, 10, 1), date(2026, 12, 30))
    assert [t.id for t in d.current_treatments([new, old, other])] == ["c", "b"]


# ---- dates, notes, products ---------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("24.11.2026", date(2026, 11, 24)), ("1.2.2026", date(2026, 2, 1)), ("2026-03-05", date(2026, 3, 5)),
    ("05.03", date(2026, 3, 5)), ("сегодня", TODAY), ("вчера", TODAY - timedelta(days=1)), ("Today", TODAY),
    ("01.10.26", date(2026, 10, 1)),
])
def test_parse_date(text, expected):
    assert d.parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["31.02.2026", "завтра бы", "", "2026/13/01"])
def test_parse_date_refuses_nonsense(text):
    with pytest.raises(InvalidInput):
        d.parse_date(text, TODAY)


def test_a_date_in_1900_or_next_year_is_not_a_past_event():
    with pytest.raises(InvalidInput) as err:
        d.check_past_date(d.parse_date("01.01.1900", TODAY), TODAY)
    assert err.value.code == "diary.err.date_too_old"
    with pytest.raises(InvalidInput) as err:
        d.check_past_date(date(TODAY.year + 1, 1, 10), TODAY)
    assert err.value.code == "diary.err.date_future"
    assert d.check_past_date(TODAY, TODAY) == TODAY


def test_due_date_must_follow_the_dose_and_stay_near():
    with pytest.raises(InvalidInput):
        d.check_due_date(TODAY, TODAY, TODAY)
    with pytest.raises(InvalidInput):
        d.check_due_date(date(2040, 1, 1), TODAY, TODAY)
    assert d.check_due_date(TODAY + timedelta(days=365), TODAY, TODAY)


def test_notes_of_ten_thousand_characters_are_refused():
    with pytest.raises(InvalidInput) as err:
        d.parse_notes("а" * 10_000)
    assert err.value.code == "diary.err.notes_too_long" and err.value.params["max"] == d.NOTES_MAX_LEN
    assert d.parse_notes("  ел хорошо\nгулял  ") == "ел хорошо\nгулял"


def test_product_is_cleaned_and_bounded():
    assert d.parse_product("  Nobivac\tTricat ") == "Nobivac Tricat"
    with pytest.raises(InvalidInput):
        d.parse_product("x" * 61)
    with pytest.raises(InvalidInput):
        d.parse_product("   ")


# ---- weights ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,kg", [("4.2", 4.2), ("4,2", 4.2), ("4,2 кг", 4.2), ("350 г", 0.35)])
def test_weight_parsing_accepts_russian_commas(text, kg):
    assert d.parse_diary_weight(text, Species.CAT) == kg


@pytest.mark.parametrize("text,code", [("-3 kg", "err.weight_not_positive"), ("0", "err.weight_not_positive"),
                                       ("4200", "err.weight_out_of_range"), ("четыре", "err.weight_not_number")])
def test_weight_parsing_refuses_bad_input(text, code):
    with pytest.raises(InvalidInput) as err:
        d.parse_diary_weight(text, Species.CAT)
    assert err.value.code == code


def w(days_ago, kg, id_=None):
    return WeightEntry(id_ or f"w{days_ago}", TODAY - timedelta(days=days_ago), kg)


def test_weight_warning_for_more_than_ten_percent_in_thirty_days():
    warning = d.weight_warning([w(20, 5.0), w(10, 4.8)], w(0, 4.4, "new"))
    assert warning is not None and warning.since == TODAY - timedelta(days=20)
    assert warning.change == pytest.approx(-0.12) and warning.from_kg == 5.0
    assert d.weight_warning([w(20, 4.0)], w(0, 4.5, "new")).change == pytest.approx(0.125)


def test_no_weight_warning_for_small_or_old_changes():
    assert d.weight_warning([w(20, 5.0)], w(0, 4.6, "new")) is None          # -8 %
    assert d.weight_warning([w(45, 6.0), w(29, 4.7)], w(0, 4.5, "new")) is None  # the 6 kg is older than 30 days
    assert d.weight_warning([], w(0, 4.5, "new")) is None


# ---- energy requirement -------------------------------------------------------------------------

def test_rer_formula():
    assert n.rer(10) == pytest.approx(70 * 10 ** 0.75)
    assert n.rer(1) == 70


@pytest.mark.parametrize("species,age_days,neutered,factor,basis", [
    (Species.DOG, 60, Neutered.NO, 3.0, "puppy_young"),
    (Species.DOG, 200, Neutered.NO, 2.0, "puppy"),
    (Species.DOG, 3 * 365, Neutered.NO, 1.8, "adult_intact"),
    (Species.DOG, 3 * 365, Neutered.YES, 1.6, "adult_neutered"),
    (Species.DOG, 3 * 365, Neutered.UNKNOWN, 1.6, "adult_neutered"),
    (Species.DOG, 9 * 365, Neutered.YES, 1.4, "senior"),
    (Species.CAT, 100, Neutered.NO, 2.5, "kitten"),
    (Species.CAT, 4 * 365, Neutered.NO, 1.4, "adult_intact"),
    (Species.CAT, 4 * 365, Neutered.YES, 1.2, "adult_neutered"),
    (Species.CAT, 12 * 365, Neutered.YES, 1.1, "senior"),
])
def test_energy_requirement_multipliers(species, age_days, neutered, factor, basis):
    req = n.energy_requirement(pet(species, TODAY - timedelta(days=age_days), neutered), 4.0, TODAY)
    assert (req.factor, req.basis) == (factor, basis)
    assert req.kcal == pytest.approx(70 * 4.0 ** 0.75 * factor)


def test_neutered_adult_cat_of_4_kg_needs_about_240_kcal():
    req = n.energy_requirement(pet(Species.CAT, date(2020, 1, 1)), 4.0, TODAY)
    assert round(req.rer) == 198 and 235 < req.kcal < 240


def test_activity_changes_the_factor():
    dog = pet(Species.DOG, date(2022, 1, 1))
    assert n.energy_requirement(dog, 20, TODAY, n.Activity.HIGH).factor == 2.0
    assert n.energy_requirement(dog, 20, TODAY, n.Activity.LOW).factor == 1.3
    assert n.activity_from_minutes(Species.DOG, 150) == n.Activity.HIGH
    assert n.activity_from_minutes(Species.DOG, 10) == n.Activity.LOW
    assert n.activity_from_minutes(Species.DOG, None) == n.Activity.NORMAL


@pytest.mark.parametrize("species", [Species.BIRD, Species.RODENT, Species.REPTILE, Species.OTHER])
def test_exotic_species_have_no_standard_formula(species):
    assert n.energy_requirement(pet(species), 0.5, TODAY) is None
    assert not n.has_formula(species)


def test_unknown_weight_gives_no_number():
    assert n.energy_requirement(pet(), None, TODAY) is None


def test_food_database_is_sane():
    foods = n.foods()
    assert len(foods) >= 30
    assert all(1 <= f.kcal_per_100g <= 900 and f.names["ru"] and f.names["en"] for f in foods.values())
    assert n.foods_for(Species.CAT) and n.foods_for(Species.DOG)
    assert all("dog" in f.species for f in n.foods_for(Species.DOG))


def test_meal_inputs():
    assert n.parse_grams("50") == 50 and n.parse_grams("12,5 г") == 12.5
    for bad in ("-5", "0", "999999", "много"):
        with pytest.raises(InvalidInput):
            n.parse_grams(bad)
    assert n.parse_free_meal("курица варёная 190 80") == ("курица варёная", 190.0, 80.0)
    with pytest.raises(InvalidInput):
        n.parse_free_meal("курица 5000 80")

"""Units: dates shifted by whole years around 29 February (the helper and every domain rule using it)."""
from datetime import date

import pytest

from shared.domain import diary as d
from shared.domain import nutrition as n
from shared.domain import pets
from shared.domain.pets import InvalidInput, Neutered, Pet, Species, age_years, parse_birth_date

LEAP_DAY = date(2028, 2, 29)
EVE, AFTER = date(2028, 2, 28), date(2028, 3, 1)


# ---- the helper ---------------------------------------------------------------------------------

@pytest.mark.parametrize("day,years,expected", [
    (LEAP_DAY, 1, date(2029, 2, 28)), (LEAP_DAY, -1, date(2027, 2, 28)),   # leap -> common year
    (LEAP_DAY, 4, date(2032, 2, 29)), (LEAP_DAY, -4, date(2024, 2, 29)),   # leap -> leap year
    (LEAP_DAY, 5, date(2033, 2, 28)), (LEAP_DAY, -30, date(1998, 2, 28)),
    (LEAP_DAY, 0, LEAP_DAY),
    (EVE, 1, date(2029, 2, 28)), (EVE, -30, date(1998, 2, 28)), (EVE, 4, date(2032, 2, 28)),
    (AFTER, 1, date(2029, 3, 1)), (AFTER, -30, date(1998, 3, 1)), (AFTER, 4, date(2032, 3, 1)),
    (date(2027, 2, 28), 1, EVE), (date(2027, 3, 1), 1, AFTER),             # common -> leap year
])
def test_shift_years_keeps_the_calendar_day_and_turns_29_february_into_28(day, years, expected):
    assert pets.shift_years(day, years) == expected


def test_shift_years_keeps_the_order_of_days():
    shifted = [pets.shift_years(day, -1) for day in (EVE, LEAP_DAY, AFTER)]
    assert shifted == sorted(shifted) == [date(2027, 2, 28), date(2027, 2, 28), date(2027, 3, 1)]


# ---- how far back and ahead the diary accepts dates ---------------------------------------------

@pytest.mark.parametrize("today,oldest", [
    (LEAP_DAY, date(1998, 2, 28)), (EVE, date(1998, 2, 28)), (AFTER, date(1998, 3, 1)),
])
def test_past_dates_on_and_around_29_february(today, oldest):
    assert d.check_past_date(today, today) == today
    assert d.check_past_date(oldest, today) == oldest
    with pytest.raises(InvalidInput) as err:
        d.check_past_date(date.fromordinal(oldest.toordinal() - 1), today)
    assert err.value.code == "diary.err.date_too_old"


@pytest.mark.parametrize("today,furthest", [
    (LEAP_DAY, date(2033, 2, 28)), (EVE, date(2033, 2, 28)), (AFTER, date(2033, 3, 1)),
])
def test_due_dates_on_and_around_29_february(today, furthest):
    assert d.check_due_date(furthest, today, today) == furthest
    assert d.check_due_date(date(2029, 2, 28), today, today) == date(2029, 2, 28)
    with pytest.raises(InvalidInput) as err:
        d.check_due_date(date.fromordinal(furthest.toordinal() + 1), today, today)
    assert err.value.code == "diary.err.due_too_far"


def test_a_due_date_on_the_next_leap_day_is_accepted():
    assert d.check_due_date(date(2032, 2, 29), LEAP_DAY, LEAP_DAY) == date(2032, 2, 29)


# ---- birth dates and ages -----------------------------------------------------------------------

@pytest.mark.parametrize("today,text,born", [
    (LEAP_DAY, "1", date(2027, 2, 28)), (LEAP_DAY, "2 года", date(2026, 2, 28)),
    (LEAP_DAY, "3", date(2025, 2, 28)), (LEAP_DAY, "4 года", date(2024, 2, 29)),
    (EVE, "1 год", date(2027, 2, 28)), (EVE, "2", date(2026, 2, 28)), (EVE, "3 years", date(2025, 2, 28)),
    (AFTER, "1", date(2027, 3, 1)), (AFTER, "2 года", date(2026, 3, 1)), (AFTER, "3", date(2025, 3, 1)),
])
def test_an_age_in_years_is_the_same_calendar_day_that_many_years_ago(today, text, born):
    assert parse_birth_date(text, Species.CAT, today) == (born, True)
    assert int(age_years(born, today)) == int(text.split()[0])


def test_a_fractional_age_still_lands_about_half_a_year_back():
    born, approximate = parse_birth_date("1,5 года", Species.CAT, LEAP_DAY)
    assert approximate and date(2026, 8, 28) <= born <= date(2026, 9, 1)


@pytest.mark.parametrize("today", [LEAP_DAY, EVE, AFTER])
def test_a_birth_date_typed_on_the_day_is_today(today):
    assert parse_birth_date(today.strftime("%d.%m.%Y"), Species.DOG, today) == (today, False)


def test_29_february_of_a_common_year_is_not_a_birth_date():
    with pytest.raises(InvalidInput) as err:
        parse_birth_date("29.02.2027", Species.DOG, LEAP_DAY)
    assert err.value.code == "err.date_invalid"


@pytest.mark.parametrize("today,born", [
    (LEAP_DAY, date(1993, 2, 28)), (EVE, date(1993, 2, 28)), (AFTER, date(1993, 3, 1)),
])
def test_the_oldest_plausible_age_is_accepted_and_one_more_year_is_not(today, born):
    oldest = pets.MAX_AGE_YEARS[Species.CAT]
    assert (oldest, today.year - born.year) == (35, 35)
    assert parse_birth_date(str(oldest), Species.CAT, today) == (born, True)
    with pytest.raises(InvalidInput) as err:
        parse_birth_date(str(oldest + 1), Species.CAT, today)
    assert err.value.code == "err.age_too_old"


@pytest.mark.parametrize("born,today,whole_years", [
    (date(2024, 2, 29), date(2025, 2, 27), 0),
    (date(2024, 2, 29), date(2025, 2, 28), 1),   # the birthday of a leap-day pet in a common year
    (date(2024, 2, 29), EVE, 3),
    (date(2024, 2, 29), LEAP_DAY, 4),
    (date(2025, 2, 28), EVE, 3),                 # 1095 days: 2.998 "years" of 365.25 days
    (date(2025, 2, 28), LEAP_DAY, 3),
    (date(2025, 3, 1), LEAP_DAY, 2),
    (date(2025, 3, 1), AFTER, 3),
    (date(2020, 6, 15), date(2023, 6, 15), 3),   # any birthday, not only in February
    (LEAP_DAY, LEAP_DAY, 0),
])
def test_age_in_whole_years_follows_the_calendar(born, today, whole_years):
    age = age_years(born, today)
    assert int(age) == whole_years and whole_years <= age < whole_years + 1


def test_age_in_months_of_a_pet_born_on_the_day():
    assert age_years(LEAP_DAY, LEAP_DAY) == 0
    assert int(age_years(date(2027, 8, 29), LEAP_DAY) * 12) == 6


# ---- rules that depend on the age ---------------------------------------------------------------

@pytest.mark.parametrize("species,years,basis", [
    (Species.CAT, 1, "adult_neutered"),   # a kitten until its first birthday, not a day longer
    (Species.DOG, 1, "adult_neutered"),
    (Species.DOG, 7, "senior"),
    (Species.CAT, 11, "senior"),
])
@pytest.mark.parametrize("today", [LEAP_DAY, EVE, AFTER])
def test_life_stage_changes_on_the_birthday(today, species, years, basis):
    born = date(today.year - years, today.month, 28 if today == LEAP_DAY else today.day)  # all common years
    pet = Pet(id="p", owner_id=1, species=species, name="x", birth_date=born, neutered=Neutered.YES)
    assert n.energy_requirement(pet, 4.0, today).basis == basis

"""Pets and the rules for what an owner may say about them."""
from __future__ import annotations

import re
import unicodedata
from calendar import isleap
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum


class Species(str, Enum):
    CAT = "cat"
    DOG = "dog"
    BIRD = "bird"
    RODENT = "rodent"
    REPTILE = "reptile"
    OTHER = "other"


class Sex(str, Enum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class Neutered(str, Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


# Sane weight bounds in kg, wide enough for a canary or a mastiff, narrow enough to catch "4200" typed for 4.2.
WEIGHT_RANGE_KG: dict[Species, tuple[float, float]] = {
    Species.CAT: (0.05, 20.0),
    Species.DOG: (0.1, 120.0),
    Species.BIRD: (0.003, 25.0),
    Species.RODENT: (0.003, 80.0),
    Species.REPTILE: (0.001, 200.0),
    Species.OTHER: (0.001, 500.0),
}

# Oldest plausible age in years: parrots and tortoises outlive their owners.
MAX_AGE_YEARS: dict[Species, int] = {
    Species.CAT: 35,
    Species.DOG: 35,
    Species.BIRD: 100,
    Species.RODENT: 20,
    Species.REPTILE: 150,
    Species.OTHER: 150,
}

NAME_MAX_LEN = 40
BREED_MAX_LEN = 60

EDITABLE_FIELDS = ("name", "species", "breed", "sex", "birth_date", "weight_kg", "neutered")


class InvalidInput(ValueError):
    """An owner's answer that cannot be stored; `code` names the message to show."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Pet:
    id: str
    owner_id: int
    species: Species
    name: str
    breed: str | None = None
    sex: Sex = Sex.UNKNOWN
    birth_date: date | None = None
    birth_date_approximate: bool = False
    weight_kg: float | None = None
    neutered: Neutered = Neutered.UNKNOWN

    def with_changes(self, **changes) -> "Pet":
        return replace(self, **changes)


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _clean_text(text: str) -> str:
    return " ".join(_CONTROL_CHARS.sub(" ", text).split())


# Direction overrides and isolates (LRE..RLO, LRI..PDI): inside the bot's messages they make the text
# after them, the bot's own included, read backwards.
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INVISIBLE_CATEGORIES = {"Cf", "Cc", "Zs", "Zl", "Zp"}  # format (zero-width...), control, spaces
# Characters of other categories that show nothing: the combining grapheme joiner, variation selectors,
# Mongolian free variation selectors, Hangul fillers, the blank Braille pattern.
_BLANK = re.compile("[\u034f\ufe00-\ufe0f\U000e0100-\U000e01ef\u180b-\u180d\u180f"
                    "\u115f\u1160\u3164\uffa0\u2800]")


def visible_text(text: str) -> str:
    """Owner text that is shown to people (names, breeds, products, notes, meals), returned as it is, or
    InvalidInput: err.text_direction if it carries a direction override, err.text_invisible if nothing
    in it can be seen (only zero-width, format, control or space characters)."""
    if _DIRECTION_CONTROLS.search(text):
        raise InvalidInput("err.text_direction")
    if all(unicodedata.category(c) in _INVISIBLE_CATEGORIES or _BLANK.match(c) for c in text):
        raise InvalidInput("err.text_invisible")
    return text


def _bounded_text(text: str, field: str, max_len: int) -> str:
    """One line of owner text, control characters and runs of spaces folded; errors err.<field>_empty/_too_long
    and those of `visible_text`."""
    value = _clean_text(text)
    if not value:
        raise InvalidInput(f"err.{field}_empty")
    visible_text(value)
    if len(value) > max_len:
        raise InvalidInput(f"err.{field}_too_long", max=max_len)
    return value


def parse_name(text: str) -> str:
    return _bounded_text(text, "name", NAME_MAX_LEN)


def parse_breed(text: str) -> str:
    return _bounded_text(text, "breed", BREED_MAX_LEN)


_NUMBER = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*([^\d\s].*)?$")
_GRAMS = {"g", "г", "гр", "грамм", "граммов", "gram", "grams"}
_KILOS = {"kg", "кг", "килограмм", "килограмма", "килограммов", "kilo", "kilos"}


def parse_weight(text: str, species: Species) -> float:
    """Kilograms from "4.2", "4,2 кг" or "350 г"; rejects what no pet of this species weighs."""
    match = _NUMBER.match(text or "")
    if not match:
        raise InvalidInput("err.weight_not_number")
    value = float(match.group(1).replace(",", "."))
    unit = (match.group(2) or "").strip().lower().rstrip(".")
    if unit in _GRAMS:
        value /= 1000
    elif unit and unit not in _KILOS:
        raise InvalidInput("err.weight_not_number")
    if value <= 0:
        raise InvalidInput("err.weight_not_positive")
    low, high = WEIGHT_RANGE_KG[species]
    if not low <= value <= high:
        raise InvalidInput("err.weight_out_of_range", low=low, high=high)
    return round(value, 3)


_DATE_FORMATS = (
    re.compile(r"^(?P<d>\d{1,2})[./-](?P<m>\d{1,2})[./-](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
)
_AGE = re.compile(
    r"^(?P<n>\d{1,3}(?:[.,]\d)?)\s*(?P<unit>"
    r"y|yr|yrs|year|years|г|год|года|лет|"
    r"m|mo|mos|month|months|мес|месяц|месяца|месяцев|"
    r"w|wk|week|weeks|нед|неделя|недели|недель)?\.?$"
)


def parse_birth_date(text: str, species: Species, today: date) -> tuple[date, bool]:
    """A birth date, or an approximate one from an age ("3", "3 года", "8 months").

    Returns the date and whether it is approximate.
    """
    text = _clean_text(text or "").lower()
    for pattern in _DATE_FORMATS:
        match = pattern.match(text)
        if match:
            try:
                born = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise InvalidInput("err.date_invalid") from None
            _check_birth_date(born, species, today)
            return born, False
    match = _AGE.match(text)
    if not match:
        raise InvalidInput("err.date_invalid")
    amount = float(match["n"].replace(",", "."))
    unit = match["unit"] or "y"
    if unit[0] in "mм":
        born = today - timedelta(days=round(amount * 30.44))
    elif unit[0] in "wн":
        born = today - timedelta(days=round(amount * 7))
    else:  # "3 years" is the same calendar day 3 years ago, so the card says 3 years, not 2
        born = shift_years(today, -int(amount)) - timedelta(days=round(amount % 1 * 365.25))
    _check_birth_date(born, species, today)
    return born, True


def _check_birth_date(born: date, species: Species, today: date) -> None:
    if born > today:
        raise InvalidInput("err.date_in_future")
    if born < shift_years(today, -MAX_AGE_YEARS[species]):
        raise InvalidInput("err.age_too_old", max=MAX_AGE_YEARS[species])


def check_pet(pet: Pet, today: date) -> Pet:
    """The whole record as it is about to be saved, whichever field changed: each text as its parser
    would take it, and the weight and birth date possible for the species (a species changed after the
    weight, a weight checked against a species changed meanwhile...). Returns the pet or raises InvalidInput."""
    parse_name(pet.name)
    if pet.breed is not None:
        parse_breed(pet.breed)
    low, high = WEIGHT_RANGE_KG[pet.species]
    if pet.weight_kg is not None and not low <= pet.weight_kg <= high:
        raise InvalidInput("err.record_weight_species", weight=pet.weight_kg, low=low, high=high)
    if pet.birth_date is not None:
        if pet.birth_date > today:
            raise InvalidInput("err.date_in_future")
        if pet.birth_date < shift_years(today, -MAX_AGE_YEARS[pet.species]):
            raise InvalidInput("err.record_age_species", max=MAX_AGE_YEARS[pet.species])
    return pet


def shift_years(day: date, years: int) -> date:
    """The same calendar day `years` later (earlier if negative). 29 February becomes 28 February in a
    year without one, where `day.replace(year=...)` raises ValueError.

    28 February rather than 1 March: the day stays in its month like every other day of the year, a
    pet born on 29 February has its birthday on 28 February in other years, and a limit or a due date
    computed from it comes a day early rather than a day late (dateutil's relativedelta agrees).
    """
    year = day.year + years
    if (day.month, day.day) == (2, 29) and not isleap(year):
        return date(year, 2, 28)
    return day.replace(year=year)


def age_years(born: date, today: date) -> float:
    """Whole years by the calendar (one more on each birthday, see `shift_years` for 29 February), plus
    the share of the current year of age."""
    years = today.year - born.year
    if shift_years(born, years) > today:
        years -= 1
    last, following = shift_years(born, years), shift_years(born, years + 1)
    return years + (today - last).days / (following - last).days

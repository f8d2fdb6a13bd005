"""Daily energy requirement and the food database (kcal per 100 g, shipped in shared/data/foods.json).

RER (resting energy requirement) = 70 × kg^0.75 kcal/day; the daily energy requirement (DER) is RER
times a life-stage factor. Factors (AAHA 2021 nutrition guidelines / WSAVA, the usual clinic table):

    dog  puppy < 4 months 3.0 · 4–12 months 2.0 · adult intact 1.8 · adult neutered 1.6
         senior (≥ 7 years) 1.4 · low activity 1.3 · high activity (long walks, light work) 2.0
    cat  kitten < 12 months 2.5 · adult intact 1.4 · adult neutered 1.2 · senior (≥ 11 years) 1.1
         low activity 1.0 · high activity 1.6

Unknown neuter status counts as neutered (most pets in cities are, and it errs on the lean side);
unknown age counts as adult. Birds, rodents, reptiles and others have no standard formula of this
kind: `energy_requirement` returns None and the bot says so instead of inventing a number.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cache
from pathlib import Path

from shared.domain.pets import InvalidInput, Neutered, Pet, Species, age_years, visible_text

FOODS_FILE = Path(__file__).resolve().parents[1] / "data" / "foods.json"


class Activity(str, Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


def rer(kg: float) -> float:
    return 70 * kg ** 0.75


@dataclass(frozen=True)
class Requirement:
    rer: float
    factor: float
    basis: str  # which row of the table: puppy, kitten, adult_intact, ... (a message key suffix)

    @property
    def kcal(self) -> float:
        return self.rer * self.factor


def life_stage_factor(species: Species, age: float | None, neutered: Neutered,
                      activity: Activity = Activity.NORMAL) -> tuple[float, str] | None:
    if species == Species.DOG:
        if age is not None and age < 4 / 12:
            return 3.0, "puppy_young"
        if age is not None and age < 1:
            return 2.0, "puppy"
        if activity == Activity.HIGH:
            return 2.0, "active"
        if activity == Activity.LOW:
            return 1.3, "inactive"
        if age is not None and age >= 7:
            return 1.4, "senior"
        return (1.8, "adult_intact") if neutered == Neutered.NO else (1.6, "adult_neutered")
    if species == Species.CAT:
        if age is not None and age < 1:
            return 2.5, "kitten"
        if activity == Activity.HIGH:
            return 1.6, "active"
        if activity == Activity.LOW:
            return 1.0, "inactive"
        if age is not None and age >= 11:
            return 1.1, "senior"
        return (1.4, "adult_intact") if neutered == Neutered.NO else (1.2, "adult_neutered")
    return None


def energy_requirement(pet: Pet, kg: float | None, today: date,
                       activity: Activity = Activity.NORMAL) -> Requirement | None:
    """kcal/day for cats and dogs with a known weight; None when there is no standard formula."""
    if kg is None or kg <= 0:
        return None
    age = age_years(pet.birth_date, today) if pet.birth_date else None
    stage = life_stage_factor(pet.species, age, pet.neutered, activity)
    if stage is None:
        return None
    factor, basis = stage
    return Requirement(rer=rer(kg), factor=factor, basis=basis)


def has_formula(species: Species) -> bool:
    return species in (Species.CAT, Species.DOG)


def activity_from_minutes(species: Species, average_minutes: float | None) -> Activity:
    """The week's logged walks/play: a dog walked 2 h a day is active, 15 min is not."""
    if average_minutes is None:
        return Activity.NORMAL
    low, high = (20, 120) if species == Species.DOG else (5, 60)
    if average_minutes < low:
        return Activity.LOW
    if average_minutes >= high:
        return Activity.HIGH
    return Activity.NORMAL


@dataclass(frozen=True)
class Food:
    id: str
    names: dict
    kcal_per_100g: float
    species: tuple[str, ...]  # "cat", "dog"; both for home foods

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]


@cache
def foods() -> dict[str, Food]:
    raw = json.loads(FOODS_FILE.read_text(encoding="utf-8"))
    return {f["id"]: Food(f["id"], f["names"], float(f["kcal_per_100g"]), tuple(f["species"])) for f in raw["foods"]}


def foods_for(species: Species) -> list[Food]:
    return [f for f in foods().values() if species.value in f.species]


MEAL_MAX_GRAMS = 5000
KCAL_RANGE = (1, 900)  # per 100 g: water 0, pure fat 900


def parse_grams(text: str) -> float:
    match = re.match(r"^\s*(\d{1,5}(?:[.,]\d+)?)\s*(г|гр|g|грамм|граммов)?\.?\s*$", (text or "").lower())
    if not match:
        raise InvalidInput("diary.err.grams_invalid", max=MEAL_MAX_GRAMS)
    grams = float(match[1].replace(",", "."))
    if not 0 < grams <= MEAL_MAX_GRAMS:
        raise InvalidInput("diary.err.grams_invalid", max=MEAL_MAX_GRAMS)
    return grams


def parse_free_meal(text: str) -> tuple[str, float, float]:
    """"курица 190 80": a name, kcal per 100 g, grams."""
    match = re.match(r"^\s*(.{1,40}?)\s+(\d{1,3}(?:[.,]\d+)?)\s+(\d{1,5}(?:[.,]\d+)?)\s*(г|g)?\s*$", text or "")
    if not match:
        raise InvalidInput("diary.err.free_meal")
    name = visible_text(" ".join(re.sub(r"[\x00-\x1f\x7f]", " ", match[1]).split()))  # like a product's
    kcal = float(match[2].replace(",", "."))
    grams = float(match[3].replace(",", "."))
    if not KCAL_RANGE[0] <= kcal <= KCAL_RANGE[1] or not 0 < grams <= MEAL_MAX_GRAMS:
        raise InvalidInput("diary.err.free_meal")
    return name, kcal, grams

"""Plain-text renderings of domain objects (plain text: owners type pet names, nothing is parsed as markup)."""
from __future__ import annotations

from datetime import date

from shared.domain.pet_form import CHOICE_FIELDS
from shared.domain.pets import Pet, age_years
from shared.i18n import t


def number(lang: str, value: float) -> str:
    """3.5 → "3,5" in Russian, "3.5" in English."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "ru" else text


def weight(lang: str, kg: float | None) -> str:
    if kg is None:
        return t(lang, "value.unknown")
    if kg < 1:
        return t(lang, "value.grams", value=number(lang, kg * 1000))
    return t(lang, "value.kg", value=number(lang, kg))


def birth(lang: str, pet: Pet, today: date) -> str:
    if pet.birth_date is None:
        return t(lang, "value.unknown")
    years = age_years(pet.birth_date, today)
    age = (t(lang, "value.age_years", n=int(years)) if years >= 1
           else t(lang, "value.age_months", n=max(0, int(years * 12))))
    if pet.birth_date_approximate:
        return t(lang, "value.age_approx", age=age)
    return f"{pet.birth_date.strftime('%d.%m.%Y')} ({age})"


def answered(lang: str, field: str, value) -> str:
    """A dialog's answer as the card shows it ("✓ Вид: 🐱 Кошка"), kept above the question that follows."""
    shown = t(lang, f"{field}.{value}") if field in CHOICE_FIELDS else value
    return f"✓ {t(lang, 'field.' + field)}: {shown or t(lang, 'value.unknown')}"


def pet_card(lang: str, pet: Pet, today: date) -> str:
    lines = [
        f"{t(lang, 'species_icon.' + pet.species.value)} {pet.name}",
        f"{t(lang, 'field.species')}: {t(lang, 'species.' + pet.species.value)}",
        f"{t(lang, 'field.breed')}: {pet.breed or t(lang, 'value.unknown')}",
        f"{t(lang, 'field.sex')}: {t(lang, 'sex.' + pet.sex.value)}",
        f"{t(lang, 'field.birth_date')}: {birth(lang, pet, today)}",
        f"{t(lang, 'field.weight_kg')}: {weight(lang, pet.weight_kg)}",
        f"{t(lang, 'field.neutered')}: {t(lang, 'neutered.' + pet.neutered.value)}",
    ]
    return "\n".join(lines)

"""Health diary use cases. Every call names the acting owner; the pet is looked up under them first."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from shared.domain import diary as rules
from shared.domain import nutrition
from shared.domain import reminders as rem_rules
from shared.domain.diary import ActivityLog, ConsultationNote, Kind, Meal, Treatment, WeightEntry, WeightWarning
from shared.domain.owners import Owner
from shared.domain.pets import Pet
from shared.services.pets import owned_pet


async def record_weight(pets, diary, owner_id: int, pet_id: str, kg: float,
                        today: date) -> tuple[Pet, WeightEntry, WeightWarning | None]:
    """Logs a weighing (validated by the caller with domain.diary.parse_diary_weight), keeps the pet's
    card weight current, and says whether the change over 30 days is worrying."""
    pet = await owned_pet(pets, owner_id, pet_id)
    rules.parse_diary_weight(str(kg), pet.species)  # a value that slipped past parsing is refused here too
    history = await diary.weights(owner_id, pet.id, since=today - timedelta(days=rules.WEIGHT_ALERT_DAYS))
    entry = await diary.add_weight(owner_id, pet.id, WeightEntry("", today, kg))
    if pet.weight_kg != kg:
        await pets.update(pet.with_changes(weight_kg=kg))
    return pet, entry, rules.weight_warning(history, entry)


async def weight_history(pets, diary, owner_id: int, pet_id: str, since: date | None = None):
    pet = await owned_pet(pets, owner_id, pet_id)
    return pet, await diary.weights(owner_id, pet.id, since=since)


def renewal_id(treatment_id: str) -> str:
    """The id of the record that renews `treatment_id`: pressing "done" twice makes one record."""
    return "r" + hashlib.sha1(treatment_id.encode()).hexdigest()[:19]


async def record_treatment(pets, diary, reminders, owner: Owner, chat_id: int, pet_id: str, kind: Kind,
                           product: str, given_on: date, next_due: date | None, now: datetime,
                           doc_id: str | None = None) -> Treatment:
    """Logs a vaccination/treatment; schedules the reminders for its next due date, and retires the
    pending reminders of earlier records of the same kind and product (this one renews them)."""
    pet = await owned_pet(pets, owner.id, pet_id)
    today = rem_rules.local_today(now, owner.timezone)
    product = rules.parse_product(product)
    rules.check_past_date(given_on, today)
    if next_due is not None:
        rules.check_due_date(next_due, given_on, today)
    treatment = await diary.add_treatment(owner.id, pet.id, Treatment("", kind, product, given_on, next_due),
                                          doc_id=doc_id)
    for old in await reminders.active_for_owner(owner.id, pet.id):
        if old.kind == kind.value and old.product.lower() == product.lower() and old.treatment_id != treatment.id:
            await reminders.set_status(old.id, rem_rules.Status.SUPERSEDED)
    if next_due is not None:
        await reminders.schedule(rem_rules.plan(
            owner.id, chat_id, owner.language, owner.timezone, pet.id, pet.name, treatment.id, kind.value,
            product, next_due, now))
    return treatment


async def pet_treatments(pets, diary, owner_id: int, pet_id: str) -> tuple[Pet, list[Treatment]]:
    pet = await owned_pet(pets, owner_id, pet_id)
    return pet, await diary.treatments(owner_id, pet.id)


async def record_meal(pets, diary, owner_id: int, pet_id: str, meal: Meal) -> Meal:
    pet = await owned_pet(pets, owner_id, pet_id)
    if not 0 < meal.grams <= nutrition.MEAL_MAX_GRAMS:
        raise ValueError("grams out of range")
    return await diary.add_meal(owner_id, pet.id, meal)


@dataclass
class DayCalories:
    pet: Pet
    meals: list[Meal]
    total: float
    requirement: nutrition.Requirement | None
    weight_kg: float | None
    activity: nutrition.Activity


async def day_calories(pets, diary, owner_id: int, pet_id: str, today: date) -> DayCalories:
    pet = await owned_pet(pets, owner_id, pet_id)
    meals = await diary.meals(owner_id, pet.id, today, today)
    activity = nutrition.Activity.NORMAL
    if nutrition.has_formula(pet.species):
        first, last = rules.week_of(today)
        logs = [a for a in await diary.activity(owner_id, pet.id, first, last) if a.minutes is not None]
        if logs:
            days = {a.on for a in logs}
            activity = nutrition.activity_from_minutes(pet.species, sum(a.minutes for a in logs) / len(days))
    kg = pet.weight_kg
    return DayCalories(pet, meals, sum(m.kcal for m in meals), nutrition.energy_requirement(pet, kg, today, activity),
                       kg, activity)


async def record_activity(pets, diary, owner_id: int, pet_id: str, log: ActivityLog, today: date) -> ActivityLog:
    pet = await owned_pet(pets, owner_id, pet_id)
    if log.minutes is not None and not 0 <= log.minutes <= rules.ACTIVITY_MAX_MINUTES:
        raise ValueError("minutes out of range")
    for value in (log.mood, log.appetite):
        if value is not None:
            rules.check_scale(value)
    if log.notes is not None:
        rules.parse_notes(log.notes)
    rules.check_past_date(log.on, today)
    return await diary.add_activity(owner_id, pet.id, log)


@dataclass
class WeekSummary:
    pet: Pet
    first: date
    last: date
    weights: list[WeightEntry]
    activity: list[ActivityLog]
    meals: list[Meal]
    due: list[Treatment] = field(default_factory=list)
    consultations: list[ConsultationNote] = field(default_factory=list)   # vets' conclusions this week

    @property
    def minutes(self) -> int:
        return sum(a.minutes or 0 for a in self.activity)

    def average(self, attr: str) -> float | None:
        values = [getattr(a, attr) for a in self.activity if getattr(a, attr) is not None]
        return sum(values) / len(values) if values else None

    @property
    def kcal_per_day(self) -> float | None:
        days = {m.on for m in self.meals}
        return sum(m.kcal for m in self.meals) / len(days) if days else None


async def week_summary(pets, diary, owner_id: int, pet_id: str, today: date) -> WeekSummary:
    pet = await owned_pet(pets, owner_id, pet_id)
    first, last = rules.week_of(today)
    treatments = await diary.treatments(owner_id, pet.id)
    due = [t for t in rules.current_treatments(treatments)
           if rules.due_status(t, today) in (rules.DueStatus.DUE, rules.DueStatus.OVERDUE)]
    return WeekSummary(pet, first, last, await diary.weights(owner_id, pet.id, since=first),
                       await diary.activity(owner_id, pet.id, first, last),
                       await diary.meals(owner_id, pet.id, first, last), due,
                       await diary.consultations(owner_id, pet.id, first, last))


@dataclass
class PetRecord:
    """Everything the PDF export shows."""

    pet: Pet
    weights: list[WeightEntry]
    treatments: list[Treatment]
    activity: list[ActivityLog]
    consultations: list[ConsultationNote] = field(default_factory=list)


async def pet_record(pets, diary, owner_id: int, pet_id: str) -> PetRecord:
    pet = await owned_pet(pets, owner_id, pet_id)
    return PetRecord(pet, await diary.weights(owner_id, pet.id), await diary.treatments(owner_id, pet.id),
                     await diary.activity(owner_id, pet.id), await diary.consultations(owner_id, pet.id))

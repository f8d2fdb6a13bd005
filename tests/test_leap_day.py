"""The whole diary and reminder flow through the bot with the clock on 29 February 2028 (10:00 UTC), and
on the days either side: nothing may answer "something went wrong", and what is stored is right."""
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from pypdf import PdfReader
from telegram import Bot

from infra.local.bot_api_double import BotApiDouble
from shared.bot.reminder_messages import ReminderSender
from shared.domain.diary import Kind
from shared.domain.reminders import Status, Step
from shared.i18n import t
from shared.services import reminders as reminder_service
from tests.bot_harness import TOKEN, BotHarness

ANNA = 2902
INTERNAL = t("ru", "err.internal")


@dataclass(frozen=True)
class Day:
    today: date
    years_ago: dict[int, date]   # the birth date stored for an age of N years typed today
    five_years_on: date          # the furthest next due date accepted today
    year_on: date                # the vaccine interval, 365 days (a day short of a year across 29.02)

    def __str__(self):
        return self.today.isoformat()


DAYS = [
    Day(date(2028, 2, 28), {1: date(2027, 2, 28), 2: date(2026, 2, 28), 3: date(2025, 2, 28)},
        date(2033, 2, 28), date(2029, 2, 27)),
    Day(date(2028, 2, 29), {1: date(2027, 2, 28), 2: date(2026, 2, 28), 3: date(2025, 2, 28)},
        date(2033, 2, 28), date(2029, 2, 28)),
    Day(date(2028, 3, 1), {1: date(2027, 3, 1), 2: date(2026, 3, 1), 3: date(2025, 3, 1)},
        date(2033, 3, 1), date(2029, 3, 1)),
]


def ddmmyyyy(day: date) -> str:
    return day.strftime("%d.%m.%Y")


class Owner:
    """Anna's chat with the bot on `day.today` at 10:00 UTC (13:00 in Moscow, her inferred time zone)."""

    def __init__(self, bot: BotHarness, double: BotApiDouble, day: Day):
        self.bot, self.double, self.day = bot, double, day
        self.now = datetime.combine(day.today, datetime.min.time(), timezone.utc).replace(hour=10)
        bot.clock = lambda: self.now

    async def say(self, text: str) -> list[str]:
        return self._saw(await self.bot.say(text, ANNA))

    async def press(self, data: str) -> list[str]:
        return self._saw(await self.bot.press(data, ANNA))

    @staticmethod
    def _saw(replies: list[str]) -> list[str]:
        assert not any(INTERNAL in r for r in replies), replies
        return replies

    async def start(self) -> str:
        await self.bot.onboard(ANNA)
        return await self.bot.add_pet(ANNA, weight="4,2")  # a cat of "3" years, typed as an age

    async def add_treatment(self, pet_id: str, kind: Kind, product: str, given: str | None) -> list[str]:
        """/vaccines → add: the kind, the product, the date it was given (None: the "today" button)."""
        await self.say("/vaccines")
        await self.press(f"dy:a:{pet_id}")
        await self.press(f"dyk:{kind.value}")
        asked = await self.say(product)
        assert "Когда?" in asked[0]
        return await (self.press("dyd:g:today") if given is None else self.say(given))

    async def treatments(self, pet_id: str):
        return {x.product: x for x in await self.bot.services.diary.treatments(ANNA, pet_id)}


@pytest.fixture(params=DAYS, ids=str)
async def anna(request):
    with BotApiDouble(TOKEN) as double:
        bot = BotHarness(double)
        try:
            yield Owner(bot, double, request.param)
        finally:
            await bot.app.shutdown()


async def test_pets_added_on_the_day_with_a_birth_date_or_an_age(anna):
    day = anna.day
    pet_id = await anna.start()
    pet = await anna.bot.services.pets.get(ANNA, pet_id)
    assert (pet.birth_date, pet.birth_date_approximate) == (day.years_ago[3], True)
    card = await anna.press(f"pet:v:{pet_id}")
    assert "примерно 3 г." in card[-1]

    for years, text in ((1, "1 год"), (2, "2 года")):
        await anna.press(f"pet:ef:{pet_id}:birth_date")
        saved = await anna.say(text)
        assert "Сохранено" in saved[0] and f"примерно {years} г." in saved[0], saved
        assert (await anna.bot.services.pets.get(ANNA, pet_id)).birth_date == day.years_ago[years]

    await anna.press(f"pet:ef:{pet_id}:birth_date")
    saved = await anna.say(ddmmyyyy(day.today))  # born today
    assert f"{ddmmyyyy(day.today)} (0 мес.)" in saved[0], saved
    pet = await anna.bot.services.pets.get(ANNA, pet_id)
    assert (pet.birth_date, pet.birth_date_approximate) == (day.today, False)

    await anna.press(f"pet:ef:{pet_id}:birth_date")
    saved = await anna.say("29.02.2024")  # a pet born on the previous leap day: 4 on its birthday, 3 the day before
    age = "3 г." if day.today < date(2028, 2, 29) else "4 г."
    assert f"29.02.2024 ({age})" in saved[0], saved

    await anna.press(f"pet:ef:{pet_id}:birth_date")
    assert "Не понял дату" in (await anna.say("29.02.2027"))[0]
    assert (await anna.bot.services.pets.get(ANNA, pet_id)).birth_date == date(2024, 2, 29)


async def test_weight_activity_treatments_food_summary_and_pdf_on_the_day(anna):
    day, today = anna.day, anna.day.today
    pet_id = await anna.start()
    diary = anna.bot.services.diary

    assert "Записал: Мурка — 4,3 кг." in (await anna.say("/weight 4,3"))[0]
    assert [(w.on, w.kg) for w in await diary.weights(ANNA, pet_id)] == [(today, 4.3)]

    await anna.say("/activity")
    await anna.press("dyd:m:30")
    await anna.press("dyd:o:4")
    await anna.press("dyd:p:5")
    assert "Записал день питомца «Мурка»" in (await anna.say("Гуляли в парке"))[0]
    [log] = await diary.activity(ANNA, pet_id)
    assert (log.on, log.minutes, log.mood, log.appetite, log.notes) == (today, 30, 4, 5, "Гуляли в парке")

    # a vaccine given today, the proposed next date
    await anna.add_treatment(pet_id, Kind.VACCINE, "Нобивак", None)
    assert f"Через стандартный срок: {ddmmyyyy(day.year_on)}" in anna.bot.last_buttons(ANNA)
    saved = await anna.press("dyd:n:p")
    assert f"«Нобивак», {ddmmyyyy(today)}" in saved[0]
    assert f"Следующий раз: {ddmmyyyy(day.year_on)}" in saved[0]
    # deworming given today, "in a year"
    await anna.add_treatment(pet_id, Kind.DEWORMING, "Мильбемакс", None)
    saved = await anna.press("dyd:n:365")
    assert f"«Мильбемакс», {ddmmyyyy(today)}" in saved[0]
    assert f"Следующий раз: {ddmmyyyy(today + timedelta(days=365))}" in saved[0]
    # flea/tick typed as today, next date typed: five years on is the limit
    await anna.add_treatment(pet_id, Kind.FLEA_TICK, "Бравекто", ddmmyyyy(today))
    too_far = await anna.say(ddmmyyyy(day.five_years_on + timedelta(days=1)))
    assert "Слишком далёкая дата (больше 5 лет)" in too_far[0]
    saved = await anna.say(ddmmyyyy(day.five_years_on))
    assert f"«Бравекто», {ddmmyyyy(today)}" in saved[0] and ddmmyyyy(day.five_years_on) in saved[0]

    stored = await anna.treatments(pet_id)
    assert {p: (x.given_on, x.next_due) for p, x in stored.items()} == {
        "Нобивак": (today, day.year_on), "Мильбемакс": (today, today + timedelta(days=365)),
        "Бравекто": (today, day.five_years_on)}
    listing = (await anna.say("/vaccines"))[0]
    assert "Запланировано" in listing and all(p in listing for p in stored)

    await anna.say("/food")
    await anna.press("dyf:free")
    food = await anna.say("курица 190 50")
    assert "Записал: курица, 50 г — 95 ккал." in food[0]
    assert "Суточная норма" in food[1]   # a 3-year-old neutered cat of 4.3 kg
    assert t("ru", "diary.basis.adult_neutered") in food[1]
    assert [(m.on, m.grams) for m in await diary.meals(ANNA, pet_id, today, today)] == [(today, 50)]

    week = (await anna.say("/diary"))[0]
    assert f"неделя {(today - timedelta(days=6)).strftime('%d.%m')}–{today.strftime('%d.%m')}" in week
    assert "Вес: 4,3 кг" in week and "Активность: 30 мин за 1 дн." in week

    seq = anna.double.last_seq()
    await anna.press(f"dy:x:{pet_id}")
    [doc] = [c for c in anna.double.calls(since=seq) if c["method"] == "sendDocument"]
    pdf = PdfReader(io.BytesIO(anna.double.file_bytes(doc["response"]["result"]["document"]["file_id"])))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "Мурка" in text and ddmmyyyy(today) in text and ddmmyyyy(day.five_years_on) in text
    assert "Гуляли в парке" in text


async def test_reminders_fire_on_the_day_and_done_and_later_work(anna):
    today = anna.day.today
    pet_id = await anna.start()
    # given 90 and 30 days ago: a cat's deworming and flea/tick treatment fall due today
    for kind, product, days in ((Kind.DEWORMING, "Мильбемакс", 90), (Kind.FLEA_TICK, "Стронгхолд", 30)):
        await anna.add_treatment(pet_id, kind, product, ddmmyyyy(today - timedelta(days=days)))
        assert f"Через стандартный срок: {ddmmyyyy(today)}" in anna.bot.last_buttons(ANNA)
        assert f"Следующий раз: {ddmmyyyy(today)}" in (await anna.press("dyd:n:p"))[0]
    before = await anna.treatments(pet_id)
    services = anna.bot.services

    seq = anna.double.last_seq()
    async with Bot(TOKEN, base_url=f"{anna.double.base_url}/bot") as telegram:  # the job's own client
        result = await reminder_service.due_reminders(services.reminders, ReminderSender(telegram),
                                                      anna.now)
    assert result.sent == 2  # the due-day ones (the day-before ones had passed when the doses were logged)
    sent = anna.bot.replies(seq)
    for kind, product in ((Kind.DEWORMING, "Мильбемакс"), (Kind.FLEA_TICK, "Стронгхолд")):
        what = t("ru", f"diary.kind.{kind.value}")
        assert t("ru", "diary.reminder.due", pet="Мурка", what=what, product=product) in sent

    deworming, flea = before["Мильбемакс"], before["Стронгхолд"]
    done = await anna.press(f"rm:d:{pet_id}:{deworming.id}:d")
    assert f"Отметил как сделанное. Следующий раз: {ddmmyyyy(today + timedelta(days=90))}" in done[-1]
    after = await services.diary.treatments(ANNA, pet_id)
    [renewal] = [x for x in after if x.product == "Мильбемакс" and x.id != deworming.id]
    assert (renewal.given_on, renewal.next_due) == (today, today + timedelta(days=90))
    assert (await services.diary.treatment(ANNA, pet_id, deworming.id)).followed_by == renewal.id
    assert "Это уже отмечено." in (await anna.press(f"rm:d:{pet_id}:{deworming.id}:d"))[-1]

    later = await anna.press(f"rm:s:{pet_id}:{flea.id}:d")
    tomorrow = today + timedelta(days=1)
    assert f"Хорошо, напомню {tomorrow.strftime('%d.%m')} 10:00." in later[-1]
    active = {(x.treatment_id, x.step): x for x in await services.reminders.active_for_owner(ANNA)}
    snoozed = active[(flea.id, Step.DUE)]
    assert snoozed.status == Status.PENDING
    assert snoozed.fire_at == datetime.combine(tomorrow, datetime.min.time(), timezone.utc).replace(hour=7)
    assert (renewal.id, Step.DUE) in active and (deworming.id, Step.DUE) not in active

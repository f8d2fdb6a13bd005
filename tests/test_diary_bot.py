"""The diary through python-telegram-bot against the Bot API double, with in-memory repositories:
commands, buttons, bad input, the chart as a photo and the PDF as a document."""
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image
from pypdf import PdfReader
from telegram import Update

from infra.local.bot_api_double import BotApiDouble, UpdateFactory
from shared.bootstrap import WebhookServices
from shared.bot.application import build_application
from shared.domain.diary import WeightEntry
from shared.domain.owners import Owner
from shared.domain.pets import Pet, Species
from tests.fakes import (FakeDiary, FakeOwners, FakePets, FakePhotoStorage, FakeReminders, FakeStats,
                         FakeTriageResults, FakeUnitOfWork, FakeUpdateLog, FakeVets)

TOKEN = "123456789:AAdiary-test-token"
USER = 424242001
NOW = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


class Chat:
    def __init__(self, double, app, factory):
        self.double, self.app, self.factory = double, app, factory

    async def send(self, update: dict) -> list[dict]:
        before = len(self.double.calls())
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self.double.calls()[before:]

    async def say(self, text):
        return await self.send(self.factory.message(text))

    async def cmd(self, name, args=""):
        return await self.send(self.factory.command(name, args))

    async def press(self, data):
        return await self.send(self.factory.callback(data))


def texts(calls):
    return [c["params"].get("text") or c["params"].get("caption") or "" for c in calls
            if c["method"] in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText")]


@pytest.fixture
async def chat():
    services = WebhookServices(owners=FakeOwners(), pets=FakePets(), update_log=FakeUpdateLog(), stats=FakeStats(),
                               clock=lambda: NOW, diary=FakeDiary(), reminders=FakeReminders(),
                               triage=FakeTriageResults(), photos=FakePhotoStorage(), vets=FakeVets(),
                               unit_of_work=lambda owner: FakeUnitOfWork(services, owner))
    services.owners.put(Owner(id=USER, language="ru", consent_at=NOW))
    with BotApiDouble(TOKEN) as double:
        app = build_application(TOKEN, double.base_url, services)
        await app.initialize()
        try:
            c = Chat(double, app, UpdateFactory())
            c.services = services
            yield c
        finally:
            await app.shutdown()


async def add_pet(services, name="Мурка", species=Species.CAT):
    return await services.pets.add(Pet(id="", owner_id=USER, species=species, name=name))


async def test_weight_with_a_comma_is_logged_and_warns_on_a_big_change(chat):
    pet = await add_pet(chat.services)
    chat.services.diary.weights_by[(USER, pet.id)].append(WeightEntry("old", date(2026, 11, 4), 5.0))
    reply = texts(await chat.cmd("weight", "4,2"))
    assert "4,2 кг" in reply[0] and "похудел" in reply[0] and "ветеринар" in reply[0]
    assert [w.kg for w in await chat.services.diary.weights(USER, pet.id)] == [5.0, 4.2]
    assert (await chat.services.pets.get(USER, pet.id)).weight_kg == 4.2


@pytest.mark.parametrize("bad", ["-3 kg", "4200", "abc"])
async def test_bad_weights_get_a_clear_reply_and_nothing_is_stored(chat, bad):
    pet = await add_pet(chat.services)
    reply = texts(await chat.cmd("weight", bad))
    assert reply and "/weight 4,2" in reply[0]
    assert await chat.services.diary.weights(USER, pet.id) == []


async def test_two_pets_asks_which_then_logs(chat):
    await add_pet(chat.services)
    rex = await add_pet(chat.services, "Рекс", Species.DOG)
    calls = await chat.cmd("weight", "31,5")
    assert texts(calls) == ["Для какого питомца?"]
    reply = texts(await chat.press(f"dy:w:{rex.id}"))
    assert "Рекс — 31,5 кг" in reply[0]
    assert [w.kg for w in await chat.services.diary.weights(USER, rex.id)] == [31.5]


async def test_chart_is_sent_as_a_photo(chat):
    pet = await add_pet(chat.services)
    for i in range(10):
        chat.services.diary.weights_by[(USER, pet.id)].append(WeightEntry(f"w{i}", date(2026, 9, 1) + timedelta(days=7 * i), 4 + i / 20))
    calls = await chat.press(f"dy:c:{pet.id}")
    [photo] = [c for c in calls if c["method"] == "sendPhoto"]
    file_id = photo["response"]["result"]["photo"][-1]["file_id"]
    image = Image.open(io.BytesIO(chat.double.file_bytes(file_id)))
    assert image.format == "PNG" and image.size == (960, 600)


async def test_vaccination_dialog_schedules_and_bad_dates_are_refused(chat):
    pet = await add_pet(chat.services)
    await chat.press(f"dy:a:{pet.id}")
    await chat.press("dyk:vaccine")
    await chat.say("Нобивак Трикэт")
    assert "ещё не наступила" in texts(await chat.say("10.01.2027"))[0]
    assert "давняя" in texts(await chat.say("01.01.1900"))[0]
    calls = await chat.say("01.11.2026")
    assert "01.11.2027" in str(calls[-1]["params"].get("reply_markup"))  # proposed: a year later for a cat's vaccine
    reply = texts(await chat.press("dyd:n:p"))
    assert "Нобивак Трикэт" in reply[0] and "01.11.2027" in reply[0] and "/timezone" in reply[0]
    [tr] = await chat.services.diary.treatments(USER, pet.id)
    assert tr.next_due == date(2027, 11, 1)
    assert len(chat.services.reminders.docs) == 2
    assert (await chat.services.owners.get(USER)).timezone == "Europe/Moscow"
    listing = texts(await chat.cmd("vaccines"))[0]
    assert "Запланировано" in listing and "Нобивак" in listing


async def test_ten_thousand_characters_of_notes_are_refused(chat):
    pet = await add_pet(chat.services)
    await chat.press(f"dy:m:{pet.id}")
    await chat.press("dyd:m:30")
    await chat.press("dyd:o:4")
    await chat.press("dyd:p:5")
    reply = texts(await chat.say("я" * 10_000))
    assert "10000" in reply[0] and "ничего не сохранено" in reply[0]
    assert chat.services.diary.activity_by[(USER, pet.id)] == []
    await chat.say("Гуляли в парке")
    [log] = chat.services.diary.activity_by[(USER, pet.id)]
    assert (log.minutes, log.mood, log.appetite, log.notes) == (30, 4, 5, "Гуляли в парке")


async def test_food_shows_calories_against_the_requirement(chat):
    pet = await add_pet(chat.services)
    await chat.services.pets.update(pet.with_changes(weight_kg=4.0))
    await chat.cmd("food")
    await chat.press("dyf:free")
    reply = texts(await chat.say("курица 190 50"))
    assert "95 ккал" in reply[0]
    assert "Суточная норма" in reply[1] and "238" in reply[1]
    exotic = await add_pet(chat.services, "Кеша", Species.BIRD)
    reply = texts(await chat.press(f"dy:f:{exotic.id}"))
    assert "нет стандартной формулы" in reply[0]


async def test_pdf_export_is_a_document_with_the_pets_name(chat):
    pet = await add_pet(chat.services)
    chat.services.diary.weights_by[(USER, pet.id)].append(WeightEntry("w", date(2026, 11, 1), 4.1))
    calls = await chat.press(f"dy:x:{pet.id}")
    [doc] = [c for c in calls if c["method"] == "sendDocument"]
    reader = PdfReader(io.BytesIO(chat.double.file_bytes(doc["response"]["result"]["document"]["file_id"])))
    assert len(reader.pages) == 1 and "Мурка" in reader.pages[0].extract_text()


async def test_other_owners_pets_are_not_reachable(chat):
    from shared.domain.owners import Dialog

    other = await chat.services.pets.add(Pet(id="", owner_id=999, species=Species.CAT, name="Чужой", weight_kg=4.0))
    for action in "wcvafmsx":  # every diary button, forged with another owner's pet id
        calls = await chat.press(f"dy:{action}:{other.id}")
        assert any(c["method"] == "answerCallbackQuery" and c["params"].get("show_alert") for c in calls), action
        assert texts(calls) == [], action
    await chat.say("5")  # a weight typed after the forged button
    await chat.cmd("weight", "5")
    # an open question about that pet (a forged or stale dialog): the answer is refused, not written
    owners = chat.services.owners
    owners.owners[USER] = owners.owners[USER].with_changes(
        dialog=Dialog("diary", "dy_weight", {"pet_id": other.id, "name": "Чужой", "species": "cat"}))
    assert texts(await chat.say("5,5")) == ["Питомец не найден."]
    diary = chat.services.diary
    assert not any([*diary.weights_by.values(), *diary.treatments_by.values(), *diary.meals_by.values(),
                    *diary.activity_by.values()])
    assert await chat.services.pets.get(999, other.id) == other  # the card's weight too

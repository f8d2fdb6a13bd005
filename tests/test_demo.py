"""The demo's conversation (infra/local/demo.py) played against the test session's stack: the parts
run in order on one owner and leave the transcript the demo prints; key lines are asserted."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from infra.local import demo
from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from shared.i18n import t

pytestmark = pytest.mark.e2e

USER = 700901  # not the demo's own id: the session stack is shared with other tests


@pytest.fixture(scope="module")
def played(stack, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    saved = demo.OUT_DIR
    demo.OUT_DIR = out
    try:
        with BotApiDoubleClient(stack["telegram_api_base"]) as client:
            chat = OwnerChat(client, user_id=USER, language_code="ru", first_name="Анна")
            seq = demo._last_seq(client)
            demo.play(stack, client, chat)
            calls = [c for c in client.calls(since=seq) if str(c["params"].get("chat_id")) == str(USER)]
            yield chat, calls, out
    finally:
        demo.OUT_DIR = saved


def _section(chat: OwnerChat, title: str) -> str:
    lines = "\n".join(chat.transcript).split("\n== ")
    return next(part for part in lines if part.startswith(title))


def test_profiles_keep_the_dog_and_delete_the_cat(played):
    chat, _, _ = played
    text = _section(chat, "Profiles")
    assert "Мурка" in text and "Шарик" in text
    after_delete = text.split("[Да, удалить]")[-1]
    pets_list = after_delete.split("👤 Анна: /pets")[-1]
    assert "Шарик" in pets_list and "Мурка" not in pets_list


def test_diary_sends_the_chart_as_a_photo_and_the_pdf(played):
    chat, calls, out = played
    text = _section(chat, "Diary")
    assert "🤖 [photo]" in text and "Шарик" in text
    assert "16,4 кг" in text and "ветеринар" in text          # the weight warning
    assert "Нобивак DHPPi+L" in text and "Следующий раз" in text
    assert "Royal Canin Medium Adult" in text and "955 ккал" in text
    assert "🤖 [document]" in text
    chart = Image.open(out / "weight_chart.png")
    assert chart.format == "PNG" and chart.width >= 600
    [pdf] = out.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sum(c["method"] == "sendPhoto" for c in calls) == 1


def test_each_reminder_step_is_sent_exactly_once(played):
    chat, calls, _ = played
    reminders = [c["params"]["text"] for c in calls if c["method"] == "sendMessage"
                 and c["params"].get("text", "").startswith("🔔")]
    assert len(reminders) == 2
    assert reminders[0].startswith("🔔 Завтра") and reminders[1].startswith("🔔 Сегодня")
    for step in ("the day before", "the due date"):  # other tests' reminders may share the emulator: the
        text = next(p for p in "\n".join(chat.transcript).split("\n== ") if step in p.split("\n")[0])
        assert text.count("🔔") == 1 and "run again: sent=0" in text  # second run sends nothing at all
    answered = _section(chat, "Reminder answered")
    assert "Отметил как сделанное" in answered


def test_photo_triage_edits_the_progress_message(played):
    chat, calls, _ = played
    edits = [c for c in calls if c["method"] == "editMessageText" and "Результат проверки фото" in c["params"]["text"]]
    assert len(edits) == 2  # the real photo and the dark one; one edit each
    progress_ids = {c["response"]["result"]["message_id"] for c in calls
                    if c["method"] == "sendMessage" and "Анализирую фото" in c["params"]["text"]}
    assert {c["params"]["message_id"] for c in edits} == progress_ids
    real, dark = (c["params"]["text"] for c in edits)
    assert "не диагноз" in real
    assert "%" in real and t("ru", "triage.outcome.unavailable") not in real  # the shipped model's findings
    assert "слишком темно" in dark
    assert "Это не изображение" in _section(chat, "Photo triage: not a photo")


def test_the_demo_photo_is_small_and_shipped():
    data = (demo.PHOTOS / "dog_skin.jpg").read_bytes()
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and max(img.size) <= 640 and len(data) <= 100_000
    assert "MIT" in (demo.PHOTOS / "README.md").read_text()

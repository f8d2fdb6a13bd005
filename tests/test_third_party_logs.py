"""No owner's text reaches the logs through third-party libraries: matplotlib's and fpdf2's warnings
about glyphs a font lacks, fontTools' subsetting report, Pillow's EXIF debug log, python-telegram-bot's
log of every call. Checked with a pet name full of emoji and letters no shipped font has, logging at
DEBUG and every warning recorded."""
import io
import logging
import unicodedata
from datetime import date

import pytest
from PIL import Image

from infra.local.bot_api_double import BotApiDouble
from shared.adapters.charts import weight_chart
from shared.adapters.images import clean_photo
from shared.adapters.pdf_export import pet_record_pdf
from shared.domain.diary import WeightEntry
from tests.bot_harness import TOKEN, BotHarness

# Cyrillic, emoji DejaVu has and has not, an Egyptian hieroglyph, Old Cyrillic, Tibetan, runes
NAME = "Мурка🐱🫨𓃠ꙮ༺ᚠ"
OWNER_TEXT = "Anna Ivanova, Tverskaya 7"


def traces(text: str) -> set[str]:
    """The ways a library spells the characters of `text`: the text, its rarer characters themselves (not
    a lone Cyrillic letter: any Russian text has those), escapes, glyph and Unicode names."""
    found = {text}
    for c in set(text) - set(" ,0123456789"):
        cp = ord(c)
        found |= {f"\\u{cp:04x}", f"\\U{cp:08x}", f"uni{cp:04X}", f"u{cp:04X}'", f"U+{cp:04X}"}
        if cp >= 0x2000:
            found.add(c)
        if cp >= 0x80:
            found.add(unicodedata.name(c, c))
    return found


def leaks(caplog, recwarn, text: str) -> list[str]:
    said = [f"{r.name} {r.levelname}: {r.getMessage()}" for r in caplog.records]
    said += [f"warning {w.category.__name__}: {w.message}" for w in recwarn]
    needles = traces(text)
    return [line[:300] for line in said if any(n in line for n in needles)]


@pytest.fixture
def debug(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_the_chart_and_the_pdf_of_a_pet_named_in_emoji_and_rare_scripts_log_nothing_of_it(debug, recwarn):
    points = [(date(2026, 10, 1), 4.0), (date(2026, 11, 1), 4.2)]
    png = weight_chart(points, f"{NAME} — вес", "кг", "4,2 кг")
    pdf = pet_record_pdf(f"Медкарта: {NAME}", [("Кличка", NAME)],
                         [("Заметки", ["Дата", "Заметка"], [["01.11.2026", f"{NAME} съела {NAME}"]])], NAME)
    assert png.startswith(b"\x89PNG") and pdf.startswith(b"%PDF")
    assert not leaks(debug, recwarn, NAME)


def test_a_photos_exif_text_is_not_logged_while_it_is_cleaned(recwarn, caplog):
    exif = Image.Exif()
    exif[0x013B] = OWNER_TEXT                     # Artist
    exif[0x010E] = "Murka at home"                # ImageDescription
    exif[0x0112] = 6                              # Orientation: the reader parses the whole IFD
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (120, 80, 60)).save(out, "JPEG", exif=exif.tobytes())
    caplog.set_level(logging.DEBUG)  # only now: the test's own save above logs the tags it writes
    clean_photo(out.getvalue())
    assert not leaks(caplog, recwarn, OWNER_TEXT) and not leaks(caplog, recwarn, "Murka at home")


def test_a_name_with_dollar_signs_is_drawn_as_text_not_as_tex(recwarn):
    points = [(date(2026, 10, 1), 4.0), (date(2026, 11, 1), 4.2)]
    for name in ("Бакс $100$", "A$\\frac$B", "x_$y_$", "$^$"):
        assert weight_chart(points, f"{name} — вес").startswith(b"\x89PNG"), name


async def test_adding_a_pet_and_sending_its_chart_and_record_log_nothing_of_its_name(debug, recwarn):
    with BotApiDouble(TOKEN) as double:
        bot = BotHarness(double)
        await bot.onboard(5005)
        pet_id = await bot.add_pet(5005, name=NAME)
        bot.services.diary.weights_by[(5005, pet_id)] += [WeightEntry("a", date(2026, 11, 1), 4.0),
                                                           WeightEntry("b", date(2026, 11, 20), 4.2)]
        for action in ("c", "x", "s"):  # chart, PDF, the week
            await bot.press(f"dy:{action}:{pet_id}", 5005)
        await bot.app.shutdown()
    sent = [c["method"] for c in double.calls()]
    assert "sendPhoto" in sent and "sendDocument" in sent
    assert not leaks(debug, recwarn, NAME)

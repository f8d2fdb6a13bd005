"""Every catalog is complete in every language, compiled, and every key the code uses exists."""
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from shared.domain.owners import SUPPORTED_LANGUAGES
from shared.i18n import LOCALE_DIR, t

ROOT = Path(__file__).resolve().parents[1]


def _po_files(lang):
    return sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))


def _messages(path, reader):
    with open(path, "rb") as fp:
        return {m.id: m.string for m in reader(fp) if m.id}


def test_every_language_has_the_same_complete_catalogs():
    names = {lang: [p.name for p in _po_files(lang)] for lang in SUPPORTED_LANGUAGES}
    assert names["ru"] and all(n == names["ru"] for n in names.values())
    keys = None
    for lang in SUPPORTED_LANGUAGES:
        merged = {}
        for po in _po_files(lang):
            merged.update(_messages(po, read_po))
        assert all(value.strip() for value in merged.values()), f"empty translations in {lang}"
        keys = keys or set(merged)
        assert set(merged) == keys, f"{lang} differs: {set(merged) ^ keys}"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_compiled_catalogs_match_their_sources(lang):
    for po in _po_files(lang):
        assert _messages(po.with_suffix(".mo"), read_mo) == _messages(po, read_po), (
            f"{po} changed: run `pybabel compile -d shared/i18n/locales -D {po.stem}`")


def test_every_literal_key_in_the_code_is_translated():
    literal = re.compile(r"""\bt\((?:[\w.]+, )?["']([a-z_]+\.[a-z_.]+)["']""")
    used = {key for path in (ROOT / "shared").rglob("*.py") for key in literal.findall(path.read_text())}
    assert used
    for lang in SUPPORTED_LANGUAGES:
        missing = [key for key in used if t(lang, key) == key]
        assert not missing, f"{lang} lacks {missing}"


def test_russian_and_english_differ_and_format():
    assert t("ru", "pet.added", name="Мурка") == "Готово! Питомец «Мурка» добавлен."
    assert t("en", "pet.added", name="Rex") == "Done! Rex has been added."
    assert t("xx", "pets.empty") == t("ru", "pets.empty")

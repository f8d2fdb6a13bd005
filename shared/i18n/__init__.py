"""Translations from gettext catalogs (Babel-compiled .mo files under i18n/locales/<lang>/LC_MESSAGES).

Each feature keeps its own catalog (messages.po for the core, one more per feature) and they are
chained per language. Message ids are keys ("ask.name"), so every language, Russian included, has a
full catalog and a missing translation shows up in tests instead of silently showing English.
"""
from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from shared.domain.owners import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locales"


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    catalog = gettext.NullTranslations()
    for mo in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.mo")):
        with mo.open("rb") as fp:
            catalog.add_fallback(gettext.GNUTranslations(fp))
    return catalog


def t(language: str, key: str, **params) -> str:
    if language not in SUPPORTED_LANGUAGES:
        language = SUPPORTED_LANGUAGES[0]
    text = _catalog(language).gettext(key)
    return text.format(**params) if params else text

"""Translations from gettext catalogs (Babel-compiled .mo files under i18n/locales).

Message ids are keys ("pets.ask_name"), so every language, Russian included, has a full catalog and a
missing translation is visible in tests instead of silently showing English.
"""
from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from shared.domain.owners import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


@cache
def _catalog(language: str) -> gettext.GNUTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])


def t(language: str, key: str, **params) -> str:
    if language not in SUPPORTED_LANGUAGES:
        language = SUPPORTED_LANGUAGES[0]
    text = _catalog(language).gettext(key)
    return text.format(**params) if params else text

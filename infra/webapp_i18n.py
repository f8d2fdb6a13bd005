"""Exports the Mini App's strings from the project's gettext catalogs for the front end.

    python -m infra.webapp_i18n            # writes webapp/src/i18n/catalog.json
    python -m infra.webapp_i18n --check    # exit 1 if the file is missing or out of date

The webapp translates with the same catalogs as the bot (shared/i18n/locales/<lang>/LC_MESSAGES/*.po), so a
string is translated once: every key starting with ``webapp.`` (webapp.po) and the bot's keys it reuses
(REUSED_PREFIXES, REUSED_KEYS) go into one JSON file {"ru": {key: text}, "en": {...}} that ``vite build``
bundles. infra/setup.sh runs this before the build.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from shared.domain.owners import SUPPORTED_LANGUAGES
from shared.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "webapp" / "src" / "i18n" / "catalog.json"
WEBAPP_PREFIX = "webapp."
# The bot's labels the webapp shows as they are: species, sex, neutered, the pet card's field names, the
# diary's treatment kinds, the triage's urgencies and areas; the diary's week, the vet's booking notice and the
# conclusion dialog's questions as the chat words them (the vet's screens); the photo check's and the diary's
# buttons and notes.
REUSED_PREFIXES = ("species.", "species_icon.", "sex.", "neutered.", "field.", "diary.kind.", "triage.urgency.",
                   "triage.area.")
REUSED_KEYS = ("ask.species", "ask.birth_date", "ask.weight_kg", "skip.breed", "skip.birth_date",
               "err.name_empty", "err.weight_not_number", "err.internal", "value.age_approx",
               "diary.weight_warning_loss", "diary.weight_warning_gain",
               "diary.week_weight", "diary.week_no_weight", "diary.week_mood",
               "diary.week_appetite", "diary.week_no_activity", "diary.week_kcal", "booking.vet_reason",
               "booking.vet_triage", "conclusion.ask.ai_right", "conclusion.ask.which_class",
               "conclusion.ask.class_no_ai", "conclusion.btn.right", "conclusion.btn.cannot_tell",
               "conclusion.err.summary_empty", "triage.btn.check", "triage.btn.book", "triage.analysing",
               "triage.disclaimer", "diary.btn.food", "diary.btn.activity", "diary.btn.pdf",
               "diary.btn.add_treatment")


def exported(key: str) -> bool:
    return key.startswith(WEBAPP_PREFIX) or key.startswith(REUSED_PREFIXES) or key in REUSED_KEYS


def catalog() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for lang in SUPPORTED_LANGUAGES:
        messages: dict[str, str] = {}
        for po in sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as fp:
                messages.update({m.id: m.string for m in read_po(fp) if m.id and exported(m.id)})
        missing = [key for key in REUSED_KEYS if key not in messages]
        if missing:
            raise SystemExit(f"webapp_i18n: {lang} lacks reused keys {missing}")
        out[lang] = dict(sorted(messages.items()))
    return out


def render() -> str:
    return json.dumps(catalog(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is up to date")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != text:
            print(f"webapp_i18n: {args.out} is out of date: run python -m infra.webapp_i18n", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The webapp's strings: every key its sources use is exported for every language, and the export is what
`python -m infra.webapp_i18n` writes from the gettext catalogs."""
import json
import re
from pathlib import Path

from infra import webapp_i18n
from shared.domain.owners import SUPPORTED_LANGUAGES

SRC = Path(__file__).resolve().parents[1] / "webapp" / "src"
LITERAL = re.compile(r"""\bt\(\s*"([\w.]+)"|\btn\(\s*"([\w.]+)\"""")
TEMPLATE = re.compile(r"""\bt\(\s*`([\w.]+)\$\{""")
QUOTED_KEY = re.compile(r""""((?:webapp|err|diary)\.[\w.]+)\"""")


def _sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.js*")))


def test_every_key_the_webapp_uses_is_exported_in_every_language():
    catalog = webapp_i18n.catalog()
    text = _sources()
    literal = {a or b for a, b in LITERAL.findall(text)}
    plural = {m for m in re.findall(r"""\btn\(\s*"([\w.]+)\"""", text)}
    quoted = set(QUOTED_KEY.findall(text)) - plural       # keys passed around as strings (t(w.change < 0 ? ...))
    templates = set(TEMPLATE.findall(text))
    assert len(literal) > 60 and {"webapp.pets.title", "webapp.checkout.pay", "field.name"} <= literal
    assert {"species.", "sex.", "webapp.status.", "webapp.room."} <= templates
    for lang in SUPPORTED_LANGUAGES:
        keys = set(catalog[lang])
        assert not sorted((literal | quoted) - plural - keys), lang
        for base in plural:
            assert f"{base}.other" in keys and f"{base}.one" in keys, (lang, base)
        for prefix in templates:
            assert any(k.startswith(prefix) for k in keys), (lang, prefix)
    # the screens' dynamic keys: every status, blocked reason and room stage the code names
    for lang in SUPPORTED_LANGUAGES:
        for status in ("held", "confirmed", "expired", "cancelled", "completed", "no_show_vet", "no_show_owner"):
            assert f"webapp.status.{status}" in catalog[lang]
        for reason in ("outside", "expired", "offline", "not_registered"):
            assert f"webapp.blocked.{reason}" in catalog[lang]
        for stage in ("denied", "no_device", "unsupported"):
            assert f"webapp.room.{stage}" in catalog[lang]


def test_the_export_is_the_catalogs_webapp_keys_and_the_reused_ones():
    catalog = json.loads(webapp_i18n.render())
    assert set(catalog) == set(SUPPORTED_LANGUAGES)
    assert set(catalog["ru"]) == set(catalog["en"])
    assert catalog["ru"]["webapp.pets.title"] == "Мои питомцы" and catalog["en"]["webapp.pets.title"] == "My pets"
    assert catalog["ru"]["species.cat"] == "🐱 Кошка"                  # a bot key, translated once
    assert not [k for k in catalog["ru"] if not webapp_i18n.exported(k)]
    assert "ask.name" not in catalog["ru"] and "command.start" not in catalog["ru"]


def test_check_mode_tells_an_out_of_date_export(tmp_path):
    out = tmp_path / "catalog.json"
    assert webapp_i18n.main(["--check", "--out", str(out)]) == 1
    assert webapp_i18n.main(["--out", str(out)]) == 0
    assert webapp_i18n.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("Мои питомцы", "Питомцы"), encoding="utf-8")
    assert webapp_i18n.main(["--check", "--out", str(out)]) == 1

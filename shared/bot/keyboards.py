"""Inline keyboards. Callback data stays short (Telegram allows 64 bytes) and says what a press means."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from shared.domain.pet_form import COMMON_BREEDS, SKIPPABLE
from shared.domain.pets import EDITABLE_FIELDS, Neutered, Pet, Sex, Species
from shared.i18n import t


def rows(*buttons: InlineKeyboardButton, per_row: int = 2) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([list(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row)])


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def open_app(lang: str, url: str | None) -> InlineKeyboardButton | None:
    """The Mini App's button (MINIAPP_URL), or None: Telegram opens web_app buttons only at an https URL
    (any other is refused, the whole message with it), so a local http:// stack gets none."""
    if not url or not url.lower().startswith("https://"):
        return None
    return InlineKeyboardButton(t(lang, "menu.open_app"), web_app=WebAppInfo(url))


def with_app(markup: InlineKeyboardMarkup, lang: str, url: str | None) -> InlineKeyboardMarkup:
    """`markup` with the Mini App's button on a row of its own at the end (unchanged without one)."""
    app = open_app(lang, url)
    return InlineKeyboardMarkup([*markup.inline_keyboard, [app]]) if app else markup


def consent(lang: str) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "consent.agree"), f"consent:yes:{lang}"),
                button(t(lang, "consent.decline"), f"consent:no:{lang}"))


def languages() -> InlineKeyboardMarkup:
    return rows(button("Русский", "lang:ru"), button("English", "lang:en"))


def main_menu(lang: str) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "menu.my_pets"), "pets:list"), button(t(lang, "menu.add_pet"), "pet:add"))


def question(lang: str, field: str, species: Species | None) -> InlineKeyboardMarkup | None:
    """The buttons offered with the question for `field`, or None where only typing makes sense."""
    choices = {"species": Species, "sex": Sex, "neutered": Neutered}.get(field)
    if choices:
        return rows(*(button(t(lang, f"{field}.{c.value}"), f"f:{field}:{c.value}") for c in choices),
                    per_row=3)
    extra = []
    if field == "breed" and species in COMMON_BREEDS:
        extra = [button(t(lang, f"breed.{key}"), f"f:breed:{key}") for key in COMMON_BREEDS[species]]
    if field in SKIPPABLE:
        extra.append(button(t(lang, f"skip.{field}"), f"f:{field}:skip"))
    return rows(*extra) if extra else None


def pet_list(lang: str, pets: list[Pet], app_url: str | None = None) -> InlineKeyboardMarkup:
    return with_app(rows(*(button(f"{t(lang, 'species_icon.' + p.species.value)} {p.name}", f"pet:v:{p.id}")
                           for p in pets), button(t(lang, "menu.add_pet"), "pet:add")), lang, app_url)


def pet_card(lang: str, pet: Pet) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "pet.edit"), f"pet:e:{pet.id}"), button(t(lang, "pet.delete"), f"pet:d:{pet.id}"),
                button(t(lang, "triage.btn.check"), f"ph:c:{pet.id}"), button(t(lang, "booking.btn.book"), f"cs:p:{pet.id}"),
                button(t(lang, "diary.btn.weight"), f"dy:w:{pet.id}"), button(t(lang, "diary.btn.diary"), f"dy:s:{pet.id}"),
                button(t(lang, "pet.back"), "pets:list"))


def edit_fields(lang: str, pet: Pet) -> InlineKeyboardMarkup:
    return rows(*(button(t(lang, f"field.{f}"), f"pet:ef:{pet.id}:{f}") for f in EDITABLE_FIELDS),
                button(t(lang, "pet.back"), f"pet:v:{pet.id}"))


def confirm_delete(lang: str, pet: Pet) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "pet.delete_yes"), f"pet:dy:{pet.id}"), button(t(lang, "pet.delete_no"), f"pet:v:{pet.id}"))


def forget_me(lang: str) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "privacy.forget"), "privacy:forget"))


def confirm_forget(lang: str) -> InlineKeyboardMarkup:
    return rows(button(t(lang, "privacy.forget_yes"), "privacy:forget_yes"),
                button(t(lang, "pet.delete_no"), "privacy:keep"))

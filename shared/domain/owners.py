"""Owners: who they are to us, what they agreed to, where their dialog stands."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

SUPPORTED_LANGUAGES = ("ru", "en")
# CIS languages we do not translate yet: Russian is the lingua franca there, so it is the better guess.
_RUSSIAN_SPEAKING = {"ru", "uk", "be", "kk", "ky", "uz", "tg", "az", "hy", "ka", "tk", "ro"}


def language_for(telegram_code: str | None) -> str:
    code = (telegram_code or "").split("-")[0].lower()
    if code in SUPPORTED_LANGUAGES:
        return code
    return "ru" if code in _RUSSIAN_SPEAKING else "en"


@dataclass(frozen=True)
class Dialog:
    """Where a multi-step conversation stands; stored with the owner so any instance can resume it."""

    name: str
    step: str
    draft: dict = field(default_factory=dict)

    def at(self, step: str, **draft_changes) -> "Dialog":
        return Dialog(self.name, step, {**self.draft, **draft_changes})


@dataclass(frozen=True)
class Owner:
    id: int
    language: str
    consent_at: datetime | None = None
    dialog: Dialog | None = None
    timezone: str | None = None
    # May the photos of their consultations and the vets' labels be kept to train the AI (asked once, when
    # the first labelled case arises; changed in /privacy): None not asked yet, True yes, False no.
    label_consent: bool | None = None
    # When the stored record was read (opaque to the domain): writes of this update are conditional
    # on it, so of updates racing on one owner each sees the other's changes or fails.
    version: object = field(default=None, compare=False)

    @property
    def has_consented(self) -> bool:
        return self.consent_at is not None

    def with_changes(self, **changes) -> "Owner":
        return replace(self, **changes)

"""The reminder message the scheduled job sends: its text, its buttons and the sender.

Bot layer, but no handlers: it imports `telegram` only, never `telegram.ext`, so the scheduled_jobs
function stays light (tests/test_containers.py checks it). The presses are answered by
handlers/reminders.py; callback data: rm:<d|s|n>:<pet id>:<treatment id>:<b|d> (done / snooze / not
relevant; step before / due).
"""
from __future__ import annotations

from telegram import Bot
from telegram.error import BadRequest, Forbidden

from shared.bot.keyboards import button, rows
from shared.domain.reminders import FOLLOW_UP, Reminder, Step
from shared.i18n import t
from shared.services import reminders as reminder_service

STEP_CODE = {Step.BEFORE: "b", Step.DUE: "d"}
CODE_STEP = {v: k for k, v in STEP_CODE.items()}


def format_date(lang: str, day) -> str:
    return day.strftime("%d.%m.%Y")


def reminder_text(rem: Reminder) -> str:
    lang = rem.language
    if rem.kind == FOLLOW_UP:  # a vet's follow-up: its "product" is the vet's name
        key = "conclusion.reminder.before" if rem.step == Step.BEFORE else "conclusion.reminder.due"
        return t(lang, key, pet=rem.pet_name, vet=rem.product, date=format_date(lang, rem.due_on))
    what = t(lang, f"diary.kind.{rem.kind}")
    key = "diary.reminder.before" if rem.step == Step.BEFORE else "diary.reminder.due"
    return t(lang, key, pet=rem.pet_name, what=what, product=rem.product, date=format_date(lang, rem.due_on))


def reminder_keyboard(rem: Reminder):
    tail = f"{rem.pet_id}:{rem.treatment_id}:{STEP_CODE[rem.step]}"
    lang = rem.language
    if rem.kind == FOLLOW_UP:  # nothing to log as done: book the follow-up, or put it off, or drop it
        return rows(button(t(lang, "conclusion.reminder.book"), f"cs:p:{rem.pet_id}"),
                    button(t(lang, "diary.reminder.snooze"), f"rm:s:{tail}"),
                    button(t(lang, "conclusion.reminder.not_needed"), f"rm:n:{tail}"))
    return rows(button(t(lang, "diary.reminder.done"), f"rm:d:{tail}"),
                button(t(lang, "diary.reminder.snooze"), f"rm:s:{tail}"),
                button(t(lang, "diary.reminder.not_relevant"), f"rm:n:{tail}"))


class ReminderSender:
    """What the job calls per claimed reminder: one sendMessage, no Firestore reads."""

    def __init__(self, bot: Bot):
        self._bot = bot

    async def send(self, rem: Reminder) -> None:
        try:
            await self._bot.send_message(rem.chat_id, reminder_text(rem), reply_markup=reminder_keyboard(rem))
        except Forbidden as err:
            raise reminder_service.RecipientGone() from err
        except BadRequest as err:
            if "chat not found" in str(err).lower():
                raise reminder_service.RecipientGone() from err
            raise

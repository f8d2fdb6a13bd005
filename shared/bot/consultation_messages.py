"""The consultation messages booking_callbacks sends (reminders, 'Join' links, no-show notices): the
Notifier of services.consultation_tasks over a bare Bot.

Bot layer, but no handlers: it imports `telegram` only, never `telegram.ext`, so booking_callbacks stays
light. Times are shown in each person's own zone, in their language. The owner's no-show notice carries
the booking flow's own button for the pet (``cs:p:<pet id>``, handlers.consult: the list of vets), so
another vet is one press away.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden

from shared.domain import reminders as rem_rules
from shared.i18n import t
from shared.services.consultation_tasks import Meeting, Person, RecipientGone
from shared.services.ports import Role

OTHER_VET = "cs:p:{pet_id}"   # handlers.consult: book for this pet


def _local(person: Person, moment: datetime) -> tuple[str, str, str]:
    zone = rem_rules.zone(person.timezone)
    local = moment.astimezone(zone)
    return local.strftime("%d.%m.%Y"), local.strftime("%H:%M"), zone.key


def reminder_text(person: Person, meeting: Meeting, before: timedelta) -> str:
    lang = person.language
    day, time, zone = _local(person, meeting.start)
    when = t(lang, "consult.when.day") if before >= timedelta(hours=1) else t(lang, "consult.when.soon")
    key = "consult.remind.owner" if person.role is Role.OWNER else "consult.remind.vet"
    return t(lang, key, when=when, date=day, time=time, zone=zone, pet=meeting.pet_name, vet=meeting.vet_name)


def link_text(person: Person, meeting: Meeting) -> str:
    lang = person.language
    day, time, zone = _local(person, meeting.start)
    key = "consult.link.owner" if person.role is Role.OWNER else "consult.link.vet"
    return t(lang, key, date=day, time=time, zone=zone, pet=meeting.pet_name, vet=meeting.vet_name)


def no_show_text(person: Person, meeting: Meeting) -> str:
    lang = person.language
    day, time, zone = _local(person, meeting.start)
    key = "consult.no_show.owner" if person.role is Role.OWNER else "consult.no_show.vet"
    return t(lang, key, date=day, time=time, zone=zone, pet=meeting.pet_name, vet=meeting.vet_name)


class ConsultationNotifier:
    """One sendMessage per call, no Firestore reads; RecipientGone when the person blocked the bot.
    `bot`: a Bot, or a function making it on first use (its HTTPS clients load the CA certificates, ~70 ms:
    booking_callbacks' tasks that send nothing never pay it)."""

    def __init__(self, bot: Bot | Callable[[], Bot]):
        self._bot = bot

    async def _send(self, person: Person, text: str, markup=None) -> None:
        bot = self._bot if isinstance(self._bot, Bot) else self._bot()
        try:
            await bot.send_message(person.user_id, text, reply_markup=markup)
        except Forbidden as err:
            raise RecipientGone() from err
        except BadRequest as err:
            if "chat not found" in str(err).lower():
                raise RecipientGone() from err
            raise

    async def reminder(self, person: Person, meeting: Meeting, before: timedelta) -> None:
        await self._send(person, reminder_text(person, meeting, before))

    async def join_link(self, person: Person, meeting: Meeting, url: str) -> None:
        button = InlineKeyboardButton(t(person.language, "consult.link.join"), url=url)
        await self._send(person, link_text(person, meeting), InlineKeyboardMarkup([[button]]))

    async def vet_no_show(self, person: Person, meeting: Meeting) -> None:
        button = InlineKeyboardButton(t(person.language, "consult.no_show.other_vet"),
                                      callback_data=OTHER_VET.format(pet_id=meeting.pet_id))
        await self._send(person, no_show_text(person, meeting), InlineKeyboardMarkup([[button]]))

    async def vet_missed(self, person: Person, meeting: Meeting) -> None:
        await self._send(person, no_show_text(person, meeting))

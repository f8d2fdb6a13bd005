"""Reminder messages (sent by the scheduled job) and the owner's answers: done, later, not relevant;
and /timezone (reminders go out at 10:00 in it).

Callback data: rm:<d|s|n>:<pet id>:<treatment id>:<b|d> (done / snooze / not relevant; step before / due).
The reminder is looked up under the acting owner's id, so a forged button reaches nothing of others'.
"""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from shared.bot.context import BotContext
from shared.bot.keyboards import button, rows
from shared.bot.reminder_messages import (  # noqa: F401 — ReminderSender, reminder_text: used from here too
    CODE_STEP, ReminderSender, format_date, reminder_keyboard, reminder_text,
)
from shared.bot.replies import drop_keyboard, edit_or_send
from shared.domain import reminders as rem_rules
from shared.i18n import t
from shared.services import reminders as reminder_service
from shared.services.pets import PetNotFound

# the reminder message itself (sent by the scheduled job, which must not import telegram.ext) lives in
# shared/bot/reminder_messages.py
_CODE_STEP = CODE_STEP


async def on_reminder_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, action, pet_id, treatment_id, step_code = query.data.split(":")
    services, owner = context.services, context.owner
    now = services.clock()
    try:
        if action == "d":
            new = await reminder_service.mark_done(services.pets, services.diary, services.reminders, owner,
                                                   update.effective_chat.id, pet_id, treatment_id, now)
            if new is None:
                text = context.t("diary.reminder.already_done")
            elif new.next_due:
                text = context.t("diary.reminder.logged_next", date=format_date(context.language, new.next_due))
            else:
                text = context.t("diary.reminder.logged")
        elif action == "s":
            until = await reminder_service.snooze(services.pets, services.reminders, owner, pet_id, treatment_id,
                                                  _CODE_STEP[step_code].value, now)
            local = until.astimezone(rem_rules.zone(owner.timezone))
            text = context.t("diary.reminder.snoozed", when=local.strftime("%d.%m %H:%M"))
        else:
            await reminder_service.dismiss(services.pets, services.diary, services.reminders, owner.id, pet_id,
                                           treatment_id)
            text = context.t("diary.reminder.dismissed")
    except PetNotFound:
        await query.answer(context.t("pet.not_found"), show_alert=True)
        await drop_keyboard(update)
        return
    except LookupError:  # the reminder is already done, dismissed or gone
        await query.answer(context.t("err.outdated_button"))
        await drop_keyboard(update)
        return
    await context.commit()
    await query.answer()
    await drop_keyboard(update)
    await update.effective_chat.send_message(text)


async def timezone_command(update: Update, context: BotContext) -> None:
    current = context.owner.timezone or rem_rules.timezone_for_language(update.effective_user.language_code)
    await update.message.reply_text(
        context.t("diary.tz.current", tz=_zone_label(context.language, current),
                  hour=f"{rem_rules.REMIND_HOUR}:00"),
        reply_markup=rows(*(button(_zone_label(context.language, z), f"tz:{i}")
                            for i, z in enumerate(rem_rules.TIMEZONE_CHOICES)), per_row=2))


def _zone_label(lang: str, tz: str) -> str:
    key = f"diary.tz.{tz.split('/')[-1].lower()}"
    label = t(lang, key)
    return tz if label == key else label


async def on_timezone(update: Update, context: BotContext) -> None:
    query = update.callback_query
    index = int(query.data.split(":")[1])
    if not 0 <= index < len(rem_rules.TIMEZONE_CHOICES):
        await query.answer(context.t("err.outdated_button"))
        return
    tz = rem_rules.TIMEZONE_CHOICES[index]
    context.owner = await reminder_service.set_timezone(context.services.owners, context.services.reminders,
                                                        context.owner, tz)
    await context.commit()
    await query.answer()
    await edit_or_send(update, context.t("diary.tz.changed", tz=_zone_label(context.language, tz),
                                         hour=f"{rem_rules.REMIND_HOUR}:00"))


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_reminder_button, pattern=r"^rm:[dsn]:[A-Za-z0-9]{1,40}:[A-Za-z0-9]{1,40}:[bd]$"))
    app.add_handler(CommandHandler("timezone", timezone_command))
    app.add_handler(CallbackQueryHandler(on_timezone, pattern=r"^tz:\d{1,2}$"))

"""/schedule, /pause and /resume: a verified vet's hours and booking settings.

/schedule shows the weekly hours (in the vet's zone), the dated overrides, the settings and the next
bookings, with buttons to change each: a weekday's hours or a date's (typed: "09:00-13:00, 14:00-18:00",
"выходной"/"off"), slot length and buffer (buttons), minimum notice, booking horizon and daily cap
(typed), the time zone (buttons). Every change is checked whole by domain.schedule (overlapping or
inverted hours, a slot longer than a stretch...) and refused with the reason; the first hours a verified
vet publishes make them bookable (services.vets.set_schedule). /pause stops new bookings (bookings made
stay); /resume opens them again. Anyone who is not a vet, or not yet verified, is told so.

Typed answers are the person's `dialog` (name "vet_schedule", steps "vs_*", draft: the weekday or date).
Callback data: vs:m (menu), vs:d:<0-6> (a weekday's hours), vs:o (a date's hours), vs:l:<15|30|45>,
vs:b:<0..60>, vs:n / vs:h / vs:c (notice, horizon, cap), vs:z[:<zone index>], vs:p (pause), vs:r (resume).
"""
from __future__ import annotations

from datetime import timedelta

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from shared.bot import vet_messages
from shared.bot.context import BotContext
from shared.bot.handlers import diary, pet_dialog
from shared.bot.handlers.reminders import _zone_label
from shared.bot.keyboards import button, rows
from shared.bot.replies import drop_keyboard, edit_or_send
from shared.domain import reminders as rem_rules
from shared.domain import schedule as rules
from shared.domain.owners import Dialog
from shared.domain.pets import InvalidInput
from shared.domain.schedule import Schedule
from shared.domain.slots import local_today
from shared.domain.vets import SCHEDULE_STATUSES, Vet, VetStatus
from shared.services import owners as owner_service
from shared.services import vets as vet_service

SCHEDULE = "vet_schedule"
TYPED_STEPS = ("vs_day", "vs_odate", "vs_ohours", "vs_notice", "vs_horizon", "vs_cap")
_NO_CAP = {"нет", "no", "none", "-", "0", "без лимита", "off"}
_DELETE = {"удалить", "delete", "remove", "сбросить", "reset"}
NEXT_BOOKINGS = 5


async def _vet_for_schedule(update: Update, context: BotContext) -> Vet | None:
    """The acting person's vet record if they may set hours; else None after saying why."""
    vet = await context.services.vets.get(update.effective_user.id)
    if vet is None or vet.status not in SCHEDULE_STATUSES:
        status = vet.status if vet else None
        key = ("vet.under_review" if status == VetStatus.APPLIED else
               "vet.suspended" if status == VetStatus.SUSPENDED else "vet.not_vet")
        await update.effective_chat.send_message(context.t(key))
        if update.callback_query:
            await update.callback_query.answer()
        return None
    return vet


def _current(vet: Vet) -> Schedule:
    return vet.schedule or Schedule(vet.timezone)


def _menu(context: BotContext, vet: Vet):
    t = context.t
    pause = button(t("vet.btn.resume"), "vs:r") if vet.status == VetStatus.PAUSED else (
        button(t("vet.btn.pause"), "vs:p") if vet.status == VetStatus.ACTIVE else None)
    buttons = [*(button(vet_messages.weekday(context.language, d), f"vs:d:{d}") for d in range(7)),
               button(t("vet.btn.override"), "vs:o"), button(t("vet.btn.slot"), "vs:l"),
               button(t("vet.btn.buffer"), "vs:b"), button(t("vet.btn.notice"), "vs:n"),
               button(t("vet.btn.horizon"), "vs:h"), button(t("vet.btn.cap"), "vs:c"),
               button(t("vet.btn.zone"), "vs:z"), button(t("bk.btn.vet_list"), "bk:vl")]  # handlers.bookings
    return rows(*buttons, *([pause] if pause else []), per_row=3)


async def _show(update: Update, context: BotContext, vet: Vet, prefix: str = "") -> None:
    schedule, now = _current(vet), context.services.clock()
    lines = [prefix] if prefix else []
    lines.append(context.t(f"vet.you_are.{vet.status.value}"))
    lines.append(vet_messages.schedule_text(context.language, schedule, local_today(schedule, now)))
    lines.append("")
    lines.append(await _next_bookings(context, vet))
    await update.effective_chat.send_message("\n".join(lines), reply_markup=_menu(context, vet))


async def _next_bookings(context: BotContext, vet: Vet) -> str:
    """The vet's next consultations from the bookings calendar (when this deployment has bookings)."""
    bookings = context.services.bookings
    if bookings is None:
        return context.t("vet.sched.no_bookings")
    now = context.services.clock()
    busy = sorted(b for b in await bookings.calendar(vet.id) if b.start > now and not b.is_hold)
    if not busy:
        return context.t("vet.sched.no_bookings")
    zone = _current(vet).zone
    return "\n".join([context.t("vet.sched.next_bookings")]
                     + [b.start.astimezone(zone).strftime("%d.%m %H:%M") for b in busy[:NEXT_BOOKINGS]])


async def schedule_command(update: Update, context: BotContext) -> None:
    vet = await _vet_for_schedule(update, context)
    if vet:
        await _show(update, context, vet)


async def on_menu(update: Update, context: BotContext) -> None:
    """A button of the /schedule message."""
    query = update.callback_query
    parts = query.data.split(":")
    vet = await _vet_for_schedule(update, context)
    if vet is None:
        return
    action, value = parts[1], parts[2] if len(parts) > 2 else None
    lang = context.language
    if action == "m":
        await _done_with(update)
        await _show(update, context, vet)
    elif action == "d":
        await _done_with(update)
        await _ask(update, context, Dialog(SCHEDULE, "vs_day", {"day": int(value)}))
    elif action in ("n", "h", "c", "o"):
        step = {"n": "vs_notice", "h": "vs_horizon", "c": "vs_cap", "o": "vs_odate"}[action]
        await _done_with(update)
        await _ask(update, context, Dialog(SCHEDULE, step, {}))
    elif action in ("l", "b") and value is None:
        choices = rules.SLOT_LENGTHS if action == "l" else rules.BUFFERS
        await query.answer()
        await edit_or_send(update, context.t("vet.ask.slot" if action == "l" else "vet.ask.buffer"),
                           reply_markup=rows(*(button(context.t("vet.minutes", n=n), f"vs:{action}:{n}")
                                               for n in choices), per_row=5))
    elif action in ("l", "b"):
        field = "slot_minutes" if action == "l" else "buffer_minutes"
        await query.answer()
        await drop_keyboard(update)
        await _change(update, context, vet, **{field: int(value)})
    elif action == "z" and value is None:
        await query.answer()
        await edit_or_send(update, context.t("ask.vt_timezone"), reply_markup=rows(
            *(button(_zone_label(lang, z), f"vs:z:{i}") for i, z in enumerate(rem_rules.TIMEZONE_CHOICES))))
    elif action == "z":
        index = int(value)
        if not 0 <= index < len(rem_rules.TIMEZONE_CHOICES):
            await query.answer(context.t("err.outdated_button"))
            return
        await query.answer()
        await drop_keyboard(update)
        await _change(update, context, vet, timezone=rem_rules.TIMEZONE_CHOICES[index])
    elif action in ("p", "r"):
        await query.answer()
        await drop_keyboard(update)
        await _pause_or_resume(update, context, vet, pause=action == "p")


async def _done_with(update: Update) -> None:
    """Answers the press and drops its buttons (they are acted on)."""
    await update.callback_query.answer()
    await drop_keyboard(update)


async def _ask(update: Update, context: BotContext, dialog: Dialog) -> None:
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()
    await ask_current(update, context)


async def ask_current(update: Update, context: BotContext) -> None:
    dialog = context.owner.dialog
    day = dialog.draft.get("day")
    name = vet_messages.weekday(context.language, day) if isinstance(day, int) else dialog.draft.get("date", "")
    await update.effective_chat.send_message(context.t(f"ask.{dialog.step}", day=name),
                                             reply_markup=rows(button(context.t("vet.btn.back"), "vs:m")))


async def _change(update: Update, context: BotContext, vet: Vet, close: bool = False, **changes) -> bool:
    """Applies changes to the vet's schedule; a refused change is explained and nothing is saved."""
    services = context.services
    try:
        schedule = _current(vet).with_changes(**changes)
        updated = await vet_service.set_schedule(services.vets, vet.id, schedule, services.clock())
    except InvalidInput as err:
        await update.effective_chat.send_message(vet_messages.error(context.language, err))
        return False
    if close:
        context.owner = await owner_service.set_dialog(services.owners, context.owner, None)
    await context.commit()
    published = vet.status == VetStatus.VERIFIED and updated.status == VetStatus.ACTIVE
    await _show(update, context, updated, context.t("vet.sched.published" if published else "vet.sched.saved"))
    return True


async def on_text(update: Update, context: BotContext) -> None:
    """A typed answer of /schedule; other texts go on to the diary (and from there the pet form)."""
    dialog = context.owner.dialog if context.owner else None
    if dialog is None or dialog.name != SCHEDULE:
        await diary.on_text(update, context)
        return
    vet = await _vet_for_schedule(update, context)
    if vet is None:
        context.owner = await owner_service.set_dialog(context.services.owners, context.owner, None)
        await context.commit()
        return
    text, schedule = update.message.text, _current(vet)
    today = local_today(schedule, context.services.clock())
    try:
        if dialog.step == "vs_odate":
            day = rules.parse_override_date(text, today)
            await _ask(update, context, dialog.at("vs_ohours", date=day.strftime("%d.%m.%Y"), iso=day.isoformat()))
            return
        changes = _typed_changes(dialog, text, schedule)
    except InvalidInput as err:
        if "day" in err.params and err.params["day"] is None:  # hours parsed alone: name the day asked
            err.params["day"] = dialog.draft.get("day", dialog.draft.get("date"))
        await update.message.reply_text(vet_messages.error(context.language, err))
        return
    await _change(update, context, vet, close=True, **changes)


def _typed_changes(dialog: Dialog, text: str, schedule: Schedule) -> dict:
    """What a typed answer changes in the schedule (InvalidInput when it cannot)."""
    from datetime import date

    value = " ".join((text or "").lower().split())
    if dialog.step == "vs_day":
        weekly = dict(schedule.weekly)
        weekly[dialog.draft["day"]] = rules.parse_hours(text, schedule.slot_minutes)
        return {"weekly": weekly}
    if dialog.step == "vs_ohours":
        overrides = dict(schedule.overrides)
        day = date.fromisoformat(dialog.draft["iso"])
        if value in _DELETE:
            overrides.pop(day, None)
        else:
            overrides[day] = rules.parse_hours(text, schedule.slot_minutes)
        return {"overrides": overrides}
    if dialog.step == "vs_notice":
        hours = _number(value, halves=True)
        if hours is None:
            raise InvalidInput("vet.err.notice")
        return {"min_notice": timedelta(minutes=hours * 60)}
    if dialog.step == "vs_horizon":
        days = _number(value)
        if days is None:
            raise InvalidInput("vet.err.horizon")
        return {"horizon_days": int(days)}
    if value in _NO_CAP:
        return {"daily_cap": None}
    cap = _number(value)
    if cap is None:
        raise InvalidInput("vet.err.cap")
    return {"daily_cap": int(cap)}


def _number(text: str, halves: bool = False) -> float | None:
    """A whole number as typed ("2"), or with `halves` a half ("1,5", "0.5"); None otherwise."""
    whole, _, part = text.replace(",", ".").partition(".")
    if not (whole.isascii() and whole.isdigit() and len(whole) <= 4) or part not in (("", "0", "5") if halves else ("",)):
        return None
    return int(whole) + (0.5 if part == "5" else 0)


# ---- pause and resume ----------------------------------------------------------------------------

async def pause_command(update: Update, context: BotContext) -> None:
    vet = await _vet_for_schedule(update, context)
    if vet:
        await _pause_or_resume(update, context, vet, pause=True)


async def resume_command(update: Update, context: BotContext) -> None:
    vet = await _vet_for_schedule(update, context)
    if vet:
        await _pause_or_resume(update, context, vet, pause=False)


async def _pause_or_resume(update: Update, context: BotContext, vet: Vet, pause: bool) -> None:
    wanted = VetStatus.ACTIVE if pause else VetStatus.PAUSED
    if vet.status != wanted:
        key = ("vet.pause.already" if vet.status == VetStatus.PAUSED else "vet.pause.not_active") if pause else (
            "vet.resume.already" if vet.status == VetStatus.ACTIVE else "vet.resume.not_paused")
        await update.effective_chat.send_message(context.t(key))
        return
    services = context.services
    change = vet_service.pause if pause else vet_service.resume
    await change(services.vets, vet.id, services.clock())
    await context.commit()
    await update.effective_chat.send_message(
        context.t("vet.paused" if pause else "vet.resumed"),
        reply_markup=rows(button(context.t("vet.btn.resume" if pause else "vet.btn.pause"), "vs:r" if pause else "vs:p"),
                          button(context.t("vet.btn.schedule"), "vs:m")))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("schedule", schedule_command))
    app.add_handler(CommandHandler("pause", pause_command))
    app.add_handler(CommandHandler("resume", resume_command))
    app.add_handler(CallbackQueryHandler(
        on_menu, pattern=r"^vs:(m|o|n|h|c|p|r|l|b|z|d:[0-6]|l:(15|30|45)|b:(0|15|30|45|60)|z:\d{1,2})$"))
    pet_dialog.ASKERS[SCHEDULE] = ask_current

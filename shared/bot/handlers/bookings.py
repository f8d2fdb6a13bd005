"""/bookings and the buttons of a booked consultation: the owner cancels (what comes back is shown first)
or moves it once; the vet sees the patient's card and cancels with a reason; the other side is told.

Owner: /bookings lists their consultations ahead, each with Move (while it may) and Cancel. Vet: the
same command lists their patients' too, and /schedule has a button to them (bk:vl); a booking's card
(bk:v) shows the pet as booked, the reason, the triage answer with a link to its photo valid 15 minutes,
and the diary's week. The vet is told of every new (handlers.payments), moved or cancelled booking of
theirs with that card; an owner whose vet cancels gets an apology, the reason, the refund and a button
to another vet for the same pet and reason (bk:o).

Callback data (booking ids as Firestore makes them): bk:c:<b> (cancel?), bk:cy:<b> (yes), bk:k:<b>
(keep), bk:r:<b> (move: days), bk:rd:<b>:<YYYYMMDD> (an owner-local day's times), bk:rs:<b>:<YYYYMMDDHHMM>
(move to this UTC time), bk:o:<b> (another vet), bk:vl (the vet's list), bk:v:<b> (the vet's card),
bk:vc:<b> (the vet cancels: why?), bk:vr:<b>:<reason>. Nothing from a button is trusted: services.cancellations
checks on every read that the person is the booking's owner (owner's buttons) or its vet (vet's buttons)
and answers booking.err.not_found to anyone else. Racing presses are decided by Firestore: one cancels
(one refund) or moves, the others are told it is done already.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from shared.bot import render
from shared.bot.context import BotContext
from shared.bot.handlers import conclusion, consult, diary
from shared.bot.handlers.payments import refunder
from shared.bot.handlers.reminders import format_date
from shared.bot.keyboards import button, rows
from shared.bot.replies import drop_keyboard
from shared.domain.bookings import FREE_CANCEL_BEFORE, Booking, Party, Price, SlotTaken, VetCancelReason
from shared.domain.pets import InvalidInput
from shared.domain.reminders import zone
from shared.domain.slots import by_day
from shared.i18n import t
from shared.services import cancellations
from shared.services.consultation_tasks import RepositoryParticipants
from shared.services.pets import PetNotFound, owned_pet

log = logging.getLogger(__name__)

_STAMP = "%Y%m%d%H%M"
NEW, MOVED, CANCELLED = "new", "moved", "cancelled"
_ID = r"[A-Za-z0-9]{1,40}"


# ---- what the other side is told -------------------------------------------------------------------

def triage_line(lang: str, triage: dict | None) -> str | None:
    """The photo check the booking was made with, as the vet reads it (None without one)."""
    if not triage:
        return None
    findings = ", ".join(f"{f['label']} {round(f['p'] * 100)}%" for f in triage.get("findings") or []) or "—"
    return t(lang, "booking.vet_triage", urgency=t(lang, f"triage.urgency.{triage.get('urgency', 'none')}"),
             findings=findings)


def card_lines(lang: str, card: cancellations.PatientCard, today: date) -> list[str]:
    """The patient as the vet is shown them: the pet as booked, the reason, the triage, the diary's week
    and the treatments in force."""
    booking = card.booking
    lines = ["", render.pet_card(lang, card.pet, today), t(lang, "booking.vet_reason", reason=booking.reason)]
    lines += [x for x in (triage_line(lang, booking.triage),) if x]
    if card.week is not None:
        lines += ["", *diary.week_lines(lang, card.week)]
    if card.treatments:
        lines.append(t(lang, "bk.vet.treatments") + " " + "; ".join(
            f"{t(lang, f'diary.kind.{x.kind.value}')} {x.product} {format_date(lang, x.given_on)}"
            + (f" → {format_date(lang, x.next_due)}" if x.next_due else "") for x in card.treatments))
    return lines


async def _people(context: BotContext, booking: Booking):
    """The owner and the vet as the consultation messages address them (language, zone, names)."""
    s = context.shared_services
    return await RepositoryParticipants(s.owners, s.vets).meeting(booking)


async def _send(context: BotContext, chat_id: int, text: str, markup=None) -> bool:
    try:
        await context.bot.send_message(chat_id, text[:4096], reply_markup=markup)
        return True
    except (Forbidden, BadRequest) as err:  # blocked the bot, or never started it: ops must see it
        log.error("a booking notice not delivered: %s", type(err).__name__)
        return False


async def tell_vet(context: BotContext, booking: Booking, kind: str, *, old_start: datetime | None = None,
                   cancelled: cancellations.Cancellation | None = None) -> None:
    """A new, moved or cancelled booking, to its vet, in their language and zone: with the patient's card
    (a new or moved one also with the photo link, the diary and their buttons). A booking cancelled because
    its owner erased their data says only when it was: nothing of theirs goes out after erasure."""
    _, _, vet = await _people(context, booking)
    lang, tz = vet.language, vet.timezone
    now = context.services.clock()
    today = now.astimezone(zone(tz)).date()
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    when = consult.when(lang, booking.start, tz)
    if kind == CANCELLED:
        if cancelled is not None and cancelled.erasure:
            await _send(context, vet.user_id, t(lang, "bk.vet.cancelled_erased", when=when))
            return
        by = cancelled.by.value if cancelled else Party.OWNER.value
        lines = [t(lang, f"bk.vet.cancelled_by_{by}", when=when),
                 t(lang, "bk.vet.ops_note", note=cancelled.note) if cancelled and cancelled.note else None,
                 "", render.pet_card(lang, _pet(booking), today), t(lang, "booking.vet_reason", reason=booking.reason)]
        await _send(context, vet.user_id, "\n".join(x for x in lines if x is not None))
        return
    s = context.shared_services
    card = await cancellations.patient_card(s.bookings, s.pets, s.diary, s.triage, s.photos, booking.id,
                                            booking.vet_id, today, booking=booking)
    head = (t(lang, "booking.vet_new", when=when, minutes=minutes) if kind == NEW else
            t(lang, "bk.vet.moved", when=when, old=consult.when(lang, old_start, tz), minutes=minutes))
    if await _send(context, vet.user_id, "\n".join([head, *card_lines(lang, card, today)]),
                   _vet_markup(lang, booking, card.photo_url, conclusion_button=kind == NEW)) and booking.photo_file_id:
        try:
            await context.bot.send_photo(vet.user_id, booking.photo_file_id)
        except (Forbidden, BadRequest) as err:
            log.warning("the owner's photo not delivered to the vet: %s", type(err).__name__)


def _pet(booking: Booking):
    from shared.domain.pet_form import pet_from_draft

    return pet_from_draft(booking.owner_id, booking.pet, booking.pet_id)


def _vet_markup(lang: str, booking: Booking, photo_url: str | None, conclusion_button: bool) -> InlineKeyboardMarkup:
    keyboard = []
    if photo_url:
        keyboard.append([InlineKeyboardButton(t(lang, "bk.btn.photo"), url=photo_url)])
    if conclusion_button:
        keyboard += conclusion.vet_booking_markup(lang, booking.id).inline_keyboard
    keyboard.append([button(t(lang, "bk.btn.card"), f"bk:v:{booking.id}"),
                     button(t(lang, "bk.btn.vet_cancel"), f"bk:vc:{booking.id}")])
    return InlineKeyboardMarkup(keyboard)


def refund_text(lang: str, booking: Booking, refund: int, refunded: bool) -> str:
    if refund <= 0:
        return t(lang, "bk.refund.none")
    amount = consult.money(lang, Price(refund, booking.price.currency))
    return t(lang, "bk.refund.made" if refunded else "bk.refund.owed", amount=amount)


async def tell_owner_vet_cancelled(context: BotContext, cancelled: cancellations.Cancellation) -> None:
    """The owner whose vet cancelled (or erased their data), or whose booking ops cancelled: an apology, why,
    the refund, another vet."""
    booking = cancelled.booking
    meeting, owner, _ = await _people(context, booking)
    lang = owner.language
    when = consult.when(lang, booking.start, owner.timezone)
    if cancelled.by is Party.OPS:
        head = t(lang, "bk.owner.ops_cancelled", when=when, vet=meeting.vet_name, pet=meeting.pet_name,
                 note=cancelled.note or "—")
    elif cancelled.reason:
        head = t(lang, "bk.owner.vet_cancelled", when=when, vet=meeting.vet_name, pet=meeting.pet_name,
                 reason=t(lang, f"bk.reason.{cancelled.reason.value}"))
    else:
        head = t(lang, "bk.owner.vet_gone", when=when, pet=meeting.pet_name)
    await _send(context, owner.user_id, head + "\n\n" + refund_text(lang, booking, cancelled.refund, cancelled.refunded),
                rows(button(t(lang, "bk.btn.other_vet"), f"bk:o:{booking.id}")))


async def tell_after_erasure(context: BotContext, cancelled: list[cancellations.Cancellation]) -> None:
    """After a person erased their data: the other side of each booking it cancelled (never the person)."""
    for c in cancelled:
        try:
            if c.by is Party.VET:
                await tell_owner_vet_cancelled(context, c)
            else:
                await tell_vet(context, c.booking, CANCELLED, cancelled=c)
        except Exception:  # noqa: BLE001 - the erasure is done; one notice lost is logged, not fatal
            log.exception("a notice after erasure not sent")


# ---- lists -------------------------------------------------------------------------------------------

async def bookings_command(update: Update, context: BotContext) -> None:
    """The owner's consultations ahead (and, for a vet, their patients'), each with its buttons."""
    s, lang = context.services, context.language
    now = s.clock()
    mine = await cancellations.owner_bookings(s.bookings, context.owner.id, now)
    theirs = await cancellations.vet_bookings(s.bookings, context.owner.id, now)
    if not mine and not theirs:
        await update.effective_chat.send_message(context.t("bk.none"))
        return
    tz = context.owner.timezone
    for b in mine:
        vet = await s.vets.get(b.vet_id)
        text = context.t("bk.line", when=consult.when(lang, b.start, tz), vet=vet.full_name if vet else "—",
                         pet=b.pet.get("name", ""), minutes=int((b.end - b.start).total_seconds() // 60),
                         price=consult.money(lang, b.price))
        buttons = [button(context.t("bk.btn.move"), f"bk:r:{b.id}")] if _movable(b, now) else []
        await update.effective_chat.send_message(text, reply_markup=rows(*buttons, button(context.t("bk.btn.cancel"),
                                                                                           f"bk:c:{b.id}")))
    if theirs:
        await _vet_list(update, context, theirs)


def _movable(booking: Booking, now: datetime) -> bool:
    return booking.reschedules_left > 0 and booking.start - now >= FREE_CANCEL_BEFORE


async def _vet_tz(context: BotContext) -> str | None:
    """The acting vet's calendar zone (their times are shown in it)."""
    vet = await context.services.vets.get(context.owner.id)
    return vet.timezone if vet else None


async def _vet_list(update: Update, context: BotContext, found: list[Booking]) -> None:
    tz = await _vet_tz(context)
    lines = [context.t("bk.vet.list")]
    lines += [f"{consult.when(context.language, b.start, tz)} — {b.pet.get('name', '')}" for b in found[:10]]
    await update.effective_chat.send_message("\n".join(lines), reply_markup=rows(
        *(button(f"{consult.when(context.language, b.start, tz)} {b.pet.get('name', '')}"[:60], f"bk:v:{b.id}")
          for b in found[:10]), per_row=1))


async def on_vet_list(update: Update, context: BotContext) -> None:
    """bk:vl (/schedule's button): the vet's consultations ahead."""
    await update.callback_query.answer()
    found = await cancellations.vet_bookings(context.services.bookings, context.owner.id, context.services.clock())
    if not found:
        await update.effective_chat.send_message(context.t("bk.vet.none"))
        return
    await _vet_list(update, context, found)


# ---- the owner cancels -----------------------------------------------------------------------------

def _arg(update: Update, n: int = 2) -> str:
    return update.callback_query.data.split(":")[n]


async def _answered(update: Update, context: BotContext, call):
    """What the use case returns, the press answered; None when it refused (InvalidInput: the press is
    answered with the reason)."""
    try:
        result = await call
    except InvalidInput as err:
        await update.callback_query.answer(context.t(err.code, **err.params)[:200], show_alert=True)
        return None
    await update.callback_query.answer()
    return result


async def on_cancel(update: Update, context: BotContext) -> None:
    """bk:c:<b>: what cancelling now gives back, and Yes / Keep."""
    s, lang = context.services, context.language
    terms = await _answered(update, context, cancellations.cancel_terms(
        s.bookings, s.payments, _arg(update), context.owner.id, s.clock(), as_party=Party.OWNER))
    if terms is None:
        return
    b = terms.booking
    full = terms.refund == b.price.amount
    key = "bk.cancel.ask_full" if full else ("bk.cancel.ask_part" if terms.refund else "bk.cancel.ask_none")
    text = context.t(key, when=consult.when(lang, b.start, context.owner.timezone), pet=b.pet.get("name", ""),
                     amount=consult.money(lang, Price(terms.refund, b.price.currency)) if terms.refund else "",
                     price=consult.money(lang, b.price))
    await update.effective_chat.send_message(text, reply_markup=rows(
        button(context.t("bk.btn.cancel_yes"), f"bk:cy:{b.id}"), button(context.t("bk.btn.keep"), f"bk:k:{b.id}")))


async def on_cancel_yes(update: Update, context: BotContext) -> None:
    """bk:cy:<b>: cancels (once, however often pressed), refunds, tells the vet."""
    s = context.services
    done = await _answered(update, context, cancellations.cancel(
        s.bookings, refunder(context), s.payments, _arg(update), context.owner.id, s.clock(), as_party=Party.OWNER))
    if done is None:
        return
    await drop_keyboard(update)
    await update.effective_chat.send_message(
        context.t("bk.cancelled") + "\n" + refund_text(context.language, done.booking, done.refund, done.refunded))
    await tell_vet(context, done.booking, CANCELLED, cancelled=done)


async def on_keep(update: Update, context: BotContext) -> None:
    """bk:k:<b>: the cancellation question is dropped."""
    await update.callback_query.answer(context.t("bk.kept"))
    await drop_keyboard(update)


# ---- the owner moves it ----------------------------------------------------------------------------

def _options(context: BotContext, booking_id: str):
    s = context.services
    return cancellations.reschedule_options(s.vets, s.bookings, booking_id, context.owner.id, s.clock())


async def on_move(update: Update, context: BotContext) -> None:
    """bk:r:<b>: the days (in the owner's zone) with free times of the same vet."""
    found = await _answered(update, context, _options(context, _arg(update)))
    if found is not None:
        await _move_days(update, context, *found)


async def _move_days(update: Update, context: BotContext, booking: Booking, vet, free) -> None:
    days = by_day(free, zone(context.owner.timezone))
    if not days:
        await update.effective_chat.send_message(context.t("booking.vet_full", name=vet.full_name))
        return
    labels = context.t("booking.weekdays").split(",")
    await update.effective_chat.send_message(
        context.t("bk.move.which_day", when=consult.when(context.language, booking.start, context.owner.timezone)),
        reply_markup=rows(*(button(f"{labels[d.weekday()]} {d:%d.%m}", f"bk:rd:{booking.id}:{d:%Y%m%d}") for d in days),
                          per_row=3))


async def on_move_day(update: Update, context: BotContext) -> None:
    """bk:rd:<b>:<YYYYMMDD>: that day's free times."""
    booking_id, stamp = _arg(update), _arg(update, 3)
    try:
        day = datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        await update.callback_query.answer(context.t("err.outdated_button"))
        return
    found = await _answered(update, context, _options(context, booking_id))
    if found is not None:
        await _move_times(update, context, *found, day)


async def _move_times(update: Update, context: BotContext, booking: Booking, vet, free, day: date,
                      note: str | None = None) -> None:
    tz = zone(context.owner.timezone)
    slots = by_day(free, tz).get(day, [])
    if not slots:
        await update.effective_chat.send_message((note + "\n\n" if note else "") + context.t("booking.day_full"))
        await _move_days(update, context, booking, vet, free)
        return
    await update.effective_chat.send_message(
        (note + "\n\n" if note else "") + context.t("bk.move.which_time"),
        reply_markup=rows(*(button(f"{x.start.astimezone(tz):%H:%M}", f"bk:rs:{booking.id}:{x.start:{_STAMP}}")
                            for x in slots), per_row=4))


async def on_move_to(update: Update, context: BotContext) -> None:
    """bk:rs:<b>:<YYYYMMDDHHMM UTC>: moves it (once), tells the vet; a time gone meanwhile shows the day again."""
    s = context.services
    booking_id, stamp = _arg(update), _arg(update, 3)
    try:
        start = datetime.strptime(stamp, _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        await update.callback_query.answer(context.t("err.outdated_button"))
        return
    try:
        moved = await cancellations.reschedule(s.vets, s.bookings, booking_id, context.owner.id, start, s.clock(),
                                               tasks=s.tasks)
    except (InvalidInput, SlotTaken) as err:
        code = err.code if isinstance(err, InvalidInput) else "booking.err.just_taken"
        params = err.params if isinstance(err, InvalidInput) else {}
        await update.callback_query.answer(context.t(code, **params)[:200], show_alert=True)
        if code.startswith("schedule.") or code == "booking.err.just_taken":  # the day again, as it is now
            try:
                found = await _options(context, booking_id)
            except InvalidInput:
                return
            await _move_times(update, context, *found, start.astimezone(zone(context.owner.timezone)).date(),
                              note=context.t(code, **params))
        return
    await update.callback_query.answer()
    await drop_keyboard(update)
    await update.effective_chat.send_message(context.t(
        "bk.moved", when=consult.when(context.language, moved.booking.start, context.owner.timezone)))
    await tell_vet(context, moved.booking, MOVED, old_start=moved.old_start)


async def on_other_vet(update: Update, context: BotContext) -> None:
    """bk:o:<b>: the owner's cancelled consultation's pet and reason, straight to the list of vets."""
    from shared.services.booking import owned_booking

    s = context.services

    async def owners_pet():
        booking, party = await owned_booking(s.bookings, _arg(update), context.owner.id)
        if party is not Party.OWNER:
            raise InvalidInput("booking.err.not_found")
        try:
            return booking, await owned_pet(s.pets, context.owner.id, booking.pet_id)
        except PetNotFound:
            raise InvalidInput("pet.not_found") from None

    found = await _answered(update, context, owners_pet())
    if found is None:
        return
    booking, pet = found
    draft = {"pet_id": pet.id, "name": pet.name, "species": pet.species.value, "reason": booking.reason}
    if booking.triage:
        draft["triage"] = {**booking.triage, "triage_result_id": booking.triage_result_id}
    if booking.photo_file_id:
        draft["photo"] = booking.photo_file_id
    await consult.pick_vet(update, context, draft)


# ---- the vet -----------------------------------------------------------------------------------------

async def on_vet_card(update: Update, context: BotContext) -> None:
    """bk:v:<b>: the patient's card for the booking's vet only (a fresh photo link with it)."""
    s, lang = context.shared_services, context.language
    tz = await _vet_tz(context)
    today = s.clock().astimezone(zone(tz)).date()
    card = await _answered(update, context, cancellations.patient_card(
        s.bookings, s.pets, s.diary, s.triage, s.photos, _arg(update), context.owner.id, today))
    if card is None:
        return
    b = card.booking
    head = context.t("bk.vet.card", when=consult.when(lang, b.start, tz),
                     minutes=int((b.end - b.start).total_seconds() // 60))
    await update.effective_chat.send_message("\n".join([head, *card_lines(lang, card, today)])[:4096],
                                             reply_markup=_vet_markup(lang, b, card.photo_url, conclusion_button=False))


async def on_vet_cancel(update: Update, context: BotContext) -> None:
    """bk:vc:<b>: why? (the owner is told)."""
    s = context.services
    terms = await _answered(update, context, cancellations.cancel_terms(
        s.bookings, s.payments, _arg(update), context.owner.id, s.clock(), as_party=Party.VET))
    if terms is None:
        return
    b = terms.booking
    await update.effective_chat.send_message(
        context.t("bk.vet.cancel_why", when=consult.when(context.language, b.start, await _vet_tz(context)),
                  pet=b.pet.get("name", "")),
        reply_markup=rows(*(button(context.t(f"bk.reason.{r.value}"), f"bk:vr:{b.id}:{r.value}") for r in VetCancelReason),
                          per_row=1))


async def on_vet_reason(update: Update, context: BotContext) -> None:
    """bk:vr:<b>:<reason>: the vet cancels: full refund, the owner told and offered another vet."""
    s = context.services
    if _arg(update, 3) not in {r.value for r in VetCancelReason}:
        await update.callback_query.answer(context.t("err.outdated_button"))
        return
    done = await _answered(update, context, cancellations.cancel(
        s.bookings, refunder(context), s.payments, _arg(update), context.owner.id, s.clock(), as_party=Party.VET,
        reason=VetCancelReason(_arg(update, 3))))
    if done is None:
        return
    await drop_keyboard(update)
    await update.effective_chat.send_message(context.t("bk.vet.cancelled_done"))
    await tell_owner_vet_cancelled(context, done)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("bookings", bookings_command))
    app.add_handler(CallbackQueryHandler(on_cancel, pattern=rf"^bk:c:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_cancel_yes, pattern=rf"^bk:cy:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_keep, pattern=rf"^bk:k:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_move, pattern=rf"^bk:r:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_move_day, pattern=rf"^bk:rd:{_ID}:\d{{8}}$"))
    app.add_handler(CallbackQueryHandler(on_move_to, pattern=rf"^bk:rs:{_ID}:\d{{12}}$"))
    app.add_handler(CallbackQueryHandler(on_other_vet, pattern=rf"^bk:o:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_vet_list, pattern=r"^bk:vl$"))
    app.add_handler(CallbackQueryHandler(on_vet_card, pattern=rf"^bk:v:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_vet_cancel, pattern=rf"^bk:vc:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_vet_reason, pattern=rf"^bk:vr:{_ID}:[a-z]{{1,20}}$"))

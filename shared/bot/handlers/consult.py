"""/consult: choose the pet, say what is wrong (text, a photo if wanted), choose a vet, a day, a time;
the time is held for 10 minutes while the owner pays the invoice sent with the summary.

State between messages is the owner's `dialog` (name "consult"; its text and photos come through
handlers.diary and handlers.photo, which hand them over): step "c_reason" (waiting for the
reason), "c_pick" (choosing vet, day and time: any of those buttons), "c_pay" (a hold waits for
payment). The draft holds pet_id, the pet's name and species, the reason, the photo's file id,
when booking from a triage answer the result's id, area and urgency, and the vets each page of the list
showed (pages: the next page is listed without them).

Callback data: cs:p:<pet> (book for this pet: /consult's list and the pet card), cs:l:<page> (vets),
cs:v:<vet> (the vet's days), cs:d:<vet>:<YYYYMMDD> (an owner-local day's times),
cs:s:<vet>:<YYYYMMDDHHMM> (a time, UTC: hold it), cs:x:<booking> (let an unpaid hold go);
tr:b:<pet>:<result> (the triage answer's "Book a vet"). Nothing from a button is trusted: the pet and
result are looked up under the acting owner, the vet must be bookable for the pet's species and the
time one of their free slots (services.booking), the booking must be the owner's.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from shared.bot import keyboards
from shared.bot.context import BotContext
from shared.bot.handlers import pet_dialog
from shared.bot.keyboards import button, rows
from shared.bot.replies import drop_keyboard
from shared.domain.bookings import Booking, Currency, Price, SlotTaken, check_reason
from shared.domain.owners import Dialog
from shared.domain.pets import InvalidInput, Pet, Species
from shared.domain.reminders import zone
from shared.domain.slots import Slot, by_day
from shared.domain.vets import Vet
from shared.i18n import t
from shared.services import booking as booking_service
from shared.services import owners as owner_service
from shared.services import payments as payment_service
from shared.services import triage as triage_service
from shared.services.pets import PetNotFound, owned_pet
from shared.services.unit_of_work import StaleUpdate

log = logging.getLogger(__name__)

CONSULT = "consult"
STEP_REASON, STEP_PICK, STEP_PAY = "c_reason", "c_pick", "c_pay"
_STAMP = "%Y%m%d%H%M"


# ---- rendering -------------------------------------------------------------------------------------

def money(lang: str, price: Price) -> str:
    if price.currency is Currency.XTR:
        return f"{price.amount} ⭐"
    roubles, kopecks = divmod(price.amount, 100)
    text = f"{roubles:,}".replace(",", "\u00a0")
    return f"{text},{kopecks:02d} ₽" if kopecks else f"{text} ₽"


def when(lang: str, moment: datetime, tz: str | None) -> str:
    """"ср, 2 дек, 11:00" on the clock of `tz` (the owner's or the vet's; Moscow when unknown)."""
    local = moment.astimezone(zone(tz))
    weekdays = t(lang, "booking.weekdays").split(",")
    months = t(lang, "booking.months").split(",")
    return f"{weekdays[local.weekday()]}, {local.day} {months[local.month - 1]}, {local:%H:%M}"


def _owner_tz(context: BotContext) -> str | None:
    return context.owner.timezone if context.owner else None


def _vet_line(context: BotContext, n: int, offer: booking_service.VetOffer) -> str:
    vet = offer.vet
    rating = context.t("booking.rating", rating=f"{vet.rating:.1f}") if vet.rating else context.t("booking.new_vet")
    nearest = (context.t("booking.nearest", when=when(context.language, offer.next_slot.start, _owner_tz(context)))
               if offer.next_slot else context.t("booking.no_slots"))
    return context.t("booking.vet_line", n=n, name=vet.full_name, price=money(context.language, offer.price),
                     rating=rating, years=vet.experience_years, nearest=nearest)


# ---- entry points -----------------------------------------------------------------------------------

async def consult_command(update: Update, context: BotContext) -> None:
    pets = await context.services.pets.list(context.owner.id)
    if not pets:
        await update.effective_chat.send_message(context.t("booking.no_pets"),
                                                 reply_markup=rows(button(context.t("menu.add_pet"), "pet:add")))
        return
    if len(pets) == 1:
        await _start(update, context, pets[0])
        return
    await update.effective_chat.send_message(context.t("booking.which_pet"), reply_markup=keyboards.with_app(
        rows(*(button(p.name, f"cs:p:{p.id}") for p in pets)), context.language, context.miniapp_url))


async def on_pet(update: Update, context: BotContext) -> None:
    """cs:p:<pet>: /consult's pet list, or the pet card's "Book a vet"."""
    query = update.callback_query
    try:
        pet = await owned_pet(context.services.pets, context.owner.id, query.data.split(":")[2])
    except PetNotFound:
        await query.answer(context.t("pet.not_found"), show_alert=True)
        return
    await query.answer()
    await _start(update, context, pet)


async def on_triage_book(update: Update, context: BotContext) -> None:
    """tr:b:<pet>:<result>: the triage answer's "Book a vet": the result, its photo and urgency go with
    the booking, and vets of the result's area are offered first."""
    query = update.callback_query
    _, _, pet_id, rid = query.data.split(":")
    try:
        pet, result = await triage_service.owned_result(context.services.pets, context.services.triage,
                                                        context.owner.id, pet_id, rid)
    except triage_service.ResultNotFound:
        await query.answer(context.t("triage.result_not_found"), show_alert=True)
        return
    await query.answer()
    await _start(update, context, pet, {"triage_result_id": result.id, "area": result.area.value,
                                        "urgency": result.urgency.value,
                                        "findings": [{"label": label, "p": round(p, 3)} for label, p in result.findings][:3]})


async def _start(update: Update, context: BotContext, pet: Pet, triage: dict | None = None) -> None:
    draft = {"pet_id": pet.id, "name": pet.name, "species": pet.species.value}
    if triage:
        draft["triage"] = triage
    await _set(context, Dialog(CONSULT, STEP_REASON, draft))
    text = context.t("ask.c_reason", name=pet.name)
    if triage:
        text += "\n\n" + context.t("booking.triage_goes_along")
    await update.effective_chat.send_message(text)


async def pick_vet(update: Update, context: BotContext, draft: dict) -> None:
    """Straight to the list of vets with a draft already made (the pet, reason, photo and triage of a
    consultation its vet cancelled: handlers.bookings)."""
    await _show_vets(update, context, 0, Dialog(CONSULT, STEP_PICK, draft))


async def _set(context: BotContext, dialog: Dialog | None) -> None:
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()


def _dialog(context: BotContext, *steps: str) -> Dialog | None:
    dialog = context.owner.dialog if context.owner else None
    return dialog if dialog and dialog.name == CONSULT and (not steps or dialog.step in steps) else None


async def ask_current(update: Update, context: BotContext) -> None:
    """Repeats the open question of this dialog (after /help or a sticker)."""
    dialog = _dialog(context)
    if dialog.step == STEP_REASON:
        await update.effective_chat.send_message(context.t("ask.c_reason", name=dialog.draft.get("name", "")))
    else:
        await _show_vets(update, context, 0)


# ---- the reason -------------------------------------------------------------------------------------

async def on_text(update: Update, context: BotContext) -> None:
    """Typed text while this dialog is open (handlers.diary hands it over): the reason when it is asked."""
    dialog = _dialog(context)
    if dialog.step != STEP_REASON:
        await update.message.reply_text(context.t("err.use_buttons"))
        return
    await _take_reason(update, context, update.message.text)


async def on_photo(update: Update, context: BotContext) -> None:
    """A photo while this dialog is open (handlers.photo hands it over): kept for the vet while the reason
    is asked, its caption, if any, the reason; at a later step the buttons are what counts."""
    dialog = _dialog(context, STEP_REASON)
    if dialog is None:
        await update.message.reply_text(context.t("err.use_buttons"))
        return
    message = update.message
    biggest = max(message.photo, key=lambda s: (s.width or 0) * (s.height or 0)) if message.photo else None
    file_id = biggest.file_id if biggest else message.document.file_id
    if message.caption:
        await _take_reason(update, context, message.caption, photo=file_id)
        return
    await _set(context, dialog.at(STEP_REASON, photo=file_id))
    await message.reply_text(context.t("booking.photo_kept"))


async def _take_reason(update: Update, context: BotContext, text: str, photo: str | None = None) -> None:
    try:
        reason = check_reason(text)
    except InvalidInput as err:
        await update.effective_chat.send_message(context.t(err.code, **err.params))
        return
    changes = {"reason": reason, **({"photo": photo} if photo else {})}
    await _show_vets(update, context, 0, _dialog(context).at(STEP_PICK, **changes))


# ---- choosing a vet, a day, a time -----------------------------------------------------------------

async def _show_vets(update: Update, context: BotContext, page: int, dialog: Dialog | None = None) -> None:
    """Page `page` of the vets, storing `dialog` (default: the open one) with the page's vets first.

    The draft's "pages" keeps the ids each page showed ([{"vets": [ids]}, ...]: Firestore holds no arrays
    of arrays). A page after the first is the best of the vets not on the pages before it (list_vets'
    `shown`), so it costs the reads of the first; Prev lists the same vets again if nothing changed. Listing
    a page forgets those after it (page 0, from anywhere, starts over); a page whose earlier ones the draft
    lacks (a button older than the draft) is listed exactly, at the old cost."""
    dialog = dialog or _dialog(context)
    draft = dialog.draft
    services = context.services
    seen = [p["vets"] for p in draft.get("pages", [])]
    shown = [vet_id for ids in seen[:page] for vet_id in ids] if page <= len(seen) else ()
    area = booking_service.triage_area((draft.get("triage") or {}).get("area"))
    found = await booking_service.list_vets(services.vets, services.bookings, Species(draft["species"]),
                                            services.clock(), services.payments.pricing, area=area, page=page,
                                            shown=shown)
    if found.offers and found.page <= len(seen):
        pages = [{"vets": ids} for ids in seen[:found.page]] + [{"vets": [o.vet.id for o in found.offers]}]
        dialog = dialog.at(dialog.step, pages=pages)
    await _set(context, dialog)  # before the list is shown: the next page depends on it
    if not found.offers:
        await update.effective_chat.send_message(context.t("booking.no_vets"))
        return
    first = found.page * booking_service.PAGE_SIZE + 1
    lines = [context.t("booking.vets_title", name=draft["name"])]
    if found.widened:
        lines.append(context.t("booking.area_widened"))
    lines += [_vet_line(context, first + i, o) for i, o in enumerate(found.offers)]
    buttons = [button(f"{first + i}. {o.vet.full_name}", f"cs:v:{o.vet.id}") for i, o in enumerate(found.offers)]
    nav = []
    if found.page > 0:
        nav.append(button(context.t("booking.btn.prev"), f"cs:l:{found.page - 1}"))
    if found.page + 1 < found.pages:
        nav.append(button(context.t("booking.btn.next"), f"cs:l:{found.page + 1}"))
    keyboard = [[b] for b in buttons] + ([nav] if nav else [])
    await update.effective_chat.send_message("\n\n".join(lines), reply_markup=keyboards.with_app(
        InlineKeyboardMarkup(keyboard), context.language, context.miniapp_url))


async def on_list(update: Update, context: BotContext) -> None:
    """cs:l:<page>."""
    query = update.callback_query
    if not _dialog(context, STEP_PICK, STEP_PAY):
        await query.answer(context.t("err.outdated_button"))
        return
    await query.answer()
    await _show_vets(update, context, int(query.data.split(":")[2]))


async def _vet_and_slots(update: Update, context: BotContext, vet_id: int) -> tuple[Vet, list[Slot]] | None:
    draft = _dialog(context).draft
    try:
        return await booking_service.vet_slots(context.services.vets, context.services.bookings, vet_id,
                                               Species(draft["species"]), context.services.clock())
    except InvalidInput as err:
        await update.effective_chat.send_message(context.t(err.code, **err.params))
        return None


async def _show_days(update: Update, context: BotContext, vet: Vet, free: list[Slot]) -> None:
    days = by_day(free, zone(_owner_tz(context)))
    if not days:
        await update.effective_chat.send_message(context.t("booking.vet_full", name=vet.full_name),
                                                 reply_markup=rows(button(context.t("booking.btn.other_vets"), "cs:l:0")))
        return
    labels = context.t("booking.weekdays").split(",")
    buttons = [button(f"{labels[d.weekday()]} {d:%d.%m}", f"cs:d:{vet.id}:{d:%Y%m%d}") for d in days]
    keyboard = rows(*buttons, button(context.t("booking.btn.other_vets"), "cs:l:0"), per_row=3)
    text = context.t("booking.vet_card", name=vet.full_name, city=vet.city, years=vet.experience_years,
                     education=vet.education, bio=vet.bio) + "\n\n" + context.t("booking.which_day")
    await update.effective_chat.send_message(text, reply_markup=keyboard)


async def on_vet(update: Update, context: BotContext) -> None:
    """cs:v:<vet>: the vet's days with free times (in the owner's time zone)."""
    query = update.callback_query
    if not _dialog(context, STEP_PICK, STEP_PAY):
        await query.answer(context.t("err.outdated_button"))
        return
    await query.answer()
    found = await _vet_and_slots(update, context, int(query.data.split(":")[2]))
    if found:
        await _show_days(update, context, *found)


async def _show_times(update: Update, context: BotContext, vet: Vet, free: list[Slot], day: date,
                      note: str | None = None) -> None:
    tz = zone(_owner_tz(context))
    slots = by_day(free, tz).get(day, [])
    if not slots:
        await update.effective_chat.send_message((note + "\n\n" if note else "") + context.t("booking.day_full"))
        await _show_days(update, context, vet, free)
        return
    buttons = [button(f"{s.start.astimezone(tz):%H:%M}", f"cs:s:{vet.id}:{s.start:{_STAMP}}") for s in slots]
    text = context.t("booking.which_time", name=vet.full_name, day=when(context.language, slots[0].start, _owner_tz(context))
                     .rsplit(",", 1)[0], minutes=vet.schedule.slot_minutes)
    await update.effective_chat.send_message((note + "\n\n" if note else "") + text, reply_markup=rows(
        *buttons, button(context.t("booking.btn.other_days"), f"cs:v:{vet.id}"), per_row=4))


async def on_day(update: Update, context: BotContext) -> None:
    """cs:d:<vet>:<YYYYMMDD>."""
    query = update.callback_query
    if not _dialog(context, STEP_PICK, STEP_PAY):
        await query.answer(context.t("err.outdated_button"))
        return
    _, _, vet_id, stamp = query.data.split(":")
    try:
        day = datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        await query.answer(context.t("err.outdated_button"))
        return
    await query.answer()
    found = await _vet_and_slots(update, context, int(vet_id))
    if found:
        await _show_times(update, context, *found, day)


async def on_slot(update: Update, context: BotContext) -> None:
    """cs:s:<vet>:<YYYYMMDDHHMM UTC>: hold it (Firestore decides who gets it), then the summary and invoice."""
    query = update.callback_query
    dialog = _dialog(context, STEP_PICK, STEP_PAY)
    _, _, vet_id, stamp = query.data.split(":")
    try:
        start = datetime.strptime(stamp, _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        dialog = None
    if dialog is None or "reason" not in dialog.draft:
        await query.answer(context.t("err.outdated_button"))
        return
    services, draft = context.services, dialog.draft
    try:
        pet = await owned_pet(services.pets, context.owner.id, draft["pet_id"])
    except PetNotFound:
        await query.answer(context.t("pet.not_found"), show_alert=True)
        return
    request = booking_service.HoldRequest(
        owner_id=context.owner.id, pet=pet, vet_id=int(vet_id), start=start, reason=draft["reason"],
        triage_result_id=(draft.get("triage") or {}).get("triage_result_id"), triage=draft.get("triage"),
        photo_file_id=draft.get("photo"))
    now = services.clock()
    try:
        held = await booking_service.hold_slot(services.vets, services.bookings, request, now,
                                               services.payments.pricing, tasks=services.tasks, keep_older=True)
    except (InvalidInput, SlotTaken) as err:
        if await booking_service.holds_slot(services.bookings, context.owner.id, int(vet_id), start, now):
            # another press of this time held it and sends the invoice: this one is an outdated press
            await query.answer(context.t("err.outdated_button"))
            return
        code = err.code if isinstance(err, InvalidInput) else "booking.err.just_taken"
        params = err.params if isinstance(err, InvalidInput) else {}
        await query.answer(context.t(code, **params)[:200], show_alert=True)
        found = await _vet_and_slots(update, context, int(vet_id))
        if found:
            day = start.astimezone(zone(_owner_tz(context))).date()
            await _show_times(update, context, *found, day, note=context.t(code, **params))
        return
    await query.answer()
    await drop_keyboard(update)
    try:  # of times pressed at once, the one whose dialog step commits keeps its hold
        await _set(context, dialog.at(STEP_PAY, booking_id=held.id))
    except StaleUpdate:
        await services.bookings.expire_hold(held.id, now, note="another slot chosen")
        raise
    await booking_service.let_older_holds_go(services.bookings, held, now)
    vet = await services.vets.get(held.vet_id)
    await _send_invoice(update, context, held, vet)


def summary(context: BotContext, booking: Booking, vet: Vet | None, tz: str | None) -> str:
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    return context.t("booking.summary", vet=vet.full_name if vet else "—", pet=booking.pet.get("name", ""),
                     when=when(context.language, booking.start, tz), minutes=minutes, price=money(context.language, booking.price),
                     reason=booking.reason)


async def _send_invoice(update: Update, context: BotContext, booking: Booking, vet: Vet | None) -> None:
    terms = payment_service.invoice_terms(booking, context.services.payments)
    tz = _owner_tz(context)
    if terms.currency != Currency.XTR.value and not terms.provider_token:  # PROVIDER_TOKEN not configured
        log.error("no PROVIDER_TOKEN: invoices in %s cannot be sent", terms.currency)
        await context.services.bookings.expire_hold(booking.id, context.services.clock(), note="payments unavailable")
        await update.effective_chat.send_message(context.t("booking.err.payments_unavailable"))
        return
    await update.effective_chat.send_message(summary(context, booking, vet, tz) + "\n\n" + context.t("booking.held"))
    description = context.t("booking.invoice_description", vet=vet.full_name if vet else "",
                            when=when(context.language, booking.start, tz), pet=booking.pet.get("name", ""))[:255]
    await context.bot.send_invoice(
        chat_id=update.effective_chat.id, title=context.t("booking.invoice_title")[:32], description=description,
        payload=terms.payload, provider_token=terms.provider_token or None, currency=terms.currency,
        prices=[LabeledPrice(context.t("booking.invoice_title")[:32], terms.amount)], need_email=terms.need_email or None,
        send_email_to_provider=terms.send_email_to_provider or None, provider_data=terms.provider_data,
        reply_markup=InlineKeyboardMarkup([
            [InlineKeyboardButton(context.t("booking.btn.pay", price=money(context.language, booking.price)), pay=True)],
            [InlineKeyboardButton(context.t("booking.btn.cancel_hold"), callback_data=f"cs:x:{booking.id}")]]))


async def on_cancel(update: Update, context: BotContext) -> None:
    """cs:x:<booking>: the owner lets the unpaid hold go."""
    query = update.callback_query
    booking_id = query.data.split(":")[2]
    try:
        booking, _ = await booking_service.owned_booking(context.services.bookings, booking_id, context.owner.id)
        await booking_service.release_hold(context.services.bookings, booking_id, context.owner.id,
                                           context.services.clock())
    except InvalidInput as err:
        await query.answer(context.t(err.code, **err.params), show_alert=True)
        return
    await query.answer()
    await drop_keyboard(update)
    dialog = _dialog(context, STEP_PAY)
    if dialog and dialog.draft.get("booking_id") == booking_id:
        await _set(context, dialog.at(STEP_PICK, booking_id=None))
    await update.effective_chat.send_message(context.t("booking.released"), reply_markup=rows(
        button(context.t("booking.btn.other_days"), f"cs:v:{booking.vet_id}"),
        button(context.t("booking.btn.other_vets"), "cs:l:0")) if _dialog(context) else None)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("consult", consult_command))
    app.add_handler(CallbackQueryHandler(on_pet, pattern=r"^cs:p:[A-Za-z0-9]{1,40}$"))
    app.add_handler(CallbackQueryHandler(on_triage_book, pattern=r"^tr:b:[A-Za-z0-9]{1,40}:[A-Za-z0-9]{1,40}$"))
    app.add_handler(CallbackQueryHandler(on_list, pattern=r"^cs:l:\d{1,3}$"))
    app.add_handler(CallbackQueryHandler(on_vet, pattern=r"^cs:v:\d{1,15}$"))
    app.add_handler(CallbackQueryHandler(on_day, pattern=r"^cs:d:\d{1,15}:\d{8}$"))
    app.add_handler(CallbackQueryHandler(on_slot, pattern=r"^cs:s:\d{1,15}:\d{12}$"))
    app.add_handler(CallbackQueryHandler(on_cancel, pattern=r"^cs:x:[A-Za-z0-9]{1,40}$"))
    pet_dialog.ASKERS[CONSULT] = ask_current  # /help and stickers repeat this dialog's question

"""/vet: anyone applies to consult as a vet; the application goes to ops (handlers.vet_ops).

State between messages is the person's `dialog` (name "vet_apply", steps "vt_*", draft = answers so
far), so any instance resumes it; /help and stray stickers repeat the open question (pet_dialog.ASKERS).

Steps: full name, city, education, diploma/licence photos (one or more, then "Done"), species and areas
(buttons, several), years of experience, languages (buttons), a short bio, a portrait (a photo), the
price per consultation (within the platform's bounds), the time zone (buttons or a typed zone name),
then the whole application to confirm. Photos are cleaned like owners' photos (adapters.images:
size and pixel limits before decoding, EXIF/GPS stripped) and stored privately (services.vets: document
photos are seen by ops only). Document photos are not written to the dialog (an album arrives as several
updates at once, none of which may lose the others): they are listed from their private folder when
the vet presses "Done".

Callback data: va:t:<sp|ar|lg>:<value> toggles a choice; va:n:<dc|sp|ar|lg> ends a step of several
answers; va:z:<zone index>; va:s submits; va:a starts again after a rejection.
"""
from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from shared.bot import vet_messages
from shared.bot.context import BotContext
from shared.bot.handlers import pet_dialog
from shared.bot.handlers.photo import PHOTO_FILTER
from shared.bot.handlers.photo import on_photo as triage_photo
from shared.bot.keyboards import button, rows
from shared.bot.replies import drop_keyboard, edit_or_send
from shared.domain import reminders as rem_rules
from shared.domain import vets as rules
from shared.domain.owners import Dialog
from shared.domain.pets import InvalidInput, Species
from shared.domain.photos import PhotoRejected, check_declared_size
from shared.domain.vets import Area, VetStatus
from shared.i18n import t
from shared.services import owners as owner_service
from shared.services import vets as vet_service
from shared.services.unit_of_work import OwnerGone, StaleUpdate

log = logging.getLogger(__name__)

APPLY = "vet_apply"
STEPS = ("vt_name", "vt_city", "vt_education", "vt_documents", "vt_species", "vt_areas", "vt_experience",
         "vt_languages", "vt_bio", "vt_portrait", "vt_price", "vt_timezone", "vt_confirm")
# typed answers: step -> (draft field, parser)
TEXT_STEPS = {
    "vt_name": ("full_name", lambda text: rules.parse_text(text, rules.NAME_MAX_LEN)),
    "vt_city": ("city", lambda text: rules.parse_text(text, rules.CITY_MAX_LEN)),
    "vt_education": ("education", lambda text: rules.parse_text(text, rules.EDUCATION_MAX_LEN)),
    "vt_experience": ("experience_years", rules.parse_experience),
    "vt_bio": ("bio", lambda text: rules.parse_text(text, rules.BIO_MAX_LEN)),
    "vt_price": ("price_kopecks", rules.parse_price),
    "vt_timezone": ("timezone", lambda text: _typed_zone(text)),
}
# steps of several answers: code in callback data -> (step, draft field, choices)
MULTI = {"sp": ("vt_species", "species", tuple(s.value for s in Species)),
         "ar": ("vt_areas", "areas", tuple(a.value for a in Area)),
         "lg": ("vt_languages", "languages", rules.LANGUAGES)}
MULTI_BY_STEP = {step: code for code, (step, _, _) in MULTI.items()}
PHOTO_STEPS = ("vt_documents", "vt_portrait")


def price_bounds(context: BotContext) -> tuple[int, int]:
    """What a vet may ask per consultation in this deployment (VET_PRICE_MIN/MAX), in kopecks."""
    payments = context.services.payments
    return payments.vet_price_bounds if payments is not None else rules.DEFAULT_PRICE_BOUNDS


def _typed_zone(text: str) -> str:
    zone = (text or "").strip()
    if not rem_rules.is_valid_timezone(zone):
        raise InvalidInput("schedule.err.timezone", zone=zone[:40])
    return zone


def _next(step: str) -> str:
    return STEPS[STEPS.index(step) + 1]


def _label(lang: str, code: str, value: str) -> str:
    if code == "sp":
        return t(lang, f"species.{value}")
    if code == "ar":
        return t(lang, f"vet.area.{value}")
    return t(lang, f"vet.lang.{value}")


def _multi_keyboard(lang: str, code: str, chosen: list[str]):
    _, _, choices = MULTI[code]
    return rows(*(button(("✅ " if value in chosen else "") + _label(lang, code, value), f"va:t:{code}:{value}")
                  for value in choices),
                button(t(lang, "vet.btn.done"), f"va:n:{code}"), per_row=2)


# ---- asking --------------------------------------------------------------------------------------

async def ask_current(update: Update, context: BotContext) -> None:
    """The open question of the application, with its buttons (also after /help or a sticker)."""
    dialog = context.owner.dialog
    lang, step, chat = context.language, dialog.step, update.effective_chat
    if step in MULTI_BY_STEP:
        code = MULTI_BY_STEP[step]
        await chat.send_message(context.t(f"ask.{step}"),
                                reply_markup=_multi_keyboard(lang, code, dialog.draft.get(MULTI[code][1], [])))
    elif step == "vt_documents":
        await chat.send_message(context.t("ask.vt_documents", max=rules.MAX_DOCUMENTS),
                                reply_markup=rows(button(context.t("vet.btn.done"), "va:n:dc")))
    elif step == "vt_price":
        low, high = price_bounds(context)
        await chat.send_message(context.t("ask.vt_price", low=low // 100, high=high // 100))
    elif step == "vt_timezone":
        await chat.send_message(context.t("ask.vt_timezone"), reply_markup=rows(
            *(button(_zone_label(lang, zone), f"va:z:{i}") for i, zone in enumerate(rem_rules.TIMEZONE_CHOICES))))
    elif step == "vt_confirm":
        await _ask_confirm(update, context)
    else:
        await chat.send_message(context.t(f"ask.{step}"))


def _zone_label(lang: str, zone: str) -> str:
    from shared.bot.handlers.reminders import _zone_label as label

    return label(lang, zone)


async def _ask_confirm(update: Update, context: BotContext) -> None:
    """The application as it will be sent; one that does not check out goes back to its first step."""
    try:
        preview = rules.vet_from_application(context.owner.id, context.owner.dialog.draft, context.services.clock(),
                                             price_bounds(context))
    except InvalidInput as err:
        await update.effective_chat.send_message(vet_messages.error(context.language, err))
        await _go_to(update, context, context.owner.dialog.at(STEPS[0]))
        return
    await update.effective_chat.send_message(
        context.t("ask.vt_confirm") + "\n\n" + vet_messages.profile(context.language, preview),
        reply_markup=rows(button(context.t("vet.btn.submit"), "va:s")))


async def _go_to(update: Update, context: BotContext, dialog: Dialog) -> None:
    """Moves the dialog on and commits (of racing answers one moves it: the others' presses are answered
    by fallback.on_error), answers the press that did it and drops its buttons, then asks on."""
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()
    if update.callback_query:
        await update.callback_query.answer()
        await drop_keyboard(update)
    await ask_current(update, context)


# ---- /vet ----------------------------------------------------------------------------------------

async def vet_command(update: Update, context: BotContext) -> None:
    vet = await context.services.vets.get(update.effective_user.id)
    chat = update.effective_chat
    if vet is None:
        await _start(update, context)
    elif vet.status == VetStatus.REJECTED:
        reason = vet.last_decision.reason if vet.last_decision else ""
        await chat.send_message(context.t("vet.rejected_before", reason=reason),
                                reply_markup=rows(button(context.t("vet.btn.apply_again"), "va:a")))
    elif vet.status == VetStatus.APPLIED:
        await chat.send_message(context.t("vet.under_review"))
    elif vet.status == VetStatus.SUSPENDED:
        await chat.send_message(context.t("vet.suspended"))
    else:
        await chat.send_message(context.t(f"vet.you_are.{vet.status.value}") + "\n\n"
                                + vet_messages.profile(context.language, vet))


async def apply_again(update: Update, context: BotContext) -> None:
    vet = await context.services.vets.get(update.effective_user.id)
    if vet is not None and vet.status != VetStatus.REJECTED:
        await update.callback_query.answer(context.t("err.outdated_button"))
        return
    await _start(update, context)


async def _start(update: Update, context: BotContext) -> None:
    # A fresh application: photos of an abandoned or rejected one are not carried over.
    photos = context.shared_services.photos
    for kind in vet_service.KINDS:
        await photos.delete_prefix(vet_service.photo_folder(update.effective_user.id, kind))
    await update.effective_chat.send_message(context.t("vet.intro"))
    await _go_to(update, context, Dialog(APPLY, STEPS[0]))


# ---- answers -------------------------------------------------------------------------------------

async def on_text(update: Update, context: BotContext) -> None:
    """Typed text: an answer of the application, or another feature's (diary, then the pet form)."""
    dialog = context.owner.dialog if context.owner else None
    if dialog is None or dialog.name != APPLY:
        from shared.bot.handlers import vet_schedule

        await vet_schedule.on_text(update, context)
        return
    if dialog.step not in TEXT_STEPS:
        key = "vet.send_photo" if dialog.step in PHOTO_STEPS else "err.use_buttons"
        await update.message.reply_text(context.t(key))
        await ask_current(update, context)
        return
    field, parse = TEXT_STEPS[dialog.step]
    try:
        if dialog.step == "vt_price":   # within this deployment's bounds (VET_PRICE_MIN/MAX)
            value = rules.parse_price(update.message.text, price_bounds(context))
        else:
            value = parse(update.message.text)
    except InvalidInput as err:
        await update.message.reply_text(vet_messages.error(context.language, err))
        return
    await _go_to(update, context, dialog.at(_next(dialog.step), **{field: value}))


async def on_toggle(update: Update, context: BotContext) -> None:
    """va:t:<code>:<value>: a choice of a several-answers step turned on or off."""
    query = update.callback_query
    _, _, code, value = query.data.split(":", 3)
    step, field, choices = MULTI[code]
    dialog = context.owner.dialog
    if dialog is None or dialog.name != APPLY or dialog.step != step or value not in choices:
        await query.answer(context.t("err.outdated_button"))
        return
    chosen = list(dialog.draft.get(field, []))
    chosen = [v for v in chosen if v != value] if value in chosen else chosen + [value]
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner,
                                                   dialog.at(step, **{field: chosen}))
    await context.commit()
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=_multi_keyboard(context.language, code, chosen))


async def on_next(update: Update, context: BotContext) -> None:
    """va:n:<code>: the vet is done with a step of several answers (or of document photos)."""
    query = update.callback_query
    code = query.data.split(":")[2]
    dialog = context.owner.dialog
    step = "vt_documents" if code == "dc" else MULTI[code][0]
    if dialog is None or dialog.name != APPLY or dialog.step != step:
        await query.answer(context.t("err.outdated_button"))
        return
    if code == "dc":
        folder = vet_service.photo_folder(context.owner.id, "document")
        names = await context.services.photos.list_names(folder)
        if len(names) > rules.MAX_DOCUMENTS:
            await context.services.photos.delete_prefix(folder)
            await query.answer()
            await update.effective_chat.send_message(context.t("vet.err.too_many_documents", max=rules.MAX_DOCUMENTS)
                                                     + "\n" + context.t("vet.docs_again"))
            return
        changes = {"documents": names}
    else:
        changes = {}
        names = dialog.draft.get(MULTI[code][1], [])
    if not names:
        await query.answer(context.t("vet.docs_none" if code == "dc" else "vet.choose_one"), show_alert=True)
        return
    await _go_to(update, context, dialog.at(_next(step), **changes))


async def on_zone(update: Update, context: BotContext) -> None:
    query = update.callback_query
    index = int(query.data.split(":")[2])
    dialog = context.owner.dialog
    if dialog is None or dialog.name != APPLY or dialog.step != "vt_timezone" \
            or not 0 <= index < len(rem_rules.TIMEZONE_CHOICES):
        await query.answer(context.t("err.outdated_button"))
        return
    await _go_to(update, context, dialog.at(_next("vt_timezone"), timezone=rem_rules.TIMEZONE_CHOICES[index]))


async def on_submit(update: Update, context: BotContext) -> None:
    """va:s: the application is saved (one per person: of two presses one moves the dialog) and ops told."""
    query = update.callback_query
    dialog = context.owner.dialog
    if dialog is None or dialog.name != APPLY or dialog.step != "vt_confirm":
        await query.answer(context.t("err.outdated_button"))
        return
    services = context.services
    try:
        vet = await vet_service.apply(services.vets, services.photos, context.owner.id, dialog.draft, services.clock(),
                                      price_bounds(context))
    except InvalidInput as err:
        await query.answer()
        await update.effective_chat.send_message(vet_messages.error(context.language, err))
        if err.code == "vet.err.already_applied":
            await _close(context)
        return
    await _close(context)
    await query.answer()
    await edit_or_send(update, context.t("vet.submitted"))
    from shared.bot.handlers import vet_ops

    await vet_ops.notify_application(context, vet)


async def _close(context: BotContext) -> None:
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, None)
    await context.commit()


# ---- photos --------------------------------------------------------------------------------------

async def on_photo(update: Update, context: BotContext) -> None:
    """A photo during the application: a document or the portrait; other photos go to triage."""
    dialog = context.owner.dialog if context.owner else None
    if dialog is None or dialog.name != APPLY:
        await triage_photo(update, context)
        return
    if dialog.step not in PHOTO_STEPS:
        await update.message.reply_text(context.t("vet.finish_application_first"))
        await ask_current(update, context)
        return
    kind = "document" if dialog.step == "vt_documents" else "portrait"
    chat, services, owner_id = update.effective_chat, context.shared_services, context.owner.id
    if kind == "document":
        stored = await services.photos.list_names(vet_service.photo_folder(owner_id, "document"))
        if len(stored) >= rules.MAX_DOCUMENTS:
            await update.message.reply_text(context.t("vet.docs_max", max=rules.MAX_DOCUMENTS),
                                            reply_markup=rows(button(context.t("vet.btn.done"), "va:n:dc")))
            return
    name = await _store(update, context, kind)
    if name is None:
        return
    if kind == "portrait":
        try:
            await _go_to(update, context, dialog.at(_next("vt_portrait"), portrait=name))
        except (StaleUpdate, OwnerGone):
            await services.photos.delete(name)  # this update's step was taken or the person erased
            raise
        return
    if await services.owners.get(owner_id) is None:  # erased while it uploaded: keep nothing of them
        await services.photos.delete(name)
        return
    count = len(await services.photos.list_names(vet_service.photo_folder(owner_id, "document")))
    await chat.send_message(context.t("vet.doc_received", n=count, max=rules.MAX_DOCUMENTS),
                            reply_markup=rows(button(context.t("vet.btn.done"), "va:n:dc")))


async def _store(update: Update, context: BotContext, kind: str) -> str | None:
    """Downloads, cleans and stores the photo of this message; None after telling the person why not."""
    from shared.adapters.telegram_chat import BotChat

    message = update.message
    if message.photo:
        biggest = max(message.photo, key=lambda s: (s.width or 0) * (s.height or 0))
        file_id, size = biggest.file_id, biggest.file_size
    else:
        file_id, size = message.document.file_id, message.document.file_size
    try:
        check_declared_size(size)
        data = await BotChat(context.bot, render=None).download(file_id)
        cleaned = await asyncio.to_thread(_clean, data)
    except PhotoRejected as err:
        await message.reply_text(context.t(err.code, **err.params) + "\n\n" + context.t("vet.photo_how"))
        return None
    return await vet_service.store_photo(context.shared_services.photos, context.owner.id, kind, cleaned.data)


def _clean(data: bytes):
    from shared.adapters.images import clean_photo  # Pillow only when a photo really arrives

    return clean_photo(data)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("vet", vet_command))
    app.add_handler(CallbackQueryHandler(apply_again, pattern=r"^va:a$"))
    app.add_handler(CallbackQueryHandler(on_toggle, pattern=r"^va:t:(sp|ar|lg):[a-z]{2,20}$"))
    app.add_handler(CallbackQueryHandler(on_next, pattern=r"^va:n:(dc|sp|ar|lg)$"))
    app.add_handler(CallbackQueryHandler(on_zone, pattern=r"^va:z:\d{1,2}$"))
    app.add_handler(CallbackQueryHandler(on_submit, pattern=r"^va:s$"))
    app.add_handler(MessageHandler(PHOTO_FILTER, on_photo))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    pet_dialog.ASKERS[APPLY] = ask_current

"""Photos in the chat: which pet, what it shows, then hand the file to the triage pipeline.

State between questions is the owner's ``dialog`` in Firestore (name "photo"), so any instance can
continue it: step "photo_pet" (which pet?), "photo_area" (skin, eye, other?) or "photo_wait" (the owner
pressed "Check a photo" / "Retake photo" and we wait for the photo). The draft holds the Telegram
file id and size, and the pet and area once known.

Callback data: ph:p:<pet> (pet chosen), ph:a:<area>, ph:c:<pet> (check a photo from the pet card),
ph:r:<pet>:<area> (retake); tr:b:<pet>:<result> (book a vet for a result) is handlers/consult.py's. Every pet and result id
from a button is looked up under the acting owner only.
"""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from shared.bot import keyboards, triage_messages
from shared.bot.context import BotContext
from shared.bot.keyboards import button
from shared.bot.replies import drop_keyboard
from shared.domain.owners import Dialog
from shared.domain.photos import Area, area_from_caption, pet_from_caption
from shared.services import owners as owner_service
from shared.services import triage as triage_service
from shared.services.pets import PetNotFound, owned_pet

PHOTO = "photo"
STEP_PET, STEP_AREA, STEP_WAIT = "photo_pet", "photo_area", "photo_wait"
PET_FORM_DIALOGS = ("add_pet", "edit_pet")  # the pet form's dialogs (handlers.pet_dialog)
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "heic", "heif", "bmp", "tif", "tiff")

PHOTO_FILTER = (filters.PHOTO | filters.Document.IMAGE
                | filters.Document.FileExtension(IMAGE_EXTENSIONS[0])
                | filters.Document.FileExtension(IMAGE_EXTENSIONS[1]))
for _ext in IMAGE_EXTENSIONS[2:]:
    PHOTO_FILTER = PHOTO_FILTER | filters.Document.FileExtension(_ext)


def _chat(context: BotContext):
    from shared.adapters.telegram_chat import BotChat

    return BotChat(context.bot, triage_messages.render)


def _incoming(message) -> dict | None:
    if message.photo:
        biggest = max(message.photo, key=lambda s: (s.width or 0) * (s.height or 0))
        return {"file_id": biggest.file_id, "file_size": biggest.file_size or 0}
    if message.document:
        return {"file_id": message.document.file_id, "file_size": message.document.file_size or 0}
    return None


async def on_photo(update: Update, context: BotContext) -> None:
    message = update.message
    incoming = _incoming(message)
    if incoming is None:
        return
    dialog = context.owner.dialog
    if dialog and dialog.name == "consult":  # a photo for the vet with the booking's reason
        from shared.bot.handlers import consult

        await consult.on_photo(update, context)
        return
    if dialog and dialog.name in PET_FORM_DIALOGS:  # don't throw away a half-filled profile
        await message.reply_text(context.t("triage.finish_dialog_first"))
        return
    pets = await context.services.pets.list(context.owner.id)
    if not pets:
        await message.reply_text(context.t("triage.no_pets"),
                                 reply_markup=keyboards.rows(button(context.t("triage.btn.add_pet"), "pet:add")))
        return
    draft = dict(incoming)
    if dialog and dialog.name == PHOTO and dialog.step == STEP_WAIT:
        draft.update({k: v for k, v in dialog.draft.items() if k in ("pet_id", "area")})
    if "pet_id" not in draft:
        pet = pets[0] if len(pets) == 1 else pet_from_caption(message.caption, pets)
        if pet is not None:
            draft["pet_id"] = pet.id
    if "area" not in draft:
        area = area_from_caption(message.caption)
        if area is not None:
            draft["area"] = area.value
    await _continue(update, context, draft, pets)


async def _continue(update: Update, context: BotContext, draft: dict, pets=()) -> None:
    """Asks what is still unknown (which pet: only ever asked right after `on_photo` listed them)."""
    chat = update.effective_chat
    if "pet_id" not in draft:
        await _set(context, Dialog(PHOTO, STEP_PET, draft))
        await chat.send_message(context.t("ask.photo_pet"),
                                reply_markup=keyboards.rows(*(button(p.name, f"ph:p:{p.id}") for p in pets), per_row=1))
        return
    if "area" not in draft:
        await _set(context, Dialog(PHOTO, STEP_AREA, draft))
        await chat.send_message(context.t("ask.photo_area"), reply_markup=keyboards.rows(
            *(button(context.t(f"triage.area.{a.value}"), f"ph:a:{a.value}") for a in Area), per_row=3))
        return
    await _set(context, None)
    await triage_service.accept_photo(
        pets=context.services.pets, records=context.services.triage, storage=context.services.photos,
        chat=_chat(context), clean=_clean,
        owner_id=context.owner.id, chat_id=chat.id, language=context.language, pet_id=draft["pet_id"],
        area=Area(draft["area"]), file=triage_service.IncomingFile(draft["file_id"], draft.get("file_size")))


def _clean(data: bytes):
    from shared.adapters.images import clean_photo  # Pillow only when a photo really arrives

    return clean_photo(data)


async def _set(context: BotContext, dialog: Dialog | None) -> None:
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()


async def on_choice(update: Update, context: BotContext) -> None:
    """ph:p:<pet> or ph:a:<area>: an answer to the open photo question."""
    query = update.callback_query
    _, kind, value = query.data.split(":", 2)
    dialog = context.owner.dialog
    step = STEP_PET if kind == "p" else STEP_AREA
    if dialog is None or dialog.name != PHOTO or dialog.step != step or "file_id" not in dialog.draft:
        await query.answer(context.t("err.outdated_button"))
        return
    draft = dict(dialog.draft)
    if kind == "p":
        try:
            pet = await owned_pet(context.services.pets, context.owner.id, value)
        except PetNotFound:
            await query.answer(context.t("triage.pet_not_found"), show_alert=True)
            return
        draft["pet_id"] = pet.id
    else:
        draft["area"] = Area(value).value
    await query.answer()
    await drop_keyboard(update)
    await _continue(update, context, draft)


async def on_check(update: Update, context: BotContext) -> None:
    """ph:c:<pet> ("Check a photo" on the card) or ph:r:<pet>:<area> ("Retake photo"): wait for a photo."""
    query = update.callback_query
    parts = query.data.split(":")
    try:
        pet = await owned_pet(context.services.pets, context.owner.id, parts[2])
    except PetNotFound:
        await query.answer(context.t("triage.pet_not_found"), show_alert=True)
        return
    await query.answer()
    draft = {"pet_id": pet.id}
    if len(parts) > 3:
        draft["area"] = Area(parts[3]).value
    await _set(context, Dialog(PHOTO, STEP_WAIT, draft))
    await update.effective_chat.send_message(
        context.t("ask.photo_wait", name=pet.name) + "\n\n" + context.t("triage.how_to_shoot"))


def register(app: Application) -> None:
    app.add_handler(MessageHandler(PHOTO_FILTER, on_photo))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=r"^ph:p:[A-Za-z0-9]{1,40}$"))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=r"^ph:a:(skin|eye|other)$"))
    app.add_handler(CallbackQueryHandler(on_check, pattern=r"^ph:(c:[A-Za-z0-9]{1,40}|r:[A-Za-z0-9]{1,40}:(skin|eye|other))$"))

"""The pet form dialog (add a pet, or change one field), resumable on any instance.

Its state is the owner's `dialog` in Firestore: name "add_pet" or "edit_pet", step = the field asked,
draft = answers so far (for edit_pet: the pet id and species).
"""
from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from shared.bot import keyboards, render, replies
from shared.bot.context import BotContext
from shared.bot.handlers import photo
from shared.bot.replies import together
from shared.domain import pet_form
from shared.domain.owners import Dialog
from shared.domain.pets import InvalidInput, Pet, Species
from shared.services import owners as owner_service
from shared.services import pets as pet_service
from shared.services.pets import PetNotFound

ADD, EDIT = "add_pet", "edit_pet"
# dialog name -> how its feature repeats its open question (features register theirs)
ASKERS: dict = {}
# dialog name -> its feature's handler of typed answers: the text chain ends here, so a feature whose
# dialog no handler before took registers one instead of joining the chain (handlers.conclusion)
ANSWERERS: dict = {}


async def ask_current(update: Update, context: BotContext) -> None:
    """Repeats the open question (after /help or a sticker); other features' questions get a pointer."""
    dialog = context.owner.dialog
    if dialog.name in ASKERS:
        await ASKERS[dialog.name](update, context)
        return
    if dialog.name not in (ADD, EDIT):
        await update.effective_chat.send_message(context.t("hint.open_question"))
        return
    await replies.send_last(update, *_question(context, dialog))


def _question(context: BotContext, dialog: Dialog) -> tuple[str, InlineKeyboardMarkup | None]:
    species = Species(dialog.draft["species"]) if dialog.draft.get("species") else None
    name = dialog.draft.get("name", "")
    return context.t(f"ask.{dialog.step}", name=name), keyboards.question(context.language, dialog.step, species)


async def start_add(update: Update, context: BotContext) -> None:
    steps = [_go_to(update, context, Dialog(ADD, pet_form.ADD_STEPS[0]))]
    if update.callback_query:
        steps.append(replies.answer_now(update.callback_query))
    await together(*steps)


async def start_edit(update: Update, context: BotContext, pet: Pet, field: str) -> None:
    await _go_to(update, context, Dialog(EDIT, field, {"pet_id": pet.id, "species": pet.species.value,
                                                        "name": pet.name}))


async def _go_to(update: Update, context: BotContext, dialog: Dialog) -> None:
    # The question only once the step is ours: of racing answers, one moves the dialog on.
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()
    await ask_current(update, context)


async def on_text(update: Update, context: BotContext) -> None:
    """Typed text: an answer to the dialog's question, or a hint when no question is open."""
    dialog = context.owner.dialog
    if dialog is None:
        await update.message.reply_text(context.t("hint.no_dialog"), reply_markup=keyboards.main_menu(context.language))
        return
    if dialog.name in ANSWERERS:
        await ANSWERERS[dialog.name](update, context)
        return
    if dialog.name not in (ADD, EDIT):  # the photo dialog: waiting for a photo, or for a button
        await update.message.reply_text(context.t("triage.how_to_send" if dialog.step == photo.STEP_WAIT
                                                  else "err.use_buttons"))
        return
    try:
        changes = pet_form.answer_text(dialog.step, update.message.text, dialog.draft, context.services.clock().date())
    except InvalidInput as err:
        await _reject(update, context, err)
        return
    await _advance(update, context, changes)


async def on_choice(update: Update, context: BotContext) -> None:
    """A button under a question: f:<field>:<value>."""
    query = update.callback_query
    _, field, value = query.data.split(":", 2)
    dialog = context.owner.dialog
    if dialog is None or dialog.step != field:
        await query.answer(context.t("err.outdated_button"))
        return
    try:
        if value == "skip":
            changes = pet_form.skip(field)
        elif field == "breed":
            if value not in pet_form.COMMON_BREEDS.get(pet_form.species_of(dialog.draft), ()):
                raise InvalidInput("err.use_buttons")
            changes = {"breed": context.t(f"breed.{value}")}
        else:
            changes = pet_form.answer_choice(field, value)
    except InvalidInput as err:
        await query.answer()
        await _reject(update, context, err)
        return
    # The press is answered while the step commits; only the next question waits for the commit, and it
    # replaces the pressed one (its buttons cannot be pressed twice) in the webhook's response (_tell).
    await together(_advance(update, context, changes), replies.answer_now(query))


async def _reject(update: Update, context: BotContext, err: InvalidInput) -> None:
    params = {k: render.number(context.language, v) if isinstance(v, float) else v for k, v in err.params.items()}
    await update.effective_chat.send_message(context.t(err.code, **params))
    await ask_current(update, context)


async def _advance(update: Update, context: BotContext, changes: dict) -> None:
    dialog = context.owner.dialog
    services = context.services
    today = services.clock().date()
    if dialog.name == EDIT:
        try:
            pet = await pet_service.edit_pet(services.pets, services.reminders, context.owner.id,
                                             dialog.draft["pet_id"], changes, today)
        except InvalidInput as err:  # the record the change would make: nothing changed, the question stays
            await _reject(update, context, err)
            return
        except PetNotFound:
            pet = None
        context.owner = await owner_service.set_dialog(services.owners, context.owner, None)
        await context.commit()
        if pet is None:
            await update.effective_chat.send_message(context.t("pet.not_found"))
        else:
            card = render.pet_card(context.language, pet, services.clock().date())
            await _tell(update, context.t("pet.saved") + "\n\n" + card, keyboards.pet_card(context.language, pet))
        return
    following = pet_form.next_step(dialog.step)
    if following:
        moved = dialog.at(following, **changes)
        context.owner = await owner_service.set_dialog(services.owners, context.owner, moved)
        await context.commit()  # the question only once the step is ours (as in _go_to)
        question, buttons = _question(context, moved)
        if update.callback_query:  # the pressed question gives way to the next: the answer stays above it
            question = render.answered(context.language, dialog.step, changes[dialog.step]) + "\n\n" + question
        await _tell(update, question, buttons)
        return
    try:
        pet = await pet_service.add_pet(services.pets, context.owner.id, {**dialog.draft, **changes}, today)
    except InvalidInput as err:
        await _reject(update, context, err)
        return
    context.owner = await owner_service.set_dialog(services.owners, context.owner, None)
    await context.commit()
    card = render.pet_card(context.language, pet, services.clock().date())
    await _tell(update, context.t("pet.added", name=pet.name) + "\n\n" + card, keyboards.main_menu(context.language))


async def _tell(update: Update, text: str, buttons: InlineKeyboardMarkup | None) -> None:
    """The dialog's next word after an answer: a pressed question becomes it (replies.replace_pressed); a
    typed answer gets it as a new message. Either way it is the update's last word."""
    if update.callback_query:
        await replies.replace_pressed(update, text, buttons)
    else:
        await replies.send_last(update, text, buttons)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(start_add, pattern=r"^pet:add$"))
    app.add_handler(CommandHandler("addpet", start_add))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=r"^f:\w+:\w+$"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))

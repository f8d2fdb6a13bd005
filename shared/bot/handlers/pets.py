"""/pets: list, view, edit (field by field through the pet dialog), delete with confirmation."""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from shared.bot import keyboards, render
from shared.bot.context import BotContext
from shared.bot.replies import drop_keyboard, edit_or_send
from shared.bot.handlers import pet_dialog
from shared.domain.pets import EDITABLE_FIELDS
from shared.services import pets as pet_service
from shared.services.pets import PetNotFound


async def list_pets(update: Update, context: BotContext) -> None:
    pets = await context.services.pets.list(context.owner.id)
    text = context.t("pets.list" if pets else "pets.empty")
    markup = keyboards.pet_list(context.language, pets, context.miniapp_url)
    if update.callback_query:
        await update.callback_query.answer()
        await edit_or_send(update, text, reply_markup=markup)
    else:
        await update.message.reply_text(text, reply_markup=markup)


async def on_pet_action(update: Update, context: BotContext) -> None:
    """pet:<action>:<pet id>[:<field>] — view, edit menu, edit a field, delete, confirm delete."""
    query = update.callback_query
    action, pet_id, *rest = query.data.split(":")[1:]
    lang, services, owner_id = context.language, context.services, context.owner.id
    try:
        if action == "ef" and rest and rest[0] in EDITABLE_FIELDS:
            pet = await pet_service.owned_pet(services.pets, owner_id, pet_id)
            await query.answer()
            await drop_keyboard(update)
            await pet_dialog.start_edit(update, context, pet, rest[0])
            return
        if action == "dy":
            pet = await pet_service.remove_pet(services.pets, owner_id, pet_id)
            await context.commit()
            await pet_service.remove_pet_records(services.pets, services.reminders, services.photos, owner_id, pet.id)
            await query.answer()
            await edit_or_send(update, context.t("pet.deleted", name=pet.name),
                                          reply_markup=keyboards.main_menu(lang))
            return
        pet = await pet_service.owned_pet(services.pets, owner_id, pet_id)
    except PetNotFound:
        await query.answer(context.t("pet.not_found"), show_alert=True)
        return
    await query.answer()
    if action == "e":
        await edit_or_send(update, context.t("pet.choose_field", name=pet.name),
                                      reply_markup=keyboards.edit_fields(lang, pet))
    elif action == "d":
        await edit_or_send(update, context.t("pet.delete_confirm", name=pet.name),
                                      reply_markup=keyboards.confirm_delete(lang, pet))
    else:
        await edit_or_send(update, render.pet_card(lang, pet, services.clock().date()),
                                      reply_markup=keyboards.pet_card(lang, pet))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("pets", list_pets))
    app.add_handler(CallbackQueryHandler(list_pets, pattern=r"^pets:list$"))
    app.add_handler(CallbackQueryHandler(on_pet_action, pattern=r"^pet:(v|e|ef|d|dy):[A-Za-z0-9]{1,40}(:\w+)?$"))

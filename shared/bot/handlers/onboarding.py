"""/start, consent, /language, /help, /cancel and /privacy."""
from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler

from shared.bot import keyboards
from shared.bot.commands import commands
from shared.bot.context import BotContext
from shared.bot.replies import edit_or_send
from shared.bot.handlers import booking_ops, bookings, conclusion, vet_ops
from shared.bot.handlers.pet_dialog import ask_current
from shared.domain.owners import SUPPORTED_LANGUAGES, language_for
from shared.domain.roles import is_vet
from shared.services import conclusions as conclusion_service
from shared.services import cancellations
from shared.services import owners as owner_service

# What an owner may do before agreeing to let us store anything.
_OPEN_COMMANDS = {"start", "help", "language", "privacy"}
# privacy:forget_yes: an erasure that failed midway, pressed again after the record went (it erases only the
# presser's own data, so no record is needed)
_OPEN_CALLBACKS = ("consent:", "lang:", "privacy:forget_yes")

log = logging.getLogger(__name__)


async def require_consent(update: Update, context: BotContext) -> None:
    """Runs before every handler (group -1): loads the owner once, and routes by the kind of update.

    - ``pre_checkout_query`` (a payer confirming an invoice; it has no chat, the payer is its
      ``from_user``): Telegram cancels the payment unless it is answered within 10 s, so none is ever
      dropped. A consented payer's goes on to the payment handlers (a PreCheckoutQueryHandler that a
      payments feature registers in group 0; see application.build_application); anyone else's is
      answered here with ok=False and the reason; one that no handler answers, or whose handler fails,
      is refused by ``fallback`` (ok=False, in its LAST_GROUP and its error handler), never left to time out.
    - messages, in the private chat of a person: commands, text, photos, and the service messages
      ``successful_payment`` and ``web_app_data`` (the Mini App's sendData), which their handlers in
      group 0 take (``filters.SUCCESSFUL_PAYMENT``, ``filters.StatusUpdate.WEB_APP_DATA``). Until the
      owner consents only onboarding passes, with one exception: a ``successful_payment`` always passes
      (the money is taken; its handler records or refunds it even if the payer erased their data after
      the pre-checkout answer, when ``context.owner`` is None).
    - button presses (``callback_query``), in the private chat of a person: as messages.
    - ops reviewing vets (handlers.vet_ops.is_ops_update: a vo: button, a reply to the bot's request for
      a rejection reason), in any chat, the ops chat being a group: passed on without an owner record;
      the allow-list, not consent, decides what they may do (checked by the handler and the service);
      so are ops cancelling a booking (handlers.booking_ops.is_ops_update: /booking, a bo: button, a reply
      to the request for a cancellation's reason).
    - anything else (edits, channel posts, membership changes, group chats, other bots): dropped.
    """
    if update.pre_checkout_query is not None:
        await _gate_payment(update, context)
        return
    user = update.effective_user
    if update.message is None and update.callback_query is None:
        raise ApplicationHandlerStop  # edits, channel posts, membership changes: nothing to answer
    if user is not None and not user.is_bot and (vet_ops.is_ops_update(update) or booking_ops.is_ops_update(update)):
        context.language = language_for(user.language_code)
        return
    if user is None or user.is_bot or update.effective_chat is None or update.effective_chat.type != "private":
        raise ApplicationHandlerStop  # groups and other bots: not for this bot
    if update.callback_query and not update.callback_query.data:
        await update.callback_query.answer()  # PTB would route empty data to any pattern
        raise ApplicationHandlerStop
    await context.load_owner(update.update_id, user)
    if context.owner and context.owner.has_consented:
        return
    message, query = update.message, update.callback_query
    if message and message.successful_payment:
        return  # charged already: never swallowed (see above)
    if message and message.text and message.text.startswith("/"):
        command = (message.text[1:].split("@")[0].split() or [""])[0]  # "/" alone is no command
        if command.lower() in _OPEN_COMMANDS:
            return
    if query and (query.data or "").startswith(_OPEN_CALLBACKS):
        return
    if query:
        await query.answer()
    await _send_consent_prompt(update, context)
    raise ApplicationHandlerStop


async def _gate_payment(update: Update, context: BotContext) -> None:
    """Passes a consented payer's pre-checkout query on; answers anyone else's with ok=False and why."""
    query = update.pre_checkout_query
    payer = query.from_user
    await context.load_owner(update.update_id, payer)  # fails? fallback.on_error answers ok=False
    if not payer.is_bot and context.owner and context.owner.has_consented:
        return
    await query.answer(ok=False, error_message=context.t("payment.need_consent"))
    raise ApplicationHandlerStop


async def _send_consent_prompt(update: Update, context: BotContext) -> None:
    await update.effective_chat.send_message(
        context.t("start.greeting") + "\n\n" + context.t("consent.text"), reply_markup=keyboards.consent(context.language))


async def start(update: Update, context: BotContext) -> None:
    if context.owner and context.owner.has_consented:
        await update.message.reply_text(context.t("start.welcome_back"), reply_markup=keyboards.main_menu(context.language))
    else:
        await _send_consent_prompt(update, context)


async def consent_answer(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, answer, lang = query.data.split(":")
    context.language = lang if lang in SUPPORTED_LANGUAGES else context.language
    await query.answer()
    if answer != "yes":
        await edit_or_send(update, context.t("consent.declined"))
        return
    if not (context.owner and context.owner.has_consented):
        context.owner = await owner_service.give_consent(
            context.services.owners, update.effective_user.id, context.language, context.services.clock())
    await edit_or_send(update, context.t("consent.thanks"), reply_markup=keyboards.main_menu(context.language))


async def choose_language(update: Update, context: BotContext) -> None:
    await update.message.reply_text(context.t("language.choose"), reply_markup=keyboards.languages())


async def language_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    lang = query.data.split(":", 1)[1]
    if lang not in SUPPORTED_LANGUAGES:
        await query.answer(context.t("err.outdated_button"))
        return
    context.language = lang
    await query.answer()
    if not (context.owner and context.owner.has_consented):
        # Nothing is stored before consent: the choice lives on in the consent buttons.
        await edit_or_send(update, context.t("start.greeting") + "\n\n" + context.t("consent.text"),
                                      reply_markup=keyboards.consent(lang))
        return
    context.owner = await owner_service.set_language(context.services.owners, context.services.reminders,
                                                     context.owner, lang)
    await context.commit()
    vet = await context.services.vets.get(update.effective_user.id)
    await context.commands.publish_for(update.effective_user.id, lang, vet=is_vet(vet.status if vet else None))
    await edit_or_send(update, context.t("language.changed"))


async def help_command(update: Update, context: BotContext) -> None:
    menu = "\n".join(f"/{c.command} — {c.description}" for c in commands(context.language))
    await update.message.reply_text(f"{context.t('help.intro')}\n{menu}\n\n{context.t('help.photo')}")
    if context.owner and context.owner.dialog:
        await ask_current(update, context)


async def cancel(update: Update, context: BotContext) -> None:
    had_dialog = bool(context.owner and context.owner.dialog)
    if had_dialog:
        context.owner = await owner_service.set_dialog(context.services.owners, context.owner, None)
        await context.commit()
    await update.message.reply_text(context.t("cancel.done" if had_dialog else "cancel.nothing"),
                                    reply_markup=keyboards.main_menu(context.language))


async def privacy(update: Update, context: BotContext) -> None:
    consented = context.owner and context.owner.has_consented
    labels, markup = conclusion.privacy_extra(context, keyboards.forget_me(context.language) if consented else None)
    await update.message.reply_text(context.t("consent.text") + (f"\n\n{labels}" if labels else ""), reply_markup=markup)


async def privacy_answer(update: Update, context: BotContext) -> None:
    query = update.callback_query
    await query.answer()
    action = query.data.split(":", 1)[1]
    if action == "forget":
        await edit_or_send(update, context.t("privacy.forget_confirm"),
                                      reply_markup=keyboards.confirm_forget(context.language))
    elif action == "forget_yes":
        services = context.shared_services  # erasure does not wait for this update's commit
        person = update.effective_user.id  # not context.owner: a second press finishes a failed erasure
        erase_bookings = None if services.bookings is None else (  # None: a deployment (test) without bookings
            lambda someone: cancellations.erase_bookings(services.bookings, bookings.refunder(context),
                                                         services.payments, someone, services.clock()))
        try:
            cancelled = await owner_service.forget_owner(services.owners, services.reminders, services.photos,
                                                         person, vets=services.vets, erase_bookings=erase_bookings)
            if services.conclusions is not None and services.label_photos is not None:  # labels kept with consent
                await conclusion_service.forget_labels(services.conclusions, services.label_photos, person)
        except Exception as err:  # noqa: BLE001 - the record may be gone already: say so and offer to finish
            log.error("erasure not finished: %s", type(err).__name__)
            await edit_or_send(update, context.t("privacy.forget_failed"),
                               reply_markup=keyboards.confirm_forget(context.language))
            return
        await edit_or_send(update, context.t("privacy.forgotten") + (
            "\n\n" + context.t("bk.erased_cancelled", n=len(cancelled)) if cancelled else ""))
        await bookings.tell_after_erasure(context, cancelled)  # the other side of each: never the person
    else:
        await edit_or_send(update, context.t("privacy.kept"))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("language", choose_language))
    app.add_handler(CommandHandler("cancel", cancel))
    app.add_handler(CommandHandler("privacy", privacy))
    app.add_handler(CallbackQueryHandler(consent_answer, pattern=r"^consent:(yes|no):\w+$"))
    app.add_handler(CallbackQueryHandler(language_chosen, pattern=r"^lang:"))
    app.add_handler(CallbackQueryHandler(privacy_answer, pattern=r"^privacy:(forget|forget_yes|keep)$"))

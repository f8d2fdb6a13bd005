"""Ops cancel a booked consultation from the bot, with a full refund and a reason.

`/booking <id>` (an allow-listed ops person, OPS_USER_IDS; in the ops chat or their own) shows the booking:
time, vet, owner, pet, status, price, and - while it is confirmed and not over - "Cancel with refund".
The press asks for the reason (a message with a ForceReply ending with the booking's tag #bk<id>, as
vet_ops asks a rejection's reason); the ops person's reply cancels it through the same use case as every
cancellation (services.cancellations.cancel as ops: a full refund, the vet's time freed, once however often
pressed), and both parties are told with the reason: the owner with the refund and "Choose another vet",
the vet with the patient's card. Anyone else's /booking, press or reply is refused and changes nothing
(the service checks the allow-list again). These updates need no owner record: the consent gate lets them
through (onboarding.require_consent, `is_ops_update`).

Callback data: bo:c:<booking id>.
"""
from __future__ import annotations

import re

from telegram import ForceReply, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from shared.bot.context import BotContext
from shared.bot.handlers import consult
from shared.bot.handlers.bookings import CANCELLED, refund_text, tell_owner_vet_cancelled, tell_vet
from shared.bot.handlers.payments import refunder
from shared.bot.handlers.vet_ops import OPS_LANGUAGE, tagged_reply
from shared.bot.keyboards import button, rows
from shared.domain.bookings import BookingStatus, Price
from shared.domain.pets import InvalidInput
from shared.i18n import t
from shared.services import cancellations
from shared.services.booking import owned_booking

COMMAND = "booking"
OPS_ZONE = "Europe/Moscow"     # the ops chat reads Moscow time
_ID = r"[A-Za-z0-9]{1,40}"
_TAG = re.compile(rf"#bk({_ID})\s*$")


def is_ops_update(update: Update) -> bool:
    """/booking, a bo: press, or a reply to the bot's request for a cancellation's reason (any chat)."""
    query = update.callback_query
    if query is not None:
        return (query.data or "").startswith("bo:")
    message = update.message
    if message is None or not message.text:
        return False
    if message.text.startswith("/"):
        command = (message.text[1:].split() or [""])[0].split("@")[0]  # "/" alone is no command
        return command.lower() == COMMAND
    return tagged_reply(message, _TAG) is not None


def _when(booking) -> str:
    return consult.when(OPS_LANGUAGE, booking.start, OPS_ZONE)


async def _refuse(update: Update, text: str) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    else:
        await update.effective_chat.send_message(text)


async def booking_command(update: Update, context: BotContext) -> None:
    """/booking <id>: the booking as ops see it, with "Cancel with refund" while it can be cancelled."""
    if not context.is_ops:
        await _refuse(update, t(OPS_LANGUAGE, "bk.ops.not_allowed"))
        return
    if len(context.args or ()) != 1 or not re.fullmatch(_ID, context.args[0]):
        await _refuse(update, t(OPS_LANGUAGE, "bk.ops.usage"))
        return
    s = context.shared_services
    try:
        booking, _ = await owned_booking(s.bookings, context.args[0], context.user_id, ops=True)
    except InvalidInput as err:
        await _refuse(update, t(OPS_LANGUAGE, err.code, **err.params))
        return
    vet = await s.vets.get(booking.vet_id)
    text = t(OPS_LANGUAGE, "bk.ops.card", id=booking.id, when=_when(booking),
             minutes=int((booking.end - booking.start).total_seconds() // 60),
             vet=vet.full_name if vet else "—", vet_id=booking.vet_id, owner_id=booking.owner_id,
             pet=(booking.pet or {}).get("name", "—"), status=booking.status.value,
             price=consult.money(OPS_LANGUAGE, booking.price))
    cancellable = booking.status is BookingStatus.CONFIRMED and booking.end > s.clock()
    await update.effective_chat.send_message(text, reply_markup=rows(
        button(t(OPS_LANGUAGE, "bk.ops.btn.cancel"), f"bo:c:{booking.id}")) if cancellable else None)


async def on_cancel(update: Update, context: BotContext) -> None:
    """bo:c:<b>: asks the reason (the reply cancels); what comes back is said first."""
    query = update.callback_query
    if not context.is_ops:
        await _refuse(update, t(OPS_LANGUAGE, "bk.ops.not_allowed"))
        return
    s = context.shared_services
    try:
        terms = await cancellations.cancel_terms(s.bookings, s.payments, query.data.split(":")[2], context.user_id,
                                                 s.clock(), ops=context.ops_ids)
    except InvalidInput as err:
        await _refuse(update, t(OPS_LANGUAGE, err.code, **err.params))
        return
    await query.answer()
    b = terms.booking
    await update.effective_chat.send_message(
        t(OPS_LANGUAGE, "bk.ops.reason_prompt", when=_when(b), pet=(b.pet or {}).get("name", "—"),
          amount=consult.money(OPS_LANGUAGE, Price(terms.refund, b.price.currency))) + f"\n#bk{b.id}",
        reply_markup=ForceReply(input_field_placeholder=t(OPS_LANGUAGE, "bk.ops.reason_placeholder")))


async def on_reason(update: Update, context: BotContext) -> None:
    """The reply to the reason request: the cancellation as ops, both parties told."""
    message = update.message
    if not context.is_ops:
        await message.reply_text(t(OPS_LANGUAGE, "bk.ops.not_allowed"))
        return
    s = context.shared_services
    try:
        done = await cancellations.cancel(s.bookings, refunder(context), s.payments, tagged_reply(message, _TAG),
                                          context.user_id, s.clock(), ops=context.ops_ids, note=message.text)
    except InvalidInput as err:
        await message.reply_text(t(OPS_LANGUAGE, err.code, **err.params))
        return
    await message.reply_text(t(OPS_LANGUAGE, "bk.ops.done", when=_when(done.booking)) + "\n"
                             + refund_text(OPS_LANGUAGE, done.booking, done.refund, done.refunded))
    await tell_owner_vet_cancelled(context, done)
    await tell_vet(context, done.booking, CANCELLED, cancelled=done)


class _ReasonReply(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return tagged_reply(message, _TAG) is not None


def register(app: Application) -> None:
    app.add_handler(CommandHandler(COMMAND, booking_command))
    app.add_handler(CallbackQueryHandler(on_cancel, pattern=rf"^bo:c:{_ID}$"))
    app.add_handler(MessageHandler(filters.TEXT & _ReasonReply(), on_reason))

"""Telegram Payments: the pre-checkout answer and the successful payment.

pre_checkout_query: answered ok only for the payer's own live hold at its price and currency (one
Firestore read), otherwise ok=False with the reason in the payer's language: always well inside
Telegram's 10 s. (require_consent lets only a consented payer's query through; fallback refuses one
nobody answered.)

successful_payment: applied once per telegram_payment_charge_id (services.payments): the booking is
confirmed and the owner and the vet are told once; a payment too late for its slot is refunded at once
(YooKassa through its API, Stars through refundStarPayment) and the owner is told and offered other times;
a redelivery says nothing. It may come from someone who erased their data after paying (context.owner
None): the money is still applied or refunded.
"""
from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application, MessageHandler, PreCheckoutQueryHandler, filters

from shared.bot.context import BotContext
from shared.bot.handlers.consult import CONSULT, money, summary
from shared.bot.keyboards import button, rows
from shared.domain.bookings import Currency, PaymentOutcome, Price
from shared.domain.pets import InvalidInput
from shared.services import owners as owner_service
from shared.services import payments as payment_service
from shared.services.unit_of_work import OwnerGone, StaleUpdate

log = logging.getLogger(__name__)


async def on_pre_checkout(update: Update, context: BotContext) -> None:
    query = update.pre_checkout_query
    try:
        await payment_service.check_pre_checkout(context.services.bookings, query.invoice_payload,
                                                 query.from_user.id, query.total_amount, query.currency,
                                                 context.services.clock())
    except InvalidInput as err:
        await query.answer(ok=False, error_message=context.t(err.code, **err.params))
        return
    await query.answer(ok=True)


def refunder(context: BotContext) -> payment_service.Refunder:
    bot = context.bot

    async def stars(user_id: int, charge_id: str) -> None:
        try:
            await bot.refund_star_payment(user_id, charge_id)
        except BadRequest as err:
            if "CHARGE_ALREADY_REFUNDED" not in err.message.upper():
                raise

    return payment_service.Refunder(context.services.payment_provider, stars, context.services.clock)


async def on_successful_payment(update: Update, context: BotContext) -> None:
    paid = update.message.successful_payment
    services = context.services
    result = await payment_service.apply_successful_payment(
        services.bookings, refunder(context), services.payments, payload=paid.invoice_payload,
        charge_id=paid.telegram_payment_charge_id, provider_charge_id=paid.provider_payment_charge_id or "",
        payer_id=update.effective_user.id, amount=paid.total_amount, currency=paid.currency,
        now=services.clock(), tasks=services.tasks, owners=context.shared_services.owners,
        email=paid.order_info.email if paid.order_info else None)
    if result.outcome is PaymentOutcome.ALREADY or result.payer_gone:
        return  # told before, by the delivery that applied it; or erased: nothing is said to them
    if result.outcome is PaymentOutcome.CONFIRM and await context.shared_services.owners.get(
            update.effective_user.id) is None:
        return  # erased meanwhile: their erasure cancels this booking, refunds it and tells the vet
    chat = update.effective_chat
    booking = result.booking
    if result.outcome is PaymentOutcome.CONFIRM:
        await _close_dialog(context, booking.id)
        vet = await context.shared_services.vets.get(booking.vet_id)
        tz = context.owner.timezone if context.owner else None
        await chat.send_message(context.t("booking.confirmed") + "\n\n" + summary(context, booking, vet, tz) + "\n\n"
                                + context.t("booking.confirmed_next"))
        await _tell_vet(context, booking)
        return
    amount = money(context.language, Price(result.ledger.amount, Currency(result.ledger.currency)))
    key = "booking.refunded" if result.refunded else "booking.refund_pending"
    text = context.t(key, amount=amount)
    if booking is not None and booking.charge_id and booking.charge_id != paid.telegram_payment_charge_id:
        text = context.t("booking.paid_twice") + "\n\n" + text
    elif booking is not None:
        text = context.t("booking.late_payment") + "\n\n" + text
    markup = rows(button(context.t("booking.btn.other_days"), f"cs:v:{booking.vet_id}"),
                  button(context.t("booking.btn.other_vets"), "cs:l:0")) \
        if booking is not None and _consulting(context) else None
    await chat.send_message(text, reply_markup=markup)


def _consulting(context: BotContext) -> bool:
    dialog = context.owner.dialog if context.owner else None
    return bool(dialog and dialog.name == CONSULT)


async def _close_dialog(context: BotContext, booking_id: str) -> None:
    """The /consult dialog that held this booking is done (best effort: the payment stands either way)."""
    dialog = context.owner.dialog if context.owner else None
    if not (dialog and dialog.name == CONSULT and dialog.draft.get("booking_id") == booking_id):
        return
    try:
        context.owner = await owner_service.set_dialog(context.services.owners, context.owner, None)
        await context.commit()
    except (StaleUpdate, OwnerGone):
        pass


async def _tell_vet(context: BotContext, booking) -> None:
    """The new consultation, in the vet's language and time zone, with the pet card, reason, triage, photo
    link and diary (handlers.bookings.tell_vet, which tells of moves and cancellations alike)."""
    from shared.bot.handlers.bookings import NEW, tell_vet

    await tell_vet(context, booking, NEW)


def register(app: Application) -> None:
    app.add_handler(PreCheckoutQueryHandler(on_pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_successful_payment))

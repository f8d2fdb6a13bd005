"""Ops review vets' applications in the ops chat (OPS_CHAT_ID): a notice per application with its
documents and portrait, and "Approve" / "Reject" buttons that only allow-listed ops (OPS_USER_IDS) can
use; anyone else's press is answered with a refusal and changes nothing (and services.vets.decide checks
the allow-list again). "Reject" asks the ops person for the reason: a message the bot sends with a
ForceReply, ending with the application's tag (#vet<id>); their reply is the reason. The same decisions
are open to ops on the command line (infra/ops.py).

These updates come from the ops chat (a group, usually) and need no owner record: the consent gate lets
them through (onboarding.require_consent, `is_ops_update`), and decisions are written directly, conditional
on the vet's version (two presses at once: one decision; the other is told it was decided).

Callback data: vo:a:<vet id> approve, vo:r:<vet id> reject (asks the reason).
"""
from __future__ import annotations

import logging
import re

from telegram import ForceReply, InputFile, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from shared.bot import vet_messages
from shared.bot.commands import CommandMenu
from shared.bot.context import BotContext
from shared.bot.keyboards import button, rows
from shared.domain.owners import SUPPORTED_LANGUAGES
from shared.domain.pets import InvalidInput
from shared.domain.vets import Action, Vet, VetStatus
from shared.i18n import t
from shared.services import vets as vet_service
from shared.services.unit_of_work import StaleUpdate

log = logging.getLogger(__name__)

OPS_LANGUAGE = SUPPORTED_LANGUAGES[0]   # the ops chat reads Russian
_TAG = re.compile(r"#vet(\d{1,15})\s*$")


def ops_ids(context: BotContext) -> frozenset[int]:
    """The ops allow-list (OPS_USER_IDS)."""
    return context.ops_ids


def ops_chat(context: BotContext) -> int | None:
    """Where applications are announced (OPS_CHAT_ID), if anywhere."""
    return context.application.bot_data.get("ops_chat_id")


# ---- the notice ----------------------------------------------------------------------------------

def decision_notice(lang: str, vet: Vet) -> str:
    """What the vet is told of an ops decision."""
    decision = vet.last_decision
    if decision.action == Action.APPROVE:
        return t(lang, "vet.approved")
    if decision.action == Action.REJECT:
        return t(lang, "vet.rejected", reason=decision.reason)
    return t(lang, f"vet.you_are.{vet.status.value}")


async def notify_application(context: BotContext, vet: Vet) -> None:
    """The application, its documents and portrait, sent to the ops chat with the decision buttons. Best
    effort: the application is saved either way (`python -m infra.ops vets pending` lists it)."""
    chat_id = ops_chat(context)
    if chat_id is None:
        log.warning("no ops chat configured: a vet application waits for `infra.ops vets pending`")
        return
    lang, bot, photos = OPS_LANGUAGE, context.bot, context.shared_services.photos
    try:
        await bot.send_message(chat_id, t(lang, "vet.ops.new") + "\n\n" + vet_messages.profile(lang, vet, for_ops=True),
                               reply_markup=rows(button(t(lang, "vet.ops.approve"), f"vo:a:{vet.id}"),
                                                 button(t(lang, "vet.ops.reject"), f"vo:r:{vet.id}")))
        for n, name in enumerate(vet.documents, 1):
            await bot.send_photo(chat_id, InputFile(await vet_service.photo(photos, vet, name), filename="document.jpg"),
                                 caption=t(lang, "vet.ops.document", n=n, total=len(vet.documents), id=vet.id))
        if vet.portrait:
            await bot.send_photo(chat_id, InputFile(await vet_service.photo(photos, vet, vet.portrait),
                                                    filename="portrait.jpg"),
                                 caption=t(lang, "vet.ops.portrait", id=vet.id))
    except Exception as err:  # noqa: BLE001 — the type only: messages may name the vet
        log.error("notifying ops of a vet application failed: %s", type(err).__name__)


async def tell_vet(bot, owners, vet: Vet) -> None:
    """The decision, in the vet's language (an approved vet's chat gets the vet's commands); nothing if
    they erased their data meanwhile."""
    owner = await owners.get(vet.id)
    if owner is None:
        return
    try:
        await bot.send_message(vet.id, decision_notice(owner.language, vet))
        if vet.status == VetStatus.VERIFIED:
            await CommandMenu(bot).publish_for(vet.id, owner.language, vet=True)
    except TelegramError as err:  # blocked the bot, say: the decision stands
        log.warning("telling a vet of a decision failed: %s", type(err).__name__)


# ---- buttons and the reason ----------------------------------------------------------------------

def is_ops_update(update: Update) -> bool:
    """An ops button press, or a reply to the bot's request for a rejection reason (any chat)."""
    query = update.callback_query
    if query is not None:
        return (query.data or "").startswith("vo:")
    return update.message is not None and _reason_target(update.message) is not None


def tagged_reply(message: Message, tag: re.Pattern) -> str | None:
    """What the bot's own request this text replies to names by its closing `tag` (the pattern's group 1),
    or None: ops' answers (a rejection's reason, a cancellation's) are replies to such requests."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or message.text is None or message.text.startswith("/"):
        return None
    if replied.from_user.id != message.get_bot().id:
        return None  # only the bot's own request names the application (replies cannot be forged)
    match = tag.search(replied.text or "")
    return match[1] if match else None


def _reason_target(message: Message) -> int | None:
    """The vet id of the bot's reason request this message replies to, or None."""
    found = tagged_reply(message, _TAG)
    return int(found) if found else None


async def on_decision(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, kind, raw_id = query.data.split(":")
    by, vet_id = update.effective_user.id, int(raw_id)
    if not context.is_ops:
        await query.answer(context.t("vet.ops.not_allowed"), show_alert=True)
        return
    services = context.shared_services
    vet = await services.vets.get(vet_id)
    if vet is None:
        await query.answer(context.t("vet.ops.not_found"), show_alert=True)
        return
    if kind == "r":
        await query.answer()
        await update.effective_chat.send_message(
            context.t("vet.ops.reason_prompt", name=vet.full_name) + f"\n#vet{vet.id}",
            # not selective: the prompt is a reply to nobody and mentions nobody, so a selective one would
            # open the reply field for no one; anyone in the ops chat may answer, the handler takes only ops
            reply_markup=ForceReply(input_field_placeholder=context.t("vet.ops.reason_placeholder")))
        return
    decided = await _decide(update, context, vet_id, Action.APPROVE, None)
    if decided:
        await query.answer(context.t("vet.ops.done.approve"))
        await _mark_notice(update, context, decided)
        await tell_vet(context.bot, services.owners, decided)


async def on_reason(update: Update, context: BotContext) -> None:
    """A reply to the reason request: the rejection, by whoever replied (if they are ops)."""
    vet_id = _reason_target(update.message)
    if not context.is_ops:
        await update.message.reply_text(context.t("vet.ops.not_allowed"))
        return
    decided = await _decide(update, context, vet_id, Action.REJECT, update.message.text)
    if decided:
        await update.message.reply_text(context.t("vet.ops.done.reject", name=decided.full_name))
        await tell_vet(context.bot, context.shared_services.owners, decided)


async def _decide(update: Update, context: BotContext, vet_id: int, action: Action, reason: str | None) -> Vet | None:
    """The decision through the service (which checks the allow-list again); None after saying why not."""
    services = context.shared_services
    try:
        vet = await vet_service.decide(services.vets, vet_id, action, update.effective_user.id, services.clock(),
                                       ops_ids(context), reason)
    except vet_service.NotOps:
        text = context.t("vet.ops.not_allowed")
    except vet_service.VetNotFound:
        text = context.t("vet.ops.not_found")
    except StaleUpdate:
        text = context.t("vet.ops.decided_meanwhile")
    except InvalidInput as err:
        text = vet_messages.error(context.language, err)
    else:
        return vet
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    else:
        await update.message.reply_text(text)
    return None


async def _mark_notice(update: Update, context: BotContext, vet: Vet) -> None:
    """The notice pressed on keeps its text, with the decision instead of the buttons."""
    message = update.callback_query.message
    try:
        await message.edit_text(f"{message.text}\n\n{vet_messages.decision(OPS_LANGUAGE, vet.last_decision)}")
    except (TelegramError, AttributeError, TypeError):
        pass  # the notice is too old to edit or inaccessible: the decision stands


class _ReasonReply(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return _reason_target(message) is not None


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_decision, pattern=r"^vo:[ar]:\d{1,15}$"))
    app.add_handler(MessageHandler(filters.TEXT & _ReasonReply(), on_reason))

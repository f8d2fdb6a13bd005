"""After the call, in the chat: the vet's conclusion, the owner's rating, the label question, the 48 hours of
messages between the two (services.conclusions).

The vet: "📝 Write the conclusion" on the booking message (cn:w:<booking>; refused to anyone but the
booking's vet, and before the start) opens the dialog "conclusion": the summary (typed), the
recommendations (typed, or none), the follow-up (a button or a typed date, or none), for a booking made
from a photo triage the vet's word on the AI's answer (right / wrong -> the right class / cannot tell; a
class where the AI gave none), then a preview with "Send" (cn:s) and "Rewrite" (cn:e). "Send" writes it
once (a double tap: one conclusion, the other press is told the step is taken) and only then is anyone
told: the owner gets it (with the rating buttons and, the first time a class of theirs can be kept, the
consent question), the vet a confirmation. It is final: it is in the owner's diary and PDF and may have
set reminders; what needs adding goes through the messages.

Messages: a reply (Telegram's "Reply") to any message of the bot's about a consultation (the conclusion,
the vet's confirmation, a relayed message, the vet's booking message) goes to the other party as the
bot's own message: the vet is shown as the vet (their name in our records), the owner as "the owner of
<pet>"; neither sees the other's Telegram account, and nothing is forwarded. Text and photos only, from
the consultation's start until 48 hours after its end; outside that the sender is told why not. Those
messages are recognised by their buttons (cr:w:<booking>, also cr:r/cr:c, and cn:w:<booking>).

Callback data: cn:w:<booking>, cn:k (no recommendations), cn:f:<0|7|14|30> (follow-up in days, 0 none),
cn:v:<r|w|x> (right / wrong / cannot tell), cn:c:<class>, cn:s, cn:e; cr:r:<booking>:<1-5> (rate),
cr:c:<booking> (a comment), cr:w:<booking> (how to write); lc:<y|n>:<booking> (label consent under a
conclusion), lc:on / lc:off (/privacy).
"""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from shared.bot.context import BotContext
from shared.bot.handlers import pet_dialog
from shared.bot.keyboards import button, rows
from shared.bot.replies import drop_keyboard, edit_or_send
from shared.domain import conclusions as rules
from shared.domain import diary as diary_rules
from shared.domain import reminders as rem_rules
from shared.domain.owners import Dialog
from shared.domain.photos import Area
from shared.domain.pets import InvalidInput
from shared.i18n import t
from shared.services import conclusions as svc
from shared.services import owners as owner_service

log = logging.getLogger(__name__)

CONCLUSION, COMMENT = "conclusion", "rating_comment"
STEP_SUMMARY, STEP_RECS, STEP_FOLLOW, STEP_LABEL, STEP_CONFIRM = "cn_summary", "cn_recs", "cn_follow", "cn_label", "cn_confirm"
STEP_COMMENT = "cr_comment"
FOLLOW_DAYS = (7, 14, 30)
_ID = r"[A-Za-z0-9]{1,40}"
_MARKED = re.compile(rf"^(?:cr:[wrc]|cn:w):({_ID})(?::\d)?$")


# ---- helpers --------------------------------------------------------------------------------------

def _repo(context: BotContext):
    """This update's conclusions repository (staging writes), or None where the deployment has none."""
    return getattr(context.uow, "conclusions", None)


def _label_photos(context: BotContext):
    return getattr(context.shared_services, "label_photos", None)


def _day(moment: datetime, tz: str | None) -> str:
    return moment.astimezone(rem_rules.zone(tz)).strftime("%d.%m.%Y")


def _moment(moment: datetime, tz: str | None) -> str:
    return moment.astimezone(rem_rules.zone(tz)).strftime("%d.%m.%Y %H:%M")


def _class_name(lang: str, area: str, label: str) -> str:
    key = f"conclusion.class.{area}.{label}"
    name = t(lang, key)
    return label if name == key else name


def _dialog(context: BotContext, name: str, *steps: str) -> Dialog | None:
    dialog = context.owner.dialog if context.owner else None
    return dialog if dialog and dialog.name == name and (not steps or dialog.step in steps) else None


async def _set(context: BotContext, dialog: Dialog | None) -> None:
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()


async def _refuse(update: Update, context: BotContext, err: InvalidInput) -> None:
    text = context.t(err.code, **err.params)
    if update.callback_query:
        await update.callback_query.answer(text[:200], show_alert=True)
    else:
        await update.effective_chat.send_message(text)


async def _query_repo(update: Update, context: BotContext):
    """The repository for a button's use case, or None after answering the press as outdated."""
    repo = _repo(context)
    if repo is None:
        await update.callback_query.answer(context.t("err.outdated_button"))
    return repo


async def _relay_refusal(context: BotContext, repo, booking_id: str, err: InvalidInput) -> str:
    """Why a message cannot go now, with the window's start and end in the person's zone."""
    params = dict(err.params)
    found = await repo.booking(booking_id) if err.code != "booking.err.not_found" else None
    if found:
        tz = context.owner.timezone
        params.update(start=_moment(found[0].start, tz), until=_moment(rules.relay_closes_at(found[0]), tz))
    return context.t(err.code, **params)


def vet_booking_markup(lang: str, booking_id: str) -> InlineKeyboardMarkup:
    """The buttons of the booking message the vet gets (handlers.payments): the conclusion's entry point."""
    return rows(button(t(lang, "conclusion.btn.write"), f"cn:w:{booking_id}"))


def _write_button(lang: str, booking_id: str, to_vet: bool):
    return button(t(lang, "conclusion.btn.message_vet" if to_vet else "conclusion.btn.message_owner"),
                  f"cr:w:{booking_id}")


# ---- the vet's dialog ------------------------------------------------------------------------------

async def on_write(update: Update, context: BotContext) -> None:
    """cn:w:<booking>: the booking's vet starts the conclusion (from the start of the consultation on)."""
    query = update.callback_query
    repo = await _query_repo(update, context)
    if repo is None:
        return
    booking_id = query.data.split(":")[2]
    try:
        booking, question = await svc.start_conclusion(repo, booking_id, context.owner.id, context.services.clock())
    except InvalidInput as err:
        await _refuse(update, context, err)
        return
    draft = {"booking_id": booking.id, "pet": str((booking.pet or {}).get("name") or "")}
    if question is not None:
        draft.update(area=question.area.value, ai=question.ai_label)
    await _set(context, Dialog(CONCLUSION, STEP_SUMMARY, draft))
    await query.answer()
    await ask_current(update, context)


async def ask_current(update: Update, context: BotContext) -> None:
    """The open question of the conclusion or comment dialog (again after /help or a sticker)."""
    dialog = context.owner.dialog
    chat = update.effective_chat
    draft = dialog.draft
    if dialog.name == COMMENT:
        await chat.send_message(context.t("conclusion.ask.comment", max=rules.COMMENT_MAX_LEN))
    elif dialog.step == STEP_SUMMARY:
        await chat.send_message(context.t("conclusion.ask.summary", pet=draft.get("pet", "")))
    elif dialog.step == STEP_RECS:
        await chat.send_message(context.t("conclusion.ask.recommendations"),
                                reply_markup=rows(button(context.t("conclusion.btn.no_recommendations"), "cn:k")))
    elif dialog.step == STEP_FOLLOW:
        buttons = [button(context.t("conclusion.btn.follow_days", days=d), f"cn:f:{d}") for d in FOLLOW_DAYS]
        await chat.send_message(context.t("conclusion.ask.follow_up"), reply_markup=rows(
            *buttons, button(context.t("conclusion.btn.no_follow_up"), "cn:f:0"), per_row=3))
    elif dialog.step == STEP_LABEL:
        await _ask_label(update, context, wrong=bool(draft.get("wrong")))
    else:
        await chat.send_message(_preview(context, draft), reply_markup=rows(
            button(context.t("conclusion.btn.send"), "cn:s"), button(context.t("conclusion.btn.rewrite"), "cn:e")))


async def _ask_label(update: Update, context: BotContext, wrong: bool) -> None:
    draft, lang = context.owner.dialog.draft, context.language
    area, ai = draft["area"], draft.get("ai")
    others = [c for c in rules.LABEL_CLASSES[Area(area)] if c != ai]
    cannot = button(context.t("conclusion.btn.cannot_tell"), "cn:v:x")
    if ai and not wrong:
        text = context.t("conclusion.ask.ai_right", label=_class_name(lang, area, ai))
        markup = rows(button(context.t("conclusion.btn.right"), "cn:v:r"), button(context.t("conclusion.btn.wrong"), "cn:v:w"),
                      cannot, per_row=2)
    else:
        text = context.t("conclusion.ask.which_class" if ai else "conclusion.ask.class_no_ai")
        markup = rows(*(button(_class_name(lang, area, c), f"cn:c:{c}") for c in others), cannot, per_row=2)
    await update.effective_chat.send_message(text, reply_markup=markup)


def _preview(context: BotContext, draft: dict) -> str:
    lang = context.language
    lines = [context.t("conclusion.preview.title", pet=draft.get("pet", "")), "",
             context.t("conclusion.field.summary", text=draft.get("summary", ""))]
    if draft.get("recs"):
        lines.append(context.t("conclusion.field.recommendations", text=draft["recs"]))
    follow = draft.get("follow")
    lines.append(context.t("conclusion.field.follow_up", date=date.fromisoformat(follow).strftime("%d.%m.%Y"))
                 if follow else context.t("conclusion.field.no_follow_up"))
    answer = draft.get("answer")
    if answer:
        shown = (context.t("conclusion.verdict.cannot_tell") if answer == rules.CANNOT_TELL
                 else _class_name(lang, draft["area"], draft.get("ai") if answer == rules.RIGHT else answer))
        lines.append(context.t("conclusion.field.photo", answer=shown))
    lines += ["", context.t("conclusion.preview.final")]
    return "\n".join(lines)


async def on_text(update: Update, context: BotContext) -> None:
    """Typed answers of the conclusion and comment dialogs (pet_dialog.ANSWERERS hands them here)."""
    dialog = context.owner.dialog
    text = update.message.text
    try:
        if dialog.name == COMMENT:
            await _save_comment(update, context, text)
        elif dialog.step == STEP_SUMMARY:
            await _next(update, context, STEP_RECS, summary=rules.check_summary(text))
        elif dialog.step == STEP_RECS:
            await _next(update, context, STEP_FOLLOW, recs=rules.check_recommendations(text))
        elif dialog.step == STEP_FOLLOW:
            today = rem_rules.local_today(context.services.clock(), context.owner.timezone)
            day = rules.check_follow_up(diary_rules.parse_date(text, today), today)
            await _after_follow_up(update, context, day)
        else:
            await update.message.reply_text(context.t("err.use_buttons"))
    except InvalidInput as err:
        await update.effective_chat.send_message(context.t(err.code, **err.params))


async def _next(update: Update, context: BotContext, step: str, **changes) -> None:
    await _set(context, context.owner.dialog.at(step, **changes))
    await ask_current(update, context)


async def _after_follow_up(update: Update, context: BotContext, day: date | None) -> None:
    step = STEP_LABEL if context.owner.dialog.draft.get("area") else STEP_CONFIRM
    await _next(update, context, step, follow=day.isoformat() if day else None)


async def on_step_button(update: Update, context: BotContext) -> None:
    """cn:k, cn:f:<days>, cn:v:<r|w|x>, cn:c:<class>, cn:e: the buttons under the dialog's questions."""
    query = update.callback_query
    parts = query.data.split(":")
    step = {"k": STEP_RECS, "f": STEP_FOLLOW, "v": STEP_LABEL, "c": STEP_LABEL, "e": STEP_CONFIRM}[parts[1]]
    dialog = _dialog(context, CONCLUSION, step)
    if dialog is None:
        await query.answer(context.t("err.outdated_button"))
        return
    await query.answer()
    await drop_keyboard(update)
    if parts[1] == "k":
        await _next(update, context, STEP_FOLLOW, recs="")
    elif parts[1] == "f":
        days = int(parts[2])
        today = rem_rules.local_today(context.services.clock(), context.owner.timezone)
        await _after_follow_up(update, context, today + timedelta(days=days) if days else None)
    elif parts[1] == "v" and parts[2] == "w":
        await _next(update, context, STEP_LABEL, wrong=True)
    elif parts[1] in ("v", "c"):
        answer = {"r": rules.RIGHT, "x": rules.CANNOT_TELL}.get(parts[2], parts[2]) if parts[1] == "v" else parts[2]
        area, ai = dialog.draft["area"], dialog.draft.get("ai")
        try:
            rules.check_verdict(rules.LabelQuestion(Area(area), "", ai, rules.LABEL_CLASSES[Area(area)]), answer)
        except InvalidInput as err:
            await _refuse(update, context, err)
            return
        await _next(update, context, STEP_CONFIRM, answer=answer)
    else:  # cn:e: write it again from the summary
        keep = {k: dialog.draft[k] for k in ("booking_id", "pet", "area", "ai") if k in dialog.draft}
        await _set(context, Dialog(CONCLUSION, STEP_SUMMARY, keep))
        await ask_current(update, context)


async def on_send(update: Update, context: BotContext) -> None:
    """cn:s: the conclusion is written (once), committed, and only then sent to the owner."""
    query = update.callback_query
    dialog = _dialog(context, CONCLUSION, STEP_CONFIRM)
    repo = _repo(context)
    if dialog is None or repo is None:
        await query.answer(context.t("err.outdated_button"))
        return
    services, draft = context.services, dialog.draft
    try:
        written = await svc.write_conclusion(
            conclusions=repo, diary=services.diary, reminders=services.reminders, owners=context.shared_services.owners,
            pets=services.pets, vets=services.vets, triage=services.triage, booking_id=draft["booking_id"],
            vet_id=context.owner.id, summary=draft.get("summary", ""), recommendations=draft.get("recs", ""),
            follow_up=date.fromisoformat(draft["follow"]) if draft.get("follow") else None,
            answer=draft.get("answer"), now=services.clock())
    except InvalidInput as err:
        if err.code not in ("conclusion.err.follow_up_past", "conclusion.err.follow_up_too_far"):
            await _set(context, None)  # nothing left to write: the booking moved on, or it is written
        await _refuse(update, context, err)
        return
    await _set(context, None)  # commits the conclusion with everything it does, or raises StaleUpdate
    await query.answer(context.t("conclusion.sent_short"))
    await drop_keyboard(update)
    photos = _label_photos(context)
    if photos is not None:
        await svc.store_label_photo(photos, written.kept_label)
    delivered = await tell_owner(context, written)
    key = "conclusion.sent" if delivered else "conclusion.sent_undelivered"
    await update.effective_chat.send_message(
        context.t(key, pet=written.pet_name, until=_moment(rules.relay_closes_at(written.booking),
                                                            await _vet_tz(context))),
        reply_markup=rows(_write_button(context.language, written.booking.id, to_vet=False)))


async def _vet_tz(context: BotContext) -> str | None:
    """The acting vet's calendar zone, the clock their reminders and bookings are told on (their own
    setting as a user, if the vet record is gone)."""
    vet = await context.services.vets.get(context.owner.id) if context.owner else None
    return vet.timezone if vet else (context.owner.timezone if context.owner else None)


def owner_markup(lang: str, booking_id: str) -> InlineKeyboardMarkup:
    stars = [button("⭐" * n, f"cr:r:{booking_id}:{n}") for n in rules.STARS]
    return InlineKeyboardMarkup([stars[:3], stars[3:], [_write_button(lang, booking_id, to_vet=True)]])


def owner_text(written: svc.Written) -> str:
    owner, c = written.owner, written.conclusion
    lang, tz = owner.language, owner.timezone
    lines = [t(lang, "conclusion.owner.title", vet=written.vet_name, pet=written.pet_name,
               date=_day(written.booking.start, tz)), "", t(lang, "conclusion.field.summary", text=c.summary)]
    if c.recommendations:
        lines.append(t(lang, "conclusion.field.recommendations", text=c.recommendations))
    if c.follow_up:
        lines.append(t(lang, "conclusion.field.follow_up", date=c.follow_up.strftime("%d.%m.%Y")))
        if written.reminder_set:
            lines.append(t(lang, "conclusion.owner.reminder"))
    lines.append("")
    if written.in_diary:
        lines.append(t(lang, "conclusion.owner.in_diary", pet=written.pet_name))
    lines += [t(lang, "conclusion.owner.messages", until=_moment(rules.relay_closes_at(written.booking), tz)),
              "", t(lang, "conclusion.owner.rate")]
    return "\n".join(lines)


async def tell_owner(context: BotContext, written: svc.Written) -> bool:
    """The conclusion to the owner (their language and zone), the label question the first time. False if
    it could not be delivered (the owner blocked the bot or erased their data)."""
    owner = written.owner
    if owner is None:
        return False
    lang, booking_id = owner.language, written.booking.id
    try:
        await context.bot.send_message(owner.id, owner_text(written), reply_markup=owner_markup(lang, booking_id))
        if written.ask_label_consent:
            await context.bot.send_message(owner.id, t(lang, "conclusion.labels.ask", pet=written.pet_name),
                                           reply_markup=rows(button(t(lang, "conclusion.labels.yes"), f"lc:y:{booking_id}"),
                                                             button(t(lang, "conclusion.labels.no"), f"lc:n:{booking_id}")))
    except (Forbidden, BadRequest) as err:
        log.warning("a conclusion was not delivered to its owner: %s", type(err).__name__)
        return False
    return True


# ---- the owner: rating, comment, label consent ---------------------------------------------------

async def on_rate(update: Update, context: BotContext) -> None:
    """cr:r:<booking>:<stars>: once, a completed consultation, by its owner."""
    query = update.callback_query
    _, _, booking_id, stars = query.data.split(":")
    repo = await _query_repo(update, context)
    if repo is None:
        return
    try:
        await svc.rate(conclusions=repo, vets=context.services.vets, booking_id=booking_id, owner_id=context.owner.id,
                       stars=int(stars), now=context.services.clock())
    except InvalidInput as err:
        await _refuse(update, context, err)
        return
    await context.commit()
    await query.answer(context.t("conclusion.rated", stars="⭐" * int(stars)))
    await query.edit_message_reply_markup(rows(button(context.t("conclusion.btn.comment"), f"cr:c:{booking_id}"),
                                               _write_button(context.language, booking_id, to_vet=True), per_row=1))


async def on_comment(update: Update, context: BotContext) -> None:
    """cr:c:<booking>: the comment after the stars (typed next)."""
    query = update.callback_query
    booking_id = query.data.split(":")[2]
    repo = _repo(context)
    found = await repo.get(booking_id) if repo is not None else None
    record = found[0] if found else None
    if record is None or record.conclusion.owner_id != context.owner.id or record.rating is None or record.rating.comment:
        await query.answer(context.t("err.outdated_button"))
        return
    await _set(context, Dialog(COMMENT, STEP_COMMENT, {"booking_id": booking_id}))
    await query.answer()
    await ask_current(update, context)


async def _save_comment(update: Update, context: BotContext, text: str) -> None:
    booking_id = context.owner.dialog.draft["booking_id"]
    try:
        await svc.comment(conclusions=_repo(context), booking_id=booking_id, owner_id=context.owner.id, text=text)
    except InvalidInput as err:
        if err.code == "conclusion.err.commented_already":
            await _set(context, None)
        raise
    await _set(context, None)
    await update.effective_chat.send_message(context.t("conclusion.commented"))


async def on_label_consent(update: Update, context: BotContext) -> None:
    """lc:y|n:<booking> under a conclusion; lc:on|off in /privacy. No deletes every label kept of theirs."""
    query = update.callback_query
    parts = query.data.split(":")
    repo, services = await _query_repo(update, context), context.services
    if repo is None:
        return
    yes = parts[1] in ("y", "on")
    answer = await svc.answer_label_consent(owners=services.owners, conclusions=repo, triage=services.triage,
                                            owner=context.owner, yes=yes, now=services.clock(),
                                            booking_id=parts[2] if len(parts) > 2 else None)
    await context.commit()
    await query.answer()
    photos = _label_photos(context)
    deleted = 0
    if photos is not None:
        await svc.store_label_photo(photos, answer.kept_label)
        deleted = await svc.delete_labels(repo, photos, answer.deleted)
    if yes:
        await edit_or_send(update, context.t("conclusion.labels.thanks"))
    else:
        await edit_or_send(update, context.t("conclusion.labels.off", n=deleted))


def privacy_extra(context: BotContext, markup: InlineKeyboardMarkup | None) -> tuple[str, InlineKeyboardMarkup | None]:
    """What /privacy says of the labels, and the button that changes the answer."""
    if markup is None or context.owner is None or context.shared_services.conclusions is None:
        return "", markup
    consent = context.owner.label_consent
    state = {True: "on", False: "off", None: "unasked"}[consent]
    toggle = button(context.t("conclusion.labels.btn_off" if consent else "conclusion.labels.btn_on"),
                    "lc:off" if consent else "lc:on")
    return (context.t(f"conclusion.labels.privacy.{state}"),
            InlineKeyboardMarkup([*markup.inline_keyboard, [toggle]]))


# ---- messages between owner and vet ----------------------------------------------------------------

def replied_booking(message: Message | None) -> str | None:
    """The booking a bot's consultation message is about, from its buttons (None: not such a message)."""
    replied = message.reply_to_message if message else None
    markup = replied.reply_markup if replied else None
    for row in (markup.inline_keyboard if markup else ()):
        for b in row:
            found = _MARKED.match(b.callback_data or "")
            if found:
                return found[1]
    return None


class _ConsultationReply(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return replied_booking(message) is not None


async def on_reply(update: Update, context: BotContext) -> None:
    """A reply to a consultation message: relayed to the other party, as the bot's own message."""
    message = update.message
    repo = _repo(context)
    if repo is None:
        return
    booking_id = replied_booking(message)
    try:
        relay = await svc.relay(repo, booking_id, context.owner.id, context.services.clock())
        if message.photo:
            text = rules.check_relay_text(message.caption, required=False)
        elif message.text:
            text = rules.check_relay_text(message.text)
        else:
            raise InvalidInput("conclusion.err.relay_kind")
    except InvalidInput as err:
        await message.reply_text(await _relay_refusal(context, repo, booking_id, err))
        return
    booking = relay.booking
    recipient = await context.shared_services.owners.get(relay.to_id)
    lang = recipient.language if recipient else "ru"
    pet = str((booking.pet or {}).get("name") or "")
    if relay.from_vet:
        vet = await context.services.vets.get(booking.vet_id)
        header = t(lang, "conclusion.relay.from_vet", vet=vet.full_name if vet else t(lang, "conclusion.relay.vet"), pet=pet)
    else:
        header = t(lang, "conclusion.relay.from_owner", pet=pet,
                   date=_moment(booking.start, recipient.timezone if recipient else None))
    markup = rows(_write_button(lang, booking.id, to_vet=relay.from_vet))  # the recipient writes back
    body = header + ("\n\n" + text if text else "")
    try:
        if recipient is None:
            raise Forbidden("the recipient is gone")
        if message.photo:
            biggest = max(message.photo, key=lambda s: (s.width or 0) * (s.height or 0))
            await context.bot.send_photo(relay.to_id, biggest.file_id, caption=body[:1024], reply_markup=markup)
        else:
            await context.bot.send_message(relay.to_id, body, reply_markup=markup)
    except (Forbidden, BadRequest) as err:
        log.info("a relayed message was not delivered: %s", type(err).__name__)
        await message.reply_text(context.t("conclusion.relay.undelivered"))
        return
    await message.reply_text(context.t("conclusion.relay.sent"))


async def on_write_hint(update: Update, context: BotContext) -> None:
    """cr:w:<booking>: how to write to the other party (a reply to this message), or why not now."""
    query = update.callback_query
    repo = await _query_repo(update, context)
    if repo is None:
        return
    booking_id = query.data.split(":")[2]
    try:
        relay = await svc.relay(repo, booking_id, context.owner.id, context.services.clock())
    except InvalidInput as err:
        await query.answer((await _relay_refusal(context, repo, booking_id, err))[:200], show_alert=True)
        return
    key = "conclusion.relay.how_to_vet" if not relay.from_vet else "conclusion.relay.how_to_owner"
    await query.answer(context.t(key, until=_moment(relay.closes_at, context.owner.timezone))[:200], show_alert=True)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_write, pattern=rf"^cn:w:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_step_button, pattern=r"^cn:(k|f:(0|7|14|30)|v:[rwx]|c:[a-z_]{1,30}|e)$"))
    app.add_handler(CallbackQueryHandler(on_send, pattern=r"^cn:s$"))
    app.add_handler(CallbackQueryHandler(on_rate, pattern=rf"^cr:r:{_ID}:[1-5]$"))
    app.add_handler(CallbackQueryHandler(on_comment, pattern=rf"^cr:c:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_write_hint, pattern=rf"^cr:w:{_ID}$"))
    app.add_handler(CallbackQueryHandler(on_label_consent, pattern=rf"^lc:((y|n):{_ID}|on|off)$"))
    # before every other feature's text and photo handlers: only replies to a consultation message match
    app.add_handler(MessageHandler(filters.REPLY & ~filters.COMMAND & _ConsultationReply(), on_reply))
    pet_dialog.ASKERS[CONCLUSION] = ask_current
    pet_dialog.ASKERS[COMMENT] = ask_current
    pet_dialog.ANSWERERS[CONCLUSION] = on_text
    pet_dialog.ANSWERERS[COMMENT] = on_text

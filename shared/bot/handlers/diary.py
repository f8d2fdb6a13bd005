"""The health diary in the chat: /weight, /vaccines, /food, /activity, /diary (week + PDF).

State between messages is the owner's `dialog` (name "diary", steps "dy_*", draft with pet_id and the
pet's name), so any instance resumes it; the core's "ask.<step>" convention is kept (keys in diary.po)
so /help and stray stickers repeat the open question.

Callback data: dy:<action>:<pet id> (w weight, c chart, v vaccines, a add treatment, f food,
m activity/mood, s week summary, x PDF export); dyk:<kind>; dyd:<field>:<value> answers a dialog step;
dyf:<food index|free>.
"""
from __future__ import annotations

from datetime import timedelta

from telegram import InputFile, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from shared.bot import render
from shared.bot.context import BotContext
from shared.bot.handlers import pet_dialog
from shared.bot.handlers.reminders import format_date
from shared.bot.replies import drop_keyboard
from shared.bot.keyboards import button, rows
from shared.domain import diary as rules
from shared.domain import nutrition
from shared.domain.diary import ActivityLog, Kind, Meal
from shared.domain.owners import Dialog
from shared.domain.pets import InvalidInput, Pet
from shared.i18n import t
from shared.services import diary as diary_service
from shared.services import owners as owner_service
from shared.services import reminders as reminder_service
from shared.services.pets import PetNotFound

DIARY = "diary"
MINUTE_CHOICES = (0, 15, 30, 60, 90, 120)


def _today(context: BotContext):
    return reminder_service.today_for(context.owner, context.services.clock())


def _num(lang: str, value: float, digits: int = 2) -> str:
    text = f"{round(value, digits):g}"
    return text.replace(".", ",") if lang == "ru" else text


# ---- choosing the pet --------------------------------------------------------------------------

async def _with_pet(update: Update, context: BotContext, action: str, draft: dict | None = None) -> Pet | None:
    """The owner's only pet, or None after asking which one (buttons dy:<action>:<id>)."""
    pets = await context.services.pets.list(context.owner.id)
    if len(pets) == 1:
        return pets[0]
    if not pets:
        await update.effective_chat.send_message(context.t("pets.empty"),
                                                 reply_markup=rows(button(context.t("menu.add_pet"), "pet:add")))
        return None
    if draft:
        context.owner = await owner_service.set_dialog(context.services.owners, context.owner,
                                                       Dialog(DIARY, "dy_pick", draft))
        await context.commit()
    await update.effective_chat.send_message(
        context.t("diary.which_pet"),
        reply_markup=rows(*(button(p.name, f"dy:{action}:{p.id}") for p in pets)))
    return None


async def _set_step(context: BotContext, step: str, pet: Pet | None = None, **draft) -> None:
    """Moves the dialog on and commits, with what else this update staged, before the next question."""
    if pet is not None:  # a new flow for this pet
        dialog = Dialog(DIARY, step, {"pet_id": pet.id, "name": pet.name, "species": pet.species.value, **draft})
    else:
        dialog = context.owner.dialog.at(step, **draft)
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, dialog)
    await context.commit()


async def _close(context: BotContext) -> None:
    """Ends the dialog and commits what this update staged (the entry it saved)."""
    context.owner = await owner_service.set_dialog(context.services.owners, context.owner, None)
    await context.commit()


# ---- commands ----------------------------------------------------------------------------------

async def weight_command(update: Update, context: BotContext) -> None:
    value = " ".join(context.args or [])
    pet = await _with_pet(update, context, "w", {"value": value} if value else None)
    if pet is None:
        return
    if value:
        await _log_weight(update, context, pet, value)
    else:
        await _ask_weight(update, context, pet)


async def _ask_weight(update: Update, context: BotContext, pet: Pet) -> None:
    await _set_step(context, "dy_weight", pet)
    await update.effective_chat.send_message(context.t("ask.dy_weight", name=pet.name))


async def _log_weight(update: Update, context: BotContext, pet: Pet, text: str) -> None:
    chat = update.effective_chat
    try:
        kg = rules.parse_diary_weight(text, pet.species)
    except InvalidInput as err:
        await chat.send_message(context.t(err.code, **err.params) + "\n" + context.t("diary.weight_example"))
        return
    services = context.services
    pet, entry, warning = await diary_service.record_weight(services.pets, services.diary, context.owner.id,
                                                            pet.id, kg, _today(context))
    await _close(context)
    lines = [context.t("diary.weight_saved", name=pet.name, weight=render.weight(context.language, kg))]
    if warning:
        key = "diary.weight_warning_loss" if warning.change < 0 else "diary.weight_warning_gain"
        lines.append(context.t(key, name=pet.name, percent=_num(context.language, abs(warning.change) * 100, 0),
                               since=format_date(context.language, warning.since),
                               before=render.weight(context.language, warning.from_kg)))
        lines.append(context.t("diary.see_vet"))
    await chat.send_message("\n\n".join(lines),
                            reply_markup=rows(button(context.t("diary.btn.chart"), f"dy:c:{pet.id}"),
                                              button(context.t("diary.btn.diary"), f"dy:s:{pet.id}")))


async def _send_chart(update: Update, context: BotContext, pet: Pet) -> None:
    from shared.adapters.charts import weight_chart

    services = context.services
    _, weights = await diary_service.weight_history(services.pets, services.diary, context.owner.id, pet.id,
                                                    since=_today(context) - timedelta(days=365))
    if not weights:
        await update.effective_chat.send_message(context.t("diary.no_weights", name=pet.name),
                                                 reply_markup=rows(button(context.t("diary.btn.weight"),
                                                                          f"dy:w:{pet.id}")))
        return
    unit = context.t("diary.unit_kg")
    png = weight_chart([(w.on, w.kg) for w in weights], context.t("diary.chart_title", name=pet.name), unit,
                       f"{_num(context.language, weights[-1].kg)} {unit}")
    await update.effective_chat.send_photo(InputFile(png, filename="weight.png"),
                                           caption=context.t("diary.chart_caption", name=pet.name, n=len(weights)))


async def vaccines_command(update: Update, context: BotContext) -> None:
    pet = await _with_pet(update, context, "v")
    if pet:
        await _show_vaccines(update, context, pet)


async def _show_vaccines(update: Update, context: BotContext, pet: Pet) -> None:
    services, lang, today = context.services, context.language, _today(context)
    _, treatments = await diary_service.pet_treatments(services.pets, services.diary, context.owner.id, pet.id)
    lines = [context.t("diary.vaccines_title", name=pet.name)]
    if not treatments:
        lines.append(context.t("diary.vaccines_empty"))
    current = rules.current_treatments(treatments)
    for status in (rules.DueStatus.OVERDUE, rules.DueStatus.DUE, rules.DueStatus.PLANNED):
        items = [x for x in current if rules.due_status(x, today) == status]
        if items:
            lines.append("")
            lines.append(context.t(f"diary.status.{status.value}"))
            lines += [context.t("diary.due_line", what=context.t(f"diary.kind.{x.kind.value}"), product=x.product,
                                date=format_date(lang, x.next_due)) for x in items]
    done = sorted(treatments, key=lambda x: x.given_on, reverse=True)[:10]
    if done:
        lines.append("")
        lines.append(context.t("diary.status.done"))
        lines += [context.t("diary.done_line", what=context.t(f"diary.kind.{x.kind.value}"), product=x.product,
                            date=format_date(lang, x.given_on)) for x in done]
    await update.effective_chat.send_message("\n".join(lines),
                                             reply_markup=rows(button(context.t("diary.btn.add_treatment"),
                                                                      f"dy:a:{pet.id}")))


async def _ask_kind(update: Update, context: BotContext, pet: Pet) -> None:
    await _set_step(context, "dy_kind", pet)
    await update.effective_chat.send_message(
        context.t("ask.dy_kind", name=pet.name),
        reply_markup=rows(*(button(context.t(f"diary.kind.{k.value}"), f"dyk:{k.value}") for k in Kind), per_row=1))


async def food_command(update: Update, context: BotContext) -> None:
    pet = await _with_pet(update, context, "f")
    if pet:
        await _show_food(update, context, pet)


async def _show_food(update: Update, context: BotContext, pet: Pet) -> None:
    services, lang = context.services, context.language
    day = await diary_service.day_calories(services.pets, services.diary, context.owner.id, pet.id, _today(context))
    lines = [context.t("diary.food_title", name=pet.name)]
    lines += [context.t("diary.meal_line", food=m.name, grams=_num(lang, m.grams, 0), kcal=round(m.kcal))
              for m in day.meals]
    lines.append(context.t("diary.food_total", kcal=round(day.total)))
    if day.requirement:
        req = day.requirement
        lines.append(context.t("diary.food_need", kcal=round(req.kcal), rer=round(req.rer),
                               factor=_num(lang, req.factor, 1), basis=context.t(f"diary.basis.{req.basis}"),
                               weight=render.weight(lang, day.weight_kg)))
        share = day.total / req.kcal
        if share > 1.1:
            lines.append(context.t("diary.food_over", percent=round((share - 1) * 100)))
    elif not nutrition.has_formula(pet.species):
        lines.append(context.t("diary.food_no_formula"))
    else:
        lines.append(context.t("diary.food_need_weight"))
    await _set_step(context, "dy_food", pet)
    foods = nutrition.foods_for(pet.species)
    index = {f.id: i for i, f in enumerate(nutrition.foods().values())}
    await update.effective_chat.send_message(
        "\n".join(lines) + "\n\n" + context.t("ask.dy_food", name=pet.name),
        reply_markup=rows(*(button(f.name(lang), f"dyf:{index[f.id]}") for f in foods),
                          button(context.t("diary.btn.free_food"), "dyf:free"), per_row=1))


async def activity_command(update: Update, context: BotContext) -> None:
    pet = await _with_pet(update, context, "m")
    if pet:
        await _ask_minutes(update, context, pet)


async def _ask_minutes(update: Update, context: BotContext, pet: Pet) -> None:
    await _set_step(context, "dy_minutes", pet)
    await update.effective_chat.send_message(
        context.t("ask.dy_minutes", name=pet.name),
        reply_markup=rows(*(button(str(m), f"dyd:m:{m}") for m in MINUTE_CHOICES), per_row=3))


def _scale_keyboard(lang: str, field: str):
    return rows(*(button(t(lang, f"diary.scale.{n}"), f"dyd:{field}:{n}") for n in rules.SCALE), per_row=1)


async def diary_command(update: Update, context: BotContext) -> None:
    pet = await _with_pet(update, context, "s")
    if pet:
        await _show_week(update, context, pet)


def week_lines(lang: str, week: diary_service.WeekSummary) -> list[str]:
    """The pet's last seven days as /diary shows them (and the booked vet's notice, in the vet's language)."""
    pet = week.pet
    lines = [t(lang, "diary.week_title", name=pet.name, first=week.first.strftime("%d.%m"),
               last=week.last.strftime("%d.%m"))]
    if week.weights:
        lines.append(t(lang, "diary.week_weight", weight=render.weight(lang, week.weights[-1].kg), n=len(week.weights)))
    else:
        lines.append(t(lang, "diary.week_no_weight"))
    if week.activity:
        mood, appetite = week.average("mood"), week.average("appetite")
        lines.append(t(lang, "diary.week_activity", minutes=week.minutes, days=len({a.on for a in week.activity})))
        if mood is not None:
            lines.append(t(lang, "diary.week_mood", mood=_num(lang, mood, 1)))
        if appetite is not None:
            lines.append(t(lang, "diary.week_appetite", appetite=_num(lang, appetite, 1)))
        notes = [a for a in week.activity if a.notes]
        if notes:
            lines.append(t(lang, "diary.week_notes", n=len(notes)) + " " + notes[-1].notes[:200])
    else:
        lines.append(t(lang, "diary.week_no_activity"))
    if week.kcal_per_day is not None:
        lines.append(t(lang, "diary.week_kcal", kcal=round(week.kcal_per_day)))
    for item in week.due:
        lines.append(t(lang, "diary.due_line", what=t(lang, f"diary.kind.{item.kind.value}"), product=item.product,
                       date=format_date(lang, item.next_due)))
    for note in week.consultations:
        lines.append(t(lang, "conclusion.diary.week_line", date=format_date(lang, note.on), vet=note.vet_name,
                       summary=note.summary[:200]))
    return lines


async def _show_week(update: Update, context: BotContext, pet: Pet) -> None:
    services = context.services
    week = await diary_service.week_summary(services.pets, services.diary, context.owner.id, pet.id, _today(context))
    lines = week_lines(context.language, week)
    p = pet.id
    await update.effective_chat.send_message("\n".join(lines), reply_markup=rows(
        button(context.t("diary.btn.weight"), f"dy:w:{p}"), button(context.t("diary.btn.chart"), f"dy:c:{p}"),
        button(context.t("diary.btn.vaccines"), f"dy:v:{p}"), button(context.t("diary.btn.food"), f"dy:f:{p}"),
        button(context.t("diary.btn.activity"), f"dy:m:{p}"), button(context.t("diary.btn.pdf"), f"dy:x:{p}")))


async def _send_pdf(update: Update, context: BotContext, pet: Pet) -> None:
    services = context.services
    record = await diary_service.pet_record(services.pets, services.diary, context.owner.id, pet.id)
    pdf = record_pdf(context.language, record, _today(context))
    await update.effective_chat.send_document(InputFile(pdf, filename=f"{pet.name}.pdf"),
                                              caption=context.t("diary.pdf.caption", name=pet.name))


def record_pdf(lang: str, record: diary_service.PetRecord, today) -> bytes:
    """The pet's record for a clinic, in the owner's language (the chat's /diary and the Mini App's export)."""
    from shared.adapters.pdf_export import fmt_date, pet_record_pdf

    def tr(key: str, **params) -> str:
        return t(lang, key, **params)

    pet = record.pet
    return pet_record_pdf(
        tr("diary.pdf.title", name=pet.name),
        [(tr("field.name"), pet.name), (tr("field.species"), tr(f"species.{pet.species.value}")),
         (tr("field.breed"), pet.breed or tr("value.unknown")),
         (tr("field.sex"), tr(f"sex.{pet.sex.value}")),
         (tr("field.birth_date"), render.birth(lang, pet, today)),
         (tr("field.weight_kg"), render.weight(lang, pet.weight_kg)),
         (tr("field.neutered"), tr(f"neutered.{pet.neutered.value}"))],
        [(tr("diary.pdf.weights"), [tr("diary.pdf.date"), tr("diary.unit_kg")],
          [[fmt_date(w.on), _num(lang, w.kg, 3)] for w in record.weights]),
         (tr("diary.pdf.vaccinations"),
          [tr("diary.pdf.date"), tr("diary.pdf.product"), tr("diary.pdf.next")],
          [[fmt_date(x.given_on), x.product, fmt_date(x.next_due)] for x in record.treatments if x.kind == Kind.VACCINE]),
         (tr("diary.pdf.treatments"),
          [tr("diary.pdf.date"), tr("diary.pdf.kind"), tr("diary.pdf.product"),
           tr("diary.pdf.next")],
          [[fmt_date(x.given_on), tr(f"diary.kind.{x.kind.value}"), x.product, fmt_date(x.next_due)]
           for x in record.treatments if x.kind != Kind.VACCINE]),
         (tr("diary.pdf.notes"), [tr("diary.pdf.date"), tr("diary.pdf.note")],
          [[fmt_date(a.on), a.notes] for a in record.activity if a.notes]),
         (tr("conclusion.pdf.section"),
          [tr("diary.pdf.date"), tr("conclusion.pdf.vet"), tr("conclusion.pdf.summary"),
           tr("conclusion.pdf.recommendations"), tr("conclusion.pdf.follow_up")],
          [[fmt_date(c.on), c.vet_name, c.summary, c.recommendations or "—", fmt_date(c.follow_up)]
           for c in record.consultations])],
        tr("diary.pdf.footer", date=format_date(lang, today)))


# ---- buttons -----------------------------------------------------------------------------------

async def on_action(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, action, pet_id = query.data.split(":")
    services = context.services
    try:
        pet = await diary_service.owned_pet(services.pets, context.owner.id, pet_id)
    except PetNotFound:
        await query.answer(context.t("pet.not_found"), show_alert=True)
        return
    await query.answer()
    dialog = context.owner.dialog
    pending = dialog.draft.get("value") if dialog and dialog.name == DIARY and dialog.step == "dy_pick" else None
    if action == "w":
        await (_log_weight(update, context, pet, pending) if pending else _ask_weight(update, context, pet))
    elif action == "c":
        await _send_chart(update, context, pet)
    elif action == "v":
        await _show_vaccines(update, context, pet)
    elif action == "a":
        await _ask_kind(update, context, pet)
    elif action == "f":
        await _show_food(update, context, pet)
    elif action == "m":
        await _ask_minutes(update, context, pet)
    elif action == "s":
        await _show_week(update, context, pet)
    elif action == "x":
        await _send_pdf(update, context, pet)


def _open_step(context: BotContext, *steps: str) -> Dialog | None:
    dialog = context.owner.dialog
    return dialog if dialog and dialog.name == DIARY and dialog.step in steps else None


async def on_kind(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if not _open_step(context, "dy_kind"):
        await query.answer(context.t("err.outdated_button"))
        return
    kind = query.data.split(":")[1]
    await query.answer()
    await drop_keyboard(update)
    await _set_step(context, "dy_product", kind=kind)
    await update.effective_chat.send_message(context.t("ask.dy_product", name=context.owner.dialog.draft["name"]))


async def on_food(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if not _open_step(context, "dy_food"):
        await query.answer(context.t("err.outdated_button"))
        return
    choice = query.data.split(":")[1]
    await query.answer()
    if choice == "free":
        await _set_step(context, "dy_meal_free")
        await update.effective_chat.send_message(context.t("ask.dy_meal_free"))
        return
    all_foods = list(nutrition.foods().values())
    if not choice.isdigit() or int(choice) >= len(all_foods):
        await update.effective_chat.send_message(context.t("err.outdated_button"))
        return
    food = all_foods[int(choice)]
    await _set_step(context, "dy_grams", food_id=food.id)
    await update.effective_chat.send_message(context.t("ask.dy_grams", food=food.name(context.language)))


async def on_dialog_button(update: Update, context: BotContext) -> None:
    """dyd:<field>:<value>: g given date, n next due, m minutes, o mood, p appetite, t notes skip."""
    query = update.callback_query
    _, field, value = query.data.split(":")
    step_for = {"g": "dy_given", "n": "dy_next", "m": "dy_minutes", "o": "dy_mood", "p": "dy_appetite",
                "t": "dy_notes"}
    if not _open_step(context, step_for.get(field, "")):
        await query.answer(context.t("err.outdated_button"))
        return
    await query.answer()
    await drop_keyboard(update)
    today = _today(context)
    if field == "g":
        await _given(update, context, today if value == "today" else today - timedelta(days=1))
    elif field == "n":
        await _next_due(update, context, value)
    elif field == "m":
        await _minutes(update, context, int(value))
    elif field in ("o", "p"):
        await _scale(update, context, field, int(value))
    else:
        await _save_activity(update, context, None)


async def _given(update: Update, context: BotContext, given) -> None:
    dialog = context.owner.dialog
    try:
        rules.check_past_date(given, _today(context))
    except InvalidInput as err:
        await update.effective_chat.send_message(context.t(err.code, **err.params))
        return
    from shared.domain.pets import Species

    proposed = rules.propose_next_due(Species(dialog.draft["species"]), Kind(dialog.draft["kind"]), given)
    await _set_step(context, "dy_next", given=given.isoformat(), proposed=proposed.isoformat() if proposed else None)
    lang = context.language
    buttons = []
    if proposed:
        buttons.append(button(context.t("diary.next.proposed", date=format_date(lang, proposed)), "dyd:n:p"))
    buttons += [button(context.t(f"diary.next.{n}"), f"dyd:n:{n}") for n in ("30", "90", "365", "0")]
    text = context.t("ask.dy_next") if proposed else context.t("diary.next.no_default") + "\n" + context.t("ask.dy_next")
    await update.effective_chat.send_message(text, reply_markup=rows(*buttons, per_row=1))


async def _next_due(update: Update, context: BotContext, value) -> None:
    from datetime import date

    dialog = context.owner.dialog
    given = date.fromisoformat(dialog.draft["given"])
    if value == "p":
        next_due = date.fromisoformat(dialog.draft["proposed"]) if dialog.draft.get("proposed") else None
    elif isinstance(value, date):
        next_due = value
    else:
        next_due = given + timedelta(days=int(value)) if int(value) else None
    services, chat = context.services, update.effective_chat
    context.owner, inferred = await reminder_service.ensure_timezone(services.owners, context.owner,
                                                                    update.effective_user.language_code)
    try:
        treatment = await diary_service.record_treatment(
            services.pets, services.diary, services.reminders, context.owner, chat.id, dialog.draft["pet_id"],
            Kind(dialog.draft["kind"]), dialog.draft["product"], given, next_due, services.clock())
    except InvalidInput as err:
        await chat.send_message(context.t(err.code, **err.params))
        return
    except PetNotFound:
        await _close(context)
        await chat.send_message(context.t("pet.not_found"))
        return
    await _close(context)
    lang = context.language
    text = context.t("diary.treatment_saved", what=context.t(f"diary.kind.{treatment.kind.value}"),
                     product=treatment.product, date=format_date(lang, treatment.given_on))
    if treatment.next_due:
        text += "\n" + context.t("diary.treatment_next", date=format_date(lang, treatment.next_due))
        if inferred:
            text += "\n\n" + context.t("diary.tz.inferred", tz=context.owner.timezone)
    await chat.send_message(text, reply_markup=rows(button(context.t("diary.btn.vaccines"),
                                                           f"dy:v:{dialog.draft['pet_id']}")))


async def _minutes(update: Update, context: BotContext, minutes: int) -> None:
    await _set_step(context, "dy_mood", minutes=minutes)
    await update.effective_chat.send_message(context.t("ask.dy_mood", name=context.owner.dialog.draft["name"]),
                                             reply_markup=_scale_keyboard(context.language, "o"))


async def _scale(update: Update, context: BotContext, field: str, value: int) -> None:
    try:
        rules.check_scale(value)
    except InvalidInput as err:
        await update.effective_chat.send_message(context.t(err.code))
        return
    if field == "o":
        await _set_step(context, "dy_appetite", mood=value)
        await update.effective_chat.send_message(context.t("ask.dy_appetite", name=context.owner.dialog.draft["name"]),
                                                 reply_markup=_scale_keyboard(context.language, "p"))
    else:
        await _set_step(context, "dy_notes", appetite=value)
        await update.effective_chat.send_message(context.t("ask.dy_notes", max=rules.NOTES_MAX_LEN),
                                                 reply_markup=rows(button(context.t("diary.btn.no_notes"), "dyd:t:skip")))


async def _save_activity(update: Update, context: BotContext, notes: str | None) -> None:
    draft, services = context.owner.dialog.draft, context.services
    today = _today(context)
    log = ActivityLog("", today, draft.get("minutes"), draft.get("mood"), draft.get("appetite"), notes)
    try:
        await diary_service.record_activity(services.pets, services.diary, context.owner.id, draft["pet_id"], log,
                                            today)
    except PetNotFound:
        await update.effective_chat.send_message(context.t("pet.not_found"))
        await _close(context)
        return
    await _close(context)
    await update.effective_chat.send_message(
        context.t("diary.activity_saved", name=draft["name"]),
        reply_markup=rows(button(context.t("diary.btn.diary"), f"dy:s:{draft['pet_id']}")))


# ---- typed answers -----------------------------------------------------------------------------

async def on_text(update: Update, context: BotContext) -> None:
    dialog = context.owner.dialog if context.owner else None
    if dialog is not None and dialog.name == "consult":
        from shared.bot.handlers import consult  # it uses this module's chain for everything else

        await consult.on_text(update, context)
        return
    if dialog is None or dialog.name != DIARY:
        await pet_dialog.on_text(update, context)  # the pet form and the "no question open" hint
        return
    text, chat, services = update.message.text, update.effective_chat, context.services
    draft, step, today = dialog.draft, dialog.step, _today(context)
    try:
        if step in ("dy_weight", "dy_pick"):
            if "pet_id" not in draft:
                await chat.send_message(context.t("diary.which_pet"))
                return
            pet = await diary_service.owned_pet(services.pets, context.owner.id, draft["pet_id"])
            await _log_weight(update, context, pet, text)
        elif step == "dy_product":
            await _set_step(context, "dy_given", product=rules.parse_product(text))
            await chat.send_message(context.t("ask.dy_given"), reply_markup=rows(
                button(context.t("diary.btn.today"), "dyd:g:today"),
                button(context.t("diary.btn.yesterday"), "dyd:g:yesterday")))
        elif step == "dy_given":
            await _given(update, context, rules.check_past_date(rules.parse_date(text, today), today))
        elif step == "dy_next":
            from datetime import date

            due = rules.check_due_date(rules.parse_date(text, today), date.fromisoformat(draft["given"]), today)
            await _next_due(update, context, due)
        elif step == "dy_grams":
            grams = nutrition.parse_grams(text)
            food = nutrition.foods()[draft["food_id"]]
            await _save_meal(update, context, Meal("", today, food.name(context.language), grams,
                                                   food.kcal_per_100g, food.id))
        elif step == "dy_meal_free":
            name, kcal, grams = nutrition.parse_free_meal(text)
            await _save_meal(update, context, Meal("", today, name, grams, kcal))
        elif step == "dy_minutes":
            await _minutes(update, context, rules.parse_minutes(text))
        elif step == "dy_notes":
            await _save_activity(update, context, rules.parse_notes(text))
        else:  # a step answered with buttons
            await chat.send_message(context.t("err.use_buttons"))
    except InvalidInput as err:
        await chat.send_message(context.t(err.code, **err.params))
    except PetNotFound:
        await _close(context)
        await chat.send_message(context.t("pet.not_found"))


async def _save_meal(update: Update, context: BotContext, meal: Meal) -> None:
    draft, services = context.owner.dialog.draft, context.services
    await diary_service.record_meal(services.pets, services.diary, context.owner.id, draft["pet_id"], meal)
    await _close(context)
    pet = await diary_service.owned_pet(services.pets, context.owner.id, draft["pet_id"])
    await update.effective_chat.send_message(context.t("diary.meal_saved", food=meal.name,
                                                       grams=_num(context.language, meal.grams, 0),
                                                       kcal=round(meal.kcal)))
    await _show_food(update, context, pet)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("weight", weight_command))
    app.add_handler(CommandHandler("vaccines", vaccines_command))
    app.add_handler(CommandHandler("food", food_command))
    app.add_handler(CommandHandler("activity", activity_command))
    app.add_handler(CommandHandler("diary", diary_command))
    app.add_handler(CallbackQueryHandler(on_action, pattern=r"^dy:[wcvafmsx]:[A-Za-z0-9]{1,40}$"))
    app.add_handler(CallbackQueryHandler(on_kind, pattern=r"^dyk:(vaccine|deworming|flea_tick)$"))
    app.add_handler(CallbackQueryHandler(on_food, pattern=r"^dyf:(\d{1,3}|free)$"))
    app.add_handler(CallbackQueryHandler(  # only values the keyboards offer reach int() and the services
        on_dialog_button, pattern=r"^dyd:(g:(today|yesterday)|n:(p|30|90|365|0)|m:(0|15|30|60|90|120)|[op]:[1-5]|t:skip)$"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))

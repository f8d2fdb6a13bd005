"""How vets, their applications and their hours read in the chat (plain text: vets type these fields)."""
from __future__ import annotations

from datetime import date

from shared.bot import render
from shared.domain.pets import InvalidInput
from shared.domain.schedule import Schedule, format_hours
from shared.domain.vets import Decision, Vet
from shared.i18n import t

def price(lang: str, kopecks: int) -> str:
    return t(lang, "vet.price_value", rub=render.number(lang, kopecks / 100))


def profile(lang: str, vet: Vet, *, for_ops: bool = False) -> str:
    """The application as the vet confirms it and ops review it (documents only counted, never shown
    here: ops get the photos themselves)."""
    lines = [
        f"{t(lang, 'vet.field.full_name')}: {vet.full_name}",
        f"{t(lang, 'vet.field.city')}: {vet.city}",
        f"{t(lang, 'vet.field.education')}: {vet.education}",
        f"{t(lang, 'vet.field.species')}: " + ", ".join(t(lang, f"species.{s.value}") for s in vet.species),
        f"{t(lang, 'vet.field.areas')}: " + ", ".join(t(lang, f"vet.area.{a.value}") for a in vet.areas),
        f"{t(lang, 'vet.field.experience')}: {vet.experience_years}",
        f"{t(lang, 'vet.field.languages')}: " + ", ".join(t(lang, f"vet.lang.{code}") for code in vet.languages),
        f"{t(lang, 'vet.field.bio')}: {vet.bio}",
        f"{t(lang, 'vet.field.price')}: {price(lang, vet.price_kopecks)}",
        f"{t(lang, 'vet.field.timezone')}: {vet.timezone}",
        f"{t(lang, 'vet.field.documents')}: {len(vet.documents)}",
    ]
    if for_ops:
        lines.insert(0, t(lang, "vet.ops.id", id=vet.id) + (" · " + t(lang, "vet.ops.demo") if vet.demo else ""))
        lines.append(f"{t(lang, 'vet.field.status')}: {status(lang, vet)}")
    return "\n".join(lines)


def status(lang: str, vet: Vet) -> str:
    return t(lang, f"vet.status.{vet.status.value}")


def decision(lang: str, d: Decision) -> str:
    line = t(lang, "vet.ops.decision", action=t(lang, f"vet.action.{d.action.value}"), by=d.by,
             at=d.at.strftime("%Y-%m-%d %H:%M UTC"))
    return f"{line}: {d.reason}" if d.reason else line


def weekday(lang: str, day: int) -> str:
    return t(lang, f"vet.day.{day}")  # 0 = Monday


def schedule_text(lang: str, schedule: Schedule, today: date) -> str:
    """The weekly hours, dated overrides from today on, and the booking settings."""
    lines = [t(lang, "vet.sched.title", zone=schedule.timezone)]
    for day in range(7):
        hours = schedule.weekly.get(day, ())
        lines.append(f"{weekday(lang, day)}: {format_hours(hours) or t(lang, 'vet.sched.day_off')}")
    upcoming = {d: h for d, h in schedule.overrides.items() if d >= today}
    if upcoming:
        lines.append("")
        lines.append(t(lang, "vet.sched.overrides"))
        lines += [f"{d.strftime('%d.%m.%Y')}: {format_hours(h) or t(lang, 'vet.sched.day_off')}"
                  for d, h in sorted(upcoming.items())]
    lines.append("")
    lines.append(t(lang, "vet.sched.settings", slot=schedule.slot_minutes, buffer=schedule.buffer_minutes,
                   notice=render.number(lang, schedule.min_notice.total_seconds() / 3600),
                   horizon=schedule.horizon_days,
                   cap=schedule.daily_cap if schedule.daily_cap is not None else t(lang, "vet.sched.no_cap")))
    return "\n".join(lines)


def error(lang: str, err: InvalidInput) -> str:
    """An InvalidInput's message, with a weekday number in `day` named (schedule errors carry 0-6)."""
    params = dict(err.params)
    if isinstance(params.get("day"), int) and 0 <= params["day"] <= 6:
        params["day"] = weekday(lang, params["day"])
    if "status" in params:
        params["status"] = t(lang, f"vet.status.{params['status']}")
    if "action" in params:
        params["action"] = t(lang, f"vet.action.{params['action']}")
    return t(lang, err.code, **params)

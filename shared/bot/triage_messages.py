"""What the owner reads about photo triage: the texts and buttons of the photo pipeline's messages.

The triage use cases (shared/services/triage.py) say what happened as data (the notices: PetMissing,
PhotoRefused, Analysing, StoreFailed, TriageAnswer); `render` turns one into text and buttons in the
owner's language, and the chat adapter (shared/adapters/telegram_chat.BotChat) sends them. The callback
codes are the bot's: ph:r:<pet>:<area> (retake, answered by handlers/photo.py) and tr:b:<pet>:<result>
(book a vet for a result). No telegram import: the photo_triage function renders with it too.
"""
from __future__ import annotations

from shared.domain import triage as rules
from shared.domain.photos import Area
from shared.domain.triage import Outcome, TriageResult, Urgency
from shared.i18n import t
from shared.services.triage import Analysing, Notice, PetMissing, PhotoRefused, StoreFailed, TriageAnswer

Buttons = list[list[tuple[str, str]]]  # rows of (text, callback data)


# ---------------------------------------------------------------- callback codes

def retake_data(pet_id: str, area: Area) -> str:
    return f"ph:r:{pet_id}:{area.value}"


def book_data(pet_id: str, result_id: str) -> str:
    return f"tr:b:{pet_id}:{result_id}"


# ---------------------------------------------------------------- one notice -> text and buttons

def render(language: str, notice: Notice) -> tuple[str, Buttons | None]:
    if isinstance(notice, TriageAnswer):
        return result_message(language, notice.result)
    if isinstance(notice, Analysing):
        return t(language, "triage.analysing"), None
    if isinstance(notice, PhotoRefused):
        return rejection_text(language, notice), retake_buttons(language, notice.pet_id, notice.area)
    if isinstance(notice, StoreFailed):
        return t(language, "triage.store_failed"), retake_buttons(language, notice.pet_id, notice.area)
    if isinstance(notice, PetMissing):
        return t(language, "triage.pet_not_found"), None
    raise TypeError(f"no rendering for {type(notice).__name__}")


def rejection_text(language: str, refused: PhotoRefused) -> str:
    """``refused.code`` is a PhotoRejected code (a triage.po key)."""
    return t(language, refused.code, **refused.params) + "\n\n" + t(language, "triage.how_to_send")


# ---------------------------------------------------------------- the result, the booking summary

def label_name(language: str, label: str) -> str:
    key = f"triage.label.{label}"
    text = t(language, key)
    return label.replace("_", " ") if text == key else text


def _percent(p: float) -> str:
    return f"{max(1, min(99, round(p * 100)))}%"


def retake_buttons(language: str, pet_id: str, area: Area) -> Buttons:
    return [[(t(language, "triage.btn.retake"), retake_data(pet_id, area))]]


def result_buttons(language: str, result: TriageResult) -> Buttons:
    return [[(t(language, "triage.btn.book"), book_data(result.pet_id, result.id)),
             (t(language, "triage.btn.retake"), retake_data(result.pet_id, result.area))]]


def result_text(language: str, r: TriageResult) -> str:
    def tr(key: str, **kw) -> str:
        return t(language, key, **kw)

    lines = [tr("triage.result.title")]
    if r.outcome is Outcome.FINDINGS:
        top_label, top_p = r.findings[0]
        lines.append(tr("triage.result.top", finding=label_name(language, top_label),
                        likelihood=tr(f"triage.likely.{rules.likelihood_word(top_p)}"), percent=_percent(top_p)))
        for label, p in r.findings[1:]:
            lines.append(tr("triage.result.also", finding=label_name(language, label),
                            likelihood=tr(f"triage.likely.{rules.likelihood_word(p)}"), percent=_percent(p)))
        lines.append("")
        lines.append(tr("triage.result.meaning") + " " + _finding_text(language, "meaning", top_label))
        lines.append(tr("triage.result.todo") + " " + _finding_text(language, "todo", top_label))
        if r.contagious_to_people:
            lines.append("")
            lines.append(tr("triage.zoonotic"))
        lines.append("")
        lines.append(tr("triage.result.urgency", level=tr(f"triage.urgency.{r.urgency.value}")))
        if r.urgency is not Urgency.TODAY:
            lines.append(tr("triage.red_flags"))
    elif r.outcome is Outcome.POOR_QUALITY:
        lines.append(tr("triage.outcome.poor_quality"))
        lines.extend(f"• {tr(f'triage.quality.{q.value}')}" for q in r.quality_issues)
        lines.append("")
        lines.append(tr("triage.how_to_shoot"))
    else:
        lines.append(tr(f"triage.outcome.{r.outcome.value}"))
        if r.outcome is Outcome.NOT_SKIN:
            lines.append("")
            lines.append(tr("triage.how_to_shoot"))
        lines.append("")
        lines.append(tr("triage.offer_vet"))
    lines.append("")
    lines.append(tr("triage.disclaimer"))
    return "\n".join(lines)


def _finding_text(language: str, kind: str, label: str) -> str:
    key = f"triage.{kind}.{label}"
    text = t(language, key)
    return t(language, f"triage.{kind}.unknown") if text == key else text


def result_message(language: str, result: TriageResult) -> tuple[str, list]:
    return result_text(language, result), result_buttons(language, result)

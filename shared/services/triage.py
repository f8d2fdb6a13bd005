"""Photo triage use cases.

- ``accept_photo`` (webhook): an owner's file -> checked before decoding -> cleaned (upright, RGB,
  no metadata) -> an "analysing..." message -> stored in Cloud Storage with what the trigger needs,
  after a smaller copy for the trigger to analyse when the photo is big.
- ``run_triage`` (storage trigger): a stored photo -> gates -> model -> one result in the pet's record
  -> the "analysing..." message edited into the answer. At-least-once delivery is safe: the result id
  comes from the object's name and generation and is written with create(), and only the delivery
  that claims the answer (a lease in Firestore) sends it, even when two run at once.
- ``owned_result``: a result, only ever looked up under the acting owner's own pet.

Collaborators are passed in (repositories, storage, chat, model, image functions): see tests/fakes.py.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.domain import triage as rules
from shared.domain.photos import Area, PhotoRejected, check_declared_size
from shared.domain.pets import Pet, age_years
from shared.domain.triage import Outcome, TriageResult, Urgency
from shared.i18n import t
from shared.services.pets import PetNotFound, owned_pet, photo_prefix

log = logging.getLogger(__name__)

PHOTO_PREFIX = "photos/"


# ---------------------------------------------------------------- webhook side: accept a photo

@dataclass(frozen=True)
class IncomingFile:
    file_id: str
    file_size: int | None = None


def photo_metadata(*, owner_id: int, pet_id: str, chat_id: int, language: str, area: Area,
                   message_id: int | None) -> dict[str, str]:
    """What travels with the object to the trigger: ids and choices, never names or captions."""
    meta = {"owner_id": str(owner_id), "pet_id": pet_id, "chat_id": str(chat_id), "language": language,
            "area": area.value}
    if message_id is not None:
        meta["progress_message_id"] = str(message_id)
    return meta


async def accept_photo(*, pets, storage, chat, clean, owner_id: int, chat_id: int, language: str, pet_id: str,
                       area: Area, file: IncomingFile) -> str | None:
    """Returns the stored object's name, or None when the owner was told why not (never raises for bad input)."""
    try:
        pet = await owned_pet(pets, owner_id, pet_id)
    except PetNotFound:
        await chat.send(chat_id, t(language, "triage.pet_not_found"))
        return None
    try:
        check_declared_size(file.file_size)
        await chat.chat_action(chat_id)
        data = await chat.download(file.file_id)
        cleaned = await asyncio.to_thread(clean, data)
    except PhotoRejected as err:
        await chat.send(chat_id, rejection_text(language, err), retake_buttons(language, pet.id, area))
        return None
    message_id = await chat.send(chat_id, t(language, "triage.analysing"))
    name = f"{photo_prefix(owner_id, pet.id)}{secrets.token_hex(16)}.jpg"
    meta = photo_metadata(owner_id=owner_id, pet_id=pet.id, chat_id=chat_id, language=language, area=area,
                          message_id=message_id)
    try:
        for obj_name, data, obj_meta in objects_to_store(name, cleaned, meta):
            await storage.put(obj_name, data, obj_meta)
    except Exception as err:  # noqa: BLE001 — any storage failure: tell the owner, keep nothing
        log.error("storing a photo failed: %s", type(err).__name__)  # the message would name the owner's path
        await chat.edit(chat_id, message_id, t(language, "triage.store_failed"), retake_buttons(language, pet.id, area))
        return None
    return name


def objects_to_store(name: str, cleaned, meta: dict[str, str]) -> list[tuple[str, bytes, dict[str, str]]]:
    """(object name, JPEG, metadata) to upload, in order: the triage copy, when there is one, goes first,
    because the photo's upload is what starts the trigger that reads it."""
    if not cleaned.analysis:
        return [(name, cleaned.data, meta)]
    ids = {"owner_id": meta["owner_id"], "pet_id": meta["pet_id"]}
    return [(analysis_name(name), cleaned.analysis, ids), (name, cleaned.data, dict(meta, analysis_copy="1"))]


def analysis_name(name: str) -> str:
    """photos/{owner}/{pet}/{id}.jpg -> photos/{owner}/{pet}/analysis/{id}.jpg (one level deeper: no trigger)."""
    folder, _, file = name.rpartition("/")
    return f"{folder}/analysis/{file}"


def rejection_text(language: str, err: PhotoRejected) -> str:
    return t(language, err.code, **err.params) + "\n\n" + t(language, "triage.how_to_send")


# ---------------------------------------------------------------- trigger side: run triage

@dataclass(frozen=True)
class StoredPhoto:
    name: str
    generation: str
    owner_id: int
    pet_id: str
    chat_id: int
    language: str
    area: Area
    message_id: int | None
    analysis_copy: str | None = None  # the smaller copy to analyse, when intake made one

    @classmethod
    def from_event(cls, data: dict) -> "StoredPhoto | None":
        """From a ``google.cloud.storage.object.v1.finalized`` payload; None if it is not an owner's photo."""
        name = data.get("name") or ""
        meta = data.get("metadata") or {}
        if not name.startswith(PHOTO_PREFIX):
            return None
        try:
            owner_id, chat_id = int(meta["owner_id"]), int(meta["chat_id"])
            pet_id, area = str(meta["pet_id"]), Area(meta.get("area", "skin"))
            mid = int(meta["progress_message_id"]) if meta.get("progress_message_id") else None
        except (KeyError, ValueError, TypeError):
            return None
        # The path must agree with the metadata: photos/{owner}/{pet}/...
        parts = name.split("/")
        if len(parts) != 4 or parts[1] != str(owner_id) or parts[2] != pet_id or not pet_id.isalnum():
            return None
        language = meta.get("language") if meta.get("language") in ("ru", "en") else "ru"
        copy = analysis_name(name) if meta.get("analysis_copy") == "1" else None
        return cls(name, str(data.get("generation") or ""), owner_id, pet_id, chat_id, language, area, mid, copy)


def prediction_from(p) -> rules.Prediction:
    """The model adapter's SkinPrediction in domain terms."""
    ranked = list(p.ranked) or sorted(p.probabilities.items(), key=lambda kv: -kv[1])
    return rules.Prediction(ranked=[(str(label), float(prob)) for label, prob in ranked],
                            confidence=float(p.confidence), abstain=bool(p.abstain),
                            out_of_distribution=bool(p.is_out_of_distribution),
                            model_version=str(getattr(p, "model_version", "") or ""))


async def run_triage(photo: StoredPhoto, *, pets, results, storage, chat, model, images, clock) -> str:
    """One result and one answer per stored photo, however often the event arrives. Returns what happened."""
    rid = rules.result_id(photo.name, photo.generation)
    existing = await results.get(photo.owner_id, photo.pet_id, rid)
    if existing:
        result, notified = existing
        if notified:
            return "duplicate"
        # the first delivery stored it but died before answering (or is answering right now)
        return "answered_late" if await _answer_once(photo, result, chat, results, clock) else "duplicate"
    pet = await pets.get(photo.owner_id, photo.pet_id)
    if pet is None or pet.owner_id != photo.owner_id:
        if photo.message_id:
            await chat.edit(photo.chat_id, photo.message_id, t(photo.language, "triage.pet_not_found"))
        return "no_pet"
    await chat.chat_action(photo.chat_id)
    result = await _decide(photo, pet, rid, storage, model, images, clock)
    if not await results.create(result):  # another delivery of this event got there first: answer with its result
        again = await results.get(photo.owner_id, photo.pet_id, rid)
        result = again[0] if again else result
    return result.outcome.value if await _answer_once(photo, result, chat, results, clock) else "duplicate"


ANSWER_LEASE = timedelta(seconds=30)  # far longer than an edit takes; a delivery that died holding it expires
WAIT_FOR_OTHER_DELIVERY = 5.0         # seconds: a concurrent delivery's answer normally lands within ms


class AnswerInProgress(RuntimeError):
    """Another delivery holds the answer and has not finished: fail, so the trigger retries later."""


async def _answer_once(photo: StoredPhoto, result: TriageResult, chat, results, clock) -> bool:
    """Sends the answer if this delivery claims it; False if another delivery sent it meanwhile."""
    key = (result.owner_id, result.pet_id, result.id)
    deadline = time.monotonic() + WAIT_FOR_OTHER_DELIVERY
    while not await results.claim_answer(*key, clock(), clock() + ANSWER_LEASE):
        found = await results.get(*key)
        if found and found[1]:
            return False
        if time.monotonic() > deadline:
            raise AnswerInProgress(result.id)
        await asyncio.sleep(0.2)
    await _answer(photo, result, chat, results)
    return True


async def _decide(photo: StoredPhoto, pet: Pet, rid: str, storage, model, images, clock) -> TriageResult:
    now = clock()
    age = age_years(pet.birth_date, now.date()) if pet.birth_date else None
    common = dict(rid=rid, owner_id=photo.owner_id, pet_id=pet.id, photo_path=photo.name, species=pet.species,
                  area=photo.area, age_years=age, now=now)
    if rules.gate_subject(pet.species, photo.area):
        return rules.decide(quality=None, prediction=None, **common)  # no download, no model: not ours to judge
    try:
        if photo.analysis_copy:  # written once, before the photo: no generation to pin
            data = await storage.get(photo.analysis_copy)
        else:
            data = await storage.get(photo.name, photo.generation or None)
        img = await asyncio.to_thread(images.open_stored, data)
    except PhotoRejected:
        return rules.decide(quality=None, prediction=None, **common)
    quality = await asyncio.to_thread(images.measure_quality, img)
    if rules.quality_issues(quality) or model is None:
        return rules.decide(quality=quality, prediction=None, **common)
    # the JPEG bytes, not the decoded image: the model decodes a JPEG straight to its own size
    prediction = prediction_from(await asyncio.to_thread(model.predict, data))
    return rules.decide(quality=quality, prediction=prediction, **common)


async def _answer(photo: StoredPhoto, result: TriageResult, chat, results) -> None:
    text, buttons = result_message(photo.language, result)
    if photo.message_id:
        await chat.edit(photo.chat_id, photo.message_id, text, buttons)
    else:
        await chat.send(photo.chat_id, text, buttons)
    await results.mark_notified(result.owner_id, result.pet_id, result.id)


# ---------------------------------------------------------------- reading results back

class ResultNotFound(LookupError):
    """No such result for this owner (it may exist for someone else: we never say)."""


async def owned_result(pets, results, owner_id: int, pet_id: str, rid: str) -> tuple[Pet, TriageResult]:
    try:
        pet = await owned_pet(pets, owner_id, pet_id)
    except PetNotFound:
        raise ResultNotFound(rid) from None
    found = await results.get(owner_id, pet.id, rid)
    if not found or found[0].owner_id != owner_id or found[0].pet_id != pet.id:
        raise ResultNotFound(rid)
    return pet, found[0]


# ---------------------------------------------------------------- what the owner reads

def label_name(language: str, label: str) -> str:
    key = f"triage.label.{label}"
    text = t(language, key)
    return label.replace("_", " ") if text == key else text


def _percent(p: float) -> str:
    return f"{max(1, min(99, round(p * 100)))}%"


def retake_buttons(language: str, pet_id: str, area: Area) -> list[list[tuple[str, str]]]:
    return [[(t(language, "triage.btn.retake"), f"ph:r:{pet_id}:{area.value}")]]


def result_buttons(language: str, result: TriageResult) -> list[list[tuple[str, str]]]:
    return [[(t(language, "triage.btn.book"), f"tr:b:{result.pet_id}:{result.id}"),
             (t(language, "triage.btn.retake"), f"ph:r:{result.pet_id}:{result.area.value}")]]


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


def booking_text(language: str, pet: Pet, result: TriageResult | None, today: date | None = None) -> str:
    """"Book a vet" before online booking exists: say so, say what to do now, give a summary for the vet."""
    lines = [t(language, "triage.book.soon")]
    if result is not None and result.urgency is Urgency.TODAY:
        lines.append(t(language, "triage.book.today"))
    lines.append(t(language, "triage.book.now"))
    if result is not None:
        lines.append("")
        lines.append(t(language, "triage.book.summary_title"))
        when = result.created_at.strftime("%d.%m.%Y") if isinstance(result.created_at, datetime) else ""
        if result.outcome is Outcome.FINDINGS:
            found = ", ".join(f"{label_name(language, label)} {_percent(p)}" for label, p in result.findings)
            lines.append(t(language, "triage.book.summary", name=pet.name, date=when, findings=found,
                           version=result.model_version or "-"))
        else:
            lines.append(t(language, "triage.book.summary_none", name=pet.name, date=when))
    return "\n".join(lines)

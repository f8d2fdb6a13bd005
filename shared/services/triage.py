"""Photo triage use cases.

- ``accept_photo`` (webhook): an owner's file -> checked before decoding -> cleaned (upright, RGB,
  no metadata) -> an "analysing..." message -> the photo's record in Firestore (only while the owner
  exists) -> stored in Cloud Storage with the ids that find the record, after a smaller copy for the
  trigger to analyse when the photo is big.
- ``handle_object_event`` (storage trigger): trusts no event: only the photos bucket, only an object that
  exists in the generation the event names, whose path and metadata agree, whose owner and record exist
  (else it is deleted); the answer's chat and message come from the owner's record.
- ``run_triage`` (storage trigger): a stored photo -> gates -> model -> one result in the pet's record
  -> the "analysing..." message edited into the answer. At-least-once delivery is safe: the result id
  comes from the object's name and generation and is written with create(), and only the delivery
  that claims the answer (a lease in Firestore) sends it, even when two run at once.
- ``owned_result``: a result, only ever looked up under the acting owner's own pet.

Collaborators are passed in (repositories, storage, chat, model, image functions): see tests/fakes.py.
What the owner is told is data (the notices below: PetMissing, PhotoRefused, Analysing, StoreFailed,
TriageAnswer) handed to the chat with the owner's language; the bot layer renders it
(shared/bot/triage_messages.py), so these use cases hold no text and no callback codes.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from shared.domain import triage as rules
from shared.domain.photos import Area, PhotoRecord, PhotoRejected, check_declared_size
from shared.domain.pets import Pet, age_years
from shared.domain.triage import TriageResult
from shared.services.pets import PHOTOS_FOLDER, PetNotFound, owned_pet, photo_owner_folder, photo_prefix

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- what the owner is told (data)

@dataclass(frozen=True)
class PetMissing:
    """The pet is not (or no longer) the owner's."""


@dataclass(frozen=True)
class PhotoRefused:
    """The file cannot be used: why (a PhotoRejected code and its parameters), and what to retake."""

    code: str
    params: dict = field(default_factory=dict, hash=False)
    pet_id: str = ""
    area: Area = Area.SKIN


@dataclass(frozen=True)
class Analysing:
    """The photo is taken: the answer will replace this message."""


@dataclass(frozen=True)
class StoreFailed:
    """Storing the photo failed; nothing was kept: retake it."""

    pet_id: str
    area: Area


@dataclass(frozen=True)
class TriageAnswer:
    result: TriageResult


Notice = PetMissing | PhotoRefused | Analysing | StoreFailed | TriageAnswer


class TriageChat(Protocol):
    """The owner's chat as the photo pipeline sees it (shared/adapters/telegram_chat.BotChat renders each
    notice in the language given)."""

    async def chat_action(self, chat_id: int) -> None: ...

    async def download(self, file_id: str) -> bytes: ...

    async def send(self, chat_id: int, notice: Notice, *, language: str) -> int: ...

    async def edit(self, chat_id: int, message_id: int, notice: Notice, *, language: str) -> None: ...


# ---------------------------------------------------------------- webhook side: accept a photo

@dataclass(frozen=True)
class IncomingFile:
    file_id: str
    file_size: int | None = None


def photo_metadata(*, owner_id: int, pet_id: str, photo_id: str) -> dict[str, str]:
    """What travels with the object: the ids that find its record, nothing else (no chat, no message,
    no names): the trigger answers from the record, never from what an object or an event claims."""
    return {"owner_id": str(owner_id), "pet_id": pet_id, "photo_id": photo_id}


async def accept_photo(*, pets, records, storage, chat: TriageChat, clean, owner_id: int, chat_id: int, language: str,
                       pet_id: str, area: Area, file: IncomingFile) -> str | None:
    """Returns the stored object's name, or None when the owner was told why not (never raises for bad input).

    The photo's record (``records.create_photo``) is written before anything is uploaded, and only while
    the owner's (and the pet's) document exists: a photo arriving during erasure is neither recorded nor
    stored, and nothing more is sent.
    """
    try:
        pet = await owned_pet(pets, owner_id, pet_id)
    except PetNotFound:
        await chat.send(chat_id, PetMissing(), language=language)
        return None
    try:
        check_declared_size(file.file_size)
        await chat.chat_action(chat_id)
        data = await chat.download(file.file_id)
        cleaned = await asyncio.to_thread(clean, data)
    except PhotoRejected as err:
        await chat.send(chat_id, PhotoRefused(err.code, dict(err.params), pet.id, area), language=language)
        return None
    message_id = await chat.send(chat_id, Analysing(), language=language)
    record = PhotoRecord(owner_id=owner_id, pet_id=pet.id, photo_id=secrets.token_hex(16), area=area,
                         language=language, progress_message_id=message_id)
    name = f"{photo_prefix(owner_id, pet.id)}{record.photo_id}.jpg"
    meta = photo_metadata(owner_id=owner_id, pet_id=pet.id, photo_id=record.photo_id)
    try:
        if not await records.create_photo(record):
            log.info("photo not stored: its owner or pet was deleted meanwhile")
            return None
        for obj_name, data, obj_meta in objects_to_store(name, cleaned, meta):
            await storage.put(obj_name, data, obj_meta)
    except Exception as err:  # noqa: BLE001 — any storage failure: tell the owner, keep nothing
        log.error("storing a photo failed: %s", type(err).__name__)  # the message would name the owner's path
        try:  # the store just failed: an object left over is deleted by the trigger (it finds no record)
            await delete_photo(records, storage, owner_id, pet.id, record.photo_id, name)
        except Exception as err2:  # noqa: BLE001
            log.error("cleaning up after it failed: %s", type(err2).__name__)
        await chat.edit(chat_id, message_id, StoreFailed(pet.id, area), language=language)
        return None
    return name


async def delete_photo(records, storage, owner_id: int, pet_id: str, photo_id: str, photo_name: str) -> None:
    """A photo that belongs to nobody (its owner erased, its pet removed, its upload failed): the photo, its
    triage copy and its record."""
    for name in (photo_name, analysis_name(photo_name)):
        await storage.delete(name)
    await records.delete_photo(owner_id, pet_id, photo_id)


def objects_to_store(name: str, cleaned, meta: dict[str, str]) -> list[tuple[str, bytes, dict[str, str]]]:
    """(object name, JPEG, metadata) to upload, in order: the triage copy, when there is one, goes first,
    because the photo's upload is what starts the trigger that reads it."""
    if not cleaned.analysis:
        return [(name, cleaned.data, meta)]
    return [(analysis_name(name), cleaned.analysis, dict(meta)), (name, cleaned.data, dict(meta, analysis_copy="1"))]


def analysis_name(name: str) -> str:
    """photos/{owner}/{pet}/{id}.jpg -> photos/{owner}/{pet}/analysis/{id}.jpg (one level deeper: no trigger)."""
    folder, _, file = name.rpartition("/")
    return f"{folder}/analysis/{file}"


# ---------------------------------------------------------------- trigger side: which photo, whose

class BadEvent(ValueError):
    """Event data outside the trigger's contract (not a finalized object of the photos bucket): the function
    answers 400 and does nothing."""


_GENERATION = re.compile(r"[0-9]{1,20}")
_PHOTO_PATH = re.compile(re.escape(PHOTOS_FOLDER)
                         + r"([0-9a-f]{32})/([A-Za-z0-9]{1,40})/(analysis/)?([0-9a-f]{32})\.jpg")


@dataclass(frozen=True)
class ObjectEvent:
    """What the trigger takes from a ``google.cloud.storage.object.v1.finalized`` payload: which object,
    which generation, which bucket. Its metadata is not read: the object's own is, from Storage."""

    bucket: str
    name: str
    generation: str

    @classmethod
    def parse(cls, data) -> "ObjectEvent":
        """Raises BadEvent for anything that is not an object event (no I/O: a refusal is immediate)."""
        if not isinstance(data, dict):
            raise BadEvent("event data is not a JSON object")
        bucket, name, generation = data.get("bucket"), data.get("name"), data.get("generation")
        if not isinstance(bucket, str) or not bucket:
            raise BadEvent("bucket: missing or not a string")
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise BadEvent("name: missing, not a string or too long")
        if isinstance(generation, int) and not isinstance(generation, bool):
            generation = str(generation)
        if not isinstance(generation, str) or not _GENERATION.fullmatch(generation):
            raise BadEvent("generation: missing or not a number")
        return cls(bucket, name, generation)


@dataclass(frozen=True)
class PhotoPath:
    """photos/{owner folder}/{pet}/{photo id}.jpg, or its triage copy photos/{...}/{pet}/analysis/{photo id}.jpg."""

    owner_folder: str
    pet_id: str
    photo_id: str
    is_copy: bool

    @classmethod
    def parse(cls, name: str) -> "PhotoPath | None":
        m = _PHOTO_PATH.fullmatch(name)
        return cls(m[1], m[2], m[4], bool(m[3])) if m else None

    @property
    def photo_name(self) -> str:
        return f"{PHOTOS_FOLDER}{self.owner_folder}/{self.pet_id}/{self.photo_id}.jpg"


def _owner_of(path: PhotoPath, meta: dict) -> int | None:
    """The owner the stored object's metadata names, if its path agrees (owner folder, pet, photo id)."""
    owner = meta.get("owner_id")
    if not (isinstance(owner, str) and owner.isascii() and owner.isdigit() and len(owner) <= 20):
        return None
    if meta.get("pet_id") != path.pet_id or meta.get("photo_id") != path.photo_id:
        return None
    return int(owner) if hmac.compare_digest(photo_owner_folder(int(owner)), path.owner_folder) else None


async def handle_object_event(event: ObjectEvent, *, bucket: str, pets, results, storage, chat, model, images,
                              clock) -> str:
    """The trigger: checks the event against Storage and Firestore, then triages. Returns what happened.

    Refuses (BadEvent) an event for another bucket. Acknowledges, doing nothing, an object that is not there
    (or no longer the generation the event names): it never will be. An object whose owner or record is
    gone (erased during intake, or an upload that failed) is deleted with its triage copy. Everything the
    answer needs comes from the owner's record: the chat is the owner's own, the message the one intake sent.
    Storage and Firestore errors raise, so the event is retried.
    """
    if event.bucket != bucket:
        raise BadEvent("not the photos bucket")
    path = PhotoPath.parse(event.name)
    if path is None:
        return "ignored"  # not an owner's photo
    stored = await storage.stat(event.name)
    if stored is None:
        return "gone"
    generation, meta = stored
    if generation != event.generation:
        return "stale"  # overwritten or recreated since: that generation's own event is the one to act on
    owner_id = _owner_of(path, meta)
    if owner_id is None:
        log.warning("a photo's metadata does not match its path: left alone")
        return "mismatch"
    record = await results.photo_record(owner_id, path.pet_id, path.photo_id)
    if record is None:
        await delete_photo(results, storage, owner_id, path.pet_id, path.photo_id, path.photo_name)
        return "orphan"
    if path.is_copy:
        return "ignored"  # the triage copy: read when its photo's event comes
    copy = analysis_name(event.name) if meta.get("analysis_copy") == "1" else None
    photo = StoredPhoto.from_record(event.name, event.generation, record, copy)
    return await run_triage(photo, pets=pets, results=results, storage=storage, chat=chat, model=model,
                            images=images, clock=clock)


# ---------------------------------------------------------------- trigger side: run triage

@dataclass(frozen=True)
class StoredPhoto:
    name: str
    generation: str
    owner_id: int
    pet_id: str
    photo_id: str
    chat_id: int
    language: str
    area: Area
    message_id: int | None
    analysis_copy: str | None = None  # the smaller copy to analyse, when intake made one

    @classmethod
    def from_record(cls, name: str, generation: str, record: PhotoRecord, analysis_copy: str | None) -> "StoredPhoto":
        """The answer goes to the owner's private chat (its id is the owner's user id), into the message
        intake sent: both from the owner's record, never from an object's or an event's metadata."""
        return cls(name, generation, record.owner_id, record.pet_id, record.photo_id, record.owner_id,
                   record.language, record.area, record.progress_message_id, analysis_copy)


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
            await chat.edit(photo.chat_id, photo.message_id, PetMissing(), language=photo.language)
        await delete_photo(results, storage, photo.owner_id, photo.pet_id, photo.photo_id, photo.name)
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
    answer = TriageAnswer(result)
    if photo.message_id:
        await chat.edit(photo.chat_id, photo.message_id, answer, language=photo.language)
    else:
        await chat.send(photo.chat_id, answer, language=photo.language)
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

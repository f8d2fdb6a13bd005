"""Triage use cases with fakes: one result and one answer per photo, results only for their owner, and a
trigger that believes no event: only its bucket, only an object that is there in the event's generation,
only with its owner and record, answered into the owner's own chat and message."""
import asyncio
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from google.api_core import exceptions as gexc
from PIL import Image

from shared.adapters import images
from shared.domain import triage as rules
from shared.domain.photos import Area
from shared.domain.pets import Pet, Species
from shared.i18n import t
from shared.services import triage as svc
from shared.services.pets import photo_prefix
from tests.fakes import FakeChat, FakePets, FakePhotoStorage, FakeSkinModel, FakeSkinPrediction, FakeTriageResults
from tests.test_photo_hostile import jpeg

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
A, B = 7001, 7002
BUCKET = "the-photos-bucket"


class World:
    def __init__(self, prediction=None, species=Species.DOG, birth=date(2022, 1, 1)):
        self.pets = FakePets()
        self.pets.pets[(A, "rex")] = Pet(id="rex", owner_id=A, species=species, name="Rex", birth_date=birth)
        self.pets.pets[(B, "tom")] = Pet(id="tom", owner_id=B, species=Species.DOG, name="Tom")
        self.results = FakeTriageResults()
        self.storage = FakePhotoStorage()
        self.chat = FakeChat({"f1": jpeg((800, 600))})
        self.model = FakeSkinModel(prediction or FakeSkinPrediction([("ringworm", 0.82), ("fungal_infection", 0.12),
                                                                      ("healthy", 0.06)]))

    def accept(self, owner=A, pet="rex", area=Area.SKIN, file_id="f1"):
        return asyncio.run(svc.accept_photo(pets=self.pets, records=self.results, storage=self.storage,
                                            chat=self.chat, clean=images.clean_photo, owner_id=owner, chat_id=owner,
                                            language="en", pet_id=pet, area=area,
                                            file=svc.IncomingFile(file_id, 1000)))

    def event(self, name, generation="1", **extra):
        return {"name": name, "bucket": BUCKET, "generation": generation, **extra}

    def handle(self, data):
        """The trigger's coroutine for one event's data."""
        return svc.handle_object_event(svc.ObjectEvent.parse(data), bucket=BUCKET, pets=self.pets,
                                       results=self.results, storage=self.storage, chat=self.chat, model=self.model,
                                       images=images, clock=lambda: NOW)

    def trigger(self, data):
        return asyncio.run(self.handle(data))

    def record(self, name):
        (record,) = [r for key, r in self.results.photos.items() if key[2] in name]
        return record


def test_photo_to_result_and_one_answer_however_often_the_event_arrives():
    w = World()
    name = w.accept()
    assert name.startswith(photo_prefix(A, "rex")) and name.split("/")[1] != str(A) and w.chat.actions == [A]
    progress = w.chat.sent[-1]["message_id"]
    assert w.record(name).progress_message_id == progress  # written before the upload
    data = w.event(name)
    assert w.trigger(data) == "findings"
    assert w.trigger(data) == "duplicate" and w.trigger(data) == "duplicate"
    assert w.model.calls == 1 and len(w.results.docs) == 1 and len(w.chat.edits) == 1
    # the model gets the JPEG bytes of the triage copy made at intake (800x600 -> 640x480), so it can
    # decode them straight to its input size; the copy's own upload is no photo to triage
    copy = svc.analysis_name(name)
    assert w.storage.objects[name][1]["analysis_copy"] == "1"
    assert w.model.photos == [w.storage.objects[copy][0]] and w.model.photos[0][:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(w.model.photos[0])).size == (640, 480)
    assert w.trigger(w.event(copy)) == "ignored" and len(w.chat.edits) == 1
    edit = w.chat.edits[0]
    assert (edit["chat_id"], edit["message_id"]) == (A, progress)
    assert "ringworm (dermatophytosis)" in edit["text"] and "82%" in edit["text"]
    assert "people" in edit["text"] and "not a diagnosis" in edit["text"]
    (result, notified), = [(d["result"], d["notified"]) for d in w.results.docs.values()]
    assert notified and result.photo_path == name and result.id == rules.result_id(name, "1")
    assert result.urgency is rules.Urgency.CONSULT


def test_a_photo_no_bigger_than_the_triage_copy_is_analysed_itself():
    w = World()
    w.chat.files["f1"] = jpeg((640, 480))
    name = w.accept()
    assert list(w.storage.objects) == [name] and "analysis_copy" not in w.storage.objects[name][1]
    assert w.trigger(w.event(name)) == "findings"
    assert w.model.photos == [w.storage.objects[name][0]]


def test_a_new_generation_is_a_new_result_and_only_the_stored_generation_is_acted_on():
    w = World()
    name = w.accept()
    w.trigger(w.event(name, "1"))
    assert w.trigger(w.event(name, "2")) == "stale"  # no such generation (yet): nothing
    w.storage.generations[name] = "2"
    assert w.trigger(w.event(name, "1")) == "stale"  # an older generation's late event: nothing
    assert len(w.results.docs) == 1
    w.trigger(w.event(name, "2"))
    assert len(w.results.docs) == 2


def _stored_unanswered(w, name):
    rid = rules.result_id(name, "1")
    w.results.docs.clear()
    asyncio.run(w.results.create(rules.decide(rid=rid, owner_id=A, pet_id="rex", photo_path=name, species=Species.DOG,
                                              area=Area.SKIN, quality=None, prediction=None)))
    return w.results.docs[(A, "rex", rid)]


def test_stored_but_unanswered_result_is_answered_on_redelivery_without_rerunning():
    w = World()
    name = w.accept()
    _stored_unanswered(w, name)
    assert w.trigger(w.event(name)) == "answered_late"
    assert w.model.calls == 0 and len(w.chat.edits) == 1
    assert asyncio.run(w.results.get(A, "rex", rules.result_id(name, "1")))[1]


def test_a_delivery_racing_one_that_is_answering_waits_for_it_and_sends_nothing():
    w = World()
    name = w.accept()
    doc = _stored_unanswered(w, name)
    doc["answering_until"] = NOW + svc.ANSWER_LEASE  # another delivery claimed the answer just now

    async def race():
        async def other_delivery_finishes():
            await asyncio.sleep(0.3)
            doc["notified"] = True
        _, outcome = await asyncio.gather(other_delivery_finishes(), w.handle(w.event(name)))
        return outcome

    assert asyncio.run(race()) == "duplicate" and w.chat.edits == [] and w.model.calls == 0


def test_an_answer_claimed_by_a_delivery_that_died_is_sent_once_its_lease_is_over():
    w = World()
    name = w.accept()
    _stored_unanswered(w, name)["answering_until"] = NOW - timedelta(seconds=1)
    assert w.trigger(w.event(name)) == "answered_late" and len(w.chat.edits) == 1


def test_a_claim_that_stays_unfinished_fails_the_delivery_so_it_is_retried(monkeypatch):
    monkeypatch.setattr(svc, "WAIT_FOR_OTHER_DELIVERY", 0.3)
    w = World()
    name = w.accept()
    _stored_unanswered(w, name)["answering_until"] = NOW + svc.ANSWER_LEASE
    with pytest.raises(svc.AnswerInProgress):
        w.trigger(w.event(name))
    assert w.chat.edits == []


@pytest.mark.parametrize("species", [Species.CAT, Species.BIRD, Species.RODENT, Species.REPTILE])
def test_uncovered_species_get_a_plain_answer_and_no_model_run(species):
    w = World(species=species)
    w.trigger(w.event(w.accept()))
    assert w.model.calls == 0 and "not available" in w.chat.edits[0]["text"]
    assert [d for _, d in w.chat.edits[0]["buttons"][0]][0].startswith("tr:b:rex:")


def test_eye_photo_is_not_judged():
    w = World()
    w.trigger(w.event(w.accept(area=Area.EYE)))
    assert w.model.calls == 0 and "not available" in w.chat.edits[0]["text"]


def test_abstention_and_out_of_distribution_offer_a_vet():
    w = World(FakeSkinPrediction([("dermatitis", 0.41), ("hypersensitivity", 0.38)], abstain=True))
    w.trigger(w.event(w.accept()))
    assert "not confident" in w.chat.edits[0]["text"] and "dermatitis" not in w.chat.edits[0]["text"]
    w = World(FakeSkinPrediction([("healthy", 0.9)], abstain=True, is_out_of_distribution=True))
    w.trigger(w.event(w.accept()))
    assert "skin" in w.chat.edits[0]["text"] and "How to take it" in w.chat.edits[0]["text"]


def test_dark_and_blurred_photos_are_explained_not_guessed():
    from PIL import Image, ImageFilter

    from tests.test_photo_hostile import _encode, textured

    w = World()
    w.chat.files["dark"] = _encode(Image.new("RGB", (800, 600), (8, 6, 5)), "JPEG")
    w.chat.files["blur"] = _encode(textured((800, 600)).filter(ImageFilter.GaussianBlur(12)), "JPEG")
    for fid, word in (("dark", "too dark"), ("blur", "blurred")):
        w.trigger(w.event(w.accept(file_id=fid)))
        assert word in w.chat.edits[-1]["text"]
    assert w.model.calls == 0


def test_no_model_on_the_instance_says_unavailable():
    w = World()
    w.model = None
    w.trigger(w.event(w.accept()))
    assert "unavailable" in w.chat.edits[0]["text"]


def test_another_owners_pet_cannot_receive_or_read_a_photo():
    w = World()
    assert w.accept(owner=A, pet="tom") is None and not w.storage.objects  # B's pet id, sent by A
    name = w.accept()
    w.trigger(w.event(name))
    rid = rules.result_id(name, "1")
    pet, result = asyncio.run(svc.owned_result(w.pets, w.results, A, "rex", rid))
    assert result.owner_id == A
    for owner, pet_id in ((B, "rex"), (B, "tom"), (A, "tom")):
        with pytest.raises(svc.ResultNotFound):
            asyncio.run(svc.owned_result(w.pets, w.results, owner, pet_id, rid))


def test_storage_failure_turns_the_progress_message_into_an_apology_and_keeps_nothing():
    w = World()
    w.storage.fail = True
    assert w.accept() is None
    assert "could not save" in w.chat.edits[0]["text"]
    assert not w.results.photos and not w.storage.objects


def test_a_photo_whose_upload_fails_halfway_leaves_neither_its_copy_nor_its_record():
    class FailsOnTheSecondUpload(FakePhotoStorage):
        async def put(self, name, data, metadata, content_type="image/jpeg"):
            self.fail = bool(self.objects)
            return await super().put(name, data, metadata, content_type)

    w = World()
    w.storage = FailsOnTheSecondUpload()
    assert w.accept() is None and "could not save" in w.chat.edits[0]["text"]
    assert not w.storage.objects and not w.results.photos


def test_a_photo_sent_while_the_owner_is_erased_is_neither_recorded_nor_stored_nor_answered():
    w = World()
    w.results.gone_owners.add(A)  # erasure deleted the owner's document after the handler read it
    assert w.accept() is None
    assert not w.storage.objects and not w.results.photos
    assert [m["text"] for m in w.chat.sent] == [t("en", "triage.analysing")] and not w.chat.edits


# ---- the trigger believes no event ---------------------------------------------------------------

def _nothing_happened(w):
    return not w.chat.edits and len(w.chat.sent) <= 1 and not w.results.docs and w.model.calls == 0


def test_an_event_for_another_bucket_is_refused():
    w = World()
    name = w.accept()
    with pytest.raises(svc.BadEvent):
        w.trigger({**w.event(name), "bucket": "someone-elses-bucket"})
    assert _nothing_happened(w)


@pytest.mark.parametrize("data", [
    None, [], ["name"], "x", 7, {}, {"bucket": BUCKET, "generation": "1"}, {"name": "photos/a.jpg", "generation": "1"},
    {"name": "photos/a.jpg", "bucket": BUCKET}, {"name": 5, "bucket": BUCKET, "generation": "1"},
    {"name": ["photos/a.jpg"], "bucket": BUCKET, "generation": "1"},
    {"name": "photos/a.jpg", "bucket": 1, "generation": "1"},
    {"name": "photos/a.jpg", "bucket": BUCKET, "generation": "abc"},
    {"name": "photos/a.jpg", "bucket": BUCKET, "generation": True},
    {"name": "photos/a.jpg", "bucket": BUCKET, "generation": "-1"},
    {"name": "photos/a.jpg", "bucket": BUCKET, "generation": "١٢٣"},  # digits, but not ASCII ones
    {"name": "p" * 1025, "bucket": BUCKET, "generation": "1"},
], ids=repr)
def test_event_data_that_is_no_object_event_is_refused_before_any_io(data):
    with pytest.raises(svc.BadEvent):
        svc.ObjectEvent.parse(data)


def test_a_number_generation_is_read_as_the_same_generation():
    assert svc.ObjectEvent.parse({"name": "a", "bucket": BUCKET, "generation": 17}).generation == "17"


@pytest.mark.parametrize("name", ["other/x.jpg", f"photos/{A}/rex/abc.jpg", "photos/a.jpg", "photos/../x.jpg"])
def test_an_object_that_is_no_owners_photo_is_ignored_without_reading_anything(name):
    w = World()
    w.storage.stat_error = AssertionError("read storage for a name that is no photo")
    assert w.trigger(w.event(name)) == "ignored"


def test_an_object_that_does_not_exist_is_acknowledged_and_nothing_happens():
    w = World()
    w.accept()
    name = f"{photo_prefix(A, 'rex')}{'ab' * 16}.jpg"  # the owner's folder, no such photo
    assert w.trigger(w.event(name, chat_id=str(A))) == "gone" and _nothing_happened(w)


def test_the_answer_goes_to_the_owners_chat_and_message_whatever_the_metadata_says():
    w = World()
    name = w.accept()
    progress = w.chat.sent[-1]["message_id"]
    forged = {"chat_id": str(B), "progress_message_id": "5", "language": "ru"}  # B's chat; A's reminder message
    data, meta = w.storage.objects[name]
    w.storage.objects[name] = (data, {**meta, **forged})
    assert w.trigger(w.event(name, metadata={**meta, **forged})) == "findings"
    (edit,) = w.chat.edits
    assert (edit["chat_id"], edit["message_id"]) == (A, progress) and "not a diagnosis" in edit["text"]
    assert all(m["chat_id"] == A for m in w.chat.sent) and w.chat.actions == [A, A]


@pytest.mark.parametrize("change", [{"owner_id": str(B)}, {"pet_id": "tom"}, {"photo_id": "cd" * 16},
                                    {"owner_id": "x"}, {"owner_id": None}])
def test_metadata_that_disagrees_with_the_path_is_left_alone(change):
    w = World()
    name = w.accept()
    data, meta = w.storage.objects[name]
    w.storage.objects[name] = (data, {k: v for k, v in {**meta, **change}.items() if v is not None})
    assert w.trigger(w.event(name)) == "mismatch" and _nothing_happened(w)
    assert name in w.storage.objects


def test_a_photo_whose_owner_is_gone_is_deleted_with_its_copy_and_nothing_is_sent():
    w = World()
    name = w.accept()
    w.results.gone_owners.add(A)  # erased while the photo was being uploaded
    assert w.trigger(w.event(name)) == "orphan" and _nothing_happened(w)
    assert not w.storage.objects and not w.results.photos


def test_a_triage_copy_whose_owner_is_gone_is_deleted_too():
    w = World()
    name = w.accept()
    copy = svc.analysis_name(name)
    assert w.trigger(w.event(copy)) == "ignored" and copy in w.storage.objects  # its photo's event reads it
    w.results.gone_owners.add(A)
    assert w.trigger(w.event(copy)) == "orphan" and not w.storage.objects and _nothing_happened(w)


def test_a_planted_photo_without_a_record_is_deleted_and_no_result_is_planted():
    w = World()
    name = f"{photo_prefix(A, 'rex')}{'ab' * 16}.jpg"
    w.storage.objects[name] = (jpeg((640, 480)), {"owner_id": str(A), "pet_id": "rex", "photo_id": "ab" * 16,
                                                  "chat_id": str(A), "progress_message_id": "5"})
    assert w.trigger(w.event(name)) == "orphan" and _nothing_happened(w) and not w.storage.objects


def test_a_photo_of_a_pet_removed_meanwhile_is_deleted_and_the_owner_told():
    w = World()
    name = w.accept()
    progress = w.chat.sent[-1]["message_id"]
    del w.pets.pets[(A, "rex")]
    assert w.trigger(w.event(name)) == "no_pet"
    assert [(e["chat_id"], e["message_id"]) for e in w.chat.edits] == [(A, progress)]
    assert not w.storage.objects and not w.results.photos and not w.results.docs


@pytest.mark.parametrize("where", ["storage", "firestore"])
def test_a_transient_error_raises_so_the_event_is_retried(where):
    w = World()
    name = w.accept()
    if where == "storage":
        w.storage.stat_error = gexc.ServiceUnavailable("storage is down")
    else:
        async def down(*args):
            raise gexc.DeadlineExceeded("firestore is slow")
        w.results.photo_record = down
    with pytest.raises((gexc.ServiceUnavailable, gexc.DeadlineExceeded)):
        w.trigger(w.event(name))
    assert not w.chat.edits and name in w.storage.objects and w.results.photos


def test_puppy_with_demodicosis_sees_a_vet_today():
    w = World(FakeSkinPrediction([("demodicosis", 0.9), ("dermatitis", 0.1)]), birth=date(2026, 9, 1))
    w.trigger(w.event(w.accept()))
    assert "see a vet today" in w.chat.edits[0]["text"]

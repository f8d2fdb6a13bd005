"""Triage use cases with fakes: one result and one answer per photo, results only for their owner."""
import asyncio
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image

from shared.adapters import images
from shared.domain import triage as rules
from shared.domain.photos import Area
from shared.domain.pets import Pet, Species
from shared.services import triage as svc
from tests.fakes import FakeChat, FakePets, FakePhotoStorage, FakeSkinModel, FakeSkinPrediction, FakeTriageResults
from tests.test_photo_hostile import jpeg

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
A, B = 7001, 7002


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

    def accept(self, owner=A, pet="rex", area=Area.SKIN):
        return asyncio.run(svc.accept_photo(pets=self.pets, storage=self.storage, chat=self.chat,
                                            clean=images.clean_photo, owner_id=owner, chat_id=owner, language="en",
                                            pet_id=pet, area=area, file=svc.IncomingFile("f1", 1000)))

    def event(self, name, generation="1"):
        return {"name": name, "bucket": "b", "generation": generation, "metadata": self.storage.objects[name][1]}

    def trigger(self, data):
        photo = svc.StoredPhoto.from_event(data)
        return asyncio.run(svc.run_triage(photo, pets=self.pets, results=self.results, storage=self.storage,
                                          chat=self.chat, model=self.model, images=images, clock=lambda: NOW))


def test_photo_to_result_and_one_answer_however_often_the_event_arrives():
    w = World()
    name = w.accept()
    assert name.startswith(f"photos/{A}/rex/") and w.chat.actions == [A]
    progress = w.chat.sent[-1]["message_id"]
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
    assert svc.StoredPhoto.from_event({"name": copy, "generation": "1", "metadata": w.storage.objects[copy][1]}) is None
    edit = w.chat.edits[0]
    assert edit["message_id"] == progress and "ringworm (dermatophytosis)" in edit["text"] and "82%" in edit["text"]
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


def test_a_new_generation_is_a_new_result():
    w = World()
    name = w.accept()
    w.trigger(w.event(name, "1"))
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
    photo = svc.StoredPhoto.from_event(w.event(name))
    _stored_unanswered(w, name)
    assert w.trigger(w.event(name)) == "answered_late"
    assert w.model.calls == 0 and len(w.chat.edits) == 1
    assert asyncio.run(w.results.get(A, "rex", photo.pet_id and rules.result_id(name, "1")))[1]


def test_a_delivery_racing_one_that_is_answering_waits_for_it_and_sends_nothing():
    w = World()
    name = w.accept()
    doc = _stored_unanswered(w, name)
    doc["answering_until"] = NOW + svc.ANSWER_LEASE  # another delivery claimed the answer just now

    async def race():
        async def other_delivery_finishes():
            await asyncio.sleep(0.3)
            doc["notified"] = True
        _, outcome = await asyncio.gather(other_delivery_finishes(), svc.run_triage(
            svc.StoredPhoto.from_event(w.event(name)), pets=w.pets, results=w.results, storage=w.storage,
            chat=w.chat, model=w.model, images=images, clock=lambda: NOW))
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
        name = asyncio.run(svc.accept_photo(pets=w.pets, storage=w.storage, chat=w.chat, clean=images.clean_photo,
                                            owner_id=A, chat_id=A, language="en", pet_id="rex", area=Area.SKIN,
                                            file=svc.IncomingFile(fid, 1)))
        w.trigger(w.event(name))
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


def test_forged_events_are_ignored():
    w = World()
    name = w.accept()
    meta = w.storage.objects[name][1]
    for data in ({"name": "other/x.jpg", "metadata": meta}, {"name": name, "metadata": {}},
                 {"name": name, "metadata": {**meta, "owner_id": str(B)}},   # path says A, metadata says B
                 {"name": name, "metadata": {**meta, "pet_id": "tom"}}):
        assert svc.StoredPhoto.from_event(data) is None


def test_storage_failure_turns_the_progress_message_into_an_apology():
    w = World()
    w.storage.fail = True
    assert w.accept() is None
    assert "could not save" in w.chat.edits[0]["text"]


def test_puppy_with_demodicosis_sees_a_vet_today():
    w = World(FakeSkinPrediction([("demodicosis", 0.9), ("dermatitis", 0.1)]), birth=date(2026, 9, 1))
    w.trigger(w.event(w.accept()))
    assert "see a vet today" in w.chat.edits[0]["text"]

"""Triage rules (pure): gates, abstention, urgency per finding, what the owner reads."""
from datetime import datetime, timezone

import pytest

from shared.domain import triage as rules
from shared.domain.photos import Area, analysis_size, area_from_caption, pet_from_caption, sniff_format
from shared.domain.pets import Pet, Species
from shared.domain.triage import Outcome, PhotoQuality, Prediction, QualityIssue, Urgency
from shared.bot.triage_messages import result_message

GOOD = PhotoQuality(1024, 768, 120.0, 300.0)
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def pred(*ranked, abstain=False, ood=False):
    return Prediction(ranked=list(ranked), confidence=ranked[0][1], abstain=abstain, out_of_distribution=ood,
                      model_version="v1")


def decide(species=Species.DOG, area=Area.SKIN, quality=GOOD, prediction=None, age=3.0):
    return rules.decide(rid="r1", owner_id=1, pet_id="p1", photo_path="photos/1/p1/x.jpg", species=species,
                        area=area, quality=quality, prediction=prediction, age_years=age, now=NOW)


@pytest.mark.parametrize("species", [Species.CAT, Species.BIRD, Species.RODENT, Species.REPTILE, Species.OTHER])
def test_species_the_model_does_not_cover_are_said_plainly(species):
    r = decide(species=species, prediction=pred(("ringworm", 0.99)))
    assert r.outcome is Outcome.UNSUPPORTED_SPECIES and not r.findings and r.urgency is Urgency.NONE


@pytest.mark.parametrize("area", [Area.EYE, Area.OTHER])
def test_eyes_and_other_areas_are_not_judged(area):
    assert decide(area=area, prediction=pred(("healthy", 0.99))).outcome is Outcome.UNSUPPORTED_AREA


@pytest.mark.parametrize("quality,issue", [
    (PhotoQuality(200, 150, 120, 300), QualityIssue.TOO_SMALL),
    (PhotoQuality(800, 600, 12, 300), QualityIssue.TOO_DARK),
    (PhotoQuality(800, 600, 250, 300), QualityIssue.TOO_BRIGHT),
    (PhotoQuality(800, 600, 120, 3), QualityIssue.BLURRED),
])
def test_quality_gate_explains_instead_of_guessing(quality, issue):
    r = decide(quality=quality, prediction=pred(("ringworm", 0.99)))
    assert r.outcome is Outcome.POOR_QUALITY and r.quality_issues == [issue] and not r.findings


def test_out_of_distribution_and_abstention():
    assert decide(prediction=pred(("ringworm", 0.95), ood=True)).outcome is Outcome.NOT_SKIN
    r = decide(prediction=pred(("dermatitis", 0.4), ("hypersensitivity", 0.35), abstain=True))
    assert r.outcome is Outcome.UNCERTAIN and not r.findings and r.top_label == "dermatitis"


def test_no_model_means_unavailable_not_a_guess():
    assert decide(prediction=None).outcome is Outcome.UNAVAILABLE
    assert decide(quality=None).outcome is Outcome.UNREADABLE


def test_urgency_per_finding_and_puppies():
    assert decide(prediction=pred(("healthy", 0.9))).urgency is Urgency.WATCH
    assert decide(prediction=pred(("dermatitis", 0.9))).urgency is Urgency.CONSULT
    assert decide(prediction=pred(("demodicosis", 0.9))).urgency is Urgency.CONSULT
    assert decide(prediction=pred(("demodicosis", 0.9)), age=0.3).urgency is Urgency.TODAY
    assert decide(prediction=pred(("dermatitis", 0.9)), age=0.3).urgency is Urgency.CONSULT
    assert decide(prediction=pred(("something_new", 0.9))).urgency is Urgency.CONSULT


def test_findings_shown_ranked_and_small_ones_dropped():
    r = decide(prediction=pred(("ringworm", 0.7), ("fungal_infection", 0.2), ("healthy", 0.06), ("dermatitis", 0.04)))
    assert r.findings == [("ringworm", 0.7), ("fungal_infection", 0.2)]


@pytest.mark.parametrize("top", ["ringworm", "fungal_infection"])
def test_ringworm_and_fungal_warn_about_people(top):
    r = decide(prediction=pred((top, 0.8), ("healthy", 0.2)))
    assert r.contagious_to_people
    for lang, word in (("ru", "людям"), ("en", "people")):
        assert word in result_message(lang, r)[0]
    assert not decide(prediction=pred(("dermatitis", 0.9))).contagious_to_people


def test_result_id_is_deterministic_per_object_generation():
    assert rules.result_id("photos/1/p/a.jpg", "5") == rules.result_id("photos/1/p/a.jpg", 5)
    assert rules.result_id("photos/1/p/a.jpg", "5") != rules.result_id("photos/1/p/a.jpg", "6")
    assert rules.result_id("x", 1).isalnum()


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_outcome_renders_with_disclaimer_and_vet_buttons(lang):
    cases = [decide(species=Species.CAT), decide(area=Area.EYE), decide(quality=PhotoQuality(10, 10, 5, 0)),
             decide(prediction=pred(("ringworm", 0.9), ood=True)), decide(prediction=pred(("x", 0.3), abstain=True)),
             decide(prediction=None), decide(quality=None)]
    cases += [decide(prediction=pred((label, 0.85), ("healthy", 0.15))) for label in rules.FINDINGS]
    disclaimer = {"ru": "не диагноз", "en": "not a diagnosis"}[lang]
    for r in cases:
        text, buttons = result_message(lang, r)
        assert disclaimer in text and "triage." not in text and "{" not in text
        assert [d for row in buttons for _, d in row] == ["tr:b:p1:r1", f"ph:r:p1:{r.area.value}"]
        assert len(text) < 4096
    text = result_message(lang, decide(prediction=pred(("ringworm", 0.87), ("fungal_infection", 0.13))))[0]
    assert "87%" in text and "13%" in text


def test_caption_and_format_sniffing():
    assert area_from_caption("Что с глазом?") is Area.EYE
    assert area_from_caption("rash on the skin") is Area.SKIN
    assert area_from_caption("глаз и кожа") is None and area_from_caption(None) is None
    pets = [Pet(id="a", owner_id=1, species=Species.DOG, name="Рекс"), Pet(id="b", owner_id=1, species=Species.CAT, name="Мурка")]
    assert pet_from_caption("у Мурки? нет, у мурка пятно", pets).id == "b"
    assert pet_from_caption("пятно", pets) is None
    assert sniff_format(b"\xff\xd8\xff\xe0") == "jpeg" and sniff_format(b"GIF89a") == "gif"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp" and sniff_format(b"hello") is None


def test_the_triage_copy_has_a_shorter_side_of_480_and_the_photos_aspect():
    assert analysis_size(1280, 960) == (640, 480) and analysis_size(960, 1280) == (480, 640)
    assert analysis_size(2048, 1152) == (853, 480) and analysis_size(640, 640) == (480, 480)
    assert analysis_size(640, 480) is None and analysis_size(300, 200) is None  # small enough: analysed itself

"""Photo triage rules: which photos the model may judge, what its answer means, how urgent it is.

Pure: no I/O, no model, no Telegram. The triage service feeds in the photo's measurements and the
model's prediction; this module decides what the owner is told. It is triage, never a diagnosis:
it abstains when unsure, says when a photo cannot be judged, and always offers a vet.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from shared.domain.photos import Area
from shared.domain.pets import Species

# What the model covers today (models/skin_triage card): dogs' skin only.
COVERED_SPECIES = (Species.DOG,)
COVERED_AREAS = (Area.SKIN,)

# Quality gate thresholds (measured on the stored copy, grey levels 0..255).
MIN_SIDE = 224                 # the model's training resolution: anything smaller is upscaled mush
MIN_BRIGHTNESS = 40.0          # mean grey level
MAX_BRIGHTNESS = 240.0         # blown out
MIN_SHARPNESS = 20.0           # variance of the Laplacian on a 512-px grey copy (a flat blur is < 10)

SHOW_FINDINGS_ABOVE = 0.10     # findings below this probability are not worth an owner's worry
MAX_FINDINGS_SHOWN = 3


class Outcome(str, Enum):
    FINDINGS = "findings"                  # the model's answer, with probabilities
    UNCERTAIN = "uncertain"                # the model abstained (not confident)
    POOR_QUALITY = "poor_quality"          # too dark / bright / blurred / small
    NOT_SKIN = "not_skin"                  # out of distribution: not a photo of animal skin
    UNSUPPORTED_SPECIES = "unsupported_species"
    UNSUPPORTED_AREA = "unsupported_area"  # eyes, ears, teeth...
    UNREADABLE = "unreadable"              # the stored object could not be read (should not happen)
    UNAVAILABLE = "unavailable"            # no model loaded on this instance: say so, offer a vet


class Urgency(str, Enum):
    TODAY = "today"          # see a vet today
    CONSULT = "consult"      # book a consultation (within a few days)
    WATCH = "watch"          # watch and re-check
    NONE = "none"            # no verdict to grade (gated or abstained): a vet is still offered


class QualityIssue(str, Enum):
    TOO_SMALL = "too_small"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BLURRED = "blurred"


@dataclass(frozen=True)
class PhotoQuality:
    """Measurements of the stored photo (the images adapter takes them)."""

    width: int
    height: int
    brightness: float   # mean grey level 0..255
    sharpness: float    # variance of the Laplacian


@dataclass(frozen=True)
class Prediction:
    """What the model said, in domain terms (the adapter's SkinPrediction, copied)."""

    ranked: list[tuple[str, float]]
    confidence: float
    abstain: bool
    out_of_distribution: bool
    model_version: str = ""


@dataclass(frozen=True)
class FindingInfo:
    urgency: Urgency
    contagious_to_people: bool = False
    infectious: bool = False  # spreads to other animals / escalates in the young


# Per finding: how urgent, and whether people must be warned. Labels are the model's (labels.json).
FINDINGS: dict[str, FindingInfo] = {
    "demodicosis": FindingInfo(Urgency.CONSULT, infectious=True),
    "dermatitis": FindingInfo(Urgency.CONSULT),
    "fungal_infection": FindingInfo(Urgency.CONSULT, contagious_to_people=True, infectious=True),
    "hypersensitivity": FindingInfo(Urgency.CONSULT),
    "ringworm": FindingInfo(Urgency.CONSULT, contagious_to_people=True, infectious=True),
    "healthy": FindingInfo(Urgency.WATCH),
}
UNKNOWN_FINDING = FindingInfo(Urgency.CONSULT)  # a label this code does not know yet: be careful
YOUNG_AGE_YEARS = 0.5  # puppies: infections spread fast and hit harder -> the same day


@dataclass(frozen=True)
class TriageResult:
    id: str
    owner_id: int
    pet_id: str
    photo_path: str
    area: Area
    species: Species
    outcome: Outcome
    urgency: Urgency
    findings: list[tuple[str, float]] = field(default_factory=list)   # shown to the owner, ranked
    quality_issues: list[QualityIssue] = field(default_factory=list)
    contagious_to_people: bool = False
    confidence: float | None = None
    top_label: str | None = None    # the model's first choice, kept even when it abstained
    model_version: str = ""
    created_at: datetime | None = None


def result_id(object_name: str, generation: str | int) -> str:
    """One id per stored object generation: a redelivered event lands on the same document."""
    return hashlib.sha256(f"{object_name}#{generation}".encode()).hexdigest()[:32]


def gate_subject(species: Species, area: Area) -> Outcome | None:
    """Species/area gate: what the model does not cover is said plainly, never guessed at."""
    if species not in COVERED_SPECIES:
        return Outcome.UNSUPPORTED_SPECIES
    if area not in COVERED_AREAS:
        return Outcome.UNSUPPORTED_AREA
    return None


def quality_issues(q: PhotoQuality) -> list[QualityIssue]:
    issues = []
    if min(q.width, q.height) < MIN_SIDE:
        issues.append(QualityIssue.TOO_SMALL)
    if q.brightness < MIN_BRIGHTNESS:
        issues.append(QualityIssue.TOO_DARK)
    elif q.brightness > MAX_BRIGHTNESS:
        issues.append(QualityIssue.TOO_BRIGHT)
    if q.sharpness < MIN_SHARPNESS and QualityIssue.TOO_DARK not in issues:
        issues.append(QualityIssue.BLURRED)  # a dark photo is flat too: one reason is enough
    return issues


def urgency_for(label: str, age_years: float | None) -> Urgency:
    info = FINDINGS.get(label, UNKNOWN_FINDING)
    if info.infectious and age_years is not None and age_years < YOUNG_AGE_YEARS:
        return Urgency.TODAY
    return info.urgency


def shown_findings(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    top = ranked[:1]
    rest = [(label, p) for label, p in ranked[1:MAX_FINDINGS_SHOWN] if p >= SHOW_FINDINGS_ABOVE]
    return top + rest


def decide(*, rid: str, owner_id: int, pet_id: str, photo_path: str, species: Species, area: Area,
           quality: PhotoQuality | None, prediction: Prediction | None, age_years: float | None = None,
           now: datetime | None = None) -> TriageResult:
    """The whole decision, in order: subject gate, quality gate, out-of-distribution, abstention, findings.

    ``quality``/``prediction`` may be None when an earlier gate already decided (the service skips work).
    """
    base = dict(id=rid, owner_id=owner_id, pet_id=pet_id, photo_path=photo_path, area=area, species=species,
                created_at=now)
    gated = gate_subject(species, area)
    if gated:
        return TriageResult(outcome=gated, urgency=Urgency.NONE, **base)
    if quality is None:
        return TriageResult(outcome=Outcome.UNREADABLE, urgency=Urgency.NONE, **base)
    issues = quality_issues(quality)
    if issues:
        return TriageResult(outcome=Outcome.POOR_QUALITY, urgency=Urgency.NONE, quality_issues=issues, **base)
    if prediction is None:  # the photo is fine but there is no model to ask
        return TriageResult(outcome=Outcome.UNAVAILABLE, urgency=Urgency.NONE, **base)
    model = dict(confidence=prediction.confidence, top_label=prediction.ranked[0][0] if prediction.ranked else None,
                 model_version=prediction.model_version)
    if prediction.out_of_distribution:
        return TriageResult(outcome=Outcome.NOT_SKIN, urgency=Urgency.NONE, **model, **base)
    if prediction.abstain or not prediction.ranked:
        return TriageResult(outcome=Outcome.UNCERTAIN, urgency=Urgency.NONE, **model, **base)
    findings = shown_findings(prediction.ranked)
    top = findings[0][0]
    # Any shown finding that can pass to people is worth the warning, not only the first one.
    contagious = any(FINDINGS.get(label, UNKNOWN_FINDING).contagious_to_people for label, _ in findings)
    return TriageResult(outcome=Outcome.FINDINGS, urgency=urgency_for(top, age_years), findings=findings,
                        contagious_to_people=contagious, **model, **base)


def likelihood_word(p: float) -> str:
    """A probability in plain words (a key suffix: triage.likely.<word>)."""
    if p >= 0.8:
        return "very_likely"
    if p >= 0.5:
        return "likely"
    if p >= 0.25:
        return "possible"
    return "unlikely"

"""The vet domain (shared/domain/vets.py): the application check, states and who may move them, decisions
recorded, price bounds."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.pets import InvalidInput, Species
from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import (
    DEFAULT_PRICE_BOUNDS, MAX_DOCUMENTS, Action, Area, Vet, VetStatus, check_price, parse_experience, parse_price,
    parse_text, vet_from_application,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
VET, OPS = 501, 900


def application(**changes) -> dict:
    fields = {"full_name": "Анна Петрова", "city": "Казань", "education": "КГАВМ, 2012",
              "species": ["cat", "dog"], "areas": ["general", "dermatology"], "experience_years": 12,
              "languages": ["ru", "en"], "bio": "Кошки и собаки, кожа.", "price_kopecks": 1500_00,
              "timezone": "Europe/Moscow", "documents": ["vet-documents/k/a.jpg"], "portrait": "vet-portraits/k/p.jpg"}
    return {**fields, **changes}


def applied(**changes) -> Vet:
    return vet_from_application(VET, application(**changes), NOW)


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidInput) as err:
        call(*args, **kwargs)
    return err.value.code


def hours() -> Schedule:
    return Schedule("Europe/Moscow", weekly={0: parse_hours("09:00-18:00")})


# ---- the application ---------------------------------------------------------------------------

def test_a_complete_application_makes_an_applied_vet_with_the_application_recorded():
    vet = applied(species=["cat", "dog", "cat"], languages=["ru", "ru"])
    assert vet.status == VetStatus.APPLIED and not vet.bookable
    assert vet.species == (Species.CAT, Species.DOG) and vet.languages == ("ru",)  # repeats dropped
    assert vet.areas == (Area.GENERAL, Area.DERMATOLOGY)
    [decision] = vet.decisions
    assert (decision.action, decision.by, decision.at, decision.reason) == (Action.APPLY, VET, NOW, None)


@pytest.mark.parametrize("changes,code", [
    ({"species": []}, "vet.err.incomplete"),
    ({"species": ["unicorn"]}, "vet.err.incomplete"),
    ({"areas": []}, "vet.err.incomplete"),
    ({"languages": ["xx"]}, "vet.err.incomplete"),
    ({"full_name": "   "}, "vet.err.empty"),
    ({"full_name": "\u200b\u200b"}, "err.text_invisible"),
    ({"city": "Ка\u202eзань"}, "err.text_direction"),
    ({"bio": "x" * 801}, "vet.err.too_long"),
    ({"experience_years": 71}, "vet.err.experience"),
    ({"experience_years": "12"}, "vet.err.experience"),
    ({"price_kopecks": 499_00}, "vet.err.price"),
    ({"price_kopecks": 15_000_01}, "vet.err.price"),
    ({"price_kopecks": 1500.0}, "vet.err.price"),
    ({"price_kopecks": True}, "vet.err.price"),
    ({"documents": []}, "vet.err.documents_needed"),
    ({"documents": [f"d{n}" for n in range(MAX_DOCUMENTS + 1)]}, "vet.err.too_many_documents"),
    ({"portrait": None}, "vet.err.portrait_needed"),
    ({"timezone": "Mars/Olympus"}, "schedule.err.timezone"),
])
def test_an_application_is_checked_whole(changes, code):
    assert code_of(vet_from_application, VET, application(**changes), NOW) == code


def test_a_missing_field_is_an_incomplete_application():
    fields = application()
    del fields["bio"]
    assert code_of(vet_from_application, VET, fields, NOW) == "vet.err.incomplete"


def test_free_text_is_one_visible_line():
    assert parse_text("  Анна\n\tПетрова\x00 ", 100) == "Анна Петрова"
    assert code_of(parse_text, "a" * 11, 10) == "vet.err.too_long"


# ---- price and experience ------------------------------------------------------------------------

@pytest.mark.parametrize("text,kopecks", [("1500", 1500_00), ("1 500 ₽", 1500_00), ("1500 руб.", 1500_00),
                                          ("500р", 500_00), ("15000 RUB", 15_000_00)])
def test_prices_as_vets_type_them(text, kopecks):
    assert parse_price(text) == kopecks


@pytest.mark.parametrize("text", ["", "abc", "499", "15001", "1500.50", "-1500", "²", "١٥٠٠", "99999999"])
def test_prices_out_of_bounds_or_unreadable_are_refused_with_the_bounds(text):
    with pytest.raises(InvalidInput) as err:
        parse_price(text)
    assert err.value.code == "vet.err.price" and err.value.params == {"low": 500, "high": 15_000}


def test_price_bounds_are_the_platforms_or_given():
    assert check_price(DEFAULT_PRICE_BOUNDS[0]) == DEFAULT_PRICE_BOUNDS[0]
    assert parse_price("300", bounds=(100_00, 1000_00)) == 300_00
    assert code_of(check_price, 1000_01, (100_00, 1000_00)) == "vet.err.price"


@pytest.mark.parametrize("text,years", [("0", 0), (" 12 ", 12), ("70", 70)])
def test_experience(text, years):
    assert parse_experience(text) == years


@pytest.mark.parametrize("text", ["", "71", "-1", "5.5", "²", "пять", "0070"])
def test_experience_refused(text):
    assert code_of(parse_experience, text) == "vet.err.experience"


# ---- states and decisions ----------------------------------------------------------------------

def test_the_whole_path_records_every_decision():
    later = NOW + timedelta(hours=1)
    vet = applied().decide(Action.APPROVE, OPS, later)
    assert vet.status == VetStatus.VERIFIED and not vet.bookable
    vet = vet.with_schedule(hours(), later)
    assert vet.status == VetStatus.ACTIVE and vet.bookable
    vet = vet.decide(Action.PAUSE, VET, later)
    assert vet.status == VetStatus.PAUSED and not vet.bookable
    vet = vet.with_schedule(hours(), later)  # a paused vet edits hours and stays paused
    assert vet.status == VetStatus.PAUSED
    vet = vet.decide(Action.RESUME, VET, later).decide(Action.SUSPEND, OPS, later, "жалобы владельцев")
    assert vet.status == VetStatus.SUSPENDED and not vet.bookable
    vet = vet.decide(Action.REINSTATE, OPS, later)
    assert vet.status == VetStatus.VERIFIED
    assert [(d.action, d.by) for d in vet.decisions] == [
        (Action.APPLY, VET), (Action.APPROVE, OPS), (Action.PUBLISH, VET), (Action.PAUSE, VET),
        (Action.RESUME, VET), (Action.SUSPEND, OPS), (Action.REINSTATE, OPS)]
    assert vet.decisions[5].reason == "жалобы владельцев"


def test_a_rejection_needs_a_reason_and_the_vet_may_apply_again():
    vet = applied()
    assert code_of(vet.decide, Action.REJECT, OPS, NOW) == "vet.err.reason_needed"
    assert code_of(vet.decide, Action.REJECT, OPS, NOW, "  ") == "vet.err.reason_needed"
    rejected = vet.decide(Action.REJECT, OPS, NOW, "  диплом\nнечитаем ")
    assert rejected.status == VetStatus.REJECTED and rejected.last_decision.reason == "диплом нечитаем"
    again = rejected.reapplied(applied(city="Самара"))
    assert again.status == VetStatus.APPLIED and again.city == "Самара"
    assert [d.action for d in again.decisions] == [Action.APPLY, Action.REJECT, Action.APPLY]


@pytest.mark.parametrize("status,action", [
    (VetStatus.APPLIED, Action.PUBLISH), (VetStatus.APPLIED, Action.PAUSE), (VetStatus.APPLIED, Action.SUSPEND),
    (VetStatus.VERIFIED, Action.APPROVE), (VetStatus.VERIFIED, Action.REJECT), (VetStatus.ACTIVE, Action.RESUME),
    (VetStatus.PAUSED, Action.PAUSE), (VetStatus.REJECTED, Action.APPROVE), (VetStatus.SUSPENDED, Action.RESUME),
    (VetStatus.ACTIVE, Action.APPLY),
])
def test_transitions_the_state_does_not_allow(status, action):
    vet = applied().with_changes(status=status, schedule=hours())
    by = OPS if action in (Action.APPROVE, Action.REJECT, Action.SUSPEND, Action.REINSTATE) else VET
    with pytest.raises(InvalidInput) as err:
        vet.decide(action, by, NOW, "причина")
    assert err.value.code == "vet.err.transition"
    assert err.value.params == {"status": status.value, "action": action.value}


def test_approving_twice_is_refused_so_one_decision_is_recorded():
    vet = applied().decide(Action.APPROVE, OPS, NOW)
    assert code_of(vet.decide, Action.APPROVE, OPS + 1, NOW) == "vet.err.transition"
    assert len(vet.decisions) == 2


def test_who_may_act():
    vet = applied()
    assert code_of(vet.decide, Action.APPROVE, VET, NOW) == "vet.err.own_application"
    verified = vet.decide(Action.APPROVE, OPS, NOW)
    assert code_of(verified.decide, Action.PUBLISH, OPS, NOW) == "vet.err.not_yours"
    active = verified.with_schedule(hours(), NOW)
    assert code_of(active.decide, Action.PAUSE, OPS, NOW) == "vet.err.not_yours"


def test_hours_only_after_verification_and_publishing_needs_hours():
    assert code_of(applied().with_schedule, hours(), NOW) == "vet.err.schedule_not_allowed"
    rejected = applied().decide(Action.REJECT, OPS, NOW, "нет диплома")
    assert code_of(rejected.with_schedule, hours(), NOW) == "vet.err.schedule_not_allowed"
    verified = applied().decide(Action.APPROVE, OPS, NOW)
    assert code_of(verified.decide, Action.PUBLISH, VET, NOW) == "vet.err.no_schedule"
    assert code_of(verified.with_changes(status=VetStatus.SUSPENDED).with_schedule, hours(), NOW) \
        == "vet.err.schedule_not_allowed"


def test_the_schedules_zone_becomes_the_vets():
    verified = applied().decide(Action.APPROVE, OPS, NOW)
    vet = verified.with_schedule(Schedule("Asia/Almaty", weekly={0: parse_hours("09-12")}), NOW)
    assert vet.timezone == "Asia/Almaty"


def test_naive_times_are_a_programming_error():
    with pytest.raises(ValueError):
        applied().decide(Action.APPROVE, OPS, datetime(2026, 1, 1))


def test_what_a_vet_treats_and_the_rating():
    vet = applied()
    assert vet.treats(Species.CAT) and vet.treats(Species.DOG, Area.DERMATOLOGY)
    assert vet.treats(Species.CAT, Area.GENERAL) and not vet.treats(Species.CAT, Area.CARDIOLOGY)
    assert not vet.treats(Species.BIRD)
    assert vet.rating is None and vet.with_changes(rating_sum=9, rating_count=2).rating == 4.5


def test_settings_without_hours_do_not_publish():
    verified = applied().decide(Action.APPROVE, OPS, NOW)
    vet = verified.with_schedule(Schedule("Europe/Moscow", slot_minutes=45), NOW)
    assert vet.status == VetStatus.VERIFIED and vet.schedule.slot_minutes == 45
    assert code_of(vet.decide, Action.PUBLISH, VET, NOW) == "vet.err.no_schedule"
    one_day = Schedule("Europe/Moscow", overrides={NOW.date(): parse_hours("10-12")})
    assert vet.with_schedule(one_day, NOW).status == VetStatus.ACTIVE

"""Units: reminders fire at 10:00 local in the owner's zone; steps, snooze, zone inference."""
from datetime import date, datetime, timezone

import pytest

from shared.domain import reminders as r
from shared.domain.reminders import Step

UTC = timezone.utc


@pytest.mark.parametrize("tz,utc_hour", [("Europe/Moscow", 7), ("Asia/Novosibirsk", 3), ("Asia/Almaty", 5)])
def test_ten_oclock_local(tz, utc_hour):
    # Almaty moved to UTC+5 in 2024; zoneinfo (tzdata) knows.
    at = r.fire_time(date(2026, 12, 1), tz)
    assert at == datetime(2026, 12, 1, utc_hour, tzinfo=UTC)
    assert at.astimezone(r.zone(tz)).hour == 10


def test_plan_makes_a_day_before_and_a_due_day_reminder():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    steps = r.plan(1, 1, "ru", "Asia/Novosibirsk", "p", "Мурка", "t", "vaccine", "Nobivac", date(2026, 12, 10), now)
    assert [s.step for s in steps] == [Step.BEFORE, Step.DUE]
    assert steps[0].fire_at == datetime(2026, 12, 9, 3, tzinfo=UTC)
    assert steps[1].fire_at == datetime(2026, 12, 10, 3, tzinfo=UTC)
    assert steps[0].id == "1-p-t-before" and steps[1].id == "1-p-t-due"
    assert {s.pet_name for s in steps} == {"Мурка"} and steps[0].timezone == "Asia/Novosibirsk"


def test_plan_skips_a_day_before_reminder_already_past():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)  # 15:00 in Moscow
    steps = r.plan(1, 1, "ru", "Europe/Moscow", "p", "M", "t", "vaccine", "X", date(2026, 11, 25), now)
    assert [s.step for s in steps] == [Step.DUE]
    steps = r.plan(1, 1, "ru", "Europe/Moscow", "p", "M", "t", "vaccine", "X", date(2026, 11, 24), now)
    assert [s.step for s in steps] == [Step.DUE]  # due today, logged after 10:00: goes out on the next run
    assert r.plan(1, 1, "ru", "Europe/Moscow", "p", "M", "t", "vaccine", "X", date(2026, 11, 23), now) == []


def test_local_today_and_snooze_cross_midnight():
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)  # already the 25th in Novosibirsk (03:00)
    assert r.local_today(now, "Asia/Novosibirsk") == date(2026, 11, 25)
    assert r.local_today(now, "Europe/Moscow") == date(2026, 11, 24)
    assert r.snooze_until(now, "Asia/Novosibirsk") == datetime(2026, 11, 26, 3, tzinfo=UTC)


def test_zone_inference_and_validation():
    assert r.timezone_for_language("kk") == "Asia/Almaty"
    assert r.timezone_for_language("ru-RU") == "Europe/Moscow"
    assert r.timezone_for_language(None) == r.DEFAULT_TIMEZONE
    assert r.is_valid_timezone("Asia/Omsk") and not r.is_valid_timezone("Mars/Olympus")
    assert r.zone("Nowhere/None").key == r.DEFAULT_TIMEZONE
    assert all(r.is_valid_timezone(z) for z in r.TIMEZONE_CHOICES)

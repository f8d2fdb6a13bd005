"""Vet schedules and bookable slots: pure domain (shared/domain/schedule.py, shared/domain/slots.py)."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest

from shared.domain.pets import InvalidInput
from shared.domain.schedule import (
    BUFFERS, SLOT_LENGTHS, Hours, Schedule, check_day, format_hours, parse_hours, parse_override_date,
    parse_time,
)
from shared.domain.slots import (
    HOLD_TTL, Busy, Slot, busy_window, by_day, check_bookable, free_slots, hold_expiry, lock_cells,
    next_free, scheduled_slots, slot_cells, wall_instant,
)

UTC = timezone.utc
MONDAY = date(2026, 6, 1)
WORKDAY = parse_hours("09:00-13:00, 14:00-18:00")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


def weekdays(tz: str, **settings) -> Schedule:
    """Monday to Friday 09-13 and 14-18 in `tz`."""
    return Schedule(tz, weekly={d: WORKDAY for d in range(5)}, **settings)


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidInput) as err:
        call(*args, **kwargs)
    return err.value.code


def starts(slots, tz: str) -> list[str]:
    return [s.start.astimezone(ZoneInfo(tz)).strftime("%d %H:%M") for s in slots]


# What a vet types.

@pytest.mark.parametrize("text, hours", [
    ("09:00-13:00, 14:00-18:00", "09:00-13:00, 14:00-18:00"),
    ("9-13 14-18", "09:00-13:00, 14:00-18:00"),
    ("14:00 – 18:00; 09.00—13.00", "09:00-13:00, 14:00-18:00"),
    ("09:00-13:00, 13:00-18:00", "09:00-18:00"),      # touching stretches are one
    ("18:00-24:00", "18:00-24:00"), ("00:00-00:00", "00:00-24:00"),
    ("выходной", ""), ("Off", ""), ("-", ""),
])
def test_parse_hours_reads_what_vets_type(text, hours):
    assert format_hours(parse_hours(text)) == hours
    assert parse_hours(format_hours(parse_hours(text)) or "-") == parse_hours(text)


@pytest.mark.parametrize("text, code", [
    ("13:00-09:00", "schedule.err.hours_inverted"),
    ("09:00-09:00", "schedule.err.hours_inverted"),
    ("22:00-02:00", "schedule.err.hours_inverted"),    # a night shift is two days' hours
    ("09:00-13:00, 12:00-18:00", "schedule.err.hours_overlap"),
    ("09:00-18:00, 10:00-11:00", "schedule.err.hours_overlap"),
    ("09:10-13:00", "schedule.err.hours_grid"),
    ("25:00-26:00", "schedule.err.time_invalid"),
    ("09:60-10:00", "schedule.err.time_invalid"),
    ("24:00-24:00", "schedule.err.time_invalid"),      # 24:00 only ends a stretch
    ("nine to five", "schedule.err.hours_format"),
    ("09:00-10:00-11:00", "schedule.err.hours_format"),
    ("", "schedule.err.hours_format"),
])
def test_parse_hours_rejects_bad_hours_clearly(text, code):
    assert code_of(parse_hours, text) == code


def test_errors_name_the_day_and_the_hours():
    with pytest.raises(InvalidInput) as err:
        Schedule("Europe/Moscow", weekly={2: [("09:00", "13:00"), ("12:00", "18:00")]})
    assert err.value.code == "schedule.err.hours_overlap"
    assert err.value.params == {"day": 2, "first": "09:00-13:00", "second": "12:00-18:00"}
    with pytest.raises(InvalidInput) as err:
        Schedule("Europe/Moscow", overrides={date(2026, 12, 31): [(time(18), time(10))]})
    assert (err.value.code, err.value.params) == (
        "schedule.err.hours_inverted", {"day": "2026-12-31", "hours": "18:00-10:00"})


def test_parse_time():
    assert parse_time("9") == 540 and parse_time("09:30") == 570 and parse_time("9.45") == 585
    assert parse_time("24:00", end=True) == parse_time("00:00", end=True) == 1440
    assert parse_time("00:00") == 0


def test_hours_of_times_and_strings():
    assert Hours.of(time(9), time(0)) == Hours(540, 1440) == Hours.of("09:00", "24:00")
    assert str(Hours(540, 1440)) == "09:00-24:00"


@pytest.mark.parametrize("text, today, day", [
    ("31.12", date(2026, 6, 1), date(2026, 12, 31)),
    ("31.12.2026", date(2026, 6, 1), date(2026, 12, 31)),
    ("31/12/26", date(2026, 6, 1), date(2026, 12, 31)),
    ("2026-12-31", date(2026, 6, 1), date(2026, 12, 31)),
    ("05.01", date(2026, 12, 20), date(2027, 1, 5)),   # no year, already past: next January
    ("01.06", date(2026, 6, 1), date(2026, 6, 1)),     # today counts
    ("29.02", date(2027, 12, 20), date(2028, 2, 29)),
    ("сегодня", date(2026, 6, 1), date(2026, 6, 1)),
])
def test_override_dates(text, today, day):
    assert parse_override_date(text, today) == day


@pytest.mark.parametrize("text, code", [
    ("31.02", "err.date_invalid"), ("32.12.2026", "err.date_invalid"),
    ("завтра-послезавтра", "err.date_invalid"),
    ("29.02", "err.date_invalid"),            # no leap day within a year of 2026-06-01
    ("31.05.2026", "schedule.err.date_past"), ("вчера", "schedule.err.date_past"),
    ("01.01.2030", "schedule.err.date_too_far"),
])
def test_override_dates_rejected(text, code):
    assert code_of(parse_override_date, text, MONDAY) == code


# Bad schedules.

@pytest.mark.parametrize("settings, code", [
    ({"timezone": "Mars/Olympus"}, "schedule.err.timezone"),
    ({"timezone": "MSK"}, "schedule.err.timezone"),
    ({"timezone": ""}, "schedule.err.timezone"),
    ({"slot_minutes": 20}, "schedule.err.slot_length"),
    ({"slot_minutes": 60}, "schedule.err.slot_length"),
    ({"buffer_minutes": 5}, "schedule.err.buffer"),
    ({"buffer_minutes": -15}, "schedule.err.buffer"),
    ({"buffer_minutes": 90}, "schedule.err.buffer"),
    ({"min_notice": timedelta(hours=-1)}, "schedule.err.notice"),
    ({"min_notice": timedelta(days=8)}, "schedule.err.notice"),
    ({"horizon_days": 0}, "schedule.err.horizon"),
    ({"horizon_days": 61}, "schedule.err.horizon"),
    ({"daily_cap": 0}, "schedule.err.daily_cap"),
    ({"daily_cap": 49}, "schedule.err.daily_cap"),
    ({"weekly": {7: WORKDAY}}, "schedule.err.weekday"),
    ({"weekly": {0: WORKDAY, "1": WORKDAY}}, "schedule.err.weekday"),
    ({"weekly": {0: [Hours(540, 545)]}}, "schedule.err.hours_grid"),
    ({"weekly": {0: [Hours(1380, 1500)]}}, "schedule.err.hours_grid"),
    ({"weekly": {0: [(time(9), time(9, 15))]}, "slot_minutes": 30}, "schedule.err.hours_too_short"),
    ({"weekly": {0: [Hours(h * 60, h * 60 + 30) for h in range(13)]}}, "schedule.err.too_many_hours"),
    ({"overrides": {date(2026, 1, 1) + timedelta(days=n): () for n in range(201)}},
     "schedule.err.too_many_overrides"),
    ({"overrides": {date(2026, 6, 1): WORKDAY, datetime(2026, 6, 2, 9): WORKDAY}}, "err.date_invalid"),
    ({"overrides": {"2026-06-02": WORKDAY}}, "err.date_invalid"),
])
def test_bad_schedules_have_clear_codes(settings, code):
    settings = {"timezone": "Europe/Moscow", **settings}
    assert code_of(Schedule, **settings) == code


def test_schedule_is_normalised_and_rechecked_on_change():
    schedule = Schedule("Europe/Moscow", weekly={1: [("14:00", "18:00"), ("09:00", "13:00")], 3: []},
                        overrides={date(2026, 6, 3): []})
    assert schedule.weekly == {1: WORKDAY}           # sorted; an empty weekday is simply a day off
    assert schedule.hours_on(date(2026, 6, 2)) == WORKDAY and schedule.hours_on(MONDAY) == ()
    short = Schedule("Europe/Moscow", weekly={0: parse_hours("09:00-09:30")})
    assert code_of(short.with_changes, slot_minutes=45) == "schedule.err.hours_too_short"
    assert code_of(check_day, parse_hours("09:00-09:30"), 45) == "schedule.err.hours_too_short"
    pruned = schedule.with_changes(overrides={date(2026, 5, 1): [], date(2026, 6, 3): []}).pruned(MONDAY)
    assert list(pruned.overrides) == [date(2026, 6, 3)]


# Time zones: stored in UTC, shown in each person's zone.

def test_moscow_vet_slots_are_utc_and_shown_in_novosibirsk():
    schedule = weekdays("Europe/Moscow", slot_minutes=30)
    slots = scheduled_slots(schedule, MONDAY)
    assert slots[0] == Slot(utc(2026, 6, 1, 6), utc(2026, 6, 1, 6, 30))       # 09:00 MSK
    assert slots[-1].end == utc(2026, 6, 1, 15)                                  # 18:00 MSK
    assert len(slots) == 16
    assert slots[0].local("Asia/Novosibirsk")[0].strftime("%H:%M") == "13:00"   # UTC+7
    assert slots[0].local("Asia/Almaty")[0].strftime("%H:%M") == "11:00"        # UTC+5


def test_novosibirsk_and_almaty_vets():
    nsk = scheduled_slots(weekdays("Asia/Novosibirsk"), MONDAY)
    assert nsk[0].start == utc(2026, 6, 1, 2)                                    # 09:00 at UTC+7
    ala = scheduled_slots(weekdays("Asia/Almaty"), MONDAY)
    assert ala[0].start == utc(2026, 6, 1, 4)                                    # 09:00 at UTC+5
    assert ala[0].local("Europe/Moscow")[0].strftime("%H:%M") == "07:00"


def test_almaty_moved_to_utc_plus_5_on_2024_03_01():
    schedule = Schedule("Asia/Almaty", weekly={d: WORKDAY for d in range(7)})
    assert scheduled_slots(schedule, date(2024, 2, 29))[0].start == utc(2024, 2, 29, 3)   # UTC+6
    assert scheduled_slots(schedule, date(2024, 3, 1))[0].start == utc(2024, 3, 1, 4)     # UTC+5


def test_vladivostok_owner_sees_moscow_evening_slot_on_the_next_date():
    schedule = Schedule("Europe/Moscow", weekly={0: parse_hours("19:00-21:00")}, slot_minutes=45)
    now = local("Europe/Moscow", 2026, 6, 1, 8)
    slots = free_slots(schedule, [], now)
    assert starts(slots, "Europe/Moscow") == ["01 19:00", "01 19:45", "08 19:00", "08 19:45"]
    for_owner = by_day(slots, "Asia/Vladivostok")          # UTC+10: 19:00 MSK is 02:00 on Tuesday
    assert list(for_owner) == [date(2026, 6, 2), date(2026, 6, 9)]
    assert [s.local("Asia/Vladivostok")[0].strftime("%d %H:%M") for s in for_owner[date(2026, 6, 2)]] == [
        "02 02:00", "02 02:45"]
    assert list(by_day(slots, "Europe/Moscow")) == [date(2026, 6, 1), date(2026, 6, 8)]


def test_vet_abroad_owner_in_moscow():
    schedule = weekdays("America/New_York", slot_minutes=45, buffer_minutes=15)
    slots = free_slots(schedule, [], local("Europe/Moscow", 2026, 6, 1, 12))
    first = slots[0]
    assert first.start == utc(2026, 6, 1, 13)                                   # 09:00 EDT
    assert first.local("Europe/Moscow")[0].strftime("%d %H:%M") == "01 16:00"
    # Monday's last slot, 17:00 EDT, is Tuesday 00:00 for the owner
    tuesday = by_day(slots, "Europe/Moscow")[date(2026, 6, 2)]
    assert tuesday[0].local("America/New_York")[0].strftime("%a %H:%M") == "Mon 17:00"
    assert tuesday[0].local("Europe/Moscow")[0].strftime("%H:%M") == "00:00"


# DST: a vet in Berlin.

def test_berlin_wall_clock_hours_stay_wall_clock_across_dst():
    schedule = Schedule("Europe/Berlin", weekly={d: WORKDAY for d in range(7)})
    assert scheduled_slots(schedule, date(2027, 3, 27))[0].start == utc(2027, 3, 27, 8)    # CET
    assert scheduled_slots(schedule, date(2027, 3, 28))[0].start == utc(2027, 3, 28, 7)    # CEST
    assert scheduled_slots(schedule, date(2027, 10, 30))[0].start == utc(2027, 10, 30, 7)  # CEST
    assert scheduled_slots(schedule, date(2027, 10, 31))[0].start == utc(2027, 10, 31, 8)  # CET
    now = local("Europe/Berlin", 2027, 3, 26, 20)
    slots = free_slots(schedule, [], now)
    assert {s.local("Europe/Berlin")[0].strftime("%H:%M") for s in slots} == {
        f"{h:02d}:{m:02d}" for h in (*range(9, 13), *range(14, 18)) for m in (0, 30)}


def test_berlin_spring_gap_hours_skipped_by_the_clock():
    # 2027-03-28: 02:00 CET jumps to 03:00 CEST. "01:00-04:00" is two real hours.
    schedule = Schedule("Europe/Berlin", overrides={date(2027, 3, 28): parse_hours("01:00-04:00")})
    slots = scheduled_slots(schedule, date(2027, 3, 28))
    assert starts(slots, "Europe/Berlin") == ["28 01:00", "28 01:30", "28 03:00", "28 03:30"]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    # a bound the clock skips is the jump itself
    late = Schedule("Europe/Berlin", overrides={date(2027, 3, 28): parse_hours("02:30-05:00")})
    assert starts(scheduled_slots(late, date(2027, 3, 28)), "Europe/Berlin") == [
        "28 03:00", "28 03:30", "28 04:00", "28 04:30"]
    assert wall_instant(date(2027, 3, 28), 150, ZoneInfo("Europe/Berlin")) == utc(2027, 3, 28, 1)
    # the slot across the jump lasts 30 real minutes: 01:30 CET to 03:00 CEST
    assert slots[1].local("Europe/Berlin")[1].strftime("%H:%M%z") == "03:00+0200"


def test_berlin_autumn_repeated_hour():
    # 2027-10-31: 03:00 CEST goes back to 02:00 CET. "01:00-04:00" is four real hours, 02:xx twice.
    schedule = Schedule("Europe/Berlin", overrides={date(2027, 10, 31): parse_hours("01:00-04:00")})
    slots = scheduled_slots(schedule, date(2027, 10, 31))
    shown = [s.local("Europe/Berlin")[0].strftime("%H:%M%z") for s in slots]
    assert shown == ["01:00+0200", "01:30+0200", "02:00+0200", "02:30+0200",
                     "02:00+0100", "02:30+0100", "03:00+0100", "03:30+0100"]
    # a bound the clock shows twice is its first reading; touching stretches stay touching
    split = Schedule("Europe/Berlin", overrides={date(2027, 10, 31): [Hours(0, 150), Hours(150, 300)]})
    assert split.overrides[date(2027, 10, 31)] == (Hours(0, 300),)
    before = Schedule("Europe/Berlin", overrides={date(2027, 10, 31): parse_hours("00:00-02:30")})
    assert scheduled_slots(before, date(2027, 10, 31))[-1].end == utc(2027, 10, 31, 0, 30)   # 02:30 CEST
    after = Schedule("Europe/Berlin", overrides={date(2027, 10, 31): parse_hours("02:30-05:00")})
    assert scheduled_slots(after, date(2027, 10, 31))[0].start == utc(2027, 10, 31, 0, 30)
    assert len(scheduled_slots(after, date(2027, 10, 31))) == 7                     # 3.5 real hours


def test_zone_that_skips_local_midnight():
    # Chile moves its clocks at 24:00: 2027-09-05 00:00 does not exist in Santiago (jumps to 01:00).
    schedule = Schedule("America/Santiago", overrides={date(2027, 9, 4): parse_hours("22:00-24:00"),
                                                       date(2027, 9, 5): parse_hours("00:00-02:00")})
    assert len(scheduled_slots(schedule, date(2027, 9, 4))) == 4
    assert starts(scheduled_slots(schedule, date(2027, 9, 5)), "America/Santiago") == ["05 01:00", "05 01:30"]


# The UTC grid: zones with :30 and :45 offsets.

@pytest.mark.parametrize("tz, first", [
    ("Asia/Kolkata", utc(2026, 6, 1, 3, 30)),      # +5:30
    ("Asia/Kathmandu", utc(2026, 6, 1, 3, 15)),    # +5:45
    ("Pacific/Chatham", utc(2026, 5, 31, 20, 15)),  # +12:45 (winter there)
])
def test_offsets_off_the_hour_stay_on_the_utc_grid(tz, first):
    schedule = weekdays(tz, slot_minutes=45, buffer_minutes=15)
    slots = scheduled_slots(schedule, MONDAY)
    assert slots[0].start == first
    assert slots[0].local(tz)[0].strftime("%H:%M") == "09:00"
    assert all(s.start.minute % 15 == 0 and s.start.second == 0 for s in slots)
    cells = slot_cells("v1", slots[0], 15)
    assert len(cells) == 4 and cells[0] == f"v1-{first:%Y%m%dT%H%M}Z"


# Busy: bookings, holds, buffers, cap, notice, horizon.

def test_expired_hold_is_free_before_the_release_task_runs():
    schedule = weekdays("Europe/Moscow")
    now = local("Europe/Moscow", 2026, 6, 1, 6)
    slot = Slot(local("Europe/Moscow", 2026, 6, 1, 9), local("Europe/Moscow", 2026, 6, 1, 9, 30))
    live = Busy(slot.start, slot.end, expires_at=hold_expiry(now))
    assert live.expires_at == now + HOLD_TTL == now + timedelta(minutes=10)
    assert slot not in free_slots(schedule, [live], now)
    assert code_of(check_bookable, schedule, [live], slot, now) == "schedule.err.slot_taken"
    for expired_at in (now, now - timedelta(seconds=1)):           # expires_at <= now: free
        hold = Busy(slot.start, slot.end, expires_at=expired_at)
        assert slot in free_slots(schedule, [hold], now)
        assert check_bookable(schedule, [hold], slot, now) == slot
    assert slot in free_slots(schedule, [live], now + timedelta(minutes=10))
    assert not Busy(slot.start, slot.end).is_hold and live.is_hold


def test_buffer_after_every_consultation():
    schedule = Schedule("Europe/Moscow", weekly={0: parse_hours("09:00-11:45")}, slot_minutes=30,
                        buffer_minutes=15)
    now = local("Europe/Moscow", 2026, 6, 1, 6)
    # slots follow each other every slot + buffer; the last one's buffer may run past the hours
    assert starts(free_slots(schedule, [], now), "Europe/Moscow")[:4] == [
        "01 09:00", "01 09:45", "01 10:30", "01 11:15"]
    # a booking made when slots were 45 min without buffer, 09:45-10:30: the current buffer applies
    # after it too, so 10:30 is not offered
    booked = Busy(local("Europe/Moscow", 2026, 6, 1, 9, 45), local("Europe/Moscow", 2026, 6, 1, 10, 30))
    assert starts(free_slots(schedule, [booked], now), "Europe/Moscow")[:3] == [
        "01 09:00", "01 11:15", "08 09:00"]
    no_buffer = schedule.with_changes(buffer_minutes=0)
    assert "01 10:30" in starts(free_slots(no_buffer, [booked], now), "Europe/Moscow")
    # 10:15-10:45: the 09:45 consultation would end at 10:15, but its own buffer runs into it
    booked = Busy(local("Europe/Moscow", 2026, 6, 1, 10, 15), local("Europe/Moscow", 2026, 6, 1, 10, 45))
    assert starts(free_slots(schedule, [booked], now), "Europe/Moscow")[:2] == ["01 09:00", "01 11:15"]
    # a hold's own, larger buffer counts too
    held = Busy(local("Europe/Moscow", 2026, 6, 1, 9), local("Europe/Moscow", 2026, 6, 1, 9, 30),
                buffer_minutes=60, expires_at=now + HOLD_TTL)
    assert "01 10:30" in starts(free_slots(schedule, [held], now), "Europe/Moscow")
    assert "01 09:45" not in starts(free_slots(schedule, [held], now), "Europe/Moscow")


def test_daily_cap_counts_bookings_and_live_holds_per_vet_day():
    schedule = weekdays("Asia/Novosibirsk", daily_cap=2)
    now = local("Asia/Novosibirsk", 2026, 6, 1, 6)
    a = Busy(local("Asia/Novosibirsk", 2026, 6, 1, 9), local("Asia/Novosibirsk", 2026, 6, 1, 9, 30))
    b = Busy(local("Asia/Novosibirsk", 2026, 6, 1, 15), local("Asia/Novosibirsk", 2026, 6, 1, 15, 30),
             expires_at=now + HOLD_TTL)
    free = free_slots(schedule, [a], now)
    assert free[0].local("Asia/Novosibirsk")[0].date() == MONDAY                  # one of two used
    full = free_slots(schedule, [a, b], now)
    assert full[0].local("Asia/Novosibirsk")[0].date() == date(2026, 6, 2)       # Monday is full
    monday_slot = scheduled_slots(schedule, MONDAY)[-1]
    assert code_of(check_bookable, schedule, [a, b], monday_slot, now) == "schedule.err.slot_day_full"
    expired = Busy(b.start, b.end, expires_at=now)
    assert free_slots(schedule, [a, expired], now)[0].local("Asia/Novosibirsk")[0].date() == MONDAY


def test_minimum_notice():
    schedule = weekdays("Europe/Moscow")                                         # 2 h by default
    now = local("Europe/Moscow", 2026, 6, 1, 9, 10)
    assert starts(free_slots(schedule, [], now), "Europe/Moscow")[0] == "01 11:30"
    assert next_free(schedule, [], now).start == local("Europe/Moscow", 2026, 6, 1, 11, 30)
    at_notice = local("Europe/Moscow", 2026, 6, 1, 9, 30)
    assert starts(free_slots(schedule, [], at_notice), "Europe/Moscow")[0] == "01 11:30"  # exactly 2 h: ok
    none = schedule.with_changes(min_notice=timedelta(0))
    assert starts(free_slots(none, [], now), "Europe/Moscow")[0] == "01 09:30"
    inside = Slot(local("Europe/Moscow", 2026, 6, 1, 11), local("Europe/Moscow", 2026, 6, 1, 11, 30))
    with pytest.raises(InvalidInput) as err:
        check_bookable(schedule, [], inside, now)
    assert (err.value.code, err.value.params) == ("schedule.err.slot_notice", {"minutes": 120})
    past = Slot(local("Europe/Moscow", 2026, 6, 1, 9), local("Europe/Moscow", 2026, 6, 1, 9, 30))
    assert code_of(check_bookable, schedule, [], past, now) == "schedule.err.slot_past"


def test_horizon_counted_in_the_vets_zone():
    schedule = Schedule("Asia/Vladivostok", weekly={d: WORKDAY for d in range(7)}, min_notice=timedelta(0))
    # 20:00 UTC on 31 May is already 06:00 on 1 June in Vladivostok: the horizon starts on 1 June
    now = utc(2026, 5, 31, 20)
    days = by_day(free_slots(schedule, [], now), "Asia/Vladivostok")
    assert list(days) == [MONDAY + timedelta(days=n) for n in range(14)]
    only_today = next_free(schedule.with_changes(horizon_days=1), [], now)
    assert only_today.local("Asia/Vladivostok")[0].date() == MONDAY
    beyond = scheduled_slots(schedule, MONDAY + timedelta(days=14))[0]
    assert code_of(check_bookable, schedule, [], beyond, now) == "schedule.err.slot_beyond_horizon"
    last = scheduled_slots(schedule, MONDAY + timedelta(days=13))[-1]
    assert check_bookable(schedule, [], last, now) == last
    assert len(by_day(free_slots(schedule.with_changes(horizon_days=60), [], now), "Asia/Vladivostok")) == 60


def test_overrides_day_off_and_extra_hours():
    schedule = weekdays("Europe/Moscow", overrides={
        date(2026, 6, 2): [],                                   # Tuesday off
        date(2026, 6, 3): parse_hours("15:00-16:00"),           # Wednesday: only 15-16
        date(2026, 6, 6): parse_hours("10:00-11:00"),           # Saturday: extra hours
    })
    days = by_day(free_slots(schedule, [], local("Europe/Moscow", 2026, 6, 1, 20)), "Europe/Moscow")
    assert date(2026, 6, 2) not in days
    assert starts(days[date(2026, 6, 3)], "Europe/Moscow") == ["03 15:00", "03 15:30"]
    assert starts(days[date(2026, 6, 6)], "Europe/Moscow") == ["06 10:00", "06 10:30"]
    assert date(2026, 6, 7) not in days and len(days[date(2026, 6, 9)]) == 16   # next Tuesday as usual


def test_check_bookable_refuses_forged_slots():
    schedule = weekdays("Europe/Moscow", slot_minutes=30)
    now = local("Europe/Moscow", 2026, 6, 1, 6)
    ok = Slot(local("Europe/Moscow", 2026, 6, 1, 9), local("Europe/Moscow", 2026, 6, 1, 9, 30))
    assert check_bookable(schedule, [], ok, now) == ok
    for forged in (
        Slot(ok.start + timedelta(minutes=15), ok.end + timedelta(minutes=15)),   # off the slot grid
        Slot(ok.start, ok.end + timedelta(minutes=15)),                            # wrong length
        Slot(local("Europe/Moscow", 2026, 6, 1, 13), local("Europe/Moscow", 2026, 6, 1, 13, 30)),  # lunch
        Slot(local("Europe/Moscow", 2026, 6, 6, 9), local("Europe/Moscow", 2026, 6, 6, 9, 30)),    # Saturday
    ):
        assert code_of(check_bookable, schedule, [], forged, now) == "schedule.err.slot_not_offered"
    neighbour = Busy(ok.start - timedelta(minutes=30), ok.start, buffer_minutes=15)  # its buffer hits ok
    assert code_of(check_bookable, schedule, [neighbour], ok, now) == "schedule.err.slot_taken"


def test_naive_datetimes_are_programming_errors():
    with pytest.raises(ValueError):
        free_slots(weekdays("Europe/Moscow"), [], datetime(2026, 6, 1, 9))
    with pytest.raises(ValueError):
        Slot(datetime(2026, 6, 1, 9), datetime(2026, 6, 1, 9, 30))


def test_next_free_sorts_vets():
    now = local("Europe/Moscow", 2026, 6, 1, 12)
    vets = {"nsk": weekdays("Asia/Novosibirsk"), "msk": weekdays("Europe/Moscow"),
            "off": Schedule("Europe/Moscow")}
    firsts = {name: next_free(s, [], now) for name, s in vets.items()}
    assert firsts["off"] is None
    assert firsts["msk"].start == local("Europe/Moscow", 2026, 6, 1, 14)        # now + 2 h
    assert firsts["nsk"].start == local("Asia/Novosibirsk", 2026, 6, 2, 9)      # 16:00 there: tomorrow
    assert sorted((v for v in firsts if firsts[v]), key=lambda v: firsts[v].start) == ["msk", "nsk"]
    booked = [Busy(firsts["msk"].start, firsts["msk"].end)]
    assert next_free(vets["msk"], booked, now).start == local("Europe/Moscow", 2026, 6, 1, 14, 30)


def test_busy_window_covers_everything_that_can_block():
    schedule = Schedule("Europe/Moscow", weekly={d: parse_hours("00:00-24:00") for d in range(7)},
                        slot_minutes=45, buffer_minutes=60, min_notice=timedelta(0))
    now = local("Europe/Moscow", 2026, 6, 1, 0)
    low, high = busy_window(schedule, now)
    slots = free_slots(schedule, [], now)
    assert low <= slots[0].start - timedelta(minutes=105)
    assert high >= slots[-1].end + timedelta(minutes=60)


# Locking: the cells.

def test_lock_cell_ids():
    start = utc(2027, 3, 28, 1)
    assert lock_cells("vet42", start, start + timedelta(minutes=45)) == [
        "vet42-20270328T0100Z", "vet42-20270328T0115Z", "vet42-20270328T0130Z"]
    # aware times in any zone name the same cells
    kathmandu = start.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert lock_cells("vet42", kathmandu, kathmandu + timedelta(minutes=15)) == ["vet42-20270328T0100Z"]
    assert slot_cells("v", Slot(start, start + timedelta(minutes=30)), 15) == lock_cells(
        "v", start, start + timedelta(minutes=45))
    with pytest.raises(ValueError):
        lock_cells("a/b", start, start + timedelta(minutes=15))


def _pairs(step: int, hours: int, buffers) -> Iterator[tuple[bool, bool]]:
    """For every two consultations (start every `step` minutes over `hours`, each slot length, each of
    `buffers`): whether their blocked intervals [start, end + buffer) overlap, and whether their lock
    cells meet."""
    base = utc(2026, 6, 1, 6)
    combos = [(s, n + b) for s in range(0, hours * 60, step) for n in SLOT_LENGTHS for b in buffers]
    cells = {c: set(lock_cells("v", base + timedelta(minutes=c[0]), base + timedelta(minutes=sum(c))))
             for c in combos}
    for a_start, a_span in combos:
        for b_start, b_span in combos:
            overlap = a_start < b_start + b_span and b_start < a_start + a_span
            yield overlap, bool(cells[a_start, a_span] & cells[b_start, b_span])


def test_overlapping_consultations_always_share_a_cell():
    """On the grid over 8 hours: blocked intervals overlap exactly when their cells meet."""
    assert all(overlap == shared for overlap, shared in _pairs(15, 8, BUFFERS))


def test_off_grid_times_still_never_slip_past_the_locks():
    """Starts on a 5-minute grid (none are offered, but a lock never lets an overlap through)."""
    assert all(shared for overlap, shared in _pairs(5, 3, (0, 15)) if overlap)


@pytest.mark.parametrize("tz", ["Europe/Moscow", "Asia/Kathmandu", "Europe/Berlin"])
def test_booking_whatever_is_offered_never_overlaps(tz):
    """Owners keep taking offered slots while the vet changes slot length and buffer; a fake Firestore
    accepts a booking only if all its cells are new. Every offered slot locks, none overlap."""
    rng = random.Random(tz)
    schedule = Schedule(tz, weekly={d: parse_hours("08:00-12:00, 12:15-20:00") for d in range(7)},
                        min_notice=timedelta(0), horizon_days=3)
    now = local(tz, 2027, 3, 26, 7)
    busy: list[Busy] = []
    cells: set[str] = set()
    for _ in range(60):
        schedule = schedule.with_changes(slot_minutes=rng.choice(SLOT_LENGTHS),
                                         buffer_minutes=rng.choice(BUFFERS))
        offered = free_slots(schedule, busy, now)
        if not offered:
            break
        slot = rng.choice(offered)
        assert check_bookable(schedule, busy, slot, now) == slot
        wanted = slot_cells("v", slot, schedule.buffer_minutes)
        assert cells.isdisjoint(wanted)                    # create() of every cell succeeds
        cells.update(wanted)
        busy.append(Busy(slot.start, slot.end, buffer_minutes=schedule.buffer_minutes))
    assert len(busy) > 20
    spans = sorted((b.start, b.end + timedelta(minutes=b.buffer_minutes)) for b in busy)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:]))

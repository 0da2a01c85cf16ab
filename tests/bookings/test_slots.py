"""Slot generation from opening hours: intervals, closures, holidays, Europe/Rome DST."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from vetrina.bookings.errors import InvalidDate
from vetrina.bookings.slots import local_start, parse_day, parse_time, slot_at, slots_on
from vetrina.catalog.stores import OpeningHours

UTC = timezone.utc
EVERY_DAY = {d: ["10:00-19:30"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def hours(weekly=EVERY_DAY, exceptions=None) -> OpeningHours:  # type: ignore[no-untyped-def]
    return OpeningHours.from_json(weekly, exceptions or {}, "Europe/Rome")


def starts(slots) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{s.starts_at:%H:%M}" for s in slots]  # UTC wall clock


def test_a_plain_day_in_winter_is_cut_into_slots_that_fit() -> None:
    slots = slots_on(hours(), date(2026, 3, 20), 30)
    assert len(slots) == 19  # 10:00 … 19:00; a 19:30 start would end after closing
    assert slots[0].starts_at == datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # CET = UTC+1
    assert slots[-1].starts_at == datetime(2026, 3, 20, 18, 0, tzinfo=UTC)
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)


def test_split_hours_and_a_slot_length_that_does_not_divide_them() -> None:
    weekly = {**EVERY_DAY, "fri": ["10:00-13:00", "15:30-17:00"]}
    slots = slots_on(hours(weekly), date(2026, 3, 20), 45)
    # 10:00, 10:45, 11:30 (ends 12:15), 12:15 (ends 13:00); 15:30, 16:15 (ends 17:00)
    assert starts(slots) == ["09:00", "09:45", "10:30", "11:15", "14:30", "15:15"]


def test_closures_and_yearly_holidays_have_no_slots() -> None:
    h = hours(exceptions={"2026-03-20": "closed", "12-25": "chiuso", "2026-12-24": "10:00-12:00"})
    assert slots_on(h, date(2026, 3, 20), 30) == []
    assert slots_on(h, date(2026, 12, 25), 30) == []
    assert slots_on(h, date(2027, 12, 25), 30) == []  # every year
    assert len(slots_on(h, date(2026, 12, 24), 30)) == 4  # short day
    weekly = {**EVERY_DAY, "sun": "closed"}
    assert slots_on(hours(weekly), date(2026, 3, 22), 30) == []  # a Sunday


def test_the_same_local_opening_maps_to_a_different_utc_instant_across_dst() -> None:
    before = slots_on(hours(), date(2026, 3, 28), 30)  # Saturday, CET
    after = slots_on(hours(), date(2026, 3, 29), 30)  # Sunday: clocks go forward at 02:00
    assert before[0].starts_at == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    assert after[0].starts_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # CEST = UTC+2
    assert len(before) == len(after) == 19
    autumn = slots_on(hours(), date(2026, 10, 25), 30)  # clocks go back at 03:00
    assert autumn[0].starts_at == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    assert len(autumn) == 19


def test_a_night_opening_skips_the_missing_hour_and_keeps_slots_30_real_minutes() -> None:
    night = {**EVERY_DAY, "sun": ["01:00-04:00"]}
    spring = slots_on(hours(night), date(2026, 3, 29), 30)
    rome = [s.starts_at.astimezone(hours().zone).strftime("%H:%M") for s in spring]
    assert rome == ["01:00", "01:30", "03:00", "03:30"]  # 02:00 and 02:30 do not exist
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in spring)
    autumn = slots_on(hours(night), date(2026, 10, 25), 30)
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in autumn)
    assert len({s.starts_at for s in autumn}) == len(autumn)


def test_slot_at_finds_only_exact_slot_starts() -> None:
    h = hours()
    assert slot_at(h, datetime(2026, 3, 20, 9, 30, tzinfo=UTC), 30) is not None
    assert slot_at(h, datetime(2026, 3, 20, 9, 15, tzinfo=UTC), 30) is None  # 10:15 local
    assert slot_at(h, datetime(2026, 3, 20, 18, 30, tzinfo=UTC), 30) is None  # 19:30 local
    assert slot_at(h, datetime(2026, 3, 20, 8, 0, tzinfo=UTC), 30) is None  # before opening


@pytest.mark.parametrize("day", ["2026-02-31", "2026-02-29", "2026-13-01", "2026-04-31", "domani", ""])
def test_days_that_do_not_exist_are_refused(day: str) -> None:
    with pytest.raises(InvalidDate):
        parse_day(day)


def test_a_leap_day_exists() -> None:
    assert parse_day("2028-02-29") == date(2028, 2, 29)


@pytest.mark.parametrize("value", ["25:00", "10:60", "ten", "10"])
def test_times_that_do_not_exist_are_refused(value: str) -> None:
    with pytest.raises(InvalidDate):
        parse_time(value)


def test_a_local_time_skipped_by_dst_is_refused() -> None:
    with pytest.raises(InvalidDate):
        local_start(hours(), "2026-03-29", "02:30")
    assert local_start(hours(), "2026-03-29", time(10, 30)) == datetime(
        2026, 3, 29, 8, 30, tzinfo=UTC
    )

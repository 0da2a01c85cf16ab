"""Opening hours (exceptions, DST in Europe/Rome), coordinates, nearest stores."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pytest

from vetrina.catalog.errors import InvalidLocation, UnknownStore
from vetrina.catalog.stores import (
    Coordinates,
    OpeningHours,
    StoreDirectory,
    StoreInfo,
    distance_km,
    load_store_directory,
    parse_intervals,
)
from vetrina.storage.database import Database

WEEK = {
    "mon": "15:00-19:30",
    "tue": "09:30-13:00,15:30-19:30",
    "wed": "09:30-13:00,15:30-19:30",
    "thu": "09:30-13:00,15:30-19:30",
    "fri": "09:30-13:00,15:30-19:30",
    "sat": "10:00-19:30",
    "sun": "10:00-19:30",
}
HOURS = OpeningHours.from_json(
    WEEK, {"12-25": "closed", "2026-12-24": "10:00-16:00", "12-24": "10:00-13:00"}
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_parse_intervals() -> None:
    assert [str(i) for i in parse_intervals("15:30-19:30, 09:30-13:00")] == [
        "09:30-13:00",
        "15:30-19:30",
    ]
    assert parse_intervals("closed") == () == parse_intervals("chiuso") == parse_intervals([])
    for bad, reason in [
        ("10-19", "not like"),
        ("19:00-10:00", "close before"),
        ("10:00-14:00,13:00-18:00", "overlap"),
        ("25:00-26:00", "not a time"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_intervals(bad)


def test_weekday_hours_with_lunch_break() -> None:
    # Tuesday 2026-11-24, CET (UTC+1): 12:00 local open, 14:00 local closed, 16:00 open
    assert HOURS.is_open(utc(2026, 11, 24, 11, 0))
    assert not HOURS.is_open(utc(2026, 11, 24, 13, 0))
    assert HOURS.is_open(utc(2026, 11, 24, 15, 0))
    # Monday morning closed, afternoon open
    assert not HOURS.is_open(utc(2026, 11, 23, 10, 0))
    assert HOURS.is_open(utc(2026, 11, 23, 15, 0))


def test_exceptions_dated_beats_yearly_beats_weekday() -> None:
    assert HOURS.on(date(2026, 12, 25)) == ()  # yearly: Christmas
    assert HOURS.on(date(2027, 12, 25)) == ()
    assert [str(i) for i in HOURS.on(date(2026, 12, 24))] == ["10:00-16:00"]  # dated
    assert [str(i) for i in HOURS.on(date(2027, 12, 24))] == ["10:00-13:00"]  # yearly
    assert not HOURS.is_open(utc(2026, 12, 25, 11, 0))  # a Friday, normally open
    assert HOURS.is_open(utc(2026, 12, 24, 14, 0))  # 15:00 local: open until 16:00 that day


def test_dst_spring_forward_in_rome() -> None:
    # 08:30 UTC is 09:30 CET on Saturday 28 March 2026 (closed, opens 10:00) but 10:30
    # CEST on Sunday 29 March, after clocks went forward (open).
    assert not HOURS.is_open(utc(2026, 3, 28, 8, 30))
    assert HOURS.is_open(utc(2026, 3, 29, 8, 30))


def test_dst_fall_back_in_rome() -> None:
    # 17:45 UTC is 19:45 CEST on Saturday 24 October 2026 (closed since 19:30) but 18:45
    # CET on Sunday 25 October, after clocks went back (open).
    assert not HOURS.is_open(utc(2026, 10, 24, 17, 45))
    assert HOURS.is_open(utc(2026, 10, 25, 17, 45))


def test_next_opening_skips_closed_days_and_closes_at() -> None:
    # Christmas evening: closed on the 25th; the 26th is a Saturday → 10:00 local.
    opening = HOURS.next_opening(utc(2026, 12, 25, 9, 0))
    assert opening is not None and opening.isoformat() == "2026-12-26T10:00:00+01:00"
    closes = HOURS.closes_at(utc(2026, 11, 24, 11, 0))
    assert closes is not None and closes.isoformat() == "2026-11-24T13:00:00+01:00"
    assert HOURS.closes_at(utc(2026, 11, 24, 13, 0)) is None


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        HOURS.is_open(datetime(2026, 11, 24, 11, 0))


def test_bad_exception_keys_and_weekdays_are_refused() -> None:
    with pytest.raises(ValueError, match="not a real date"):
        OpeningHours.from_json(WEEK, {"02-30": "closed"})
    with pytest.raises(ValueError, match="unknown weekday"):
        OpeningHours.from_json({"lun": "10:00-19:00"})
    with pytest.raises(ValueError, match="time zone"):
        OpeningHours.from_json(WEEK, timezone="Europe/Atlantis")


@pytest.mark.parametrize(
    "lat, lon, reason",
    [
        (math.nan, 9.0, "finite"),
        (45.0, math.inf, "finite"),
        (91.0, 9.0, "between"),
        (45.0, -181.0, "between"),
        (None, 9.0, "no location"),
        ("", "", "no location"),
        ("abc", 9.0, "number"),
        (0, 0, "0,0"),
        (True, 9.0, "number"),
    ],
)
def test_absurd_locations_are_refused(lat: object, lon: object, reason: str) -> None:
    with pytest.raises(InvalidLocation, match=reason):
        Coordinates.of(lat, lon)


def test_location_from_strings_with_decimal_comma() -> None:
    assert Coordinates.of("45,4642", " 9.19 ") == Coordinates(45.4642, 9.19)


def test_haversine_milano_roma() -> None:
    assert 470 < distance_km(Coordinates(45.4642, 9.19), Coordinates(41.9028, 12.4964)) < 485
    here = Coordinates(45.0, 9.0)
    assert distance_km(here, here) == 0


def _store(
    code: str,
    lat: float,
    lon: float,
    *,
    services: frozenset[str] = frozenset(),
    active: bool = True,
) -> StoreInfo:
    return StoreInfo(
        code, code, code, "via", "00100", Coordinates(lat, lon), HOURS, services, active=active
    )


def test_nearest_stores_ordering_radius_service_and_inactive() -> None:
    directory = StoreDirectory(
        enumerate(
            [
                _store("MI", 45.4651, 9.1930, services=frozenset({"try_on"})),
                _store("TO", 45.0675, 7.6830),
                _store("GE", 44.4053, 8.9380, services=frozenset({"try_on"})),
                _store("RM", 41.9010, 12.4813),
                _store("TO2", 45.0700, 7.6850, active=False),
            ]
        )
    )
    turin = Coordinates(45.0703, 7.6869)
    assert [n.store.code for n in directory.nearest(turin, limit=10)] == ["TO", "GE", "MI", "RM"]
    assert [n.store.code for n in directory.nearest(turin, within_km=150)] == ["TO", "GE", "MI"]
    assert [n.store.code for n in directory.nearest(turin, service="try_on")] == ["GE", "MI"]
    assert [n.store.code for n in directory.nearest(turin, limit=1)] == ["TO"]
    with pytest.raises(UnknownStore):
        directory.get("XX")


async def test_directory_loads_from_the_database(catalog: Database) -> None:
    async with catalog.sessions() as session:
        directory = await load_store_directory(session)
    assert sorted(s.code for s in directory) == ["MI", "RM", "TO"]
    assert [s.code for s in directory.in_city("milano")] == ["MI"]
    milan = directory.get("MI")
    assert milan.offers("try_on") and milan.is_open(utc(2026, 11, 24, 12, 0))

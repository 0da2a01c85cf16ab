"""Weekly opening hours in a time zone: one type for stores and for consultants.

Hours are wall-clock times in the zone (Europe/Rome by default), so "10:00-19:30" means
the same on either side of a DST change. A day's hours come from, in order: a dated
exception (``2026-12-24``), a yearly one (``12-25``, every Christmas), the weekday.
Stores read theirs from JSON (:meth:`WeeklyHours.from_json`); the consultants' timetable
is one line of text (:meth:`WeeklyHours.parse`, ``"mon-fri 09:00-19:00; sat 10:00-13:00"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday first, like weekday()
DEFAULT_TIMEZONE = "Europe/Rome"
CLOSED_WORDS = frozenset({"closed", "chiuso", "-"})
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DAY_KEY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")
_SPEC_PART = re.compile(
    r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$"
)
ALL_DAY = (time(0, 0), time(23, 59, 59))


class HoursError(ValueError):
    """A timetable that cannot be read."""


@dataclass(frozen=True, order=True)
class Interval:
    opens: time
    closes: time

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


def parse_intervals(value: object) -> tuple[Interval, ...]:
    """``"10:00-13:00,15:30-19:30"``, a list of such strings, or ``"closed"`` → intervals.

    Raises ValueError with a message fit for the operator.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "" or text in CLOSED_WORDS:
            return ()
        parts = [p for p in re.split(r"[,;]", text)]
    elif isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"hours must be strings like '10:00-19:30', got {item!r}")
            parts.extend(item.split(","))
    else:
        raise ValueError(f"hours must be like '10:00-19:30' or 'closed', got {value!r}")
    intervals = []
    for part in parts:
        match = _INTERVAL.match(part.strip())
        if not match:
            raise ValueError(f"hours {part.strip()!r} are not like '10:00-19:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"hours {part.strip()!r} are not a time of day")
        interval = Interval(time(h1, m1), time(h2, m2))
        if interval.opens >= interval.closes:
            raise ValueError(f"hours {part.strip()!r} close before they open")
        intervals.append(interval)
    intervals.sort()
    for earlier, later in pairwise(intervals):
        if later.opens < earlier.closes:
            raise ValueError(f"hours {earlier} and {later} overlap")
    return tuple(intervals)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


@dataclass(frozen=True)
class WeeklyHours:
    weekly: tuple[tuple[Interval, ...], ...]  # seven entries, Monday first
    exceptions: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_json(
        cls,
        weekly: Mapping[str, Any],
        exceptions: Mapping[str, Any] | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> WeeklyHours:
        """From the stored/imported shape; raises ValueError naming the bad entry."""
        unknown = set(weekly) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday {min(unknown)!r} (use {', '.join(WEEKDAYS)})")
        days = tuple(parse_intervals(weekly.get(day)) for day in WEEKDAYS)
        parsed: dict[str, tuple[Interval, ...]] = {}
        for key, value in (exceptions or {}).items():
            parsed[_day_key(key)] = parse_intervals(value)
        return cls(days, parsed, check_timezone(timezone))

    @classmethod
    def parse(cls, spec: str, zone: str = DEFAULT_TIMEZONE) -> WeeklyHours:
        """From one line of text, e.g. ``VETRINA_CONSULTANT_HOURS``; :class:`HoursError`."""
        return _parse_spec(spec, zone)

    def to_json(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        weekly = {day: [str(i) for i in self.weekly[n]] for n, day in enumerate(WEEKDAYS)}
        exceptions = {
            key: [str(i) for i in value] for key, value in sorted(self.exceptions.items())
        }
        return weekly, exceptions

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def on(self, day: date) -> tuple[Interval, ...]:
        """The hours of a local calendar day: dated exception, yearly exception, weekday."""
        dated = self.exceptions.get(day.isoformat())
        if dated is not None:
            return dated
        yearly = self.exceptions.get(day.isoformat()[5:])
        if yearly is not None:
            return yearly
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        local = _local(at, self.zone)
        now = local.time()
        return any(i.opens <= now < i.closes for i in self.on(local.date()))

    def closes_at(self, at: datetime) -> datetime | None:
        """When the store closes if it is open at ``at`` (local time), else ``None``."""
        local = _local(at, self.zone)
        for interval in self.on(local.date()):
            if interval.opens <= local.time() < interval.closes:
                return datetime.combine(local.date(), interval.closes, tzinfo=self.zone)
        return None

    def next_opening(self, at: datetime, *, within_days: int = 14) -> datetime | None:
        """The next time the store opens after ``at`` (local time), or ``None`` if not soon."""
        local = _local(at, self.zone)
        for offset in range(within_days + 1):
            day = local.date() + timedelta(days=offset)
            for interval in self.on(day):
                opening = datetime.combine(day, interval.opens, tzinfo=self.zone)
                if opening > local:
                    return opening
        return None


def _day_key(key: object) -> str:
    if not isinstance(key, str) or not _DAY_KEY.match(key.strip()):
        raise ValueError(f"exception day {key!r} is not YYYY-MM-DD or MM-DD")
    key = key.strip()
    probe = key if len(key) == 10 else f"2024-{key}"  # a leap year accepts 02-29
    try:
        date.fromisoformat(probe)
    except ValueError:
        raise ValueError(f"exception day {key!r} is not a real date") from None
    return key


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("opening hours are checked at a timezone-aware moment")
    return at.astimezone(zone)


def _parse_spec(spec: str, zone: str) -> WeeklyHours:
    """``"mon-fri 09:00-19:00; sat 10:00-13:00"``; an empty spec is always open."""
    days: list[list[Interval]] = [[] for _ in WEEKDAYS]
    if not spec.strip():
        days = [[Interval(*ALL_DAY)] for _ in WEEKDAYS]
    for part in filter(None, (p.strip() for p in spec.lower().split(";"))):
        match = _SPEC_PART.match(part)
        if not match or match.group(1) not in WEEKDAYS or (
            match.group(2) and match.group(2) not in WEEKDAYS
        ):
            raise HoursError(f"cannot read consultant hours {part!r} (e.g. 'mon-fri 09:00-19:00')")
        first = WEEKDAYS.index(match.group(1))
        last = WEEKDAYS.index(match.group(2) or match.group(1))
        try:
            opens = time(int(match.group(3)), int(match.group(4)))
            closes = time(int(match.group(5)), int(match.group(6)))
        except ValueError as error:
            raise HoursError(f"bad time in {part!r}") from error
        if closes <= opens:
            raise HoursError(f"closing before opening in {part!r}")
        day = first
        while True:
            days[day].append(Interval(opens, closes))
            if day == last:
                break
            day = (day + 1) % 7
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise HoursError(f"unknown time zone {zone!r}") from error
    return WeeklyHours(tuple(tuple(sorted(d)) for d in days), {}, zone)

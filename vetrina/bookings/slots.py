"""Try-on slots from a store's opening hours: pure functions, no database.

A slot is ``slot_minutes`` of wall-clock time in the store's time zone that fits inside an
opening interval of that day (dated or yearly exceptions first, so closures and holidays
have no slots). Slots are stored and compared as UTC instants and last ``slot_minutes`` of
real time; a wall-clock start that does not exist on that day (the hour skipped when DST
starts) is no slot, and one that exists twice (when DST ends) is the first of the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from vetrina.bookings.errors import InvalidDate
from vetrina.hours import WeeklyHours as OpeningHours

_ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


@dataclass(frozen=True, order=True)
class SlotTime:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC


def parse_day(value: date | str) -> date:
    """``2026-03-28`` (or a ``date``) → date; :class:`InvalidDate` for "2026-02-31"."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _ISO_DAY.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidDate(f"{value!r} is not a day like 2026-03-28")
    year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidDate(f"{value!r} is not a real date") from None


def parse_time(value: time | str) -> time:
    """``10:30`` (or a ``time``) → time; :class:`InvalidDate` for "25:00"."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidDate(f"{value!r} is not a time like 10:30")
    hour, minute = (int(g) for g in match.groups())
    if hour > 23 or minute > 59:
        raise InvalidDate(f"{value!r} is not a time of day")
    return time(hour, minute)


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time; ``None`` if the clock skips it (DST)."""
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0: the first of a repeated hour
    instant = local.astimezone(timezone.utc)
    back = instant.astimezone(zone)
    if (back.date(), back.time()) != (day, at):
        return None
    return instant


def slots_on(hours: OpeningHours, day: date, slot_minutes: int) -> list[SlotTime]:
    """Every try-on slot of a local calendar day, in order."""
    if slot_minutes <= 0:
        raise ValueError("slot_minutes must be positive")
    zone = hours.zone
    length = timedelta(minutes=slot_minutes)
    slots: list[SlotTime] = []
    for interval in hours.on(day):
        start = datetime.combine(day, interval.opens)
        close = datetime.combine(day, interval.closes)
        closes_at = datetime.combine(day, interval.closes, tzinfo=zone).astimezone(timezone.utc)
        while start + length <= close:
            begins = wall_clock(day, start.time(), zone)
            # A slot lasts ``slot_minutes`` of real time, also across a DST change.
            if begins is not None and begins + length <= closes_at:
                slots.append(SlotTime(begins, begins + length))
            start += length
    return slots


def slot_at(hours: OpeningHours, starts_at: datetime, slot_minutes: int) -> SlotTime | None:
    """The slot that starts exactly at ``starts_at`` (aware), if there is one."""
    if starts_at.tzinfo is None:
        raise ValueError("slot_at needs a timezone-aware moment")
    local_day = starts_at.astimezone(hours.zone).date()
    wanted = starts_at.astimezone(timezone.utc)
    for slot in slots_on(hours, local_day, slot_minutes):
        if slot.starts_at == wanted:
            return slot
    return None


def local_start(hours: OpeningHours, day: date | str, at: time | str) -> datetime:
    """A store-local day and time → the UTC instant; :class:`InvalidDate` if it cannot be."""
    parsed_day, parsed_time = parse_day(day), parse_time(at)
    instant = wall_clock(parsed_day, parsed_time, hours.zone)
    if instant is None:
        raise InvalidDate(f"{parsed_day} {parsed_time:%H:%M} does not exist in {hours.timezone}")
    return instant

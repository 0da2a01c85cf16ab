"""From "domani alle 17" to a slot, or to the nearest free slots to offer as buttons.

The conversation asks for a moment in words (:mod:`vetrina.bookings.when`); this module
turns it into a :class:`Proposal` against the store's real slots: the exact slot when it
is free, otherwise why not (past, closed, full, too far ahead) and the free slots closest
to what was asked. It never offers a slot in the past or when the store is closed, because
every offered slot comes from the service's ``slots`` (opening hours, closures, capacity).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from vetrina.bookings.rules import BookingOptions
from vetrina.bookings.slots import wall_clock
from vetrina.bookings.views import Slot
from vetrina.bookings.when import WhenAsked


class SlotSource(Protocol):
    """The slots-and-planning side of the booking service (``Bookings`` has it)."""

    options: BookingOptions

    async def store_zone(self, store_code: str) -> ZoneInfo: ...

    async def slots(
        self, store_code: str, day: date | str, *, now: datetime | None = None
    ) -> list[Slot]: ...

    async def next_free_slots(
        self, store_code: str, *, after: datetime | None = None, limit: int = 3, days: int = 14
    ) -> list[Slot]: ...


class Fit(str, enum.Enum):
    EXACT = "exact"  # the asked slot is free: ``slot``
    CHOOSE = "choose"  # a day or part of a day was asked: ``options`` on it
    NO_TIME = "no_time"  # nothing was asked: the first free ``options``
    PAST = "past"
    CLOSED = "closed"  # no try-on slot then (closed, holiday, outside hours)
    FULL = "full"
    TOO_FAR = "too_far"


@dataclass(frozen=True)
class Proposal:
    fit: Fit
    day: date | None = None  # the local day understood
    at: time | None = None  # the local time understood
    slot: Slot | None = None
    options: tuple[Slot, ...] = ()


async def propose(
    bookings: SlotSource, store_code: str, asked: WhenAsked, now: datetime, *, limit: int = 3
) -> Proposal:
    """The answer to "when?" for one store; ``now`` is aware (any zone)."""
    zone = (await bookings.store_zone(store_code))
    local_now = now.astimezone(zone)
    today = local_now.date()

    async def first_free(after: datetime) -> tuple[Slot, ...]:
        return tuple(await bookings.next_free_slots(store_code, after=after, limit=limit))

    if asked.empty:
        return Proposal(Fit.NO_TIME, options=await first_free(now))
    day = asked.day
    if day is None:
        # "alle 17" / "pomeriggio" alone: today if that is still ahead, else tomorrow.
        until = asked.at or (asked.part.hours[1] if asked.part else time(23, 59))
        day = today if until > local_now.time() else today + timedelta(days=1)
    if day < today:
        return Proposal(Fit.PAST, day, asked.at, options=await first_free(now))
    if day > today + timedelta(days=bookings.options.horizon_days):
        return Proposal(Fit.TOO_FAR, day, asked.at, options=await first_free(now))

    slots = await bookings.slots(store_code, day, now=now)
    if asked.at is not None:
        starts = wall_clock(day, asked.at, zone)
        if starts is None or starts <= now:
            return Proposal(Fit.PAST, day, asked.at, options=await first_free(now))
        exact = next((s for s in slots if s.starts_at == starts), None)
        if exact is not None and exact.free > 0:
            return Proposal(Fit.EXACT, day, asked.at, slot=exact)
        free = [s for s in slots if s.free > 0]
        near = sorted(
            free, key=lambda s: (abs((s.starts_at - starts).total_seconds()), s.starts_at)
        )[:limit]
        options = tuple(sorted(near, key=lambda s: s.starts_at)) or await first_free(starts)
        within = exact is not None or any(s.starts_at <= starts < s.ends_at for s in slots)
        fit = Fit.FULL if within else Fit.CLOSED
        return Proposal(fit, day, asked.at, options=options)

    wanted = [s for s in slots if s.free > 0]
    if asked.part is not None:
        start, end = asked.part.hours
        wanted = [s for s in wanted if start <= s.starts_at.astimezone(zone).time() < end]
    if wanted:
        return Proposal(Fit.CHOOSE, day, None, options=_spread(wanted, limit))
    fit = Fit.FULL if slots else Fit.CLOSED
    after = max(now, datetime.combine(day, time(0), tzinfo=zone))
    return Proposal(fit, day, None, options=await first_free(after))


def _spread(slots: list[Slot], limit: int) -> tuple[Slot, ...]:
    """``limit`` slots spread over the window, so "sabato pomeriggio" offers 14:00,
    15:30 and 17:00 rather than three slots in the first hour."""
    if len(slots) <= limit:
        return tuple(slots)
    step = (len(slots) - 1) / (limit - 1) if limit > 1 else 0
    picked = sorted({round(i * step) for i in range(limit)})
    return tuple(slots[i] for i in picked)

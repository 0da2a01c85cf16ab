"""Where a request for a consultant goes, and when consultants answer.

The queue is the store that matters to the customer, in this order: the store named in
the conversation (the assistant passes it: the store of the last stock answer), the store
of their latest stock check, of their next (or latest) try-on booking, their favourite
store; else the general queue (``None``), which every consultant sees.

Consultant hours are one weekly timetable in one time zone (``VETRINA_CONSULTANT_HOURS``,
e.g. ``mon-fri 09:00-19:00; sat 10:00-18:00`` in ``Europe/Rome``). Outside them, or when
nobody is online for the queue, a request still waits in the queue; the customer is told
when it will be answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.models import Booking
from vetrina.catalog.models import Store
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import Customer
from vetrina.storage.base import utcnow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = "mon-sat 09:00-20:00"
RECENT = timedelta(days=30)
_PART = re.compile(r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class HoursError(ValueError):
    """A consultant timetable that cannot be read."""


@dataclass(frozen=True)
class ConsultantHours:
    """Opening intervals per weekday (0 = Monday), local times in ``zone``."""

    days: tuple[tuple[tuple[time, time], ...], ...]
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str = "Europe/Rome") -> ConsultantHours:
        """``"mon-fri 09:00-19:00; sat 10:00-13:00"``; an empty spec is always open."""
        days: list[list[tuple[time, time]]] = [[] for _ in DAYS]
        if not spec.strip():
            days = [[(time(0, 0), time(23, 59, 59))] for _ in DAYS]
        for part in filter(None, (p.strip() for p in spec.lower().split(";"))):
            match = _PART.match(part)
            if not match or match.group(1) not in DAYS or (
                match.group(2) and match.group(2) not in DAYS
            ):
                raise HoursError(f"cannot read consultant hours {part!r} (e.g. 'mon-fri 09:00-19:00')")
            first = DAYS.index(match.group(1))
            last = DAYS.index(match.group(2) or match.group(1))
            try:
                opens = time(int(match.group(3)), int(match.group(4)))
                closes = time(int(match.group(5)), int(match.group(6)))
            except ValueError as error:
                raise HoursError(f"bad time in {part!r}") from error
            if closes <= opens:
                raise HoursError(f"closing before opening in {part!r}")
            day = first
            while True:
                days[day].append((opens, closes))
                if day == last:
                    break
                day = (day + 1) % 7
        try:
            tz = ZoneInfo(zone)
        except Exception as error:
            raise HoursError(f"unknown time zone {zone!r}") from error
        return cls(tuple(tuple(sorted(d)) for d in days), tz)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return any(o <= local.time() < c for o, c in self.days[local.weekday()])

    def closes_at(self, at: datetime) -> datetime | None:
        """The end of the interval ``at`` is in (UTC), ``None`` when closed."""
        local = at.astimezone(self.zone)
        for opens, closes in self.days[local.weekday()]:
            if opens <= local.time() < closes:
                return datetime.combine(local.date(), closes, tzinfo=self.zone).astimezone(
                    at.tzinfo
                )
        return None

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the next opening (UTC); ``None``: never open."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            for opens, _closes in self.days[day.weekday()]:
                start = datetime.combine(day, opens, tzinfo=self.zone)
                if start > local:
                    return start.astimezone(at.tzinfo)
        return None


async def choose_queue(
    session: AsyncSession, customer_id: str, store_hint: str | None, *, now: datetime | None = None
) -> str | None:
    """The store code whose consultants should answer, or ``None`` for the general queue."""
    now = now or utcnow()
    active = set(
        (await session.scalars(select(Store.code).where(Store.active.is_(True)))).all()
    )
    candidates: list[str | None] = [store_hint.upper() if store_hint else None]
    checks = (
        await session.scalars(
            select(Interaction)
            .where(
                Interaction.customer_id == customer_id,
                Interaction.kind == STOCK_CHECK,
                Interaction.created_at >= now - RECENT,
            )
            .order_by(Interaction.created_at.desc(), Interaction.id.desc())
            .limit(10)
        )
    ).all()
    candidates += [(c.data or {}).get("store_code") for c in checks]
    upcoming = await session.scalar(
        select(Store.code)
        .join(Booking, Booking.store_id == Store.id)
        .where(Booking.customer_id == customer_id, Booking.starts_at >= now - RECENT)
        .order_by(Booking.starts_at.desc())
        .limit(1)
    )
    candidates.append(upcoming)
    candidates.append(
        await session.scalar(
            select(Customer.favourite_store_code).where(Customer.id == customer_id)
        )
    )
    for code in candidates:
        if code and code in active:
            return code
    return None

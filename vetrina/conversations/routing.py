"""Where a request for a consultant goes, and when consultants answer.

The queue is the store that matters to the customer, in this order: the store named in
the conversation (the assistant passes it: the store of the last stock answer), the store
of their latest stock check, of their next (or latest) try-on booking, their favourite
store; else the general queue (``None``), which every consultant sees.

The stores (the catalog's) and the bookings are not conversations' to read: a
:class:`QueueSource` registered by bookings answers for them.

Consultant hours are one weekly timetable (:class:`vetrina.hours.WeeklyHours`) in one
time zone (``VETRINA_CONSULTANT_HOURS``, e.g. ``mon-fri 09:00-19:00; sat 10:00-18:00``
in ``Europe/Rome``). Outside them, or when nobody is online for the queue, a request
still waits in the queue; the customer is told when it will be answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import Customer
from vetrina.hours import HoursError, WeeklyHours
from vetrina.storage.base import utcnow

DEFAULT_HOURS = "mon-sat 09:00-20:00"
RECENT = timedelta(days=30)

# The consultants' timetable is the one weekly-hours type; these names stay for callers.
ConsultantHours = WeeklyHours
__all__ = [
    "DEFAULT_HOURS",
    "ConsultantHours",
    "HoursError",
    "QueueSource",
    "choose_queue",
    "register_queue_source",
]


class QueueSource(Protocol):
    """What a package above conversations knows about a customer's stores.

    Conversations cannot import the catalog (a sibling) or bookings (above it); bookings
    registers one of these when it is imported (``vetrina/bookings/__init__.py``).
    """

    async def active_stores(self, session: AsyncSession) -> set[str]:
        """Codes of the stores that exist and are active."""
        ...

    async def customer_store(
        self, session: AsyncSession, customer_id: str, since: datetime
    ) -> str | None:
        """The store of the customer's next (or latest) booking since ``since``."""
        ...


_SOURCES: list[QueueSource] = []


def register_queue_source(source: QueueSource) -> None:
    _SOURCES[:] = [source]


async def choose_queue(
    session: AsyncSession, customer_id: str, store_hint: str | None, *, now: datetime | None = None
) -> str | None:
    """The store code whose consultants should answer, or ``None`` for the general queue."""
    now = now or utcnow()
    source = _SOURCES[0] if _SOURCES else None
    active = await source.active_stores(session) if source is not None else None
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
    if source is not None:
        candidates.append(await source.customer_store(session, customer_id, now - RECENT))
    candidates.append(
        await session.scalar(
            select(Customer.favourite_store_code).where(Customer.id == customer_id)
        )
    )
    for code in candidates:
        if code and (active is None or code in active):
            return code
    return None

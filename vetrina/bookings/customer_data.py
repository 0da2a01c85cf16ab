"""What bookings plugs into the packages below it when it is imported.

- customers' registry (:mod:`vetrina.customers.registry`): the ``bookings`` table moves
  with a merge and is *kept* on erasure (anonymous, for the stores' day sheets and the
  KPIs), with its counts per status;
- conversations' routing (:func:`vetrina.conversations.routing.register_queue_source`):
  which stores are active and the store of the customer's latest booking, so a
  consultant request reaches the right store's queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings import repository as repo
from vetrina.bookings.models import Booking
from vetrina.conversations.routing import register_queue_source
from vetrina.customers.registry import CustomerData, register_customer_data, table_of


async def counts(session: AsyncSession, ids: Sequence[str]) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(Booking.status, func.count())
            .where(Booking.customer_id.in_(ids))
            .group_by(Booking.status)
        )
    ).all()
    return {"bookings": {str(status): int(n) for status, n in rows}}


class BookingQueueSource:
    """Answers conversations' routing about stores and bookings."""

    async def active_stores(self, session: AsyncSession) -> set[str]:
        return await repo.active_store_codes(session)

    async def customer_store(
        self, session: AsyncSession, customer_id: str, since: datetime
    ) -> str | None:
        return await repo.latest_booking_store(session, customer_id, since)


def register() -> None:
    register_customer_data(
        CustomerData(
            package="bookings",
            tables=(table_of(Booking),),
            kept_on_erasure=frozenset({"bookings"}),
            counts=counts,
        )
    )
    register_queue_source(BookingQueueSource())

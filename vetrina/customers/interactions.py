"""What a customer did with the assistant, kept on their profile: one row per interaction.

An :class:`Interaction` has a ``kind`` ("stock_check" now; bookings, handoffs and the
like later), the channel it happened on, and a small JSON document with the facts
(for a stock check: product, variant, store, result). Rows are only ever added; the
profile reads them newest first through the (customer_id, created_at) index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.customers.models import Customer
from vetrina.storage.base import Base, utcnow

STOCK_CHECK = "stock_check"


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


async def record_interaction(
    session: AsyncSession,
    customer_id: str,
    kind: str,
    *,
    channel: str | None,
    data: dict[str, Any],
    at: datetime | None = None,
) -> Interaction | None:
    """Add one interaction to the customer's profile; ``None`` if there is no such customer
    (a conversation that did not come through the gateway, e.g. ``rasa shell``)."""
    if await session.get(Customer, customer_id) is None:
        return None
    interaction = Interaction(
        customer_id=customer_id,
        kind=kind,
        channel=(channel or None) and channel[:20],
        data=data,
        created_at=at or utcnow(),
    )
    session.add(interaction)
    await session.flush()
    return interaction


async def recent_interactions(
    session: AsyncSession, customer_id: str, *, kind: str | None = None, limit: int = 20
) -> list[Interaction]:
    """The customer's latest interactions, newest first."""
    query = select(Interaction).where(Interaction.customer_id == customer_id)
    if kind is not None:
        query = query.where(Interaction.kind == kind)
    query = query.order_by(Interaction.created_at.desc(), Interaction.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def set_favourite_store(
    session: AsyncSession, customer_id: str, store_code: str | None
) -> bool:
    """Remember (or, with ``None``, forget) the customer's store; False: no such customer."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return False
    customer.favourite_store_code = store_code
    return True


async def favourite_store(session: AsyncSession, customer_id: str) -> str | None:
    return await session.scalar(
        select(Customer.favourite_store_code).where(Customer.id == customer_id)
    )

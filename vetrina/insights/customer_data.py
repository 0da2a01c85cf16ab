"""Insights' place on the customer: matched orders and refunds on the timeline.

Orders point to their buyer (``orders.buyer_id``), which reconciliation sets and a merge
or its undo re-points on recompute, so they need no merge hook; the timeline source below
makes each one an entry (store, items, total, the key that matched) beside the messages
and interactions, read a page at a time like the rest of the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.registry import CustomerData, TimelineSource, register_customer_data
from vetrina.insights.models import Order
from vetrina.insights.orders import order_json


def timeline_rows(customer_id: str) -> Select[Any]:
    return select(
        literal("order").label("kind"), Order.id.label("id"), Order.occurred_at.label("at")
    ).where(Order.buyer_id == customer_id)


async def timeline_entries(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    orders = await session.scalars(select(Order).where(Order.id.in_(list(ids))))
    return {
        order.id: {"type": "order", "id": order.id, "at": order.occurred_at.isoformat(),
                   **order_json(order)}
        for order in orders
    }


def register() -> None:
    register_customer_data(
        CustomerData(
            package="insights",
            tables=(),
            timeline=(TimelineSource("order", timeline_rows, timeline_entries),),
        )
    )

"""The customers package's own per-customer tables, registered like any other package's
(see :mod:`vetrina.customers.registry`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.interactions import Interaction
from vetrina.customers.models import ChannelIdentity, LinkCode, MarketingConsent
from vetrina.customers.registry import CustomerData, register_customer_data, table_of


def grouped(rows: Sequence[Any]) -> dict[str, int]:
    """``(a, b, count)`` rows → ``{"a:b": count}``: the shape of the erasure counts."""
    return {":".join(str(part) for part in row[:-1]): int(row[-1]) for row in rows}


async def counts(session: AsyncSession, ids: Sequence[str]) -> dict[str, Any]:
    """Interactions per kind and identities per channel, kept after an erasure."""
    interactions = (
        await session.execute(
            select(Interaction.kind, func.count())
            .where(Interaction.customer_id.in_(ids))
            .group_by(Interaction.kind)
        )
    ).all()
    channels = (
        await session.execute(
            select(ChannelIdentity.channel, func.count())
            .where(ChannelIdentity.customer_id.in_(ids))
            .group_by(ChannelIdentity.channel)
        )
    ).all()
    return {"interactions": grouped(interactions), "identities": grouped(channels)}


def register() -> None:
    register_customer_data(
        CustomerData(
            package="customers",
            tables=(
                table_of(ChannelIdentity),
                table_of(Interaction),
                table_of(LinkCode),
                table_of(MarketingConsent),
            ),
            counts=counts,
        )
    )

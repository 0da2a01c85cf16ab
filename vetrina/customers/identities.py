"""Resolving a channel identity (web session, phone number, IG id) to its customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.base import utcnow


async def find_customer_id(session: AsyncSession, channel: str, external_id: str) -> str | None:
    found: str | None = await session.scalar(
        select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    return found


async def resolve_customer(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    display_name: str | None = None,
    language: str | None = None,
    seen_at: datetime | None = None,
) -> Customer:
    """The customer behind ``(channel, external_id)``, created on first contact.

    Two first messages racing for the same identity both reach the unique key on
    ``channel_identities``; the loser's transaction fails and is retried by the caller.
    """
    seen_at = seen_at or utcnow()
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if identity is None:
        customer = Customer(display_name=display_name, language=language)
        session.add(customer)
        await session.flush()
        identity = ChannelIdentity(
            customer_id=customer.id,
            channel=channel,
            external_id=external_id,
            display_name=display_name,
        )
        session.add(identity)
        await session.flush()
    else:
        customer = await session.get_one(Customer, identity.customer_id)
        identity.last_seen_at = seen_at
        if display_name and identity.display_name != display_name:
            identity.display_name = display_name
        if display_name and not customer.display_name:
            customer.display_name = display_name
    customer.last_channel = channel
    customer.last_seen_at = seen_at
    return customer

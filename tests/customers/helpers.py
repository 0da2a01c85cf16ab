"""Building customers with history for the identity tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vetrina.conversations.models import Author, Direction, InboundStatus, Message
from vetrina.conversations.writing import conversation_for
from vetrina.customers.interactions import STOCK_CHECK, record_interaction
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.database import Database


async def make_customer(
    db: Database,
    channel: str,
    external_id: str,
    *,
    name: str | None = None,
    language: str | None = None,
    seen: datetime,
    **fields: Any,
) -> str:
    async with db.transaction() as session:
        customer = Customer(
            display_name=name, language=language, last_channel=channel, last_seen_at=seen,
            created_at=seen, **fields,
        )
        session.add(customer)
        await session.flush()
        session.add(
            ChannelIdentity(
                customer_id=customer.id, channel=channel, external_id=external_id,
                display_name=name, linked_via="contact",
            )
        )
        return customer.id


async def say(db: Database, customer_id: str, channel: str, text: str, at: datetime,
              *, direction: str = "in") -> int:
    async with db.transaction() as session:
        conversation = await conversation_for(session, customer_id)
        message = Message(
            conversation_id=conversation.id, customer_id=customer_id, direction=direction,
            author=Author.CUSTOMER.value if direction == "in" else Author.BOT.value,
            channel=channel, text=text,
            status=InboundStatus.PROCESSED.value if direction == "in" else "sent",
            created_at=at, next_attempt_at=at,
        )
        session.add(message)
        await session.flush()
        return message.id


async def stock_check(db: Database, customer_id: str, channel: str, at: datetime,
                      **data: Any) -> None:
    async with db.transaction() as session:
        await record_interaction(session, customer_id, STOCK_CHECK, channel=channel,
                                 data=data, at=at)


DIRECTION_IN = Direction.IN.value

"""The two rows every writer of the outbox needs: the customer's conversation and a
pending outbound message. One place, so the bot, notices and booking reminders queue
messages the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.conversations.models import Conversation, Direction, Message, OutboundStatus


async def conversation_for(session: AsyncSession, customer_id: str) -> Conversation:
    """The customer's conversation, created on first use."""
    conversation = await session.scalar(
        select(Conversation).where(Conversation.customer_id == customer_id)
    )
    if conversation is None:
        conversation = Conversation(customer_id=customer_id)
        session.add(conversation)
        await session.flush()
    return conversation


def pending_outbound(
    *,
    conversation_id: int,
    customer_id: str,
    channel: str,
    author: str,
    text: str,
    payload: dict[str, Any],
    now: datetime,
    in_reply_to_id: int | None = None,
) -> Message:
    """An outbound message waiting for the outbox, due now."""
    return Message(
        conversation_id=conversation_id,
        customer_id=customer_id,
        direction=Direction.OUT.value,
        author=author,
        channel=channel,
        text=text,
        payload=payload,
        status=OutboundStatus.PENDING.value,
        in_reply_to_id=in_reply_to_id,
        next_attempt_at=now,
        created_at=now,
    )

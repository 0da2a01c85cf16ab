"""What conversations keep per customer, plugged into customers' merge, erasure,
timeline and outbox hooks (:mod:`vetrina.customers.registry`).

A merge moves the merged customer's messages into the survivor's conversation (there is
one conversation per customer, so the ``conversations`` row cannot move row by row; the
merged customer keeps its empty one), and an undo moves them back to the conversation
they came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Author, Conversation, Direction, Message
from vetrina.conversations.notes import ConversationNote
from vetrina.conversations.writing import conversation_for, pending_outbound
from vetrina.customers.merging import chunks
from vetrina.customers.registry import (
    CustomerData,
    TimelineSource,
    register_customer_data,
    register_outbox,
    table_of,
)
from vetrina.storage.database import affected


async def move_messages(
    session: AsyncSession, survivor_id: str, merged_id: str
) -> dict[str, list[Any]]:
    """Merge: the merged customer's messages join the survivor's conversation."""
    conversation = await conversation_for(session, survivor_id)
    rows = (
        await session.execute(
            select(Message.id, Message.conversation_id).where(Message.customer_id == merged_id)
        )
    ).all()
    if not rows:
        return {}
    await session.execute(
        update(Message)
        .where(Message.customer_id == merged_id)
        .values(customer_id=survivor_id, conversation_id=conversation.id)
        .execution_options(synchronize_session=False)
    )
    return {"messages": [[r.id, r.conversation_id] for r in rows]}


async def move_messages_back(
    session: AsyncSession, moved: Mapping[str, list[Any]], survivor_id: str, merged_id: str
) -> None:
    """Undo: the moved messages still with the survivor go back where they were."""
    by_conversation: dict[int, list[int]] = defaultdict(list)
    for message_id, conversation_id in moved.get("messages", []):
        by_conversation[conversation_id].append(message_id)
    for conversation_id, ids in by_conversation.items():
        for chunk in chunks(ids):
            await session.execute(
                update(Message)
                .where(Message.id.in_(chunk), Message.customer_id == survivor_id)
                .values(customer_id=merged_id, conversation_id=conversation_id)
                .execution_options(synchronize_session=False)
            )


async def counts(session: AsyncSession, ids: Sequence[str]) -> dict[str, Any]:
    """Messages per channel and direction, kept (anonymous) after an erasure."""
    rows = (
        await session.execute(
            select(Message.channel, Message.direction, func.count())
            .where(Message.customer_id.in_(ids))
            .group_by(Message.channel, Message.direction)
        )
    ).all()
    return {"messages": {f"{channel}:{direction}": int(n) for channel, direction, n in rows}}


def timeline_rows(customer_id: str) -> Select[Any]:
    return select(
        literal("message").label("kind"), Message.id.label("id"), Message.created_at.label("at")
    ).where(Message.customer_id == customer_id)


async def timeline_entries(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    entries: dict[int, dict[str, Any]] = {}
    for m in await session.scalars(select(Message).where(Message.id.in_(ids))):
        entries[m.id] = {
            "type": "message",
            "id": m.id,
            "at": m.created_at.isoformat() if m.created_at else None,
            "channel": m.channel,
            "direction": m.direction,
            "author": m.author,
            "text": m.text,
            "status": m.status,
        }
    return entries


async def queue_notice(
    session: AsyncSession,
    *,
    customer_id: str,
    channel: str,
    text: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a message Vetrina itself sends (a link code, a booking reminder) in the
    customer's conversation; the outbox delivers it like any other."""
    conversation = await conversation_for(session, customer_id)
    session.add(
        pending_outbound(
            conversation_id=conversation.id,
            customer_id=customer_id,
            channel=channel,
            author=Author.SYSTEM.value,
            text=text,
            payload=payload,
            now=now,
        )
    )


async def erase_notices(
    session: AsyncSession,
    customer_ids: Sequence[str],
    match: Callable[[Mapping[str, Any]], bool],
) -> int:
    """Delete the messages Vetrina itself queued to ``customer_ids`` (see
    :func:`queue_notice`) whose payload ``match`` picks, in whatever state they are
    (pending, held, sent): an erasure's, when they were queued on the erased one's behalf."""
    rows = (
        await session.execute(
            select(Message.id, Message.payload).where(
                Message.customer_id.in_(customer_ids),
                Message.direction == Direction.OUT.value,
                Message.author == Author.SYSTEM.value,
            )
        )
    ).all()
    ids = [row.id for row in rows if match(row.payload or {})]
    deleted = 0
    for chunk in chunks(ids):
        deleted += affected(
            await session.execute(
                delete(Message).where(Message.id.in_(chunk))
                .execution_options(synchronize_session=False)
            )
        )
    return deleted


def register() -> None:
    register_customer_data(
        CustomerData(
            package="conversations",
            tables=(
                table_of(Conversation), table_of(Message), table_of(HandoffTransition),
                table_of(ConversationNote),  # private notes: exported, erased, never sent
            ),
            moves_itself=frozenset({"conversations", "messages"}),
            move=move_messages,
            move_back=move_messages_back,
            counts=counts,
            erase_notices=erase_notices,
            timeline=(TimelineSource("message", timeline_rows, timeline_entries),),
        )
    )
    register_outbox(queue_notice)

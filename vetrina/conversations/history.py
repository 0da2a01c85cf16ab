"""Reading a customer's conversation back, across every channel, and which replies
the customer's screen has confirmed (``seen_at``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from vetrina.conversations.models import Direction, Message, OutboundStatus
from vetrina.conversations.ports import OutboundView
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database


@dataclass(frozen=True)
class HistoryItem:
    id: int
    direction: str
    author: str
    channel: str
    text: str
    payload: dict[str, Any]
    provider_message_id: str | None
    created_at: datetime


async def recent_messages(db: Database, customer_id: str, limit: int = 100) -> list[HistoryItem]:
    """The customer's last ``limit`` messages, oldest first."""
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(Message)
                .where(Message.customer_id == customer_id)
                .order_by(Message.id.desc())
                .limit(limit)
            )
        ).all()
    return [
        HistoryItem(
            r.id, r.direction, r.author, r.channel, r.text, dict(r.payload or {}),
            r.provider_message_id, r.created_at,
        )
        for r in reversed(rows)
    ]


_TAKEN = (OutboundStatus.SENT.value, OutboundStatus.DELIVERED.value, OutboundStatus.READ.value)


async def unseen_replies(
    db: Database,
    channel: str,
    customer_ids: list[str],
    *,
    sent_before: datetime,
    since: timedelta = timedelta(days=1),
    limit: int = 50,
) -> list[OutboundView]:
    """Replies the channel took (``sent``) but the customer's screen has not confirmed
    (``seen_at`` NULL), oldest first; only those sent before ``sent_before`` (the newer
    ones are probably being acknowledged right now) and within ``since``."""
    if not customer_ids:
        return []
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(Message)
                .where(
                    Message.customer_id.in_(customer_ids),
                    Message.channel == channel,
                    Message.direction == Direction.OUT.value,
                    Message.status.in_(_TAKEN),
                    Message.seen_at.is_(None),
                    Message.updated_at <= sent_before,
                    Message.created_at >= utcnow() - since,
                )
                .order_by(Message.id)
                .limit(limit)
            )
        ).all()
    return [
        OutboundView(r.id, r.customer_id, r.channel, r.author, r.text, dict(r.payload or {}),
                     r.created_at)
        for r in rows
    ]


async def mark_seen(db: Database, customer_id: str, channel: str, ids: list[int]) -> int:
    """Record that the customer's screen shows these replies; only the customer's own
    outbound messages on ``channel`` are touched. Returns how many were newly seen."""
    if not ids:
        return 0
    async with db.transaction() as session:
        result = await session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                Message.customer_id == customer_id,
                Message.channel == channel,
                Message.direction == Direction.OUT.value,
                Message.seen_at.is_(None),
            )
            .values(seen_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)

"""Reading a customer's conversation back, across every channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vetrina.conversations.models import Message
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

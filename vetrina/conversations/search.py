"""Finding conversations again: by the customer's name, phone, Instagram handle or the
text of a message, filtered by store, channel, status and period, with the same store
isolation as :meth:`ConversationState.visible_to` applied in the query itself (a
consultant's search never even counts another store's conversations).

Text is matched with ``LIKE``/``ILIKE`` and escaped wildcards, so it behaves the same on
SQLite and PostgreSQL and a ``%`` typed by a consultant is just a percent sign.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, or_

from vetrina.conversations.handoff import ConversationState, state_query
from vetrina.conversations.models import Conversation, ConversationStatus, Message
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.database import Database

MAX_LIMIT = 50
MAX_OFFSET = 10_000


class StatusFilter(str, enum.Enum):
    WAITING = "waiting"
    MINE = "mine"
    EVERYONE = "everyone"  # with any consultant
    CLOSED = "closed"


@dataclass(frozen=True)
class Viewer:
    """Who searches: what they may see is decided here, not by the caller's filters."""

    consultant_id: int
    stores: tuple[str, ...]
    admin: bool


@dataclass(frozen=True)
class Criteria:
    text: str | None = None
    customer_ids: tuple[str, ...] = ()  # found another way (e.g. a booking code)
    store: str | None = None
    channel: str | None = None
    status: StatusFilter | None = None
    since: datetime | None = None  # some message at or after
    until: datetime | None = None  # some message before
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Found:
    states: list[ConversationState]
    has_more: bool


def like_pattern(text: str) -> str:
    """``%text%`` with ``\\``, ``%`` and ``_`` escaped (use with ``escape="\\\\"``)."""
    quoted = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{quoted}%"


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.admin:
        return Conversation.id.is_not(None)
    return or_(
        Conversation.owner_id == viewer.consultant_id,
        Conversation.queue_store_code.in_(viewer.stores) if viewer.stores else false(),
        and_(Conversation.queue_store_code.is_(None),
             Conversation.handoff_requested_at.is_not(None)),
    )


def _matches(criteria: Criteria) -> ColumnElement[bool] | None:
    text = (criteria.text or "").strip()
    if not text and not criteria.customer_ids:
        return None
    either: list[ColumnElement[bool]] = []
    if criteria.customer_ids:
        either.append(Conversation.customer_id.in_(criteria.customer_ids))
    if text:
        pattern = like_pattern(text)
        either.append(Customer.display_name.ilike(pattern, escape="\\"))
        either.append(exists().where(
            Message.customer_id == Conversation.customer_id,
            Message.text.ilike(pattern, escape="\\"),
        ))
        handle = like_pattern(text.lstrip("@"))
        either.append(exists().where(
            ChannelIdentity.customer_id == Conversation.customer_id,
            ChannelIdentity.channel == "instagram",
            ChannelIdentity.display_name.ilike(handle, escape="\\"),
        ))
        digits = "".join(c for c in text if c.isdigit())
        if len(digits) >= 4 and len(digits) * 2 >= len(text.replace(" ", "")):
            either.append(exists().where(
                ChannelIdentity.customer_id == Conversation.customer_id,
                ChannelIdentity.channel == "whatsapp",
                ChannelIdentity.external_id.like(like_pattern(digits), escape="\\"),
            ))
    return or_(*either)


async def search_conversations(db: Database, viewer: Viewer, criteria: Criteria) -> Found:
    """The newest-first page of conversations the viewer may see that match."""
    query = state_query().where(_visible(viewer))
    matches = _matches(criteria)
    if matches is not None:
        query = query.where(matches)
    if criteria.store is not None:
        query = query.where(Conversation.queue_store_code == criteria.store)
    if criteria.channel is not None:
        query = query.where(Customer.last_channel == criteria.channel)
    if criteria.status is StatusFilter.WAITING:
        query = query.where(Conversation.status == ConversationStatus.WAITING.value)
    elif criteria.status is StatusFilter.MINE:
        query = query.where(Conversation.status == ConversationStatus.WITH_CONSULTANT.value,
                            Conversation.owner_id == viewer.consultant_id)
    elif criteria.status is StatusFilter.EVERYONE:
        query = query.where(Conversation.status == ConversationStatus.WITH_CONSULTANT.value)
    elif criteria.status is StatusFilter.CLOSED:
        query = query.where(Conversation.status == ConversationStatus.CLOSED.value)
    if criteria.since is not None or criteria.until is not None:
        period = [Message.customer_id == Conversation.customer_id]
        if criteria.since is not None:
            period.append(Message.created_at >= criteria.since)
        if criteria.until is not None:
            period.append(Message.created_at < criteria.until)
        query = query.where(exists().where(*period))
    limit = max(1, min(criteria.limit, MAX_LIMIT))
    query = (
        query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit + 1).offset(max(0, min(criteria.offset, MAX_OFFSET)))
    )
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
    states = [ConversationState(*row) for row in rows[:limit]]
    return Found(states, has_more=len(rows) > limit)


__all__ = ["Criteria", "Found", "StatusFilter", "Viewer", "like_pattern", "search_conversations"]

"""Conversation and Message tables.

A message row is both the record of what was said and the unit of durable work:
inbound rows wait in ``received`` until the worker has the assistant's answer, outbound
rows wait in ``pending`` until the channel has taken them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.conversations import consultants as _consultants  # noqa: F401 (owner_id's table)
from vetrina.storage.base import Base, utcnow


class Direction(str, enum.Enum):
    IN = "in"
    OUT = "out"


class Author(str, enum.Enum):
    CUSTOMER = "customer"
    BOT = "bot"
    CONSULTANT = "consultant"
    SYSTEM = "system"


class InboundStatus(str, enum.Enum):
    RECEIVED = "received"  # stored, waiting for the worker
    PROCESSING = "processing"  # sent to the assistant at least once; answer not stored yet
    PROCESSED = "processed"  # the assistant's replies are stored in the outbox


class OutboundStatus(str, enum.Enum):
    PENDING = "pending"  # stored, waiting for the channel's sender
    SENT = "sent"  # the channel accepted it
    DELIVERED = "delivered"  # the provider confirmed delivery
    READ = "read"  # the provider says the customer read it
    FAILED = "failed"  # given up: the error is final
    # Not sent, on purpose: outside the channel's messaging window with no allowed way to
    # send it (see vetrina/conversations/reach.py); ``last_error`` says why. Kept for a person.
    HELD = "held"


PENDING_INBOUND = (InboundStatus.RECEIVED.value, InboundStatus.PROCESSING.value)
# The rows the outbox works on: the predicate of its partial indexes.
PENDING_OUTBOUND_SQL = "direction = 'out' AND status = 'pending'"


class ConversationStatus(str, enum.Enum):
    """Who answers the customer (see vetrina/conversations/handoff.py for the moves)."""

    BOT = "bot"  # the assistant
    WAITING = "waiting"  # the assistant, while the request waits in a consultant queue
    WITH_CONSULTANT = "with_consultant"  # ``owner_id``; the assistant is silent
    CLOSED = "closed"  # a consultant closed it; the next message goes to the assistant


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('bot', 'waiting', 'with_consultant', 'closed')", name="status"
        ),
        # One owner exactly while a consultant has it, and only then.
        CheckConstraint(
            "(status = 'with_consultant') = (owner_id IS NOT NULL)", name="owner_iff_claimed"
        ),
        Index("ix_conversations_queue", "status", "queue_store_code", "waiting_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default=ConversationStatus.BOT.value)
    # Handoff (vetrina/conversations/handoff.py): the consultant who owns it, the store
    # queue it is routed to (NULL: the general queue), why, and since when it waits.
    # (Consultants are deactivated, never deleted, so the history keeps its names.)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"), index=True)
    queue_store_code: Mapped[str | None] = mapped_column(String(32))
    handoff_reason: Mapped[str | None] = mapped_column(String(40))
    waiting_since: Mapped[datetime | None]
    handoff_requested_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "provider_message_id"),
        Index("ix_messages_customer_order", "customer_id", "id"),
        Index("ix_messages_work", "direction", "status", "next_attempt_at"),
        # The outbox's scan (vetrina/conversations/outbox.py, due_customers) reads due rows
        # through ix_messages_work (a range on next_attempt_at), and checks each is its
        # customer's oldest pending outbound message with one seek in this partial index.
        Index(
            "ix_messages_outbox_customer", "customer_id", "id",
            sqlite_where=sql(PENDING_OUTBOUND_SQL), postgresql_where=sql(PENDING_OUTBOUND_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    author: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # When the customer's screen confirmed it (web chat: the widget's ``vetrina_seen``);
    # separate from ``status``, which says the channel took it. NULL: not confirmed.
    seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- Sending state shared by every gateway instance (vetrina/conversations/sending.py) ---


class ProviderPause(Base):
    """A provider asked us to stop sending until ``until`` (rate limit), for one account.

    In the database so that every gateway instance waits, not only the one that was told.
    """

    __tablename__ = "provider_pauses"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # "instagram:<account>"
    until: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboundPart(Base):
    """One part of a split outbound message that the provider has already accepted.

    A retry on any instance sends only the parts not listed here, so no customer gets
    the first half of a long answer twice.
    """

    __tablename__ = "outbound_parts"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)

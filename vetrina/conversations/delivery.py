"""What providers tell us after they took a message: delivered, read, or failed.

Channel adapters translate their provider's callback (Twilio's status callback, Meta's
read receipt) into a channel-neutral :class:`DeliveryReport`; :func:`apply_report` moves
the stored outbound message on. A transient failure puts the message back in the outbox
with backoff; a final one is recorded; "outside the messaging window" holds it.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.conversations.backoff import Backoff
from vetrina.conversations.models import (
    Author,
    Conversation,
    Direction,
    Message,
    OutboundStatus,
)
from vetrina.conversations.outbox import MAX_ATTEMPTS
from vetrina.conversations.writing import pending_outbound
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

# A message can hold up to this many provider ids (one per part of a split message),
# comma-separated, within the provider_message_id column (200 characters).
PROVIDER_IDS_MAX_CHARS = 200


class Reported(str, enum.Enum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    HELD = "held"  # the provider refused it as outside the messaging window


class Outcome(str, enum.Enum):
    UNKNOWN = "unknown"  # no such outbound message (not ours, or already forgotten)
    # The report names our message, which is still being sent: the provider called back
    # before the send returned and its id was stored. Try again in a moment.
    EARLY = "early"
    STALE = "stale"  # about an earlier attempt, or a state we already moved past
    UPDATED = "updated"
    REQUEUED = "requeued"  # a transient failure: the outbox sends it again
    FAILED = "failed"
    HELD = "held"


_RANK = {
    OutboundStatus.SENT.value: 1,
    OutboundStatus.DELIVERED.value: 2,
    OutboundStatus.READ.value: 3,
}


@dataclass(frozen=True)
class DeliveryReport:
    channel: str
    provider_message_id: str
    status: Reported
    error: str | None = None
    transient: bool = False
    message_id: int | None = None  # our id, when the provider hands it back to us


def join_provider_ids(ids: list[str]) -> str | None:
    """The provider ids of a message's parts, as stored: as many as fit, comma-separated."""
    joined = ""
    for provider_id in ids:
        candidate = f"{joined},{provider_id}" if joined else provider_id
        if len(candidate) > PROVIDER_IDS_MAX_CHARS:
            break
        joined = candidate
    return joined or None


def provider_ids(stored: str | None) -> list[str]:
    return [part for part in (stored or "").split(",") if part]


async def _find(session: AsyncSession, report: DeliveryReport) -> Message | Outcome | None:
    base = select(Message).where(
        Message.channel == report.channel, Message.direction == Direction.OUT.value
    )
    if report.message_id is not None:
        message: Message | None = await session.scalar(base.where(Message.id == report.message_id))
        if message is None:
            return None
        if report.provider_message_id in provider_ids(message.provider_message_id):
            return message
        if message.status == OutboundStatus.PENDING.value:
            return Outcome.EARLY
        return Outcome.STALE
    message = await session.scalar(
        base.where(Message.provider_message_id == report.provider_message_id)
    )
    if message is None:  # one part of a split message
        message = await session.scalar(
            base.where(Message.provider_message_id.contains(report.provider_message_id))
            .order_by(Message.id.desc())
            .limit(1)
        )
    return message


DEFAULT_BACKOFF = Backoff()


async def apply_report(
    db: Database, report: DeliveryReport, backoff: Backoff = DEFAULT_BACKOFF
) -> Outcome:
    """Move the reported outbound message on; safe to call twice with the same report."""
    async with db.transaction() as session:
        message = await _find(session, report)
        if message is None:
            return Outcome.UNKNOWN
        if isinstance(message, Outcome):
            return message
        current = message.status
        if current not in _RANK:  # pending again, failed, held: this report is about the past
            return Outcome.STALE
        if report.status in (Reported.SENT, Reported.DELIVERED, Reported.READ):
            if _RANK[report.status.value] <= _RANK[current]:
                return Outcome.STALE
            message.status = report.status.value
            return Outcome.UPDATED
        error = (report.error or report.status.value)[:2000]
        message.last_error = error
        if report.status is Reported.HELD:
            message.status = OutboundStatus.HELD.value
            outcome = Outcome.HELD
        elif report.transient and message.attempts < MAX_ATTEMPTS:
            message.status = OutboundStatus.PENDING.value
            message.next_attempt_at = backoff.next_at(utcnow(), message.attempts)
            outcome = Outcome.REQUEUED
        else:
            message.status = OutboundStatus.FAILED.value
            outcome = Outcome.FAILED
        message_id = message.id
    log.warning(
        "%s delivery of message %s reported %s (%s): %s",
        report.channel, message_id, report.status.value, outcome.value, error,
    )
    return outcome


async def enqueue_notice(db: Database, customer_id: str, channel: str, text: str) -> int | None:
    """Store a message from Vetrina itself for the outbox to deliver on ``channel``."""
    now = utcnow()
    async with db.transaction() as session:
        conversation_id = await session.scalar(
            select(Conversation.id).where(Conversation.customer_id == customer_id)
        )
        if conversation_id is None:
            return None
        message = pending_outbound(
            conversation_id=conversation_id,
            customer_id=customer_id,
            channel=channel,
            author=Author.SYSTEM.value,
            text=text,
            payload={},
            now=now,
        )
        session.add(message)
        await session.flush()
        return message.id

"""Storing what customers send, before anything else happens to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vetrina.conversations.models import (
    Author,
    Direction,
    InboundStatus,
    Message,
)
from vetrina.conversations.writing import conversation_for
from vetrina.customers.identities import resolve_customer
from vetrina.customers.link_proofs import without_codes
from vetrina.language import detect_language, normalise_language
from vetrina.observability.metrics import MESSAGES_IN
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message, parsed by a channel adapter into a channel-neutral shape."""

    channel: str
    external_id: str
    text: str
    provider_message_id: str | None = None
    display_name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    message_id: int
    customer_id: str
    created_at: datetime
    duplicate: bool


class Inbox:
    """Stores inbound messages exactly once per (channel, provider message id)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def receive(self, inbound: InboundMessage) -> Received:
        """Store ``inbound`` and return its id; a redelivered message returns the first copy.

        Runs in one transaction: the customer, the conversation and the message appear
        together or not at all. A lost race on a unique key is retried once, and then
        finds the winner's rows.
        """
        for attempt in range(3):
            existing = await self._find(inbound)
            if existing is not None:
                return existing
            try:
                return await self._store(inbound)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _find(self, inbound: InboundMessage) -> Received | None:
        if inbound.provider_message_id is None:
            return None
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Message.id, Message.customer_id, Message.created_at).where(
                        Message.channel == inbound.channel,
                        Message.direction == Direction.IN.value,
                        Message.provider_message_id == inbound.provider_message_id,
                    )
                )
            ).first()
        if row is None:
            return None
        return Received(row.id, row.customer_id, row.created_at, duplicate=True)

    async def _store(self, inbound: InboundMessage) -> Received:
        now = utcnow()
        async with self._db.transaction() as session:
            hint = normalise_language(inbound.metadata.get("language"))
            customer = await resolve_customer(
                session,
                inbound.channel,
                inbound.external_id,
                display_name=inbound.display_name,
                language=hint,
                seen_at=now,
            )
            detected = detect_language(without_codes(inbound.text), customer.language)
            if detected:
                customer.language = detected
            conversation = await conversation_for(session, customer.id)
            message = Message(
                conversation_id=conversation.id,
                customer_id=customer.id,
                direction=Direction.IN.value,
                author=Author.CUSTOMER.value,
                channel=inbound.channel,
                text=inbound.text,
                payload={"metadata": inbound.metadata} if inbound.metadata else {},
                provider_message_id=inbound.provider_message_id,
                status=InboundStatus.RECEIVED.value,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(message)
            await session.flush()
            received = Received(message.id, customer.id, now, duplicate=False)
        MESSAGES_IN.labels(inbound.channel).inc()
        log.info(
            "stored %s message", inbound.channel,
            extra={"stored_message_id": received.message_id},
        )
        return received

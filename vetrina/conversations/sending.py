"""Sending state that every gateway instance must see: provider pauses and split progress.

Kept in the database, not in a sender's memory: with several gateway instances the
outbox of any of them may take a customer's next message, and

- a provider's rate-limit pause ("wait an hour") must stop all of them, not only the
  instance that was told (:func:`paused_for`, :func:`pause`);
- a retry of a long message split into parts must send only the parts the provider has
  not taken yet, whichever instance made the first attempt (:func:`parts_sent`,
  :func:`record_part`, :func:`forget_parts`).

Parts are recorded one by one as the provider accepts them, under the customer's outbox
lock (vetrina/conversations/outbox.py), so two instances never send the same message at
the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vetrina.conversations.models import OutboundPart, ProviderPause
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

MAX_REASON = 300


async def paused_for(db: Database, key: str, now: datetime | None = None) -> float | None:
    """Seconds left of the pause on ``key`` (e.g. ``instagram:<account>``), or ``None``."""
    now = now or utcnow()
    async with db.sessions() as session:
        until = await session.scalar(select(ProviderPause.until).where(ProviderPause.key == key))
    if until is None or until <= now:
        return None
    return (until - now).total_seconds()


async def pause(db: Database, key: str, seconds: float, reason: str) -> datetime:
    """Pause ``key`` for ``seconds`` from now; a longer pause already set is kept.

    One statement (an upsert that keeps the later end), so two instances told at once
    cannot shorten each other's pause.
    """
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    values = {"key": key, "until": until, "reason": reason[:MAX_REASON], "updated_at": now}
    insert = postgresql_insert if not db.is_sqlite else sqlite_insert
    statement = insert(ProviderPause).values(**values)
    later = case(
        (statement.excluded.until > ProviderPause.until, statement.excluded.until),
        else_=ProviderPause.until,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ProviderPause.key],
        set_={"until": later, "reason": statement.excluded.reason, "updated_at": now},
    )
    async with db.transaction() as session:
        await session.execute(statement)
    return until


async def parts_sent(db: Database, message_id: int) -> list[str]:
    """Provider ids of the parts of ``message_id`` already accepted, in order."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboundPart.provider_message_id)
            .where(OutboundPart.message_id == message_id)
            .order_by(OutboundPart.part)
        )
        return list(rows.all())


async def record_part(db: Database, message_id: int, part: int, provider_id: str) -> None:
    """The provider accepted part ``part`` (0-based) of ``message_id``."""
    async with db.transaction() as session:
        session.add(
            OutboundPart(message_id=message_id, part=part, provider_message_id=provider_id[:200])
        )


async def forget_parts(db: Database, message_id: int) -> None:
    """The message is done (sent whole, or given up): a later resend starts over."""
    async with db.transaction() as session:
        await session.execute(delete(OutboundPart).where(OutboundPart.message_id == message_id))

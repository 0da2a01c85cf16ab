"""Waking every gateway's outbox when outbound work is stored (PostgreSQL LISTEN/NOTIFY).

Without it, an instance learns of a reply stored by another one (a consultant's reply
typed on instance A, a customer's turn answered on instance B) only at its next poll.

- **NOTIFY**: any transaction that stores a pending outbound message also runs
  ``NOTIFY vetrina_outbox``. PostgreSQL delivers it only when that transaction commits
  (and drops it on rollback), so a woken outbox always finds the rows.
- **LISTEN**: :func:`listen_for_outbound` holds one connection per gateway on
  ``LISTEN vetrina_outbox`` and calls ``Outbox.wake()`` on each notification. If the
  connection is lost it reconnects with a pause; meanwhile, and always, the outbox's
  own polling still finds every due message, so a missed notification only costs time.

SQLite is single-instance: nothing to notify, nothing to listen to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, UOWTransaction

from vetrina.conversations.models import Direction, Message, OutboundStatus
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

CHANNEL = "vetrina_outbox"
RECONNECT_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)


def _stores_outbound(session: Session) -> bool:
    return any(
        isinstance(row, Message)
        and row.direction == Direction.OUT.value
        and row.status == OutboundStatus.PENDING.value
        for row in session.new
    )


@event.listens_for(Session, "after_flush")
def _notify_after_commit(session: Session, _context: UOWTransaction) -> None:
    """Queue a NOTIFY in the transaction that stores outbound rows (sent on commit)."""
    if not _stores_outbound(session):
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


def _conninfo(db: Database) -> str:
    return make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_outbound(
    db: Database,
    wake: Callable[[], None],
    *,
    on_listening: Callable[[], Any] | None = None,
) -> None:
    """Call ``wake()`` whenever another transaction stored outbound work; runs until
    cancelled. Returns at once on SQLite."""
    if db.is_sqlite:
        return
    failures = 0
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(_conninfo(db), autocommit=True)
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                failures = 0
                wake()  # whatever was stored while nobody listened
                if on_listening is not None:
                    on_listening()
                async for _notification in connection.notifies():
                    wake()
        except (psycopg.Error, OSError) as error:
            pause = RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)]
            failures += 1
            log.warning(
                "outbox listener lost its connection (%s); polling only, retrying in %.1f s",
                error.__class__.__name__, pause,
            )
            await asyncio.sleep(pause)

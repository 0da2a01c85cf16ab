"""Named locks that let several gateway processes share the work of one database.

A worker takes a customer's messages only while it holds that customer's lock, so two
gateway instances never answer or deliver for the same customer at once and the order
per customer is kept.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection
  held for as long as the work lasts. If the process dies, PostgreSQL closes its
  connection and the lock is free at once: nothing to expire, no lease to tune.
- SQLite: one process only (it is the single-instance database), so an in-process set
  of held names is enough.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


def lock_key(scope: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock(bigint)``."""
    digest = hashlib.blake2b(f"vetrina:{scope}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class WorkLocks(Protocol):
    def hold(self, scope: str, name: str) -> AbstractAsyncContextManager[bool]:
        """``async with locks.hold(scope, name) as held``: ``held`` is False when another
        worker has it; the caller then skips the work (it never waits)."""
        ...


class ProcessLocks:
    """Locks within one process: the SQLite (single-instance) set-up."""

    def __init__(self) -> None:
        self._held: set[tuple[str, str]] = set()

    @asynccontextmanager
    async def hold(self, scope: str, name: str) -> AsyncIterator[bool]:
        key = (scope, name)
        if key in self._held:
            yield False
            return
        self._held.add(key)
        try:
            yield True
        finally:
            self._held.discard(key)


class PostgresAdvisoryLocks:
    """Locks across processes and machines, held by a PostgreSQL connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local = ProcessLocks()  # spares a connection when this process has it already

    @asynccontextmanager
    async def hold(self, scope: str, name: str) -> AsyncIterator[bool]:
        async with self._local.hold(scope, name) as local:
            if not local:
                yield False
                return
            key = lock_key(scope, name)
            async with self._engine.connect() as connection:
                held = bool(
                    await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                )
                # Leave no transaction open while the work runs (no idle-in-transaction).
                await connection.commit()
                try:
                    yield held
                finally:
                    if held:
                        await _unlock(connection, key)


async def _unlock(connection: AsyncConnection, key: int) -> None:
    try:
        await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        await connection.commit()
    except (SQLAlchemyError, OSError):  # connection lost (server restart): the lock went with it
        log.warning("could not release advisory lock %s; its connection is gone", key)
        await connection.invalidate()

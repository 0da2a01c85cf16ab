"""The async engine and one-session-per-unit-of-work factory.

SQLite is the default (WAL mode, foreign keys on, a busy timeout so a writer waits
instead of failing, deleted content overwritten); PostgreSQL is reached through
``DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from vetrina.storage import lengths as _lengths  # noqa: F401 (VARCHAR lengths on every flush)
from vetrina.storage.locks import PostgresAdvisoryLocks, ProcessLocks, WorkLocks


def affected(result: Result[Any]) -> int:
    """Rows an ``UPDATE``/``DELETE`` changed (``Session.execute`` types its result as a
    plain ``Result``; for those statements it is a ``CursorResult``)."""
    if not isinstance(result, CursorResult):
        raise TypeError("affected() needs the result of an UPDATE or DELETE")
    return int(result.rowcount)


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in {"sqlite", "sqlite+pysqlite"}:
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file, so a fresh checkout needs no manual step."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching to WAL needs a moment alone with the file, and a
    # new connection opened while another one writes must wait for it, not fail with
    # "database is locked". Once the file is in WAL mode (it stays so), skip the switch.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Zero what a DELETE or an UPDATE frees, instead of leaving the old bytes in the page:
    # an erased customer's text must not survive in the file (see Database.checkpoint).
    # On from the first write, since every rewrite of a row (a status change) frees a copy.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Owns the engine; hands out sessions and transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            ensure_sqlite_folder(self.url)
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Who works on what when several gateway processes share this database.
        self.locks: WorkLocks = (
            ProcessLocks() if self.is_sqlite else PostgresAdvisoryLocks(self.engine)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def checkpoint(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty it
        (``TRUNCATE``), so rows just deleted live on in neither (the file's freed space is
        zeroed by ``secure_delete``). False when a reader kept it from finishing within the
        busy timeout: the log then empties at a later checkpoint. PostgreSQL: nothing."""
        if not self.is_sqlite:
            return True
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            busy, _log, _done = (
                await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            ).one()
        return not busy

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()

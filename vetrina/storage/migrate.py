"""Run Alembic migrations from code (the CLI, the gateway's tests, ``make run``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from vetrina.storage.database import ensure_sqlite_folder, normalise_url
from vetrina.storage.locks import lock_key

# Taken around every upgrade on PostgreSQL, so instances that start together migrate once.
MIGRATION_LOCK = lock_key("migrations", "alembic")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe to call when it is already there."""
    ensure_sqlite_folder(database_url)
    with _migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextmanager
def _migration_lock(database_url: str) -> Iterator[None]:
    """On PostgreSQL, wait for the advisory lock that serialises migrations.

    Several gateway instances starting together each run ``upgrade``: the first
    migrates, the others wait here, then find the database at head and do nothing.
    The lock is on a connection of its own, released when the upgrade ends or the
    process dies. SQLite is single-instance and needs none.
    """
    url = normalise_url(database_url)
    if not url.startswith("postgresql"):
        yield
        return
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    conninfo = parsed.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """The same from inside a running event loop (env.py starts a loop of its own)."""
    await asyncio.to_thread(upgrade, database_url, revision)

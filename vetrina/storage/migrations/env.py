"""Alembic environment: runs migrations on the async engine named by the config.

This script is where the model registry lives: it imports every domain package's tables
so that ``target_metadata`` is complete. The ``vetrina.storage`` package itself imports no
domain package (the layers contract in pyproject.toml checks it); this file is not part of
the package, Alembic loads it by path.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import vetrina.bookings.models
import vetrina.bookings.outcomes
import vetrina.catalog.models
import vetrina.conversations.accounts
import vetrina.conversations.canned
import vetrina.conversations.consultants
import vetrina.conversations.duty_hours
import vetrina.conversations.handoff
import vetrina.conversations.login_failures
import vetrina.conversations.models
import vetrina.conversations.notes
import vetrina.customers.interactions
import vetrina.customers.models
import vetrina.insights.models
import vetrina.storage.audit
import vetrina.storage.secrets  # noqa: F401  (the imports above fill Base.metadata)
from vetrina.storage.base import Base
from vetrina.storage.database import normalise_url

metadata = Base.metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = normalise_url(config.get_main_option("sqlalchemy.url") or "")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())

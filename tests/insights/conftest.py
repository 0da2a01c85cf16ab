"""Fixtures of the insights tests: the hand-made world on SQLite, or on both databases."""

from __future__ import annotations

import pytest_asyncio

from tests.bookings.conftest import shop  # noqa: F401 (the booking tests' shop, for outcomes)
from tests.insights.world import World, make_world
from vetrina.storage.database import Database


@pytest_asyncio.fixture
async def world(db: Database) -> World:
    """On SQLite and on PostgreSQL (``db`` is parametrised)."""
    return await make_world(db)


@pytest_asyncio.fixture
async def lite(sqlite_db: Database) -> World:
    """On SQLite only: rules that do not depend on the database."""
    return await make_world(sqlite_db)

"""Migration 0010 builds exactly the insights tables of the models, and goes down and up."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import vetrina.bookings.models
import vetrina.bookings.outcomes
import vetrina.catalog.models
import vetrina.conversations.consultants
import vetrina.conversations.handoff
import vetrina.conversations.login_failures
import vetrina.conversations.models
import vetrina.customers.interactions
import vetrina.customers.models
import vetrina.insights.models
from vetrina.storage.base import Base
from vetrina.storage.database import normalise_url
from vetrina.storage.migrate import alembic_config, upgrade

TABLES = {
    "orders",
    "order_contacts",
    "attribution_credits",
    "insights_daily",
    "insights_demand",
    "insights_conversation_days",
    "insights_dirty_keys",
    "insights_state",
    "booking_checkins",
    "booking_outcome_events",
}


async def test_0010_matches_the_models_and_goes_down_and_up(database_url: str) -> None:
    assert vetrina.insights.models.Order.__tablename__ in TABLES
    assert vetrina.bookings.outcomes.BookingCheckIn.__tablename__ in TABLES
    sync_url = normalise_url(database_url).replace("+aiosqlite", "")

    def run() -> None:
        engine = create_engine(sync_url)
        try:
            with engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            assert diff == []
            command.downgrade(alembic_config(database_url), "0006")
            with engine.connect() as connection:
                assert not TABLES & set(inspect(connection).get_table_names())
            upgrade(database_url)
            with engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) >= TABLES
        finally:
            engine.dispose()

    await asyncio.to_thread(run)

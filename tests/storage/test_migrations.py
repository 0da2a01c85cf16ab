"""The Alembic migrations build exactly the tables the models describe, and go back down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command

from vetrina.storage.migrate import alembic_config, upgrade


async def test_head_matches_the_models_and_0003_goes_down_and_up(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    config = alembic_config(url)

    def run() -> None:
        upgrade(url)
        command.check(config)  # raises if the models differ from what the migrations built
        command.downgrade(config, "0002")
        upgrade(url)
        command.check(config)

    await asyncio.to_thread(run)


async def test_0004_keeps_existing_stores_bookable_and_goes_down(database_url: str) -> None:
    """On SQLite and PostgreSQL: a store written at 0003 takes try-on bookings after 0004
    (server default true), and 0004 goes down and up again."""
    from sqlalchemy import create_engine, text

    from vetrina.storage.database import normalise_url

    config = alembic_config(database_url)
    sync_url = normalise_url(database_url).replace("+aiosqlite", "")

    def run() -> list[object]:
        command.downgrade(config, "0003")
        engine = create_engine(sync_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO stores (code, name, city, address, postal_code, country,"
                    " latitude, longitude, timezone, opening_hours, hours_exceptions, services,"
                    " active, created_at, updated_at) VALUES ('MI', 'Milano', 'Milano', 'Via',"
                    " '20100', 'IT', 45.4, 9.1, 'Europe/Rome', '{}', '{}', '[]', :t,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"t": True},
            )
        upgrade(database_url)
        with engine.connect() as conn:
            values = list(conn.execute(text("SELECT try_on_enabled FROM stores")).scalars())
        engine.dispose()
        command.check(config)
        return values

    assert await asyncio.to_thread(run) == [True]

"""Interactions on the customer's profile and the favourite store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select

from vetrina.customers.interactions import (
    STOCK_CHECK,
    Interaction,
    favourite_store,
    recent_interactions,
    record_interaction,
    set_favourite_store,
)
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


async def customer(db: Database) -> str:
    async with db.transaction() as session:
        row = Customer(display_name="Giulia")
        session.add(row)
        await session.flush()
        return row.id


async def test_recorded_and_read_back_newest_first(db: Database) -> None:
    cid = await customer(db)
    async with db.transaction() as session:
        for n, store in enumerate(["MI", "TO", "RM"]):
            await record_interaction(
                session,
                cid,
                STOCK_CHECK,
                channel="whatsapp" if n == 1 else "web",
                data={"store_code": store, "status": "in_stock", "sku": f"S{n}"},
                at=T0 + timedelta(minutes=n),
            )
    async with db.sessions() as session:
        rows = await recent_interactions(session, cid, kind=STOCK_CHECK)
    assert [r.data["store_code"] for r in rows] == ["RM", "TO", "MI"]
    assert [r.channel for r in rows] == ["web", "whatsapp", "web"]
    assert rows[0].created_at == T0 + timedelta(minutes=2)


async def test_no_customer_no_row(db: Database) -> None:
    async with db.transaction() as session:
        assert (
            await record_interaction(session, "nobody", STOCK_CHECK, channel="web", data={}) is None
        )
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 0


async def test_interactions_go_with_their_customer(db: Database) -> None:
    cid = await customer(db)
    async with db.transaction() as session:
        await record_interaction(session, cid, STOCK_CHECK, channel="web", data={"a": 1})
    async with db.transaction() as session:
        await session.execute(delete(Customer).where(Customer.id == cid))
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 0


async def test_favourite_store_set_read_and_forgotten(db: Database) -> None:
    cid = await customer(db)
    async with db.transaction() as session:
        assert await set_favourite_store(session, cid, "MI-DUOMO")
        assert not await set_favourite_store(session, "nobody", "MI-DUOMO")
    async with db.sessions() as session:
        assert await favourite_store(session, cid) == "MI-DUOMO"
    async with db.transaction() as session:
        await set_favourite_store(session, cid, None)
    async with db.sessions() as session:
        assert await favourite_store(session, cid) is None

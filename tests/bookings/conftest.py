"""A small shop for booking tests: stores with try-on, a boot in a few sizes, customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest_asyncio
from sqlalchemy import select, update

from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.catalog.models import Store, StoreStock, Variant
from vetrina.catalog.validation import ProductRow, StockLine, StoreRow, VariantRow
from vetrina.catalog.writing import resolve_stock, write_catalog, write_stock, write_stores
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

EVERY_DAY = {day: ["10:00-19:30"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# Friday 20 March 2026, 09:00 UTC (10:00 in Milan, CET): "now" in most tests.
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)
SATURDAY = "2026-03-21"

STORES = [
    StoreRow(
        "MI", "Vetrina Milano", "Milano", "Corso Vittorio Emanuele II, 15", "20122",
        45.4651, 9.1930, EVERY_DAY, {"2026-03-22": "closed", "12-25": "closed"}, ("try_on",),
    ),
    StoreRow(
        "RM", "Vetrina Roma", "Roma", "Via del Corso 189", "00186",
        41.9010, 12.4813, EVERY_DAY, {}, ("try_on",),
    ),
    StoreRow(
        "TO", "Vetrina Torino", "Torino", "Via Roma 305", "10123",
        45.0675, 7.6830, EVERY_DAY, {}, (),
    ),
]
PRODUCTS = [
    ProductRow(
        "BOOT", "Stivale Brera", "Brera boot", "stivali", "Vetrina",
        variants=(
            VariantRow("BOOT-NER-40", "40", "nero", 12990),
            VariantRow("BOOT-NER-41", "41", "nero", 12990),
            VariantRow("BOOT-NER-42", "42", "nero", 12990),
        ),
    ),
]


@dataclass
class Shop:
    db: Database
    bookings: Bookings
    alice: str
    bob: str


async def set_stock(db: Database, store: str, sku: str, on_hand: int) -> None:
    async with db.transaction() as session:
        resolved, problems = await resolve_stock(session, [StockLine(store, sku, on_hand)])
        assert not problems
        await write_stock(session, [r for r in resolved if r is not None])


async def stock_of(db: Database, store: str, sku: str) -> tuple[int, int]:
    """(on_hand, reserved) of a SKU in a store."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(StoreStock.on_hand, StoreStock.reserved)
                .join(Store, Store.id == StoreStock.store_id)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .where(Store.code == store, Variant.sku == sku)
            )
        ).one()
    return row.on_hand, row.reserved


async def add_customers(db: Database, count: int, *, channel: str = "web") -> list[str]:
    async with db.transaction() as session:
        customers = [
            Customer(display_name=f"Cliente {n}", last_channel=channel, language="it")
            for n in range(count)
        ]
        session.add_all(customers)
        await session.flush()
        return [c.id for c in customers]


async def switch_try_on(db: Database, store: str, enabled: bool) -> None:
    async with db.transaction() as session:
        await session.execute(update(Store).where(Store.code == store).values(try_on_enabled=enabled))


@pytest_asyncio.fixture
async def shop(db: Database) -> Shop:
    async with db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
    for store in ("MI", "RM", "TO"):
        for sku in ("BOOT-NER-40", "BOOT-NER-41", "BOOT-NER-42"):
            await set_stock(db, store, sku, 5)
    alice, bob = await add_customers(db, 2)
    return Shop(db, Bookings(db, BookingOptions(slot_minutes=30, capacity=2)), alice, bob)

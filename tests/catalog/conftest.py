"""A small catalog (3 stores, 2 products) written through the same writers as imports."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest_asyncio
from sqlalchemy import select, update

from vetrina.catalog.models import Store, StoreStock, Variant
from vetrina.catalog.pricing import Terms
from vetrina.catalog.validation import ProductRow, StockLine, StoreRow, VariantRow
from vetrina.catalog.writing import resolve_stock, write_catalog, write_stock, write_stores
from vetrina.storage.database import Database

EVERY_DAY = {day: ["10:00-19:30"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

STORES = [
    StoreRow(
        "MI",
        "Vetrina Milano",
        "Milano",
        "Corso Vittorio Emanuele II 15",
        "20122",
        45.4651,
        9.1930,
        EVERY_DAY,
        {},
        ("try_on",),
    ),
    StoreRow(
        "TO",
        "Vetrina Torino",
        "Torino",
        "Via Roma 305",
        "10123",
        45.0675,
        7.6830,
        EVERY_DAY,
        {},
        (),
    ),
    StoreRow(
        "RM",
        "Vetrina Roma",
        "Roma",
        "Via del Corso 189",
        "00186",
        41.9010,
        12.4813,
        EVERY_DAY,
        {},
        ("try_on",),
    ),
]
SALE = Terms(
    "percent",
    20,
    datetime(2026, 1, 1, tzinfo=timezone.utc),
    datetime(2026, 3, 1, tzinfo=timezone.utc),
    "Saldi",
)
PRODUCTS = [
    ProductRow(
        "BOOT",
        "Stivale Brera",
        "Brera boot",
        "stivali",
        "Vetrina",
        variants=(
            VariantRow("BOOT-NER-40", "40", "nero", 12990, promotions=(SALE,)),
            VariantRow("BOOT-NER-41", "41", "nero", 12990),
            VariantRow("BOOT-NER-42", "42", "nero", 12990),
            VariantRow("BOOT-MAR-41", "41", "marrone", 12990),
        ),
    ),
    ProductRow(
        "TEE",
        "T-shirt Capri",
        "Capri T-shirt",
        "tshirt",
        "Vetrina",
        variants=(VariantRow("TEE-BIA-M", "M", "bianco", 2900),),
    ),
]


async def set_stock(db: Database, store: str, sku: str, on_hand: int, reserved: int = 0) -> None:
    async with db.transaction() as session:
        resolved, problems = await resolve_stock(session, [StockLine(store, sku, on_hand)])
        assert not problems
        await write_stock(session, [r for r in resolved if r is not None])
        if store != "online":
            store_id = await session.scalar(select(Store.id).where(Store.code == store))
            variant_id = await session.scalar(select(Variant.id).where(Variant.sku == sku))
            await session.execute(
                update(StoreStock)
                .where(StoreStock.store_id == store_id, StoreStock.variant_id == variant_id)
                .values(reserved=reserved)
            )


@pytest_asyncio.fixture
async def catalog(db: Database) -> Database:
    async with db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
    return db

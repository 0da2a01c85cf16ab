"""The demo retailer: big enough, real places, deterministic, and safe to load twice."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.demo import generate, load_demo
from vetrina.catalog.models import OnlineStock, Product, Promotion, Store, StoreStock, Variant
from vetrina.catalog.products import price_of
from vetrina.catalog.stores import Coordinates, OpeningHours
from vetrina.storage.database import Database

CITIES = {
    "Milano",
    "Roma",
    "Torino",
    "Napoli",
    "Firenze",
    "Bologna",
    "Genova",
    "Verona",
    "Bari",
    "Palermo",
}


def test_demo_is_a_fashion_and_footwear_retailer_of_the_promised_size() -> None:
    data = generate()
    assert len(data.products) >= 300 and data.variant_count >= 3000
    assert len(data.stores) >= 15 and {s.city for s in data.stores} >= CITIES
    categories = {p.category for p in data.products}
    assert {"sneakers", "stivali", "giacche", "jeans"} <= categories
    skus = [v.sku for p in data.products for v in p.variants]
    assert len(skus) == len(set(skus))
    for store in data.stores:
        assert 36 < store.latitude < 47.1 and 6.6 < store.longitude < 18.6, store.code  # Italy
        hours = OpeningHours.from_json(store.opening_hours, store.hours_exceptions, store.timezone)
        assert sum(len(day) for day in hours.weekly) >= 6, store.code
        assert hours.on(datetime(2026, 12, 25).date()) == ()  # Christmas


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert generate(7) == generate(7)
    assert generate(7) != generate(8)
    assert [p.code for p in generate(7).products] == [p.code for p in generate(8).products]


async def _rows(db: Database) -> dict[str, object]:
    async with db.sessions() as session:
        counts = {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (Product, Variant, Promotion, Store, StoreStock, OnlineStock)
        }
        stock_total = await session.scalar(select(func.sum(StoreStock.on_hand)))
        reserved = await session.scalar(select(func.sum(StoreStock.reserved)))
        prices = await session.scalar(select(func.sum(Variant.price_cents)))
    return {**counts, "on_hand": stock_total, "reserved": reserved, "prices": prices}


async def test_loading_twice_gives_the_same_database(db: Database) -> None:
    data = generate()
    await load_demo(db)
    first = await _rows(db)
    await load_demo(db)
    assert await _rows(db) == first
    assert first["products"] == len(data.products) and first["variants"] == data.variant_count
    assert first["stores"] == len(data.stores)
    assert first["store_stock"] + first["online_stock"] == len(data.stock)
    assert first["reserved"] == len(data.reserved)
    inventory = SqlInventory(db)
    milan = Coordinates(45.4642, 9.19)
    sku = data.products[0].variants[0].sku
    found = await inventory.nearest_with_stock(sku, milan, limit=20)
    assert found and [n.distance_km for n in found] == sorted(n.distance_km for n in found)
    async with db.sessions() as session:
        quote = await price_of(session, sku, at=datetime(2026, 5, 1, tzinfo=timezone.utc))
    assert quote.list_cents == data.products[0].variants[0].price_cents

"""Availability statuses, nearest stores with stock, other sizes, online stock, query plans."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.catalog.conftest import EVERY_DAY, set_stock
from vetrina.catalog.availability import (
    AVAILABILITY_QUERY,
    STOCKED_STORES_QUERY,
    InventoryProvider,
    SqlInventory,
    Status,
    explain,
    status_for,
)
from vetrina.catalog.errors import UnknownProduct, UnknownSku, UnknownStore, UnknownVariant
from vetrina.catalog.models import Store
from vetrina.catalog.products import get_product, product_code_of
from vetrina.catalog.stores import Coordinates
from vetrina.catalog.validation import StoreRow
from vetrina.catalog.writing import write_stores
from vetrina.storage.database import Database

TURIN = Coordinates(45.0703, 7.6869)


def test_status_rule() -> None:
    assert [status_for(n, 2) for n in (-1, 0, 1, 2, 5)] == [
        Status.OUT_OF_STOCK,
        Status.OUT_OF_STOCK,
        Status.LAST_PIECES,
        Status.IN_STOCK,
        Status.IN_STOCK,
    ]
    assert status_for(1, 0) is Status.IN_STOCK
    assert status_for(3, 5) is Status.LAST_PIECES


def test_sql_inventory_implements_the_port() -> None:
    class Partial:
        async def availability(self, sku: str, store_code: str) -> None: ...

    assert isinstance(SqlInventory(None, safety_stock=2), InventoryProvider)  # type: ignore[arg-type]
    assert not isinstance(Partial(), InventoryProvider)


def test_last_pieces_are_not_bookable() -> None:
    inventory = SqlInventory(None, safety_stock=2)  # type: ignore[arg-type]
    assert inventory.level("S", "MI", 5, 0, None).bookable
    assert not inventory.level("S", "MI", 3, 2, None).bookable
    assert not inventory.level("S", "MI", 0, 0, None).bookable


@pytest.mark.parametrize(
    "on_hand, reserved, status, available",
    [
        (5, 0, Status.IN_STOCK, 5),
        (2, 0, Status.IN_STOCK, 2),
        (1, 0, Status.LAST_PIECES, 1),
        (3, 2, Status.LAST_PIECES, 1),
        (2, 2, Status.OUT_OF_STOCK, 0),
        (0, 0, Status.OUT_OF_STOCK, 0),
    ],
)
async def test_availability_status(
    catalog: Database, on_hand: int, reserved: int, status: Status, available: int
) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-41", on_hand, reserved)
    level = await SqlInventory(catalog, safety_stock=2).availability("BOOT-NER-41", "MI")
    assert (level.status, level.available, level.on_hand, level.reserved) == (
        status,
        available,
        on_hand,
        reserved,
    )
    assert level.updated_at is not None and level.location == "MI"


async def test_never_stocked_is_out_of_stock_without_a_count(catalog: Database) -> None:
    level = await SqlInventory(catalog).availability("BOOT-NER-42", "RM")
    assert (level.status, level.on_hand, level.updated_at) == (Status.OUT_OF_STOCK, 0, None)


async def test_safety_stock_is_configurable(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-41", 4)
    assert (
        await SqlInventory(catalog, safety_stock=5).availability("BOOT-NER-41", "MI")
    ).status is Status.LAST_PIECES
    assert (
        await SqlInventory(catalog, safety_stock=0).availability("BOOT-NER-41", "MI")
    ).status is Status.IN_STOCK


async def test_unknown_sku_and_store_are_errors_not_zero(catalog: Database) -> None:
    inventory = SqlInventory(catalog)
    with pytest.raises(UnknownSku) as sku_error:
        await inventory.availability("NOPE", "MI")
    assert sku_error.value.sku == "NOPE"
    with pytest.raises(UnknownStore) as store_error:
        await inventory.availability("BOOT-NER-41", "XX")
    assert store_error.value.code == "XX"
    with pytest.raises(UnknownSku):
        await inventory.nearest_with_stock("NOPE", TURIN)
    with pytest.raises(UnknownSku):
        await inventory.online("NOPE")


async def test_inactive_store_is_unknown_to_shoppers(catalog: Database) -> None:
    await set_stock(catalog, "TO", "BOOT-NER-41", 5)
    async with catalog.transaction() as session:
        await session.execute(update(Store).where(Store.code == "TO").values(active=False))
    inventory = SqlInventory(catalog)
    with pytest.raises(UnknownStore):
        await inventory.availability("BOOT-NER-41", "TO")
    assert await inventory.nearest_with_stock("BOOT-NER-41", TURIN) == []


async def test_nearest_with_stock_ordering_and_filters(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-41", 1)  # last piece
    await set_stock(catalog, "RM", "BOOT-NER-41", 6)
    await set_stock(catalog, "TO", "BOOT-NER-41", 3, reserved=3)  # all held for bookings
    inventory = SqlInventory(catalog)
    found = await inventory.nearest_with_stock("BOOT-NER-41", TURIN)
    assert [(n.store.code, n.stock.status) for n in found] == [
        ("MI", Status.LAST_PIECES),
        ("RM", Status.IN_STOCK),
    ]
    assert 120 < found[0].distance_km < 130 and found[0].distance_km < found[1].distance_km
    assert [
        n.store.code
        for n in await inventory.nearest_with_stock("BOOT-NER-41", TURIN, include_last_pieces=False)
    ] == ["RM"]
    assert [
        n.store.code
        for n in await inventory.nearest_with_stock("BOOT-NER-41", TURIN, within_km=200)
    ] == ["MI"]
    assert [
        n.store.code for n in await inventory.nearest_with_stock("BOOT-NER-41", TURIN, limit=1)
    ] == ["MI"]
    rome = Coordinates(41.89, 12.49)
    assert [n.store.code for n in await inventory.nearest_with_stock("BOOT-NER-41", rome)] == [
        "RM",
        "MI",
    ]
    assert await inventory.nearest_with_stock("BOOT-NER-42", TURIN) == []


async def test_a_store_added_after_the_cache_was_filled_is_found(catalog: Database) -> None:
    inventory = SqlInventory(catalog, store_cache_seconds=3600)
    assert len(await inventory.stores()) == 3
    async with catalog.transaction() as session:
        await write_stores(
            session,
            [
                StoreRow(
                    "GE",
                    "Vetrina Genova",
                    "Genova",
                    "Via XX Settembre 1",
                    "16121",
                    44.4053,
                    8.9380,
                    EVERY_DAY,
                )
            ],
        )
    await set_stock(catalog, "GE", "BOOT-NER-41", 4)
    found = await inventory.nearest_with_stock("BOOT-NER-41", TURIN)
    assert [n.store.code for n in found] == ["GE"]
    assert [v.size for v in await inventory.variants_in_store("BOOT", "GE")] == [
        "41",
        "40",
        "41",
        "42",
    ]


async def test_other_sizes_of_the_product_in_a_store(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-40", 3)
    await set_stock(catalog, "MI", "BOOT-NER-42", 1)
    await set_stock(catalog, "MI", "BOOT-MAR-41", 5)
    inventory = SqlInventory(catalog)
    black = await inventory.variants_in_store("BOOT", "MI", colour="Nero")
    assert [(v.size, v.stock.status) for v in black] == [
        ("40", Status.IN_STOCK),
        ("41", Status.OUT_OF_STOCK),
        ("42", Status.LAST_PIECES),
    ]
    every = await inventory.variants_in_store("BOOT", "MI")
    assert [(v.colour, v.size) for v in every] == [
        ("marrone", "41"),
        ("nero", "40"),
        ("nero", "41"),
        ("nero", "42"),
    ]
    with pytest.raises(UnknownVariant) as error:
        await inventory.variants_in_store("BOOT", "MI", colour="verde")
    assert error.value.options == ["marrone", "nero"]
    with pytest.raises(UnknownProduct):
        await inventory.variants_in_store("NOPE", "MI")
    with pytest.raises(UnknownStore):
        await inventory.variants_in_store("BOOT", "XX")


async def test_online_stock(catalog: Database) -> None:
    await set_stock(catalog, "online", "TEE-BIA-M", 12)
    inventory = SqlInventory(catalog)
    level = await inventory.online("TEE-BIA-M")
    assert (level.location, level.available, level.status) == ("online", 12, Status.IN_STOCK)
    never = await inventory.online("BOOT-NER-40")
    assert (never.status, never.updated_at) == (Status.OUT_OF_STOCK, None)


async def test_a_size_the_product_never_has(catalog: Database) -> None:
    async with catalog.sessions() as session:
        product = await get_product(session, "BOOT")
        with pytest.raises(UnknownProduct):
            await get_product(session, "NOPE")
        assert await product_code_of(session, "BOOT-NER-41") == ("BOOT", "BOOT-NER-41")
        assert await product_code_of(session, "NOPE") is None
    assert product.sizes == ["40", "41", "42"] and product.colours == ["marrone", "nero"]
    assert [v.sku for v in product.variants_for(size="41")] == ["BOOT-MAR-41", "BOOT-NER-41"]
    assert [v.sku for v in product.variants_for(size="41", colour="marrone")] == ["BOOT-MAR-41"]
    with pytest.raises(UnknownVariant) as error:
        product.variants_for(size="45")
    assert (error.value.what, error.value.options) == ("size", ["40", "41", "42"])
    with pytest.raises(UnknownVariant) as error:
        product.variants_for(size="40", colour="marrone")
    assert error.value.options == ["41"]


async def _plan(db: Database, statement: object, params: dict[str, object]) -> str:
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            await conn.exec_driver_sql(
                "SET enable_seqscan = off"
            )  # tiny tables: what *can* it use?
        return "\n".join(await explain(conn, statement, params))


async def test_availability_and_stocked_stores_use_indexes(catalog: Database) -> None:
    plan = await _plan(catalog, AVAILABILITY_QUERY, {"sku": "BOOT-NER-41", "store_code": "MI"})
    nearest = await _plan(catalog, STOCKED_STORES_QUERY, {"sku": "BOOT-NER-41"})
    if catalog.is_sqlite:
        for p in (plan, nearest):
            assert "SCAN" not in p, p
        assert "store_stock USING PRIMARY KEY (variant_id=? AND store_id=?)" in plan, plan
        assert "variants USING COVERING INDEX" in plan and "(sku=?)" in plan, plan
        assert "stores USING INDEX" in plan and "(code=?)" in plan, plan
        assert "store_stock USING PRIMARY KEY (variant_id=?)" in nearest, nearest
    else:
        assert "Seq Scan" not in plan and "pk_store_stock" in plan, plan
        assert "Seq Scan" not in nearest and "pk_store_stock" in nearest, nearest

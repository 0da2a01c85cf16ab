"""Is a variant available, where, and how many: the ``InventoryProvider`` port and its SQL
implementation.

The port speaks business keys (SKU, store code, product code), never database ids, so an
adapter for a commerce platform (Shopify locations, Magento sources) can live in
``integrations/`` and implement it without touching this package.

Status rule, with ``available = on_hand - reserved`` (reserved pieces are held for
bookings and not for sale) and the configured safety stock (``VETRINA_SAFETY_STOCK``):
``out_of_stock`` when nothing is available, ``last_pieces`` when fewer than the safety
stock are (bookings refuse those), ``in_stock`` otherwise.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vetrina.catalog.errors import UnknownProduct, UnknownSku, UnknownStore, UnknownVariant
from vetrina.catalog.models import OnlineStock, Product, Store, StoreStock, Variant
from vetrina.catalog.products import size_key
from vetrina.catalog.stores import (
    Coordinates,
    StoreDirectory,
    StoreInfo,
    distance_km,
    fold,
    load_store_directory,
)
from vetrina.storage.database import Database

ONLINE = "online"  # the location code of the web shop's stock, in feeds and in StockLevel


class Status(str, enum.Enum):
    IN_STOCK = "in_stock"
    LAST_PIECES = "last_pieces"
    OUT_OF_STOCK = "out_of_stock"


def status_for(available: int, safety_stock: int) -> Status:
    if available <= 0:
        return Status.OUT_OF_STOCK
    if available < safety_stock:
        return Status.LAST_PIECES
    return Status.IN_STOCK


@dataclass(frozen=True)
class StockLevel:
    """One variant at one location (a store code, or ``"online"``)."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    status: Status
    updated_at: datetime | None = None  # None: never counted there (no stock row)

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved)

    @property
    def bookable(self) -> bool:
        """Whether a try-on booking may hold a piece here: never on the last pieces."""
        return self.status is Status.IN_STOCK


@dataclass(frozen=True)
class NearbyStock:
    store: StoreInfo
    distance_km: float
    stock: StockLevel


@dataclass(frozen=True)
class VariantStock:
    sku: str
    size: str
    colour: str
    stock: StockLevel


@runtime_checkable
class InventoryProvider(Protocol):
    """Where the assistant asks about stock. Every method raises the catalog errors
    (UnknownSku, UnknownStore, UnknownProduct, UnknownVariant) rather than returning
    an empty answer for a key that does not exist."""

    async def availability(self, sku: str, store_code: str) -> StockLevel:
        """The variant in one store (out_of_stock when the store never had it)."""

    async def online(self, sku: str) -> StockLevel:
        """The variant in the web shop."""

    async def nearest_with_stock(
        self,
        sku: str,
        origin: Coordinates,
        *,
        limit: int = 5,
        within_km: float | None = None,
        include_last_pieces: bool = True,
    ) -> list[NearbyStock]:
        """Active stores that have the variant, nearest first (ties by store code)."""

    async def variants_in_store(
        self, product_code: str, store_code: str, *, colour: str | None = None
    ) -> list[VariantStock]:
        """Every variant of a product (optionally one colour) with its stock in one store,
        sorted by colour then size: "not in 42, but 41 and 43 are there"."""

    async def stores(self) -> StoreDirectory:
        """The store directory (for nearest stores regardless of stock, hours, cities)."""


# The availability probe: unique SKU index, unique store-code index, then one primary-key
# probe of store_stock. Kept at module level so the benchmark can EXPLAIN the same SQL.
AVAILABILITY_QUERY = (
    select(Variant.id, Store.id, StoreStock.on_hand, StoreStock.reserved, StoreStock.updated_at)
    .select_from(Variant)
    .join(Store, Store.code == bindparam("store_code"))
    .outerjoin(
        StoreStock, and_(StoreStock.variant_id == Variant.id, StoreStock.store_id == Store.id)
    )
    .where(Variant.sku == bindparam("sku"), Store.active.is_(True))
)

# Stores holding a variant: a range scan of store_stock's (variant_id, store_id) key.
STOCKED_STORES_QUERY = (
    select(StoreStock.store_id, StoreStock.on_hand, StoreStock.reserved, StoreStock.updated_at)
    .join(Variant, Variant.id == StoreStock.variant_id)
    .where(Variant.sku == bindparam("sku"), StoreStock.on_hand > StoreStock.reserved)
)

ONLINE_QUERY = (
    select(Variant.id, OnlineStock.on_hand, OnlineStock.reserved, OnlineStock.updated_at)
    .outerjoin(OnlineStock, OnlineStock.variant_id == Variant.id)
    .where(Variant.sku == bindparam("sku"))
)

PRODUCT_IN_STORE_QUERY = (
    select(
        Variant.sku,
        Variant.size,
        Variant.colour,
        StoreStock.on_hand,
        StoreStock.reserved,
        StoreStock.updated_at,
    )
    .join(Product, Product.id == Variant.product_id)
    .outerjoin(
        StoreStock,
        and_(StoreStock.variant_id == Variant.id, StoreStock.store_id == bindparam("store_id")),
    )
    .where(Product.code == bindparam("product_code"))
)


async def explain(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> list[str]:
    """The database's plan for one of the queries above (EXPLAIN QUERY PLAN on SQLite,
    EXPLAIN on PostgreSQL), with ``params`` inlined: what the benchmark and tests check."""
    sql = str(
        statement.params(**params).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    if conn.dialect.name == "sqlite":
        rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
        return [str(row[-1]) for row in rows]
    rows = await conn.exec_driver_sql("EXPLAIN " + sql)
    return [str(row[0]) for row in rows]


class SqlInventory:
    """The built-in provider: stock in this database, stores cached in memory for
    ``store_cache_seconds`` (they change a few times a year; a miss reloads at once)."""

    def __init__(
        self, db: Database, *, safety_stock: int = 2, store_cache_seconds: float = 60.0
    ) -> None:
        self._db = db
        self.safety_stock = safety_stock
        self._cache_seconds = store_cache_seconds
        self._directory: StoreDirectory | None = None
        self._loaded_at = 0.0

    def level(
        self,
        sku: str,
        location: str,
        on_hand: int | None,
        reserved: int | None,
        updated_at: datetime | None,
    ) -> StockLevel:
        on_hand, reserved = on_hand or 0, reserved or 0
        return StockLevel(
            sku,
            location,
            on_hand,
            reserved,
            status_for(on_hand - reserved, self.safety_stock),
            updated_at,
        )

    async def stores(self, *, refresh: bool = False) -> StoreDirectory:
        stale = time.monotonic() - self._loaded_at > self._cache_seconds
        if self._directory is None or stale or refresh:
            async with self._db.sessions() as session:
                self._directory = await load_store_directory(session)
            self._loaded_at = time.monotonic()
        return self._directory

    def forget_stores(self) -> None:
        """Drop the cached directory (after a store import in this process)."""
        self._directory = None

    async def availability(self, sku: str, store_code: str) -> StockLevel:
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(AVAILABILITY_QUERY, {"sku": sku, "store_code": store_code})
            ).first()
            if row is None:
                await self._explain_missing(conn, sku, store_code)
        assert row is not None  # noqa: S101  (_explain_missing always raises)
        return self.level(sku, store_code, row.on_hand, row.reserved, row.updated_at)

    async def online(self, sku: str) -> StockLevel:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(ONLINE_QUERY, {"sku": sku})).first()
        if row is None:
            raise UnknownSku(sku)
        return self.level(sku, ONLINE, row.on_hand, row.reserved, row.updated_at)

    async def nearest_with_stock(
        self,
        sku: str,
        origin: Coordinates,
        *,
        limit: int = 5,
        within_km: float | None = None,
        include_last_pieces: bool = True,
    ) -> list[NearbyStock]:
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(STOCKED_STORES_QUERY, {"sku": sku})).all()
            if not rows:
                await self._check_sku(conn, sku)
                return []
        directory = await self.stores()
        if any(directory.by_id(row.store_id) is None for row in rows):
            directory = await self.stores(refresh=True)
        found = []
        for row in rows:
            store = directory.by_id(row.store_id)
            if store is None or not store.active:
                continue
            level = self.level(sku, store.code, row.on_hand, row.reserved, row.updated_at)
            if level.status is Status.LAST_PIECES and not include_last_pieces:
                continue
            distance = distance_km(origin, store.location)
            if within_km is None or distance <= within_km:
                found.append(NearbyStock(store, distance, level))
        found.sort(key=lambda n: (n.distance_km, n.store.code))
        return found[:limit]

    async def variants_in_store(
        self, product_code: str, store_code: str, *, colour: str | None = None
    ) -> list[VariantStock]:
        store_id = await self._store_id(store_code)
        async with self._db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    PRODUCT_IN_STORE_QUERY, {"product_code": product_code, "store_id": store_id}
                )
            ).all()
        if not rows:
            raise UnknownProduct(product_code)
        if colour is not None:
            colours = sorted({row.colour for row in rows})
            rows = [row for row in rows if fold(row.colour) == fold(colour)]
            if not rows:
                raise UnknownVariant(product_code, "colour", colour, colours)
        result = [
            VariantStock(
                row.sku,
                row.size,
                row.colour,
                self.level(row.sku, store_code, row.on_hand, row.reserved, row.updated_at),
            )
            for row in rows
        ]
        result.sort(key=lambda v: (v.colour, size_key(v.size)))
        return result

    async def _store_id(self, store_code: str) -> int:
        directory = await self.stores()
        try:
            store = directory.get(store_code)
        except UnknownStore:
            directory = await self.stores(refresh=True)
            store = directory.get(store_code)
        if not store.active:
            raise UnknownStore(store_code)
        return directory.id_of(store_code)

    async def _check_sku(self, conn: AsyncConnection, sku: str) -> None:
        if await conn.scalar(select(Variant.id).where(Variant.sku == sku)) is None:
            raise UnknownSku(sku)

    async def _explain_missing(self, conn: AsyncConnection, sku: str, store_code: str) -> None:
        await self._check_sku(conn, sku)
        raise UnknownStore(store_code)

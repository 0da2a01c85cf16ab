"""Upserting validated rows: catalog by SKU and product code, stores by code, stock by
(store, SKU). Used by the file importer, the demo loader and the stock endpoint, always
inside the caller's transaction, so a failure anywhere leaves nothing half-written.

Upserts are ``INSERT … ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL both have it),
sent as one executemany per chunk. A catalog import restates the price and promotions of
every variant it lists; stock feeds set ``on_hand`` only, because ``reserved`` belongs to
Vetrina's bookings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.models import OnlineStock, Product, Promotion, Store, StoreStock, Variant
from vetrina.catalog.validation import ONLINE_LOCATION, ProductRow, StockLine, StoreRow
from vetrina.storage.base import table_of, utcnow

CHUNK = 1000
K = TypeVar("K")
Progress = Callable[[int], None]  # called with the number of rows just written


@dataclass
class Written:
    """Rows written: new and updated where the writer knows, else only how many were set."""

    created: int = 0
    updated: int = 0
    set: int | None = None

    def __str__(self) -> str:
        if self.set is not None:
            return f"{self.set} set"
        return f"{self.created} new, {self.updated} updated"


def chunks(items: Sequence[K], size: int = CHUNK) -> Iterable[Sequence[K]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def upsert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; where ``keys`` already exist, overwrite the ``update`` columns."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
    )
    for chunk in chunks(rows):
        await session.execute(statement, list(chunk))


async def ids_by(
    session: AsyncSession, column: Any, id_column: Any, values: Iterable[str]
) -> dict[str, int]:
    """``{value: id}`` for the values that exist, looked up 500 at a time."""
    wanted = sorted(set(values))
    found: dict[str, int] = {}
    for chunk in chunks(wanted, 500):
        for value, id_ in await session.execute(select(column, id_column).where(column.in_(chunk))):
            found[value] = id_
    return found


async def write_catalog(
    session: AsyncSession,
    products: Sequence[ProductRow],
    *,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Written]:
    """Upsert products and their variants; replace those variants' promotions."""
    at = at or utcnow()
    existing_products = await ids_by(session, Product.code, Product.id, (p.code for p in products))
    await upsert(
        session,
        table_of(Product),
        [{"code": p.code, **p.fields(), "created_at": at, "updated_at": at} for p in products],
        ["code"],
        [
            "name_it",
            "name_en",
            "category",
            "brand",
            "description_it",
            "description_en",
            "images",
            "updated_at",
        ],
    )
    product_ids = await ids_by(session, Product.code, Product.id, (p.code for p in products))
    variants = [(p, v) for p in products for v in p.variants]
    existing_variants = await ids_by(session, Variant.sku, Variant.id, (v.sku for _, v in variants))
    rows = [
        {
            "product_id": product_ids[p.code],
            "sku": v.sku,
            "ean": v.ean,
            "size": v.size,
            "colour": v.colour,
            "price_cents": v.price_cents,
            "currency": v.currency,
            "created_at": at,
            "updated_at": at,
        }
        for p, v in variants
    ]
    for chunk in chunks(rows):
        await upsert(
            session,
            table_of(Variant),
            chunk,
            ["sku"],
            ["product_id", "ean", "size", "colour", "price_cents", "currency", "updated_at"],
        )
        if progress:
            progress(len(chunk))
    variant_ids = await ids_by(session, Variant.sku, Variant.id, (v.sku for _, v in variants))
    for ids in chunks(list(variant_ids.values()), 500):
        await session.execute(delete(Promotion).where(Promotion.variant_id.in_(ids)))
    promotions = [
        {
            "variant_id": variant_ids[v.sku],
            "name": t.name,
            "kind": t.kind,
            "value": t.value,
            "starts_at": t.starts_at,
            "ends_at": t.ends_at,
        }
        for _, v in variants
        for t in v.promotions
    ]
    for chunk in chunks(promotions):
        await session.execute(table_of(Promotion).insert(), list(chunk))
    return {
        "products": _written(existing_products, (p.code for p in products)),
        "variants": _written(existing_variants, (v.sku for _, v in variants)),
        "promotions": Written(set=len(promotions)),
    }


async def write_stores(
    session: AsyncSession,
    stores: Sequence[StoreRow],
    *,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Written]:
    at = at or utcnow()
    existing = await ids_by(session, Store.code, Store.id, (s.code for s in stores))
    columns = [
        "name",
        "city",
        "address",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "timezone",
        "phone",
        "opening_hours",
        "hours_exceptions",
        "services",
        "active",
    ]
    rows = [
        {
            "code": s.code,
            **{c: getattr(s, c) for c in columns},
            "services": list(s.services),
            "created_at": at,
            "updated_at": at,
        }
        for s in stores
    ]
    await upsert(session, table_of(Store), rows, ["code"], [*columns, "updated_at"])
    if progress:
        progress(len(rows))
    return {"stores": _written(existing, (s.code for s in stores))}


@dataclass(frozen=True)
class ResolvedStock:
    variant_id: int
    store_id: int | None  # None: the web shop
    on_hand: int


async def resolve_stock(
    session: AsyncSession, lines: Sequence[StockLine]
) -> tuple[list[ResolvedStock | None], dict[int, str]]:
    """Database ids for each line, and ``{index: reason}`` for unknown SKUs or stores and
    for a (store, SKU) given twice in one batch."""
    variants = await ids_by(session, Variant.sku, Variant.id, (line.sku for line in lines))
    stores = await ids_by(
        session,
        Store.code,
        Store.id,
        (line.store for line in lines if line.store != ONLINE_LOCATION),
    )
    resolved: list[ResolvedStock | None] = []
    problems: dict[int, str] = {}
    seen: dict[tuple[str, str], int] = {}
    for index, line in enumerate(lines):
        reasons = []
        if line.sku not in variants:
            reasons.append(f"unknown SKU {line.sku!r}")
        if line.store != ONLINE_LOCATION and line.store not in stores:
            reasons.append(f"unknown store {line.store!r}")
        first = seen.setdefault((line.store, line.sku), index)
        if first != index:
            reasons.append(
                f"store {line.store!r} and SKU {line.sku!r} already given at item {first}"
            )
        if reasons:
            problems[index] = "; ".join(reasons)
            resolved.append(None)
            continue
        store_id = None if line.store == ONLINE_LOCATION else stores[line.store]
        resolved.append(ResolvedStock(variants[line.sku], store_id, line.on_hand))
    return resolved, problems


async def write_stock(
    session: AsyncSession,
    items: Sequence[ResolvedStock],
    *,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Written]:
    """Set ``on_hand`` (and ``updated_at``) per (store, variant); the same batch twice
    leaves the same stock."""
    at = at or utcnow()
    in_store = [
        {
            "variant_id": i.variant_id,
            "store_id": i.store_id,
            "on_hand": i.on_hand,
            "reserved": 0,
            "updated_at": at,
        }
        for i in items
        if i.store_id is not None
    ]
    online = [
        {"variant_id": i.variant_id, "on_hand": i.on_hand, "reserved": 0, "updated_at": at}
        for i in items
        if i.store_id is None
    ]
    for chunk in chunks(in_store):
        await upsert(
            session,
            table_of(StoreStock),
            chunk,
            ["variant_id", "store_id"],
            ["on_hand", "updated_at"],
        )
        if progress:
            progress(len(chunk))
    for chunk in chunks(online):
        await upsert(
            session, table_of(OnlineStock), chunk, ["variant_id"], ["on_hand", "updated_at"]
        )
        if progress:
            progress(len(chunk))
    return {"store stock": Written(set=len(in_store)), "online stock": Written(set=len(online))}


def _written(existing: dict[str, int], keys: Iterable[str]) -> Written:
    keys = list(keys)
    old = sum(1 for key in keys if key in existing)
    return Written(created=len(keys) - old, updated=old)

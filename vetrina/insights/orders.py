"""Taking in orders and till sales: a batch is checked whole, then applied whole.

:func:`check_batch` finds every problem of every record (shape, unknown store or SKU,
refund of an unknown order, an ``order_id`` already recorded with other contents) and
:func:`apply_batch` writes nothing unless there are none (or the caller asks to skip
the bad ones). Records are idempotent by (``source``, ``order_id``): one already stored
with the same contents is counted as ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.models import Product, Store, Variant
from vetrina.insights.models import ORDER_CONTACTS, ORDERS, Order, OrderContact
from vetrina.insights.reconciliation import Keys, match_orders
from vetrina.insights.records import SOURCES, OrderRecord, parse_record
from vetrina.storage.base import utcnow
from vetrina.storage.bulk import copy_rows, is_postgres, next_ids

MAX_BATCH = 1000
CHUNK = 500


@dataclass(frozen=True)
class RecordProblem:
    index: int  # position in the batch (0-based); the importer maps it to a line
    order_id: str | None
    reason: str


@dataclass
class BatchResult:
    records: int = 0
    applied: int = 0  # newly stored
    unchanged: int = 0  # already stored with the same contents
    matched: int = 0  # newly stored and matched to a customer
    problems: list[RecordProblem] = field(default_factory=list)
    order_pks: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Checked:
    records: dict[int, OrderRecord]
    problems: dict[int, list[str]]
    unchanged: set[int]
    products: dict[str, str]  # sku -> product code
    originals: dict[tuple[str, str], tuple[int, int]]  # stored (source, id) -> (pk, left)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _order_id(raw: Any) -> str | None:
    value = raw.get("order_id") if isinstance(raw, dict) else None
    return str(value)[:64] if value is not None else None


async def check_batch(
    session: AsyncSession,
    raws: Sequence[Any],
    *,
    now: datetime | None = None,
    region: str = "IT",
) -> _Checked:
    now = now or utcnow()
    records: dict[int, OrderRecord] = {}
    problems: dict[int, list[str]] = {}
    for index, raw in enumerate(raws):
        record, reasons = parse_record(raw, now=now, region=region)
        if record is None:
            problems[index] = reasons
        else:
            records[index] = record

    def bad(index: int, reason: str) -> None:
        problems.setdefault(index, []).append(reason)

    # Stores and SKUs.
    stores = sorted({r.store for r in records.values() if r.store})
    known_stores: set[str] = set()
    for chunk in _chunks(stores):
        known_stores.update(
            (await session.scalars(select(Store.code).where(Store.code.in_(chunk)))).all()
        )
    skus = sorted({line.sku for r in records.values() for line in r.lines})
    products: dict[str, str] = {}
    for chunk in _chunks(skus):
        rows = await session.execute(
            select(Variant.sku, Product.code)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.sku.in_(chunk))
        )
        products.update({sku: code for sku, code in rows})
    for index, record in records.items():
        if record.store and record.store not in known_stores:
            bad(index, f"store: unknown store {record.store!r}")
        for number, line in enumerate(record.lines, start=1):
            if line.sku not in products:
                bad(index, f"lines[{number}].sku: unknown SKU {line.sku!r}")

    # The same (source, order_id) twice in the batch, or already stored.
    first: dict[tuple[str, str], int] = {}
    unchanged: set[int] = set()
    for index, record in records.items():
        earlier = first.setdefault(record.key, index)
        if earlier != index:
            if records[earlier].digest == record.digest:
                unchanged.add(index)
            else:
                bad(index, f"order_id: {record.order_id!r} appears twice with different contents")
    wanted = sorted(
        {r.key for r in records.values()}
        | {(r.source, r.refund_of) for r in records.values() if r.refund_of}
    )
    stored: dict[tuple[str, str], tuple[int, str, str, int]] = {}
    for source in SOURCES:
        # One source at a time, a plain IN of order ids (the unique index is on source,
        # order_id): a tuple IN of a thousand pairs took longer to compile than to run.
        ids = [order_id for s, order_id in wanted if s == source]
        for chunk in _chunks(ids):
            rows = await session.execute(
                select(Order.order_id, Order.id, Order.digest, Order.kind, Order.total_cents).where(
                    Order.source == source, Order.order_id.in_(chunk)
                )
            )
            for order_id, pk, digest, kind, total in rows:
                stored[(source, order_id)] = (pk, digest, kind, total)
    for index, record in records.items():
        existing = stored.get(record.key)
        if existing is None or index in unchanged:
            continue
        if existing[1] == record.digest:
            unchanged.add(index)
        else:
            bad(
                index,
                f"order_id: {record.order_id!r} is already recorded with different contents "
                "(send a refund to change a sale)",
            )

    # Refunds: of a known order (stored, or an order in this batch), not beyond its total.
    originals: dict[tuple[str, str], tuple[int, int]] = {}
    refunded_pks = [v[0] for v in stored.values() if v[2] == "order"]
    already: dict[int, int] = {}
    for chunk in _chunks(refunded_pks):
        rows = await session.execute(
            select(Order.refund_of_id, func.sum(Order.total_cents))
            .where(Order.refund_of_id.in_(chunk))
            .group_by(Order.refund_of_id)
        )
        already.update({int(pk): int(total or 0) for pk, total in rows})
    in_batch = {r.key: r for i, r in records.items() if r.kind == "order" and i not in problems}
    left: dict[tuple[str, str], int] = {}
    for index, record in sorted(records.items()):
        if record.kind != "refund" or index in unchanged or record.refund_of is None:
            continue
        target = (record.source, record.refund_of)
        if target in stored and stored[target][2] == "order":
            pk, _, _, total = stored[target]
            originals[target] = (pk, total)
            remaining = left.setdefault(target, total - already.get(pk, 0))
        elif target in in_batch:
            remaining = left.setdefault(target, in_batch[target].total_cents)
        else:
            bad(index, f"refund_of: no {record.source} order {record.refund_of!r} is known")
            continue
        if record.total_cents > remaining:
            bad(
                index,
                f"total: refunds of {record.refund_of!r} would exceed what was paid",
            )
            continue
        left[target] = remaining - record.total_cents
    return _Checked(records, problems, unchanged, products, originals)


def problems_of(checked: _Checked, raws: Sequence[Any]) -> list[RecordProblem]:
    return [
        RecordProblem(index, _order_id(raws[index]), reason)
        for index in sorted(checked.problems)
        for reason in checked.problems[index]
    ]


async def apply_batch(
    session: AsyncSession,
    raws: Sequence[Any],
    *,
    now: datetime | None = None,
    region: str = "IT",
    skip_invalid: bool = False,
    max_batch: int | None = MAX_BATCH,
) -> BatchResult:
    """Check the batch; unless something is bad, store it and match its orders.

    Attribution is not done here: new orders wait (``attributed = false``) for
    :func:`vetrina.insights.attribution.attribute_pending`.
    """
    result = BatchResult(records=len(raws))
    if max_batch is not None and len(raws) > max_batch:
        result.problems.append(
            RecordProblem(-1, None, f"at most {max_batch} records per batch, got {len(raws)}")
        )
        return result
    checked = await check_batch(session, raws, now=now, region=region)
    result.problems = problems_of(checked, raws)
    if result.problems and not skip_invalid:
        return result
    result.unchanged = len(checked.unchanged)
    good = [
        (index, record)
        for index, record in sorted(checked.records.items())
        if index not in checked.problems and index not in checked.unchanged
    ]
    # Originals before refunds, so a refund can name an order of the same batch.
    good.sort(key=lambda item: (item[1].kind != "order", item[0]))
    pks: dict[tuple[str, str], int] = {k: v[0] for k, v in checked.originals.items()}
    # Sales are matched before they are written, so each row is inserted once with its
    # buyer (no read back and UPDATE per row); refunds follow their order afterwards.
    # Stand-in keys are negative, so they can never exclude a stored order.
    sales = [(i, r) for i, r in good if r.kind == "order"]
    matches = await match_orders(
        session,
        [
            Keys(
                -1 - i,
                r.booking_code,
                r.contact.shop_account,
                r.contact.loyalty_id,
                r.contact.phone,
                r.contact.email,
            )
            for i, r in sales
        ],
    )
    buyers = {
        r.key: (match.customer_id, match.key)
        for i, r in sales
        if (match := matches.get(-1 - i)) is not None
    }
    new_orders: list[tuple[int, OrderRecord]] = []
    for kind in ("order", "refund"):
        batch = [(i, r) for i, r in good if r.kind == kind]
        for chunk in _chunks(batch):
            rows = [_row(record, checked.products, pks, buyers) for _, record in chunk]
            returned: Sequence[tuple[int, str, str]]
            if is_postgres(session):
                # COPY with ids taken from the sequence first: a multi-row INSERT of
                # these rows cost PostgreSQL more to parse and plan than to write.
                for pk, row in zip(await next_ids(session, ORDERS, len(rows)), rows, strict=True):
                    row["id"] = pk
                await copy_rows(session, ORDERS, rows)
                returned = [(row["id"], row["source"], row["order_id"]) for row in rows]
            else:
                # One multi-row INSERT ... RETURNING ("insertmanyvalues"): no second query
                # for the ids. Rows come back keyed, not in order: asking for the order
                # (sort_by_parameter_order) makes SQLite insert one row per statement.
                returned = (
                    (
                        await session.execute(
                            insert(ORDERS).returning(
                                ORDERS.c.id, ORDERS.c.source, ORDERS.c.order_id
                            ),
                            rows,
                        )
                    )
                    .tuples()
                    .all()
                )
            for pk, source, order_id in returned:
                pks[(source, order_id)] = pk
            new_orders.extend((pks[r.key], r) for _, r in chunk)
    if new_orders:
        contacts = [
            {
                "order_pk": pk,
                "customer_id": buyers.get(r.key, (None, None))[0],
                "shop_account": r.contact.shop_account,
                "loyalty_id": r.contact.loyalty_id,
                "phone": r.contact.phone,
                "email": r.contact.email,
            }
            for pk, r in new_orders
        ]
        if not await copy_rows(session, ORDER_CONTACTS, contacts):
            await session.execute(insert(ORDER_CONTACTS), contacts)
        refunds = [pk for pk, r in new_orders if r.kind == "refund"]
        result.matched = len(buyers) + (await rematch(session, refunds) if refunds else 0)
    result.applied = len(new_orders)
    result.order_pks = [pk for pk, _ in new_orders]
    return result


def _row(
    record: OrderRecord,
    products: dict[str, str],
    pks: dict[tuple[str, str], int],
    buyers: dict[tuple[str, str], tuple[str, str]],
) -> dict[str, Any]:
    buyer, key = buyers.get(record.key, (None, None))
    return {
        "source": record.source,
        "order_id": record.order_id,
        "kind": record.kind,
        "refund_of_id": pks.get((record.source, record.refund_of)) if record.refund_of else None,
        "occurred_at": record.occurred_at,
        "store_code": record.store,
        "staff": record.staff,
        "booking_code": record.booking_code,
        "coupon": record.coupon,
        "currency": record.currency,
        "total_cents": record.total_cents,
        "lines": [
            {
                "sku": line.sku,
                "product_code": products.get(line.sku),
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in record.lines
        ],
        "digest": record.digest,
        "buyer_id": buyer,
        "matched_key": key,
        "distance_bucket": -1,
        "attributed": False,
    }


async def _set_buyers(session: AsyncSession, changes: list[dict[str, Any]]) -> None:
    """Give each order (``pk``) its ``buyer`` and ``key``, on the order and its contact
    row, and queue it for attribution again (one executemany per table)."""
    await session.execute(
        update(ORDERS)
        .where(ORDERS.c.id == bindparam("pk"))
        .values(buyer_id=bindparam("buyer"), matched_key=bindparam("key"), attributed=False),
        changes,
    )
    await session.execute(
        update(ORDER_CONTACTS)
        .where(ORDER_CONTACTS.c.order_pk == bindparam("pk"))
        .values(customer_id=bindparam("buyer")),
        changes,
    )


async def rematch(session: AsyncSession, order_pks: Sequence[int]) -> int:
    """Match (again) the given orders; changed ones go back to the attribution queue.

    A refund is not matched on its own: it follows the order it refunds. Returns how
    many of the given orders (and refunds) are matched now.
    """
    matched = 0
    for chunk in _chunks(sorted(set(order_pks))):
        rows = (
            await session.execute(
                select(
                    Order.id,
                    Order.kind,
                    Order.refund_of_id,
                    Order.booking_code,
                    Order.buyer_id,
                    Order.matched_key,
                    OrderContact.shop_account,
                    OrderContact.loyalty_id,
                    OrderContact.phone,
                    OrderContact.email,
                    OrderContact.customer_id,
                )
                .join(OrderContact, OrderContact.order_pk == Order.id)
                .where(Order.id.in_(chunk))
            )
        ).all()
        sales = [r for r in rows if r.kind == "order"]
        matches = await match_orders(
            session,
            [
                Keys(r.id, r.booking_code, r.shop_account, r.loyalty_id, r.phone, r.email)
                for r in sales
            ],
        )
        changes: list[dict[str, Any]] = []
        for row in sales:
            match = matches.get(row.id)
            buyer = match.customer_id if match else None
            key = match.key if match else None
            matched += match is not None
            if (buyer, key, buyer) != (row.buyer_id, row.matched_key, row.customer_id):
                changes.append({"pk": row.id, "buyer": buyer, "key": key})
        refunds = [r.id for r in rows if r.kind == "refund"]
        changed = [c["pk"] for c in changes]
        if changes:
            await _set_buyers(session, changes)
        # Refunds follow their order: the new refunds given, and those of changed orders.
        follow = select(Order.id).where(Order.refund_of_id.in_(changed)) if changed else None
        targets = set(refunds)
        if follow is not None:
            targets.update((await session.scalars(follow)).all())
        if targets:
            originals = (
                await session.execute(
                    select(Order.id, Order.refund_of_id).where(Order.id.in_(sorted(targets)))
                )
            ).all()
            of = {pk: parent for pk, parent in originals}
            parents = {
                pk: (buyer, key)
                for pk, buyer, key in await session.execute(
                    select(Order.id, Order.buyer_id, Order.matched_key).where(
                        Order.id.in_(sorted({p for p in of.values() if p is not None}))
                    )
                )
            }
            follows = [
                {
                    "pk": pk,
                    "buyer": parents.get(parent, (None, None))[0],
                    "key": parents.get(parent, (None, None))[1],
                }
                for pk, parent in of.items()
                if parent is not None
            ]
            matched += sum(1 for f in follows if f["pk"] in refunds and f["buyer"])
            if follows:
                await _set_buyers(session, follows)
    return matched


async def customer_orders(
    session: AsyncSession, customer_ids: Sequence[str], *, limit: int = 50
) -> list[dict[str, Any]]:
    """A person's orders for the timeline, the console profile and the export (newest
    first): store, items, total and the key that matched. The gateway merges this into
    the customer views (the customers package must not import insights)."""
    rows = (
        await session.scalars(
            select(Order)
            .where(Order.buyer_id.in_(list(customer_ids)))
            .order_by(Order.occurred_at.desc(), Order.id.desc())
            .limit(limit)
        )
    ).all()
    return [order_json(order) for order in rows]


def order_json(order: Order) -> dict[str, Any]:
    """One order as the timeline, the profiles and the export show it (a refund's total
    is negative)."""
    return {
        "kind": order.kind,
        "source": order.source,
        "order_id": order.order_id,
        "occurred_at": order.occurred_at.isoformat(),
        "store": order.store_code,
        "items": [
            {
                "sku": line["sku"],
                "quantity": line["quantity"],
                "unit_price_cents": line["unit_price_cents"],
            }
            for line in order.lines
        ],
        "total_cents": order.total_cents if order.kind == "order" else -order.total_cents,
        "currency": order.currency,
        "matched_key": order.matched_key,
    }

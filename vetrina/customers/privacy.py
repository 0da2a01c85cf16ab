"""Privacy: export everything held about a customer, and erase it.

Both work on "the person": the customer and every customer merged into it (their rows
moved to it, their tombstones keep their old profile). The tables are the ones each
package registered in :mod:`vetrina.customers.registry` (every table with a
``customer_id`` foreign key to customers; an unregistered one stops the export and the
erasure), so a table added later is exported and erased without touching this module.

Erasure deletes the rows of every such table, the merge records, and the assistant's
memory (Rasa's tracker store, through :class:`~vetrina.customers.ports.AssistantMemory`);
the customer rows stay as anonymous tombstones (every personal field emptied, ``erased_at``
set) because **bookings** are kept, without anything personal, for the stores' day sheets
and the KPIs. What is left for the KPIs is a ``customer_erasures`` row of anonymous
counts (messages per channel and direction, interactions per kind, bookings per status).

What her link requests left with other customers goes too (:mod:`vetrina.customers.on_behalf`):
the stub customer made for a number she typed (its row, its identity, its conversation),
and the queued messages carrying her codes. Then, on SQLite, the write-ahead log is
checkpointed and emptied (:meth:`~vetrina.storage.database.Database.checkpoint`), so the
deleted rows are not left in it until the next automatic checkpoint.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import UnknownCustomer
from vetrina.customers.models import Customer, CustomerMerge, Erasure
from vetrina.customers.on_behalf import OnBehalf, made_on_behalf
from vetrina.customers.ports import AssistantMemory
from vetrina.customers.profile import profile
from vetrina.customers.registry import (
    check_complete,
    kept_on_erasure,
    notice_erasers,
    owned_tables,
    registered,
)
from vetrina.storage.base import Base, table_of, utcnow
from vetrina.storage.database import Database, affected

log = logging.getLogger(__name__)

# Columns not exported: secrets that are no personal data of the customer.
HIDDEN_COLUMNS = {"link_codes": {"code_hash"}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool, dict, list)) or value is None:
        return value
    return str(value)


async def person_ids(session: AsyncSession, customer_id: str) -> list[str]:
    """The customer and every customer merged into it (directly or through others)."""
    if await session.get(Customer, customer_id) is None:
        raise UnknownCustomer(customer_id)
    ids = [customer_id]
    frontier = [customer_id]
    while frontier:
        rows = (
            await session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(frontier)))
        ).all()
        frontier = [r for r in rows if r not in ids]
        ids.extend(frontier)
    return ids


async def export_customer(
    db: Database, customer_id: str, memory: AssistantMemory | None = None
) -> dict[str, Any]:
    """Everything held about the customer, as one JSON-able document."""
    async with db.sessions() as session:
        ids = await person_ids(session, customer_id)
        await check_complete(session)
        document: dict[str, Any] = {
            "exported_at": utcnow().isoformat(),
            "customer": await profile(session, customer_id),
            "merged_customers": [await profile(session, i) for i in ids[1:]],
            "tables": {},
        }
        for table in owned_tables():
            hidden = HIDDEN_COLUMNS.get(table.name, set())
            rows = (
                await session.execute(
                    select(table).where(table.c.customer_id.in_(ids)).order_by(
                        *table.primary_key.columns
                    )
                )
            ).mappings().all()
            document["tables"][table.name] = [
                {k: _jsonable(v) for k, v in row.items() if k not in hidden} for row in rows
            ]
        merges = (
            await session.scalars(
                select(CustomerMerge)
                .where(CustomerMerge.survivor_id.in_(ids) | CustomerMerge.merged_id.in_(ids))
                .order_by(CustomerMerge.id)
            )
        ).all()
        document["tables"]["customer_merges"] = [
            {c.name: _jsonable(getattr(m, c.key)) for c in table_of(CustomerMerge).columns}
            for m in merges
        ]
    document["assistant_events"] = await memory.recall(ids) if memory is not None else []
    return document


@dataclass(frozen=True)
class ErasureReport:
    customer_ids: list[str]
    counts: dict[str, Any]
    assistant_events_deleted: int
    already_erased: bool


PERSONAL_FIELDS = {
    "display_name": None,
    "language": None,
    "last_channel": None,
    "last_seen_at": None,
    "favourite_store_code": None,
    "notes": None,
    "merged_into_id": None,
}


async def _counts(session: AsyncSession, ids: Sequence[str]) -> dict[str, Any]:
    counts: dict[str, Any] = {"customers": len(ids)}
    for data in registered():
        if data.counts is not None:
            counts.update(await data.counts(session, ids))
    return counts


async def _delete_rows(
    session: AsyncSession, ids: Sequence[str], kept: Collection[str]
) -> Counter[str]:
    """Delete the rows of ``ids`` from every customer table but ``kept``; rows per table."""
    deleted: Counter[str] = Counter()
    tables = {t.name for t in owned_tables()}
    # Children before parents (messages before conversations).
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in tables or table.name in kept:
            continue
        result = await session.execute(table.delete().where(table.c.customer_id.in_(ids)))
        deleted[table.name] = affected(result)
    return deleted


async def _erase_on_behalf(session: AsyncSession, found: OnBehalf) -> dict[str, int]:
    """Her queued codes, wherever they wait, and the stubs made only to carry them."""
    notices = 0
    if found.recipients:
        for erase_notices in notice_erasers():
            notices += await erase_notices(session, found.recipients, found.carries_her_code)
    if found.stubs:
        await _delete_rows(session, found.stubs, kept=())
        await session.execute(delete(Customer).where(Customer.id.in_(found.stubs)))
    return {"customers": len(found.stubs), "notices": notices}


async def erase_customer(
    db: Database, customer_id: str, memory: AssistantMemory | None = None
) -> ErasureReport:
    """Remove the customer's personal data everywhere; safe to run again (it then only
    repeats the assistant's part, e.g. after Rasa was unreachable the first time)."""
    async with db.transaction() as session:
        ids = await person_ids(session, customer_id)
        await check_complete(session)
        customers = (
            await session.scalars(select(Customer).where(Customer.id.in_(ids)).with_for_update())
        ).all()
        already = all(c.erased_at is not None for c in customers)
        counts: dict[str, Any] = {}
        if not already:
            counts = await _counts(session, ids)
            now = utcnow()
            # Before her link_codes rows go: they are what leads to the rest.
            on_behalf = await _erase_on_behalf(session, await made_on_behalf(session, ids))
            await session.execute(
                delete(CustomerMerge).where(
                    CustomerMerge.survivor_id.in_(ids) | CustomerMerge.merged_id.in_(ids)
                )
            )
            deleted = await _delete_rows(session, ids, kept_on_erasure())
            for customer in customers:
                for name, value in PERSONAL_FIELDS.items():
                    setattr(customer, name, value)
                customer.sizes = {}
                customer.tags = []
                customer.erased_at = now
            counts["deleted_rows"] = dict(deleted)
            counts["on_behalf"] = on_behalf
            session.add(Erasure(erased_at=now, counts=counts))
    if not await db.checkpoint():
        log.warning("erasure: a reader kept the SQLite WAL from being emptied; the erased "
                    "rows leave it at the next checkpoint")
    forgotten = await memory.forget(ids) if memory is not None else 0
    return ErasureReport(ids, counts, forgotten, already)

"""Merging two customers into one, and undoing it.

``merge_customers(db, survivor_id, merged_id, actor=…, reason=…)`` moves everything the
merged customer owns to the survivor and records what moved, so that
``undo_merge(db, merge_id, actor=…)`` can put it back. The merged customer's row stays,
marked ``merged_into_id``, as the anchor of the undo.

What moves: every row of every table with a ``customer_id`` foreign key to customers
(identities, messages, interactions, bookings, consents, link codes, and whatever later
tables add). Customers cannot import the packages above it, so each package registers its
tables in :mod:`vetrina.customers.registry`, and a loaded table nobody registered stops the
merge. A package whose rows need more than a row-by-row move registers a ``move`` hook:
conversations moves messages into the survivor's conversation (one conversation per
customer), so both timelines become one, ordered by time, and the merged customer keeps
its (now empty) conversation row.

Profile rules (nothing is silently dropped: every value that loses is kept in the merge
record, ``profile.overridden``, and shown in the timeline's merge entry):

- name, language, favourite store: the value of the customer seen most recently wins;
  a field only one of them has is kept;
- last channel and last seen: the most recent;
- sizes (by kind of item): united; the same kind with two sizes → the most recent;
- tags: united, in order, no duplicates; notes: both kept, the survivor's first;
- marketing consents: every answer is kept (rows move), so the latest per channel is
  the current one;
- created: the earlier of the two.

Undo moves back the rows that moved and are still the survivor's, and restores each
profile field the merge changed unless it was changed again since (then the newer value
stays and is reported). Messages that arrived after the merge stay with the survivor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import (
    AlreadyUndone,
    CustomerGone,
    SelfMerge,
    UndoBlocked,
    UnknownCustomer,
    UnknownMerge,
)
from vetrina.customers.models import Customer, CustomerMerge
from vetrina.customers.ports import AssistantMemory
from vetrina.customers.profile import memory_slots
from vetrina.customers.registry import check_complete, customer_tables, registered
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

SCALAR_FIELDS = ("display_name", "language", "favourite_store_code")
PROFILE_FIELDS = (
    *SCALAR_FIELDS, "last_channel", "last_seen_at", "sizes", "tags", "notes", "created_at",
)
CHUNK = 500


@dataclass(frozen=True)
class MergeRecord:
    """A merge as the API and the console show it."""

    id: int
    survivor_id: str
    merged_id: str
    actor: str
    reason: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None
    moved: dict[str, int] = field(default_factory=dict)  # rows moved, per table
    overridden: dict[str, Any] = field(default_factory=dict)  # losing values
    # After an undo: fields left as they were because they changed after the merge.
    kept_on_undo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: CustomerMerge) -> MergeRecord:
        moved = {table: len(keys) for table, keys in (row.moved or {}).items()}
        profile = row.profile or {}
        return cls(
            id=row.id,
            survivor_id=row.survivor_id,
            merged_id=row.merged_id,
            actor=row.actor,
            reason=row.reason,
            created_at=row.created_at,
            undone_at=row.undone_at,
            undone_by=row.undone_by,
            moved=moved,
            overridden=dict(profile.get("overridden") or {}),
            kept_on_undo=dict(profile.get("kept_on_undo") or {}),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return json.loads(json.dumps(value, default=str))


def _from_json(name: str, value: Any) -> Any:
    if name in ("last_seen_at", "created_at") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _profile(customer: Customer) -> dict[str, Any]:
    return {name: _jsonable(getattr(customer, name)) for name in PROFILE_FIELDS}


def _recency(customer: Customer) -> datetime:
    return customer.last_seen_at or customer.updated_at or customer.created_at


def combine_profiles(
    survivor: Customer, merged: Customer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The survivor's new profile fields and the values that lost, by the rules above."""
    newer, older = (
        (merged, survivor) if _recency(merged) > _recency(survivor) else (survivor, merged)
    )
    values: dict[str, Any] = {}
    overridden: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        new, old = getattr(newer, name), getattr(older, name)
        values[name] = new if new else old
        if new and old and new != old:
            overridden[name] = old
    values["last_channel"] = newer.last_channel or older.last_channel
    values["last_seen_at"] = newer.last_seen_at or older.last_seen_at
    sizes = dict(older.sizes or {})
    for kind, size in (newer.sizes or {}).items():
        if kind in sizes and sizes[kind] != size:
            overridden.setdefault("sizes", {})[kind] = sizes[kind]
        sizes[kind] = size
    values["sizes"] = sizes
    tags = list(survivor.tags or [])
    values["tags"] = tags + [t for t in (merged.tags or []) if t not in tags]
    notes = [n for n in (survivor.notes, merged.notes) if n and n.strip()]
    values["notes"] = "\n\n".join(notes) if notes else None
    values["created_at"] = min(survivor.created_at, merged.created_at)
    return values, overridden


async def _live(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise UnknownCustomer(customer_id)
    if customer.merged_into_id:
        raise CustomerGone(customer_id, f"was merged into {customer.merged_into_id}")
    if customer.erased_at:
        raise CustomerGone(customer_id, "was erased")
    return customer


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """``items`` in slices small enough for an ``IN (…)`` list."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _key(table: Table) -> Any:
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 else tuple_(*columns)


async def merge_in(
    session: AsyncSession,
    survivor_id: str,
    merged_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> CustomerMerge:
    """:func:`merge_customers` inside the caller's transaction."""
    if survivor_id == merged_id:
        raise SelfMerge(survivor_id)
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or not reason:
        raise ValueError("a merge needs who does it (actor) and why (reason)")
    now = now or utcnow()
    # Lock in a fixed order, so two merges of the same pair cannot deadlock.
    first, second = sorted((survivor_id, merged_id))
    locked = {first: await _live(session, first), second: await _live(session, second)}
    survivor, merged = locked[survivor_id], locked[merged_id]

    await check_complete(session)
    moved: dict[str, list[Any]] = {}
    for data in registered():
        if data.move is not None:
            moved.update(await data.move(session, survivor_id, merged_id))
    for table in customer_tables():
        columns = list(table.primary_key.columns)
        keys = (
            await session.execute(select(*columns).where(table.c.customer_id == merged_id))
        ).all()
        if not keys:
            continue
        moved[table.name] = [k[0] if len(columns) == 1 else list(k) for k in keys]
        await session.execute(
            table.update().where(table.c.customer_id == merged_id).values(customer_id=survivor_id)
        )

    before = _profile(survivor)
    values, overridden = combine_profiles(survivor, merged)
    for name, value in values.items():
        setattr(survivor, name, value)
    merged.merged_into_id = survivor_id
    record = CustomerMerge(
        survivor_id=survivor_id,
        merged_id=merged_id,
        actor=actor[:200],
        reason=reason,
        moved=moved,
        profile={
            "before": before,
            "after": _profile(survivor),
            "overridden": _jsonable(overridden),
            "merged": _profile(merged),
        },
        created_at=now,
    )
    session.add(record)
    await session.flush()
    return record


async def merge_customers(
    db: Database,
    survivor_id: str,
    merged_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> MergeRecord:
    """Merge ``merged_id`` into ``survivor_id`` (one transaction); see the module docstring.

    Errors: :class:`SelfMerge`, :class:`UnknownCustomer`, :class:`CustomerGone` (already
    merged or erased), ``ValueError`` without an actor or a reason.
    """
    async with db.transaction() as session:
        record = await merge_in(
            session, survivor_id, merged_id, actor=actor, reason=reason, now=now
        )
    return MergeRecord.of(record)


async def undo_merge(
    db: Database, merge_id: int, *, actor: str, now: datetime | None = None
) -> MergeRecord:
    """Separate the two customers of merge ``merge_id`` again.

    Errors: :class:`UnknownMerge`, :class:`AlreadyUndone` (undoing twice),
    :class:`UndoBlocked` (the survivor was merged again or erased since).
    """
    actor = (actor or "").strip()
    if not actor:
        raise ValueError("an undo needs who does it (actor)")
    now = now or utcnow()
    async with db.transaction() as session:
        record = await session.scalar(
            select(CustomerMerge).where(CustomerMerge.id == merge_id).with_for_update()
        )
        if record is None:
            raise UnknownMerge(merge_id)
        if record.undone_at is not None:
            raise AlreadyUndone(merge_id, record.undone_at, record.undone_by)
        survivor = await session.scalar(
            select(Customer).where(Customer.id == record.survivor_id).with_for_update()
        )
        merged = await session.scalar(
            select(Customer).where(Customer.id == record.merged_id).with_for_update()
        )
        if survivor is None or merged is None:
            raise UndoBlocked(merge_id, "one of the customers no longer exists")
        if survivor.merged_into_id:
            raise UndoBlocked(
                merge_id,
                f"customer {survivor.id} was merged into {survivor.merged_into_id} since; "
                "undo that merge first",
            )
        if survivor.erased_at or merged.erased_at:
            raise UndoBlocked(merge_id, "a customer was erased since")

        await check_complete(session)
        moved = record.moved or {}
        for data in registered():
            if data.move_back is not None:
                await data.move_back(session, moved, survivor.id, merged.id)
        tables = {t.name: t for t in customer_tables()}
        for name, keys in moved.items():
            table = tables.get(name)
            if table is None:
                continue  # moved back by its package's hook, or a table that is gone
            key = _key(table)
            composite = len(table.primary_key.columns) > 1
            for chunk in chunks(keys):
                values = [tuple(k) for k in chunk] if composite else chunk
                await session.execute(
                    table.update()
                    .where(key.in_(values), table.c.customer_id == survivor.id)
                    .values(customer_id=merged.id)
                )

        profile = dict(record.profile or {})
        before, after = profile.get("before") or {}, profile.get("after") or {}
        current = _profile(survivor)
        kept: dict[str, Any] = {}
        for name in PROFILE_FIELDS:
            if name not in before:
                continue
            if current.get(name) == after.get(name):
                setattr(survivor, name, _from_json(name, before[name]))
            else:
                kept[name] = current.get(name)
        merged.merged_into_id = None
        record.undone_at = now
        record.undone_by = actor[:200]
        record.profile = {**profile, "kept_on_undo": kept}
        await session.flush()
    return MergeRecord.of(record)


async def merges_of(session: AsyncSession, customer_id: str) -> list[CustomerMerge]:
    """Every merge the customer took part in, oldest first."""
    return list(
        (
            await session.scalars(
                select(CustomerMerge)
                .where(
                    (CustomerMerge.survivor_id == customer_id)
                    | (CustomerMerge.merged_id == customer_id)
                )
                .order_by(CustomerMerge.created_at, CustomerMerge.id)
            )
        ).all()
    )


async def carry_memory(db: Database, memory: AssistantMemory, customer_id: str) -> dict[str, Any]:
    """Give the customer's conversation in the assistant the slots of their profile
    (language, product, size, colour, store): call it after a merge (for the survivor)
    or an undo (for the customer split off). Returns the slots set; raises whatever the
    memory raises (the merge itself stands either way)."""
    async with db.sessions() as session:
        slots = await memory_slots(session, customer_id)
    await memory.remember(customer_id, slots)
    return slots

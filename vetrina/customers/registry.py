"""Where packages above customers plug in the customer data they own.

Customers is the bottom domain package: it may not import conversations or bookings, yet
a merge must move their rows, an erasure must delete them, the timeline must show
messages and a link code must reach the customer through the outbox. Each package that
keeps rows per customer therefore *registers* them here when it is imported (its
``__init__`` calls :func:`register_customer_data`), and conversations registers the
outbox writer (:func:`register_outbox`). Customers calls the hooks without knowing who
answers.

A loaded table with a ``customer_id`` foreign key to customers that nobody registered is
still found (from the metadata) and treated the plain way: moved row by row on a merge,
exported, deleted on erasure. A package registers only to change that (its own move, rows
kept on erasure, counts, timeline entries) or to make sure its tables are loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, Table
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.storage.base import Base, table_of

__all__ = [
    "CustomerData",
    "NotRegistered",
    "Outbox",
    "TimelineSource",
    "customer_tables",
    "kept_on_erasure",
    "outbox",
    "owned_tables",
    "register_customer_data",
    "register_outbox",
    "registered",
    "table_of",
    "timeline_sources",
]

# (session, survivor_id, merged_id) → the keys moved, per table name (kept for the undo)
MergeMove = Callable[[AsyncSession, str, str], Awaitable[dict[str, list[Any]]]]
# (session, moved keys of this owner's tables, survivor_id, merged_id) → None
MergeMoveBack = Callable[[AsyncSession, Mapping[str, list[Any]], str, str], Awaitable[None]]
# (session, the person's customer ids) → anonymous counts kept after an erasure
ErasureCounts = Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, Any]]]
# (customer_id) → a SELECT of (kind, id, at) rows for the timeline
TimelineRows = Callable[[str], Select[Any]]
# (session, ids) → the timeline entries of those ids, by id
TimelineLoad = Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, dict[str, Any]]]]


@dataclass(frozen=True)
class TimelineSource:
    """One kind of timeline entry that another package keeps (e.g. messages)."""

    kind: str
    rows: TimelineRows
    load: TimelineLoad


@dataclass(frozen=True)
class CustomerData:
    """The rows one package keeps per customer, and how merge and erasure treat them.

    ``tables`` are moved row by row on a merge (and back on an undo) unless listed in
    ``moves_itself``, which ``move``/``move_back`` handle instead. Every table is exported
    and deleted on erasure, except those in ``kept_on_erasure``.
    """

    package: str
    tables: tuple[Table, ...]
    moves_itself: frozenset[str] = frozenset()
    move: MergeMove | None = None
    move_back: MergeMoveBack | None = None
    kept_on_erasure: frozenset[str] = frozenset()
    counts: ErasureCounts | None = None
    timeline: tuple[TimelineSource, ...] = field(default=())


class Outbox(Protocol):
    """Queues a message Vetrina itself sends (conversations implements it)."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        customer_id: str,
        channel: str,
        text: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None: ...


_DATA: dict[str, CustomerData] = {}
_OUTBOX: list[Outbox] = []


class NotRegistered(RuntimeError):
    """A hook customers needs was not registered (its package was never imported)."""


def register_customer_data(data: CustomerData) -> None:
    """Called once per package, from its ``__init__``; registering again replaces it."""
    _DATA[data.package] = data


def register_outbox(outbox: Outbox) -> None:
    _OUTBOX[:] = [outbox]


def registered() -> list[CustomerData]:
    return list(_DATA.values())


def outbox() -> Outbox:
    if not _OUTBOX:
        raise NotRegistered("no outbox registered: import vetrina.conversations first")
    return _OUTBOX[0]


def owned_tables() -> list[Table]:
    """Every table with customer rows, registered or found, parents first."""
    names = {t.name for data in _DATA.values() for t in data.tables}
    return [t for t in Base.metadata.sorted_tables if t.name in names or _points_to_customers(t)]


def customer_tables() -> list[Table]:
    """The registered tables a merge moves row by row, parents first."""
    special = {name for data in _DATA.values() for name in data.moves_itself}
    return [t for t in owned_tables() if t.name not in special]


def kept_on_erasure() -> frozenset[str]:
    return frozenset(name for data in _DATA.values() for name in data.kept_on_erasure)


def timeline_sources() -> list[TimelineSource]:
    return [source for data in _DATA.values() for source in data.timeline]


def _points_to_customers(table: Table) -> bool:
    column = table.c.get("customer_id")
    return column is not None and any(
        fk.column.table.name == "customers" for fk in column.foreign_keys
    )

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
kept on erasure, counts, timeline entries). Before a merge, an export or an erasure,
:func:`check_complete` compares with the database itself: a table there whose package
was never imported in this process stops the job (:class:`NotRegistered`) rather than
leaving that table's rows behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Select, Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.storage.base import Base, table_of

__all__ = [
    "CustomerData",
    "NotRegistered",
    "Outbox",
    "TimelineSource",
    "check_complete",
    "customer_tables",
    "kept_on_erasure",
    "notice_erasers",
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
# A queued message's payload → whether it is to go (e.g. it carries an erased one's code)
NoticeMatch = Callable[[Mapping[str, Any]], bool]
# (session, the customers it was queued to, match) → how many queued messages were deleted
EraseNotices = Callable[[AsyncSession, Sequence[str], NoticeMatch], Awaitable[int]]
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
    and deleted on erasure, except those in ``kept_on_erasure``. ``erase_notices``
    deletes messages Vetrina queued to *other* customers on the erased one's behalf (a
    link code sent to a number she typed), which no ``customer_id`` of hers points to.
    """

    package: str
    tables: tuple[Table, ...]
    moves_itself: frozenset[str] = frozenset()
    move: MergeMove | None = None
    move_back: MergeMoveBack | None = None
    kept_on_erasure: frozenset[str] = frozenset()
    counts: ErasureCounts | None = None
    erase_notices: EraseNotices | None = None
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
_CHECKED: set[str] = set()  # databases whose customer tables were all found loaded


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


def notice_erasers() -> list[EraseNotices]:
    return [data.erase_notices for data in _DATA.values() if data.erase_notices is not None]


def timeline_sources() -> list[TimelineSource]:
    return [source for data in _DATA.values() for source in data.timeline]


async def check_complete(session: AsyncSession) -> None:
    """Every table of the database with a ``customer_id`` foreign key to customers is
    loaded here (its package imported); :class:`NotRegistered` names the ones that are not.
    Checked once per database and process: the schema only changes with a migration."""
    key = str(session.get_bind().engine.url)
    if key in _CHECKED:
        return
    in_database = await session.run_sync(lambda sync: _customer_tables_in(sync.connection()))
    missing = in_database - {t.name for t in owned_tables()}
    if missing:
        raise NotRegistered(
            f"the database has customer rows in {sorted(missing)} but no package imported "
            "here owns them: import it (its __init__ registers it) before a merge, an "
            "export or an erasure"
        )
    _CHECKED.add(key)


def _customer_tables_in(connection: Connection) -> set[str]:
    inspector = inspect(connection)
    found = set()
    for name in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(name):
            if fk["referred_table"] == "customers" and "customer_id" in fk["constrained_columns"]:
                found.add(name)
    return found


def _points_to_customers(table: Table) -> bool:
    column = table.c.get("customer_id")
    return column is not None and any(
        fk.column.table.name == "customers" for fk in column.foreign_keys
    )

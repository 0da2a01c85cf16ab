"""No value longer than its ``VARCHAR`` column, on SQLite as on PostgreSQL.

SQLite ignores the length of ``VARCHAR(n)``: a 5000-character id would be stored in a
200-character column and only fail later, on PostgreSQL or in a copy. Before every ORM
flush, each new or changed row's ``String(n)`` values are measured, and a value that
does not fit stops the flush with :class:`ValueTooLong` (a ``ValueError``): the
transaction is rolled back and nothing is stored. Boundaries (webhooks, APIs) check
lengths first and answer 400; this is the guard for anything they miss.

Only ORM flushes are checked: Core ``insert()`` / ``update()`` statements are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import instance_state


class ValueTooLong(ValueError):
    """A value longer than its column allows."""

    def __init__(self, column: str, length: int, limit: int) -> None:
        super().__init__(f"{column}: {length} characters, at most {limit}")
        self.column = column
        self.length = length
        self.limit = limit


def check_lengths(instance: object) -> None:
    """Raise :class:`ValueTooLong` if a loaded ``String(n)`` value of ``instance`` is longer."""
    state = instance_state(instance)
    loaded = state.dict  # only what is in memory: never triggers a load
    for attribute in state.mapper.column_attrs:
        value = loaded.get(attribute.key)
        if not isinstance(value, str):
            continue
        for column in attribute.columns:
            limit = getattr(column.type, "length", None)
            if isinstance(column.type, String) and limit is not None and len(value) > limit:
                table = getattr(column.table, "name", state.mapper.class_.__name__)
                raise ValueTooLong(f"{table}.{column.name}", len(value), limit)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    changed: Iterable[object] = (*session.new, *session.dirty)
    for instance in changed:
        check_lengths(instance)

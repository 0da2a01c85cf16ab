"""Bulk writes on PostgreSQL through ``COPY``, inside the session's transaction.

A multi-row ``INSERT`` of a few hundred orders (18 columns, a JSON one) costs PostgreSQL
more to parse and plan than to write: ``COPY ... FROM STDIN`` streams the same rows for a
fraction of it. ``COPY`` returns nothing, so ids are taken from the table's sequence first
(:func:`next_ids`) and written with the rows. Other databases are not handled here:
callers fall back to ``insert()`` (``copy_rows`` returns False).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.ext.asyncio import AsyncSession


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def next_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """``count`` values of the sequence behind ``table.id``, in one round trip."""
    rows = await session.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": count},
    )
    return [int(value) for (value,) in rows]


def _default(table: Table, name: str) -> Any:
    """The column's Python-side default (``COPY`` only applies the server's)."""
    default = table.c[name].default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False) and callable(arg):
        return arg(None)  # SQLAlchemy wraps a plain callable to take the context
    return arg


async def copy_rows(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Write ``rows`` with ``COPY`` on PostgreSQL (False elsewhere: nothing written).

    Columns missing from the rows get their Python-side default, as ``insert()`` would
    give them; JSON columns are sent as JSON.
    """
    if not is_postgres(session):
        return False
    if not rows:
        return True
    from psycopg.types.json import Json  # only on PostgreSQL, where psycopg is the driver

    given = list(rows[0].keys())
    missing = [c.name for c in table.columns if c.name not in given and c.default is not None]
    names = given + missing
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    defaults = {name: _default(table, name) for name in missing}
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    columns = ", ".join(f'"{name}"' for name in names)
    async with (
        driver.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
    ):
        for row in rows:
            values = []
            for name in names:
                value = row[name] if name in row else defaults[name]
                values.append(Json(value) if name in json_columns and value is not None else value)
            await copy.write_row(values)
    return True

"""Consultant hours per store, instead of one timetable for the whole chain.

A store may have its own weekly timetable (one line of text, like
``VETRINA_CONSULTANT_HOURS``: ``"mon-fri 09:00-19:00; sat 10:00-13:00"``) in its own
time zone; a store without one, and the general queue, use the global timetable. The
row is keyed by store code (conversations does not read the catalog): the caller checks
that the store exists and passes its time zone.

- :func:`hours_for` answers a handoff request in the queue's store;
- :func:`duty_timetables` gives every timetable in use, for the widget's header.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.hours import HoursError, WeeklyHours
from vetrina.storage.audit import record
from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database

MAX_SPEC = 200


class StoreConsultantHours(Base):
    __tablename__ = "store_consultant_hours"

    store_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    hours: Mapped[str] = mapped_column(String(MAX_SPEC))
    timezone: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def parse_spec(spec: str, timezone: str) -> WeeklyHours:
    """The timetable of ``spec``; :class:`HoursError` saying what is wrong. An empty
    spec is not "always open" here: clearing a store's hours is a separate action."""
    if not spec.strip():
        raise HoursError("consultant hours are empty (clear them to use the global ones)")
    if len(spec) > MAX_SPEC:
        raise HoursError(f"consultant hours are longer than {MAX_SPEC} characters")
    return WeeklyHours.parse(spec, timezone)


async def store_hours(db: Database) -> dict[str, str]:
    """Store code → its own timetable's text (stores without one are absent)."""
    async with db.sessions() as session:
        rows = (await session.scalars(select(StoreConsultantHours))).all()
    return {r.store_code: r.hours for r in rows}


async def hours_for(
    session: AsyncSession, store_code: str | None, default: WeeklyHours
) -> WeeklyHours:
    """The timetable of a queue: the store's own, else ``default`` (the global one)."""
    if store_code is None:
        return default
    row = await session.get(StoreConsultantHours, store_code)
    if row is None:
        return default
    try:
        return WeeklyHours.parse(row.hours, row.timezone)
    except HoursError:  # checked when saved; a row edited by hand falls back
        return default


async def duty_timetables(
    session: AsyncSession, default: WeeklyHours
) -> list[tuple[str | None, WeeklyHours]]:
    """``(store code, timetable)`` of every store with its own hours, then
    ``(None, default)`` for every other store and the general queue."""
    found: list[tuple[str | None, WeeklyHours]] = []
    for row in (await session.scalars(select(StoreConsultantHours))).all():
        try:
            found.append((row.store_code, WeeklyHours.parse(row.hours, row.timezone)))
        except HoursError:
            continue
    found.append((None, default))
    return found


async def set_store_hours(
    db: Database, store_code: str, spec: str | None, timezone: str, *, actor: str
) -> str | None:
    """Save (or, with ``None``, clear) a store's consultant hours; the text saved."""
    cleaned = " ".join(spec.split()) if spec is not None else None
    if cleaned is not None:
        parse_spec(cleaned, timezone)
    async with db.transaction() as session:
        row = await session.get(StoreConsultantHours, store_code)
        before = row.hours if row is not None else None
        if cleaned == before:
            return cleaned
        if cleaned is None:
            await session.execute(
                delete(StoreConsultantHours).where(StoreConsultantHours.store_code == store_code)
            )
        elif row is None:
            session.add(StoreConsultantHours(
                store_code=store_code, hours=cleaned, timezone=timezone, updated_at=utcnow(),
            ))
        else:
            row.hours, row.timezone, row.updated_at = cleaned, timezone, utcnow()
        record(session, actor, "store.consultant_hours", f"store:{store_code}",
               before=before, after=cleaned)
    return cleaned

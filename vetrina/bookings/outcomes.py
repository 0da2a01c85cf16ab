"""What happened at the store: Arrived (check-in), Completed, No-show, and Undo.

Each action is one transaction whose **first statement is a conditional UPDATE of the
booking row** (``… WHERE status = …``): on PostgreSQL it takes the row lock, on SQLite
the write lock, so when two consultants click at once the second one waits, then finds
the booking already moved and gets :class:`OutcomeConflict` — never a double release.
Every action is kept in ``booking_outcome_events`` (who, when) and on the customer's
timeline (an interaction).

- **Arrived**: a confirmed booking gets a ``booking_checkins`` row. It stays confirmed
  and its items stay held: the no-show sweep skips checked-in bookings (see
  :func:`is_checked_in`).
- **Completed**: confirmed → completed; the held items go back to the shelf.
- **No-show**: confirmed and not checked in → no_show; the items go back.
- **Undo** the latest of those: completed or no_show → confirmed with the items held
  again (refused if the shelf no longer has them); a check-in is removed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    CursorResult,
    ForeignKey,
    Index,
    String,
    Table,
    delete,
    exists,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.bookings.calendar import normalise_code
from vetrina.bookings.models import Booking, BookingItem, BookingStatus
from vetrina.catalog.models import Store, StoreStock
from vetrina.customers.interactions import record_interaction
from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database

BOOKINGS = cast(Table, Booking.__table__)
STOCK = cast(Table, StoreStock.__table__)
CONFIRMED = BookingStatus.CONFIRMED.value
COMPLETED = BookingStatus.COMPLETED.value
NO_SHOW = BookingStatus.NO_SHOW.value
CANCELLED = BookingStatus.CANCELLED.value


class BookingCheckIn(Base):
    """The shopper arrived: a checked-in booking is never released as a no-show."""

    __tablename__ = "booking_checkins"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    checked_in_at: Mapped[datetime]
    checked_in_by: Mapped[str] = mapped_column(String(254))


class BookingOutcomeEvent(Base):
    """Every Arrived / Completed / No-show / Undo click: who and when."""

    __tablename__ = "booking_outcome_events"
    __table_args__ = (
        CheckConstraint("action IN ('arrived', 'completed', 'no_show', 'undo')", name="action"),
        Index("ix_booking_outcome_events_booking", "booking_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(12))
    undoes: Mapped[str | None] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Action(str, enum.Enum):
    ARRIVED = "arrived"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    UNDO = "undo"


TIMELINE_KIND = {
    Action.ARRIVED: "booking_arrived",
    Action.COMPLETED: "booking_completed",
    Action.NO_SHOW: "booking_no_show",
    Action.UNDO: "booking_outcome_undone",
}


class OutcomeError(Exception):
    """Base of the errors below; ``code`` is stable for the API."""

    code = "outcome_error"


class BookingUnknown(OutcomeError):  # 404
    code = "unknown_booking"


class WrongStore(OutcomeError):  # 422
    code = "wrong_store"


class OutcomeConflict(OutcomeError):  # 409
    code = "conflict"


@dataclass(frozen=True)
class OutcomeView:
    code: str
    store: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str | None
    action: str
    undid: str | None
    actor: str
    at: datetime


async def is_checked_in(session: AsyncSession, booking_id: int) -> bool:
    """For the no-show sweep: a checked-in booking is never released as a no-show."""
    found = await session.scalar(select(exists().where(BookingCheckIn.booking_id == booking_id)))
    return bool(found)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


class BookingOutcomes:
    def __init__(self, db: Database, *, safety_stock: int = 0) -> None:
        self._db = db
        # Re-holding items on undo does not apply the safety stock: the items were held
        # for this very booking a moment ago.
        self._safety_stock = safety_stock

    async def _move(
        self,
        session: AsyncSession,
        code: str,
        store: str | None,
        from_status: str,
        to_status: str,
        now: datetime,
        extra: Any = None,
    ) -> bool:
        """The conditional UPDATE that serialises concurrent clicks (first statement)."""
        conditions = [BOOKINGS.c.code == code, BOOKINGS.c.status == from_status]
        if store is not None:
            conditions.append(
                BOOKINGS.c.store_id == select(Store.id).where(Store.code == store).scalar_subquery()
            )
        if extra is not None:
            conditions.append(extra)
        result = await session.execute(
            update(BOOKINGS).where(*conditions).values(status=to_status, updated_at=now)
        )
        return _rowcount(result) == 1

    async def _explain(self, session: AsyncSession, code: str, store: str | None) -> OutcomeError:
        row = (
            await session.execute(
                select(Booking.status, Store.code)
                .join(Store, Store.id == Booking.store_id)
                .where(Booking.code == code)
            )
        ).first()
        if row is None:
            return BookingUnknown(code)
        if store is not None and row.code != store:
            return WrongStore(f"booking {code} is for store {row.code}, not {store}")
        return OutcomeConflict(f"booking {code} is {row.status}")

    async def _booking(self, session: AsyncSession, code: str) -> tuple[Booking, str]:
        row = (
            await session.execute(
                select(Booking, Store.code)
                .join(Store, Store.id == Booking.store_id)
                .where(Booking.code == code)
            )
        ).one()
        return row[0], row[1]

    async def _record(
        self,
        session: AsyncSession,
        booking: Booking,
        store: str,
        action: Action,
        actor: str,
        now: datetime,
        undid: str | None = None,
    ) -> OutcomeView:
        session.add(
            BookingOutcomeEvent(
                booking_id=booking.id, action=action.value, undoes=undid, actor=actor[:254], at=now
            )
        )
        checkin = await session.get(BookingCheckIn, booking.id)
        status = await session.scalar(select(Booking.status).where(Booking.id == booking.id))
        await record_interaction(
            session,
            booking.customer_id,
            TIMELINE_KIND[action],
            channel=None,
            at=now,
            data={
                "code": booking.code,
                "store": store,
                "by": actor[:254],
                **({"undid": undid} if undid else {}),
            },
        )
        return OutcomeView(
            code=booking.code,
            store=store,
            status=str(status),
            checked_in_at=checkin.checked_in_at if checkin else None,
            checked_in_by=checkin.checked_in_by if checkin else None,
            action=action.value,
            undid=undid,
            actor=actor,
            at=now,
        )

    async def _release(self, session: AsyncSession, booking: Booking) -> None:
        for variant_id, quantity in await self._items(session, booking.id):
            await session.execute(
                update(STOCK)
                .where(
                    STOCK.c.variant_id == variant_id,
                    STOCK.c.store_id == booking.store_id,
                    STOCK.c.reserved >= quantity,
                )
                .values(reserved=STOCK.c.reserved - quantity)
            )

    async def _rehold(self, session: AsyncSession, booking: Booking) -> None:
        available = STOCK.c.on_hand - STOCK.c.reserved
        for variant_id, quantity in await self._items(session, booking.id):
            result = await session.execute(
                update(STOCK)
                .where(
                    STOCK.c.variant_id == variant_id,
                    STOCK.c.store_id == booking.store_id,
                    available >= quantity,
                )
                .values(reserved=STOCK.c.reserved + quantity)
            )
            if _rowcount(result) != 1:
                raise OutcomeConflict(
                    f"booking {booking.code}: its items are no longer on the shelf to hold again"
                )

    async def _items(self, session: AsyncSession, booking_id: int) -> list[tuple[int, int]]:
        rows = await session.execute(
            select(BookingItem.variant_id, BookingItem.quantity)
            .where(BookingItem.booking_id == booking_id)
            .order_by(BookingItem.variant_id)
        )
        return [(int(v), int(q)) for v, q in rows]

    async def check_in(
        self, code: str, *, actor: str, store: str | None = None, now: datetime | None = None
    ) -> OutcomeView:
        """Arrived. Errors: BookingUnknown, WrongStore, OutcomeConflict (cancelled, already
        completed or no-show, or already checked in)."""
        code, now = normalise_code(code), now or utcnow()
        async with self._db.transaction() as session:
            if not await self._move(session, code, store, CONFIRMED, CONFIRMED, now):
                raise await self._explain(session, code, store)
            booking, store_code = await self._booking(session, code)
            if await session.get(BookingCheckIn, booking.id) is not None:
                raise OutcomeConflict(f"booking {code} is already checked in")
            session.add(
                BookingCheckIn(booking_id=booking.id, checked_in_at=now, checked_in_by=actor[:254])
            )
            await session.flush()
            return await self._record(session, booking, store_code, Action.ARRIVED, actor, now)

    async def complete(
        self, code: str, *, actor: str, store: str | None = None, now: datetime | None = None
    ) -> OutcomeView:
        """Completed: the held items go back to the shelf."""
        code, now = normalise_code(code), now or utcnow()
        async with self._db.transaction() as session:
            if not await self._move(session, code, store, CONFIRMED, COMPLETED, now):
                raise await self._explain(session, code, store)
            booking, store_code = await self._booking(session, code)
            await self._release(session, booking)
            return await self._record(session, booking, store_code, Action.COMPLETED, actor, now)

    async def no_show(
        self, code: str, *, actor: str, store: str | None = None, now: datetime | None = None
    ) -> OutcomeView:
        """No-show, by hand: refused for a checked-in booking (undo the check-in first)."""
        code, now = normalise_code(code), now or utcnow()
        not_arrived = ~exists().where(BookingCheckIn.booking_id == BOOKINGS.c.id)
        async with self._db.transaction() as session:
            if not await self._move(session, code, store, CONFIRMED, NO_SHOW, now, not_arrived):
                problem = await self._explain(session, code, store)
                booking_id = await session.scalar(select(Booking.id).where(Booking.code == code))
                if (
                    isinstance(problem, OutcomeConflict)
                    and booking_id is not None
                    and await is_checked_in(session, booking_id)
                ):
                    problem = OutcomeConflict(f"booking {code} is checked in: undo that first")
                raise problem
            booking, store_code = await self._booking(session, code)
            await self._release(session, booking)
            return await self._record(session, booking, store_code, Action.NO_SHOW, actor, now)

    async def undo(
        self,
        code: str,
        *,
        actor: str,
        store: str | None = None,
        undoes: str | None = None,
        now: datetime | None = None,
    ) -> OutcomeView:
        """Undo the latest outcome: completed/no-show back to confirmed, or the check-in.

        ``undoes`` names what the clicker saw ("completed", "no_show", "arrived"): two
        Undo clicks at once then undo it once, instead of the second undoing the step
        before it.
        """
        code, now = normalise_code(code), now or utcnow()
        async with self._db.transaction() as session:
            for status in (COMPLETED, NO_SHOW):
                if undoes is not None and undoes != status:
                    continue
                if await self._move(session, code, store, status, CONFIRMED, now):
                    booking, store_code = await self._booking(session, code)
                    await self._rehold(session, booking)
                    undid = Action.COMPLETED if status == COMPLETED else Action.NO_SHOW
                    return await self._record(
                        session, booking, store_code, Action.UNDO, actor, now, undid=undid.value
                    )
            if undoes not in (None, Action.ARRIVED.value):
                raise await self._explain(session, code, store)
            if not await self._move(session, code, store, CONFIRMED, CONFIRMED, now):
                raise await self._explain(session, code, store)
            booking, store_code = await self._booking(session, code)
            result = await session.execute(
                delete(BookingCheckIn).where(BookingCheckIn.booking_id == booking.id)
            )
            if _rowcount(result) != 1:
                raise OutcomeConflict(f"booking {code} has no outcome to undo")
            return await self._record(
                session, booking, store_code, Action.UNDO, actor, now, undid=Action.ARRIVED.value
            )

    async def store_of(self, code: str) -> str | None:
        """The store a booking is for (None for an unknown code): who may click on it."""
        async with self._db.sessions() as session:
            found = await session.scalar(
                select(Store.code)
                .join(Booking, Booking.store_id == Store.id)
                .where(Booking.code == normalise_code(code))
            )
            return str(found) if found is not None else None

    async def arrivals(self, codes: list[str]) -> dict[str, tuple[datetime, str]]:
        """When and by whom each of ``codes`` was checked in (the day sheet's buttons)."""
        if not codes:
            return {}
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Booking.code, BookingCheckIn.checked_in_at, BookingCheckIn.checked_in_by)
                .join(BookingCheckIn, BookingCheckIn.booking_id == Booking.id)
                .where(Booking.code.in_([normalise_code(code) for code in codes]))
            )
            return {code: (at, by) for code, at, by in rows}

    async def history(self, code: str) -> list[dict[str, Any]]:
        """Every click on the booking, oldest first (for the day sheet and the timeline)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(BookingOutcomeEvent)
                .join(Booking, Booking.id == BookingOutcomeEvent.booking_id)
                .where(Booking.code == normalise_code(code))
                .order_by(BookingOutcomeEvent.id)
            )
            return [
                {"action": e.action, "undoes": e.undoes, "actor": e.actor, "at": e.at}
                for e in rows.scalars()
            ]

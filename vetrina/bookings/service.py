"""Try-on bookings: slots, booking with items held, my bookings, cancel, reschedule, the
no-show sweep, reminders and the store's day sheet.

Every function works for any channel: callers pass the customer id and the channel the
request came from. All refusals are :mod:`vetrina.bookings.errors`.

No overbooking, enforced by the database. One booking is one transaction that (1) takes
a place in the slot with ``UPDATE slot_usage SET used = used + 1 WHERE used < capacity``
and (2) holds each item with ``UPDATE store_stock SET reserved = reserved + q WHERE
on_hand - reserved >= q AND on_hand - reserved >= safety_stock``; a statement that
changes no row refuses the booking and the transaction rolls back. On PostgreSQL the
updates take row locks and re-check their condition after waiting; on SQLite writers are
serialised (WAL, busy timeout). Rows are always locked in the same order — slot rows (by
time), stock rows (by variant id), then the booking row — so two transactions never wait
on each other in a cycle.

Safety stock: an item is held only where it is *bookable* as the stock check shows it
(``StockLevel.bookable``: at least ``VETRINA_SAFETY_STOCK`` pieces available before the
hold), so what the bot offers and what the booking accepts agree.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.calendar import (
    CalendarEvent,
    new_calendar_token,
    new_code,
    normalise_code,
    render_ics,
)
from vetrina.bookings.errors import (
    BookingError,
    BookingNotActive,
    BookingNotFound,
    InvalidItems,
    ItemNotBookable,
    NotASlot,
    PastTime,
    SlotFull,
    StoreNotBookable,
    TooFarAhead,
)
from vetrina.bookings.models import Booking, BookingItem, BookingStatus, SlotUsage
from vetrina.bookings.slots import SlotTime, local_start, parse_day, slot_at, slots_on
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.catalog.stores import OpeningHours
from vetrina.conversations.models import (
    Author,
)
from vetrina.conversations.writing import conversation_for, pending_outbound
from vetrina.customers.interactions import record_interaction
from vetrina.customers.models import Customer
from vetrina.settings import Settings
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

TRY_ON = "try_on"
REMINDER_TEMPLATE = "booking_reminder"
CODE_ATTEMPTS = 5

# Interaction kinds recorded on the customer's profile.
BOOKING_CREATED = "booking_created"
BOOKING_CANCELLED = "booking_cancelled"
BOOKING_RESCHEDULED = "booking_rescheduled"
BOOKING_ITEMS_ADDED = "booking_items_added"
BOOKING_COMPLETED = "booking_completed"
BOOKING_NO_SHOW = "booking_no_show"
BOOKING_REMINDER = "booking_reminder"

SLOTS = SlotUsage.__table__
STOCK = StoreStock.__table__
BOOKINGS = Booking.__table__
ITEMS = BookingItem.__table__


@dataclass(frozen=True)
class BookingOptions:
    slot_minutes: int = 30
    capacity: int = 2  # fitting rooms / consultants per slot
    no_show_grace_minutes: int = 30
    safety_stock: int = 2
    horizon_days: int = 60  # how far ahead a slot may be booked
    max_pieces: int = 10  # pieces per booking
    reminder_time: time = time(10, 0)  # local time, the day before

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingOptions:
        """The options the gateway and the action server share (``VETRINA_SLOT_*``…)."""
        return cls(
            slot_minutes=settings.slot_minutes,
            capacity=settings.slot_capacity,
            no_show_grace_minutes=settings.no_show_grace_minutes,
            safety_stock=settings.safety_stock,
        )


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime
    free: int  # places left

    def local(self, zone: Any) -> datetime:
        return self.starts_at.astimezone(zone)


@dataclass(frozen=True)
class BookedItem:
    sku: str
    product: str
    size: str
    colour: str
    quantity: int


@dataclass(frozen=True)
class BookingView:
    code: str
    status: str
    customer_id: str
    store_code: str
    store_name: str
    store_address: str
    store_timezone: str
    starts_at: datetime  # UTC
    ends_at: datetime
    channel: str | None
    items: tuple[BookedItem, ...]
    calendar_token: str
    customer_name: str | None = None

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.store_timezone))

    @property
    def local_end(self) -> datetime:
        return self.ends_at.astimezone(ZoneInfo(self.store_timezone))

    @property
    def calendar_path(self) -> str:
        """The unguessable link of the ``.ics`` (prefix it with the public URL)."""
        return f"/bookings/{self.code}/calendar.ics?t={self.calendar_token}"

    def facts(self) -> dict[str, Any]:
        """What the profile records about the booking."""
        return {
            "code": self.code,
            "store": self.store_code,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "items": [{"sku": i.sku, "quantity": i.quantity} for i in self.items],
        }


@dataclass(frozen=True)
class Reminder:
    booking: BookingView
    channel: str | None  # the channel the customer last used; None: no way to reach them
    language: str | None


@dataclass
class _StoreRef:
    id: int
    code: str
    hours: OpeningHours
    row: Store = field(repr=False)


def ics_for(view: BookingView, *, stamp: datetime | None = None) -> str:
    items = ", ".join(f"{i.product} {i.colour} {i.size} ×{i.quantity}" for i in view.items)
    return render_ics(
        CalendarEvent(
            uid=f"{view.code}@vetrina",
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            summary=f"Prova in negozio / Try-on — {view.store_name}",
            location=f"{view.store_name}, {view.store_address}",
            description=f"Codice prenotazione / Booking code: {view.code}\n{items}",
            stamp=stamp or utcnow(),
            cancelled=view.status == BookingStatus.CANCELLED.value,
        )
    )


def _check_items(items: Sequence[tuple[str, int]], max_pieces: int) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for entry in items:
        try:
            sku, quantity = entry
        except (TypeError, ValueError):
            raise InvalidItems(f"an item is a (sku, quantity) pair, got {entry!r}") from None
        if not isinstance(sku, str) or not sku.strip():
            raise InvalidItems(f"an item needs a SKU, got {sku!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidItems(f"quantity of {sku} must be a whole number from 1, got {quantity!r}")
        wanted[sku.strip()] = wanted.get(sku.strip(), 0) + quantity
    if not wanted:
        raise InvalidItems("a try-on booking needs at least one item")
    if sum(wanted.values()) > max_pieces:
        raise InvalidItems(f"at most {max_pieces} pieces per booking")
    return wanted


class Bookings:
    """The booking service; one per process, sessions per call."""

    def __init__(self, db: Database, options: BookingOptions | None = None) -> None:
        self._db = db
        self.options = options or BookingOptions()

    # --- stores and slots ----------------------------------------------------------------

    async def _store(self, session: AsyncSession, store_code: str) -> _StoreRef:
        row = await session.scalar(select(Store).where(Store.code == store_code))
        if row is None:
            raise StoreNotBookable(store_code, "unknown")
        if not row.active:
            raise StoreNotBookable(store_code, "inactive")
        if TRY_ON not in (row.services or ()):
            raise StoreNotBookable(store_code, "no_try_on")
        if not row.try_on_enabled:
            raise StoreNotBookable(store_code, "switched_off")
        hours = OpeningHours.from_json(row.opening_hours, row.hours_exceptions, row.timezone)
        return _StoreRef(row.id, row.code, hours, row)

    def _bookable_slot(
        self, store: _StoreRef, starts_at: datetime, now: datetime
    ) -> SlotTime:
        if starts_at <= now:
            raise PastTime(starts_at)
        if starts_at > now + timedelta(days=self.options.horizon_days):
            raise TooFarAhead(self.options.horizon_days)
        slot = slot_at(store.hours, starts_at, self.options.slot_minutes)
        if slot is None:
            raise NotASlot(store.code, starts_at)
        return slot

    async def slots(
        self, store_code: str, day: date | str, *, now: datetime | None = None
    ) -> list[Slot]:
        """The store's try-on slots of a local day that are still ahead, with places left."""
        now = now or utcnow()
        wanted = parse_day(day)
        async with self._db.sessions() as session:
            store = await self._store(session, store_code)
            times = [
                s
                for s in slots_on(store.hours, wanted, self.options.slot_minutes)
                if now < s.starts_at <= now + timedelta(days=self.options.horizon_days)
            ]
            if not times:
                return []
            used = dict(
                (
                    await session.execute(
                        select(SlotUsage.starts_at, SlotUsage.capacity - SlotUsage.used).where(
                            SlotUsage.store_id == store.id,
                            SlotUsage.starts_at.in_([s.starts_at for s in times]),
                        )
                    )
                ).all()
            )
        return [
            Slot(s.starts_at, s.ends_at, used.get(s.starts_at, self.options.capacity))
            for s in times
        ]

    async def store_zone(self, store_code: str) -> ZoneInfo:
        """The store's time zone; :class:`StoreNotBookable` when it takes no bookings."""
        async with self._db.sessions() as session:
            return (await self._store(session, store_code)).hours.zone

    async def next_free_slots(
        self, store_code: str, *, after: datetime | None = None, limit: int = 3, days: int = 14
    ) -> list[Slot]:
        """The first free slots after ``after`` (for "that time is full: how about…")."""
        now = after or utcnow()
        async with self._db.sessions() as session:
            store = await self._store(session, store_code)
        first_day = now.astimezone(store.hours.zone).date()
        found: list[Slot] = []
        for offset in range(days + 1):
            for slot in await self.slots(store_code, first_day + timedelta(days=offset), now=now):
                if slot.free > 0:
                    found.append(slot)
                    if len(found) >= limit:
                        return found
        return found

    async def bookable_stores(self, items: Sequence[tuple[str, int]]) -> list[str]:
        """Codes of the stores that take try-on bookings now and could hold all the items."""
        wanted = _check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            stores = (
                await session.scalars(
                    select(Store).where(Store.active.is_(True), Store.try_on_enabled.is_(True))
                )
            ).all()
            candidates = {s.id: s.code for s in stores if TRY_ON in (s.services or ())}
            if not candidates:
                return []
            rows = (
                await session.execute(
                    select(StoreStock.store_id, Variant.sku, StoreStock.on_hand - StoreStock.reserved)
                    .join(Variant, Variant.id == StoreStock.variant_id)
                    .where(Variant.sku.in_(list(wanted)), StoreStock.store_id.in_(list(candidates)))
                )
            ).all()
        ok: dict[int, set[str]] = {}
        for store_id, sku, available in rows:
            if available >= max(wanted[sku], self.options.safety_stock):
                ok.setdefault(store_id, set()).add(sku)
        return sorted(code for id_, code in candidates.items() if ok.get(id_) == set(wanted))

    async def set_try_on_enabled(self, store_code: str, enabled: bool) -> bool:
        """The store's switch (temporarily closed, no staff); False if no such store."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Store.__table__)
                .where(Store.__table__.c.code == store_code)
                .values(try_on_enabled=enabled, updated_at=utcnow())
            )
            return result.rowcount == 1

    # --- the database guards -------------------------------------------------------------

    async def _take_place(self, session: AsyncSession, store: _StoreRef, starts_at: datetime) -> None:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        await session.execute(
            insert(SLOTS)
            .values(store_id=store.id, starts_at=starts_at, capacity=self.options.capacity, used=0)
            .on_conflict_do_nothing(index_elements=["store_id", "starts_at"])
        )
        result = await session.execute(
            update(SLOTS)
            .where(
                SLOTS.c.store_id == store.id,
                SLOTS.c.starts_at == starts_at,
                SLOTS.c.used < SLOTS.c.capacity,
            )
            .values(used=SLOTS.c.used + 1)
        )
        if result.rowcount != 1:
            raise SlotFull(store.code, starts_at)

    async def _give_back_place(self, session: AsyncSession, store_id: int, starts_at: datetime) -> None:
        await session.execute(
            update(SLOTS)
            .where(SLOTS.c.store_id == store_id, SLOTS.c.starts_at == starts_at, SLOTS.c.used > 0)
            .values(used=SLOTS.c.used - 1)
        )

    async def _hold(
        self, session: AsyncSession, store: _StoreRef, variant_id: int, sku: str, quantity: int
    ) -> None:
        available = STOCK.c.on_hand - STOCK.c.reserved
        result = await session.execute(
            update(STOCK)
            .where(
                STOCK.c.variant_id == variant_id,
                STOCK.c.store_id == store.id,
                available >= quantity,
                available >= self.options.safety_stock,
            )
            .values(reserved=STOCK.c.reserved + quantity)
        )
        if result.rowcount != 1:
            raise ItemNotBookable(sku, store.code, "not_enough_stock")

    async def _release_items(self, session: AsyncSession, booking_id: int, store_id: int) -> None:
        items = (
            await session.execute(
                select(BookingItem.variant_id, BookingItem.quantity)
                .where(BookingItem.booking_id == booking_id)
                .order_by(BookingItem.variant_id)
            )
        ).all()
        for variant_id, quantity in items:
            result = await session.execute(
                update(STOCK)
                .where(
                    STOCK.c.variant_id == variant_id,
                    STOCK.c.store_id == store_id,
                    STOCK.c.reserved >= quantity,
                )
                .values(reserved=STOCK.c.reserved - quantity)
            )
            if result.rowcount != 1:
                log.warning(
                    "booking %s: hold of variant %s in store %s was already gone",
                    booking_id, variant_id, store_id,
                )

    async def _leave_status(
        self, session: AsyncSession, booking: Booking, to: BookingStatus, now: datetime
    ) -> None:
        """confirmed → ``to``, or BookingNotActive (the caller's transaction rolls back)."""
        result = await session.execute(
            update(BOOKINGS)
            .where(BOOKINGS.c.id == booking.id, BOOKINGS.c.status == BookingStatus.CONFIRMED.value)
            .values(status=to.value, updated_at=now)
        )
        if result.rowcount != 1:
            status = await session.scalar(
                select(BOOKINGS.c.status).where(BOOKINGS.c.id == booking.id)
            )
            raise BookingNotActive(booking.code, status or "gone")

    # --- booking ---------------------------------------------------------------------------

    async def book(
        self,
        customer_id: str,
        store_code: str,
        day: date | str,
        at: time | str,
        items: Sequence[tuple[str, int]],
        *,
        channel: str | None,
        now: datetime | None = None,
    ) -> BookingView:
        """Book the slot starting at local ``day`` ``at`` and hold ``items`` (SKU, pieces)."""
        now = now or utcnow()
        wanted = _check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            store = await self._store(session, store_code)
            starts_at = local_start(store.hours, day, at)
            slot = self._bookable_slot(store, starts_at, now)
            if await session.get(Customer, customer_id) is None:
                raise BookingError(f"unknown customer {customer_id!r}")
            variants = dict(
                (await session.execute(
                    select(Variant.sku, Variant.id).where(Variant.sku.in_(list(wanted)))
                )).all()
            )
        for sku in wanted:
            if sku not in variants:
                raise ItemNotBookable(sku, store_code, "unknown_sku")
        lines = sorted(((variants[sku], sku, q) for sku, q in wanted.items()))
        for attempt in range(CODE_ATTEMPTS):
            code = new_code()
            try:
                async with self._db.transaction() as session:
                    # Lock order: slot row, stock rows by variant id, then the booking.
                    await self._take_place(session, store, slot.starts_at)
                    for variant_id, sku, quantity in lines:
                        await self._hold(session, store, variant_id, sku, quantity)
                    booking = Booking(
                        code=code,
                        customer_id=customer_id,
                        store_id=store.id,
                        starts_at=slot.starts_at,
                        ends_at=slot.ends_at,
                        status=BookingStatus.CONFIRMED.value,
                        channel=channel,
                        calendar_token=new_calendar_token(),
                        created_at=now,
                        updated_at=now,
                        items=[BookingItem(variant_id=v, quantity=q) for v, _, q in lines],
                    )
                    session.add(booking)
                    await session.flush()
                    view = (await self._views(session, [booking]))[0]
                    await record_interaction(
                        session, customer_id, BOOKING_CREATED, channel=channel,
                        data=view.facts(), at=now,
                    )
                    return view
            except IntegrityError:
                # The only unique value we make up is the code (and the calendar token):
                # a collision rolls everything back; try again with new ones.
                if attempt == CODE_ATTEMPTS - 1:
                    raise
                log.info("booking code collision, retrying")
        raise AssertionError("unreachable")

    async def _owned(self, session: AsyncSession, customer_id: str, code: str) -> Booking:
        """The customer's booking by code; the same error for unknown and someone else's."""
        normal = normalise_code(code)
        booking = await session.scalar(
            select(Booking).where(Booking.code == normal, Booking.customer_id == customer_id)
        )
        if booking is None:
            raise BookingNotFound(normal)
        return booking

    async def get(self, customer_id: str, code: str) -> BookingView:
        async with self._db.sessions() as session:
            booking = await self._owned(session, customer_id, code)
            return (await self._views(session, [booking]))[0]

    async def my_bookings(
        self, customer_id: str, *, now: datetime | None = None, include_past: bool = False
    ) -> list[BookingView]:
        """Upcoming confirmed bookings, soonest first (all of them with ``include_past``)."""
        now = now or utcnow()
        query = select(Booking).where(Booking.customer_id == customer_id)
        if include_past:
            query = query.order_by(Booking.starts_at.desc())
        else:
            query = query.where(
                Booking.status == BookingStatus.CONFIRMED.value, Booking.ends_at > now
            ).order_by(Booking.starts_at)
        async with self._db.sessions() as session:
            bookings = list((await session.scalars(query)).all())
            return await self._views(session, bookings)

    async def cancel(
        self, customer_id: str, code: str, *, channel: str | None, now: datetime | None = None
    ) -> BookingView:
        """Cancel and release the items and the place; BookingNotActive the second time."""
        now = now or utcnow()
        async with self._db.transaction() as session:
            booking = await self._owned(session, customer_id, code)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise BookingNotActive(booking.code, booking.status)
            if booking.starts_at <= now:
                raise PastTime(booking.starts_at)
            await self._give_back_place(session, booking.store_id, booking.starts_at)
            await self._release_items(session, booking.id, booking.store_id)
            await self._leave_status(session, booking, BookingStatus.CANCELLED, now)
            view = replace(
                (await self._views(session, [booking]))[0], status=BookingStatus.CANCELLED.value
            )
            await record_interaction(
                session, customer_id, BOOKING_CANCELLED, channel=channel, data=view.facts(), at=now
            )
            return view

    async def reschedule(
        self,
        customer_id: str,
        code: str,
        day: date | str,
        at: time | str,
        *,
        channel: str | None,
        now: datetime | None = None,
    ) -> BookingView:
        """Move a confirmed booking to another slot of the same store; items stay held."""
        now = now or utcnow()
        async with self._db.sessions() as session:
            booking = await self._owned(session, customer_id, code)
            store_code = await session.scalar(select(Store.code).where(Store.id == booking.store_id))
            store = await self._store(session, store_code or "")
        if booking.status != BookingStatus.CONFIRMED.value:
            raise BookingNotActive(booking.code, booking.status)
        if booking.starts_at <= now:
            raise PastTime(booking.starts_at)
        slot = self._bookable_slot(store, local_start(store.hours, day, at), now)
        old_start = booking.starts_at
        async with self._db.transaction() as session:
            if slot.starts_at != old_start:
                # Slot rows in time order, whichever way the booking moves.
                if old_start < slot.starts_at:
                    await self._give_back_place(session, store.id, old_start)
                    await self._take_place(session, store, slot.starts_at)
                else:
                    await self._take_place(session, store, slot.starts_at)
                    await self._give_back_place(session, store.id, old_start)
            result = await session.execute(
                update(BOOKINGS)
                .where(
                    BOOKINGS.c.id == booking.id,
                    BOOKINGS.c.status == BookingStatus.CONFIRMED.value,
                    BOOKINGS.c.starts_at == old_start,
                )
                .values(
                    starts_at=slot.starts_at, ends_at=slot.ends_at, reminder_sent_at=None,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                current = await session.scalar(select(BOOKINGS.c.status).where(BOOKINGS.c.id == booking.id))
                raise BookingNotActive(booking.code, current or "gone")
            view = await self._fresh_view(session, booking.id)
            await record_interaction(
                session, customer_id, BOOKING_RESCHEDULED, channel=channel,
                data={**view.facts(), "previous_starts_at": old_start.isoformat()}, at=now,
            )
            return view

    async def add_items(
        self,
        customer_id: str,
        code: str,
        items: Sequence[tuple[str, int]],
        *,
        channel: str | None,
        now: datetime | None = None,
    ) -> BookingView:
        """Hold more items for a confirmed, upcoming booking, in its store.

        The same rules as :meth:`book`: each item is held only where at least the safety
        stock is available, and a booking has at most ``max_pieces`` pieces. An item the
        booking already has gets more pieces. Lock order as in :meth:`book` (stock rows,
        then the booking row), so this never deadlocks with a booking or a cancellation.
        """
        now = now or utcnow()
        wanted = _check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            booking = await self._owned(session, customer_id, code)
            store_code = await session.scalar(select(Store.code).where(Store.id == booking.store_id))
            store = await self._store(session, store_code or "")
            variants = dict(
                (await session.execute(
                    select(Variant.sku, Variant.id).where(Variant.sku.in_(list(wanted)))
                )).all()
            )
            pieces = await session.scalar(
                select(func.coalesce(func.sum(BookingItem.quantity), 0))
                .where(BookingItem.booking_id == booking.id)
            )
        for sku in wanted:
            if sku not in variants:
                raise ItemNotBookable(sku, store.code, "unknown_sku")
        if int(pieces or 0) + sum(wanted.values()) > self.options.max_pieces:
            raise InvalidItems(f"at most {self.options.max_pieces} pieces per booking")
        if booking.status != BookingStatus.CONFIRMED.value:
            raise BookingNotActive(booking.code, booking.status)
        if booking.starts_at <= now:
            raise PastTime(booking.starts_at)
        lines = sorted((variants[sku], sku, q) for sku, q in wanted.items())
        async with self._db.transaction() as session:
            for variant_id, sku, quantity in lines:
                await self._hold(session, store, variant_id, sku, quantity)
            # Still confirmed? The update also locks the row: concurrent additions to one
            # booking queue here, and each counts the pieces after the one before it.
            result = await session.execute(
                update(BOOKINGS)
                .where(BOOKINGS.c.id == booking.id, BOOKINGS.c.status == BookingStatus.CONFIRMED.value)
                .values(updated_at=now)
            )
            if result.rowcount != 1:
                current = await session.scalar(select(BOOKINGS.c.status).where(BOOKINGS.c.id == booking.id))
                raise BookingNotActive(booking.code, current or "gone")
            held = dict(
                (await session.execute(
                    select(BookingItem.variant_id, BookingItem.quantity)
                    .where(BookingItem.booking_id == booking.id)
                )).all()
            )
            if sum(held.values()) + sum(wanted.values()) > self.options.max_pieces:  # a race
                raise InvalidItems(f"at most {self.options.max_pieces} pieces per booking")
            for variant_id, _, quantity in lines:
                if variant_id in held:
                    await session.execute(
                        update(ITEMS)
                        .where(ITEMS.c.booking_id == booking.id, ITEMS.c.variant_id == variant_id)
                        .values(quantity=ITEMS.c.quantity + quantity)
                    )
                else:
                    session.add(
                        BookingItem(booking_id=booking.id, variant_id=variant_id, quantity=quantity)
                    )
            await session.flush()
            view = await self._fresh_view(session, booking.id)
            await record_interaction(
                session, customer_id, BOOKING_ITEMS_ADDED, channel=channel,
                data={**view.facts(), "added": {sku: q for _, sku, q in lines}}, at=now,
            )
            return view

    async def complete(self, store_code: str, code: str, *, now: datetime | None = None) -> BookingView:
        """Staff: the shopper came; the held items go back to the shelf."""
        now = now or utcnow()
        async with self._db.transaction() as session:
            booking = await session.scalar(
                select(Booking)
                .join(Store, Store.id == Booking.store_id)
                .where(Booking.code == normalise_code(code), Store.code == store_code)
            )
            if booking is None:
                raise BookingNotFound(normalise_code(code))
            await self._release_items(session, booking.id, booking.store_id)
            await self._leave_status(session, booking, BookingStatus.COMPLETED, now)
            view = replace(
                (await self._views(session, [booking]))[0], status=BookingStatus.COMPLETED.value
            )
            await record_interaction(
                session, booking.customer_id, BOOKING_COMPLETED, channel=None,
                data=view.facts(), at=now,
            )
            return view

    # --- the periodic work ---------------------------------------------------------------

    async def release_no_shows(self, now: datetime | None = None) -> list[str]:
        """Confirmed bookings whose start is more than the grace period ago become no-shows
        and their items are released; returns their codes."""
        now = now or utcnow()
        cutoff = now - timedelta(minutes=self.options.no_show_grace_minutes)
        async with self._db.sessions() as session:
            ids = (
                await session.scalars(
                    select(Booking.id).where(
                        Booking.status == BookingStatus.CONFIRMED.value,
                        Booking.starts_at <= cutoff,
                    ).order_by(Booking.starts_at)
                )
            ).all()
        released = []
        for booking_id in ids:
            try:
                async with self._db.transaction() as session:
                    booking = await session.get_one(Booking, booking_id)
                    await self._release_items(session, booking.id, booking.store_id)
                    await self._leave_status(session, booking, BookingStatus.NO_SHOW, now)
                    view = replace(
                        (await self._views(session, [booking]))[0],
                        status=BookingStatus.NO_SHOW.value,
                    )
                    await record_interaction(
                        session, booking.customer_id, BOOKING_NO_SHOW, channel=None,
                        data=view.facts(), at=now,
                    )
                    released.append(booking.code)
            except BookingNotActive:
                continue  # completed or cancelled meanwhile
        return released

    def _remind_at(self, view: BookingView) -> datetime:
        zone = ZoneInfo(view.store_timezone)
        day_before = view.local_start.date() - timedelta(days=1)
        return datetime.combine(day_before, self.options.reminder_time, tzinfo=zone).astimezone(
            timezone.utc
        )

    async def due_reminders(self, now: datetime | None = None) -> list[Reminder]:
        """Confirmed bookings to remind now: from ``reminder_time`` (local) the day before
        until the start, not yet reminded, and booked before that moment."""
        now = now or utcnow()
        async with self._db.sessions() as session:
            bookings = list(
                (
                    await session.scalars(
                        select(Booking)
                        .where(
                            Booking.status == BookingStatus.CONFIRMED.value,
                            Booking.reminder_sent_at.is_(None),
                            Booking.starts_at > now,
                            Booking.starts_at <= now + timedelta(days=2),
                        )
                        .order_by(Booking.starts_at)
                    )
                ).all()
            )
            created = {b.code: b.created_at for b in bookings}
            views = await self._views(session, bookings)
            customers = {
                c.id: c
                for c in (
                    await session.scalars(
                        select(Customer).where(Customer.id.in_({v.customer_id for v in views}))
                    )
                ).all()
            } if views else {}
        due = []
        for view in views:
            remind_at = self._remind_at(view)
            if remind_at <= now and created[view.code] < remind_at:
                customer = customers.get(view.customer_id)
                due.append(
                    Reminder(
                        view,
                        customer.last_channel if customer else None,
                        customer.language if customer else None,
                    )
                )
        return due

    async def send_reminders(self, now: datetime | None = None) -> int:
        """Queue each due reminder once, in the outbox of the customer's last channel."""
        now = now or utcnow()
        queued = 0
        for reminder in await self.due_reminders(now):
            view = reminder.booking
            async with self._db.transaction() as session:
                claimed = await session.execute(
                    update(BOOKINGS)
                    .where(
                        BOOKINGS.c.code == view.code,
                        BOOKINGS.c.status == BookingStatus.CONFIRMED.value,
                        BOOKINGS.c.starts_at == view.starts_at,
                        BOOKINGS.c.reminder_sent_at.is_(None),
                    )
                    .values(reminder_sent_at=now)
                )
                if claimed.rowcount != 1:
                    continue  # another process sent it, or the booking changed
                if reminder.channel:
                    await _queue_reminder(session, reminder, now)
                    queued += 1
                await record_interaction(
                    session, view.customer_id, BOOKING_REMINDER, channel=reminder.channel,
                    data={**view.facts(), "queued": bool(reminder.channel)}, at=now,
                )
        return queued

    # --- the store's view ------------------------------------------------------------------

    async def day_sheet(self, store_code: str, day: date | str) -> list[BookingView]:
        """A store's bookings of a local day (every status), in time order, for staff."""
        wanted = parse_day(day)
        async with self._db.sessions() as session:
            row = await session.scalar(select(Store).where(Store.code == store_code))
            if row is None:
                raise StoreNotBookable(store_code, "unknown")
            zone = ZoneInfo(row.timezone)
            start = datetime.combine(wanted, time(0), tzinfo=zone).astimezone(timezone.utc)
            end = datetime.combine(wanted + timedelta(days=1), time(0), tzinfo=zone).astimezone(
                timezone.utc
            )
            bookings = list(
                (
                    await session.scalars(
                        select(Booking)
                        .where(
                            Booking.store_id == row.id,
                            Booking.starts_at >= start,
                            Booking.starts_at < end,
                        )
                        .order_by(Booking.starts_at, Booking.id)
                    )
                ).all()
            )
            return await self._views(session, bookings, with_names=True)

    async def calendar(self, code: str, token: str) -> str | None:
        """The ``.ics`` of a booking, if ``token`` is its calendar token; else ``None``."""
        async with self._db.sessions() as session:
            booking = await session.scalar(select(Booking).where(Booking.code == normalise_code(code)))
            if booking is None or not hmac.compare_digest(
                booking.calendar_token.encode(), (token or "").encode()
            ):
                return None
            view = (await self._views(session, [booking]))[0]
        return ics_for(view)

    async def _fresh_view(self, session: AsyncSession, booking_id: int) -> BookingView:
        """The booking as this transaction now sees it (after Core updates to its row)."""
        fresh = await session.scalar(
            select(Booking).where(Booking.id == booking_id).execution_options(populate_existing=True)
        )
        assert fresh is not None
        return (await self._views(session, [fresh]))[0]

    async def _views(
        self, session: AsyncSession, bookings: Sequence[Booking], *, with_names: bool = False
    ) -> list[BookingView]:
        if not bookings:
            return []
        ids = [b.id for b in bookings]
        stores = {
            s.id: s
            for s in (
                await session.scalars(select(Store).where(Store.id.in_({b.store_id for b in bookings})))
            ).all()
        }
        items: dict[int, list[BookedItem]] = {}
        rows = await session.execute(
            select(
                BookingItem.booking_id, Variant.sku, Product.name_it, Variant.size,
                Variant.colour, BookingItem.quantity,
            )
            .join(Variant, Variant.id == BookingItem.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(BookingItem.booking_id.in_(ids))
            .order_by(BookingItem.booking_id, Variant.sku)
        )
        for booking_id, sku, name, size, colour, quantity in rows:
            items.setdefault(booking_id, []).append(BookedItem(sku, name, size, colour, quantity))
        names: dict[str, str | None] = {}
        if with_names:
            names = dict(
                (
                    await session.execute(
                        select(Customer.id, Customer.display_name).where(
                            Customer.id.in_({b.customer_id for b in bookings})
                        )
                    )
                ).all()
            )
        views = []
        for b in bookings:
            store = stores[b.store_id]
            views.append(
                BookingView(
                    code=b.code,
                    status=b.status,
                    customer_id=b.customer_id,
                    store_code=store.code,
                    store_name=store.name,
                    store_address=f"{store.address}, {store.postal_code} {store.city}",
                    store_timezone=store.timezone,
                    starts_at=b.starts_at,
                    ends_at=b.ends_at,
                    channel=b.channel,
                    items=tuple(items.get(b.id, ())),
                    calendar_token=b.calendar_token,
                    customer_name=names.get(b.customer_id),
                )
            )
        return views


REMINDER_TEXT = {
    "it": "Promemoria: domani alle {time} ti aspettiamo da {store} ({address}) per la prova. "
    "Codice prenotazione: {code}.",
    "en": "Reminder: tomorrow at {time} we expect you at {store} ({address}) for your try-on. "
    "Booking code: {code}.",
}


async def _queue_reminder(session: AsyncSession, reminder: Reminder, now: datetime) -> None:
    """Store the reminder in the outbox. On WhatsApp outside the 24-hour window the sender
    uses the approved template ``booking_reminder`` (TWILIO_TEMPLATE_BOOKING_REMINDER) with
    the variables below: 1 = local date and time, 2 = store, 3 = booking code."""
    view = reminder.booking
    language = reminder.language if reminder.language in REMINDER_TEXT else "it"
    local = view.local_start
    text = REMINDER_TEXT[language].format(
        time=f"{local:%H:%M}", store=view.store_name, address=view.store_address, code=view.code
    )
    conversation = await conversation_for(session, view.customer_id)
    session.add(
        pending_outbound(
            conversation_id=conversation.id,
            customer_id=view.customer_id,
            channel=reminder.channel,
            author=Author.SYSTEM.value,
            text=text,
            payload={
                "booking_code": view.code,
                "must_send": {
                    "template": REMINDER_TEMPLATE,
                    "variables": {
                        "1": f"{local:%d/%m %H:%M}",
                        "2": view.store_name,
                        "3": view.code,
                    },
                },
            },
            now=now,
        )
    )


__all__ = [
    "BookedItem",
    "BookingOptions",
    "BookingView",
    "Bookings",
    "Reminder",
    "Slot",
    "ics_for",
]

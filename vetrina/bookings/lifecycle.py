"""A booking's life: book (a place and the items held), cancel, reschedule, add items,
complete. Each is one transaction whose guarded updates (see
:mod:`vetrina.bookings.repository`) refuse overbooking and overselling in the database,
and each records an interaction on the customer's profile."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time

from sqlalchemy.exc import IntegrityError

from vetrina.bookings import repository as repo
from vetrina.bookings.availability import bookable_slot
from vetrina.bookings.calendar import new_calendar_token, new_code, normalise_code
from vetrina.bookings.errors import (
    BookingError,
    BookingNotActive,
    BookingNotFound,
    InvalidItems,
    ItemNotBookable,
    PastTime,
)
from vetrina.bookings.models import Booking, BookingItem, BookingStatus
from vetrina.bookings.rules import (
    BOOKING_CANCELLED,
    BOOKING_COMPLETED,
    BOOKING_CREATED,
    BOOKING_ITEMS_ADDED,
    BOOKING_RESCHEDULED,
    CODE_ATTEMPTS,
    BookingOptions,
    check_items,
)
from vetrina.bookings.slots import local_start
from vetrina.bookings.views import BookingView
from vetrina.customers.interactions import record_interaction
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(self, db: Database, options: BookingOptions) -> None:
        self._db = db
        self.options = options

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
        wanted = check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            store = await repo.bookable_store(session, store_code)
            slot = bookable_slot(store, local_start(store.hours, day, at), now, self.options)
            if not await repo.customer_exists(session, customer_id):
                raise BookingError(f"unknown customer {customer_id!r}")
            variants = await repo.variant_ids(session, list(wanted))
        for sku in wanted:
            if sku not in variants:
                raise ItemNotBookable(sku, store_code, "unknown_sku")
        lines = sorted((variants[sku], sku, q) for sku, q in wanted.items())
        for attempt in range(CODE_ATTEMPTS):
            code = new_code()
            try:
                async with self._db.transaction() as session:
                    # Lock order: slot row, stock rows by variant id, then the booking.
                    await repo.take_place(session, store, slot.starts_at, self.options.capacity)
                    for variant_id, sku, quantity in lines:
                        await repo.hold(
                            session, store, variant_id, sku, quantity, self.options.safety_stock
                        )
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
                    view = (await repo.views(session, [booking]))[0]
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
        raise AssertionError("unreachable")  # the loop returns or raises

    async def cancel(
        self, customer_id: str, code: str, *, channel: str | None, now: datetime | None = None
    ) -> BookingView:
        """Cancel and release the items and the place; BookingNotActive the second time."""
        now = now or utcnow()
        async with self._db.transaction() as session:
            booking = await repo.owned(session, customer_id, code)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise BookingNotActive(booking.code, booking.status)
            if booking.starts_at <= now:
                raise PastTime(booking.starts_at)
            await repo.give_back_place(session, booking.store_id, booking.starts_at)
            await repo.release_items(session, booking.id, booking.store_id)
            await repo.leave_status(session, booking, BookingStatus.CANCELLED, now)
            view = replace(
                (await repo.views(session, [booking]))[0], status=BookingStatus.CANCELLED.value
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
            booking = await repo.owned(session, customer_id, code)
            store_code = await repo.store_code_of(session, booking.store_id)
            store = await repo.bookable_store(session, store_code)
        if booking.status != BookingStatus.CONFIRMED.value:
            raise BookingNotActive(booking.code, booking.status)
        if booking.starts_at <= now:
            raise PastTime(booking.starts_at)
        slot = bookable_slot(store, local_start(store.hours, day, at), now, self.options)
        old_start = booking.starts_at
        async with self._db.transaction() as session:
            if slot.starts_at != old_start:
                # Slot rows in time order, whichever way the booking moves.
                if old_start < slot.starts_at:
                    await repo.give_back_place(session, store.id, old_start)
                    await repo.take_place(session, store, slot.starts_at, self.options.capacity)
                else:
                    await repo.take_place(session, store, slot.starts_at, self.options.capacity)
                    await repo.give_back_place(session, store.id, old_start)
            await repo.move_booking(session, booking, old_start, slot.starts_at, slot.ends_at, now)
            view = await repo.fresh_view(session, booking.id)
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
        wanted = check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            booking = await repo.owned(session, customer_id, code)
            store_code = await repo.store_code_of(session, booking.store_id)
            store = await repo.bookable_store(session, store_code)
            variants = await repo.variant_ids(session, list(wanted))
            pieces = await repo.pieces_of(session, booking.id)
        for sku in wanted:
            if sku not in variants:
                raise ItemNotBookable(sku, store.code, "unknown_sku")
        if pieces + sum(wanted.values()) > self.options.max_pieces:
            raise InvalidItems(f"at most {self.options.max_pieces} pieces per booking")
        if booking.status != BookingStatus.CONFIRMED.value:
            raise BookingNotActive(booking.code, booking.status)
        if booking.starts_at <= now:
            raise PastTime(booking.starts_at)
        lines = sorted((variants[sku], sku, q) for sku, q in wanted.items())
        async with self._db.transaction() as session:
            for variant_id, sku, quantity in lines:
                await repo.hold(
                    session, store, variant_id, sku, quantity, self.options.safety_stock
                )
            # Still confirmed? The update also locks the row: concurrent additions to one
            # booking queue here, and each counts the pieces after the one before it.
            await repo.touch_confirmed(session, booking, now)
            held = await repo.held_items(session, booking.id)
            if sum(held.values()) + sum(wanted.values()) > self.options.max_pieces:  # a race
                raise InvalidItems(f"at most {self.options.max_pieces} pieces per booking")
            for variant_id, _, quantity in lines:
                if variant_id in held:
                    await repo.add_pieces(session, booking.id, variant_id, quantity)
                else:
                    session.add(
                        BookingItem(booking_id=booking.id, variant_id=variant_id, quantity=quantity)
                    )
            await session.flush()
            view = await repo.fresh_view(session, booking.id)
            await record_interaction(
                session, customer_id, BOOKING_ITEMS_ADDED, channel=channel,
                data={**view.facts(), "added": {sku: q for _, sku, q in lines}}, at=now,
            )
            return view

    async def complete(
        self, store_code: str, code: str, *, now: datetime | None = None
    ) -> BookingView:
        """Staff: the shopper came; the held items go back to the shelf."""
        now = now or utcnow()
        async with self._db.transaction() as session:
            booking = await repo.by_code(session, code, store_code)
            if booking is None:
                raise BookingNotFound(normalise_code(code))
            await repo.release_items(session, booking.id, booking.store_id)
            await repo.leave_status(session, booking, BookingStatus.COMPLETED, now)
            view = replace(
                (await repo.views(session, [booking]))[0], status=BookingStatus.COMPLETED.value
            )
            await record_interaction(
                session, booking.customer_id, BOOKING_COMPLETED, channel=None,
                data=view.facts(), at=now,
            )
            return view

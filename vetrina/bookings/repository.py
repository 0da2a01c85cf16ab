"""Every query and guarded update of the booking service, one session at a time.

The jobs (:mod:`~vetrina.bookings.availability`, :mod:`~vetrina.bookings.lifecycle`,
:mod:`~vetrina.bookings.sweeps`, :mod:`~vetrina.bookings.reminders`,
:mod:`~vetrina.bookings.read_models`) decide; this module reads and writes. The guards
are single conditional ``UPDATE``s: a statement that changes no row means the slot is
full, the stock is not there or the booking moved on, and the caller's transaction rolls
back. Rows are always locked in the same order — slot rows (by time), stock rows (by
variant id), then the booking row — so two transactions never wait on each other in a
cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.calendar import normalise_code
from vetrina.bookings.errors import (
    BookingNotActive,
    BookingNotFound,
    ItemNotBookable,
    SlotFull,
    StoreNotBookable,
)
from vetrina.bookings.models import Booking, BookingItem, BookingStatus, SlotUsage
from vetrina.bookings.outcomes import BookingCheckIn
from vetrina.bookings.rules import TRY_ON
from vetrina.bookings.views import BookedItem, BookingView
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.catalog.stores import OpeningHours
from vetrina.customers.models import Customer
from vetrina.storage.audit import record
from vetrina.storage.base import table_of
from vetrina.storage.database import affected

log = logging.getLogger(__name__)


SLOTS = table_of(SlotUsage)
STOCK = table_of(StoreStock)
BOOKINGS = table_of(Booking)
ITEMS = table_of(BookingItem)
STORES = table_of(Store)


@dataclass
class StoreRef:
    """A store that takes try-on bookings, with its hours."""

    id: int
    code: str
    hours: OpeningHours
    row: Store = field(repr=False)


# --- stores ----------------------------------------------------------------------------------


async def bookable_store(session: AsyncSession, store_code: str) -> StoreRef:
    """The store, or :class:`StoreNotBookable` saying why it takes no bookings."""
    row = await session.scalar(select(Store).where(Store.code == store_code))
    if row is None:
        raise StoreNotBookable(store_code, "unknown")
    if not row.active:
        raise StoreNotBookable(store_code, "inactive")
    if TRY_ON not in (row.services or ()):
        raise StoreNotBookable(store_code, "no_try_on")
    if row.temporarily_closed:
        raise StoreNotBookable(store_code, "temporarily_closed")
    if not row.try_on_enabled:
        raise StoreNotBookable(store_code, "switched_off")
    hours = OpeningHours.from_json(row.opening_hours, row.hours_exceptions, row.timezone)
    return StoreRef(row.id, row.code, hours, row)


async def store_code_of(session: AsyncSession, store_id: int) -> str:
    return await session.scalar(select(Store.code).where(Store.id == store_id)) or ""


async def store_by_code(session: AsyncSession, store_code: str) -> Store | None:
    row: Store | None = await session.scalar(select(Store).where(Store.code == store_code))
    return row


async def try_on_stores(session: AsyncSession) -> dict[int, str]:
    """Active stores, not temporarily closed, with try-on switched on: id → code."""
    stores = (
        await session.scalars(
            select(Store).where(
                Store.active.is_(True), Store.try_on_enabled.is_(True),
                Store.temporarily_closed.is_(False),
            )
        )
    ).all()
    return {s.id: s.code for s in stores if TRY_ON in (s.services or ())}


async def set_try_on(
    session: AsyncSession, store_code: str, enabled: bool, now: datetime, actor: str | None = None
) -> bool:
    result = await session.execute(
        update(STORES)
        .where(STORES.c.code == store_code)
        .values(try_on_enabled=enabled, updated_at=now)
    )
    if affected(result) != 1:
        return False
    if actor is not None:
        record(session, actor, "store.try_on", f"store:{store_code}", enabled=enabled)
    return True


async def active_store_codes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(Store.code).where(Store.active.is_(True)))).all())


async def latest_booking_store(
    session: AsyncSession, customer_id: str, since: datetime
) -> str | None:
    """The store of the customer's next (or latest) booking starting from ``since``."""
    code: str | None = await session.scalar(
        select(Store.code)
        .join(Booking, Booking.store_id == Store.id)
        .where(Booking.customer_id == customer_id, Booking.starts_at >= since)
        .order_by(Booking.starts_at.desc())
        .limit(1)
    )
    return code


# --- slots and stock -------------------------------------------------------------------------


async def places_left(
    session: AsyncSession, store_id: int, starts: Sequence[datetime]
) -> dict[datetime, int]:
    rows = await session.execute(
        select(SlotUsage.starts_at, SlotUsage.capacity - SlotUsage.used).where(
            SlotUsage.store_id == store_id, SlotUsage.starts_at.in_(list(starts))
        )
    )
    return {starts_at: int(free) for starts_at, free in rows.all()}


async def take_place(
    session: AsyncSession, store: StoreRef, starts_at: datetime, capacity: int
) -> None:
    """One place in the slot, or :class:`SlotFull`; creates the slot row on first use."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(SLOTS)
        .values(store_id=store.id, starts_at=starts_at, capacity=capacity, used=0)
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
    if affected(result) != 1:
        raise SlotFull(store.code, starts_at)


async def give_back_place(session: AsyncSession, store_id: int, starts_at: datetime) -> None:
    await session.execute(
        update(SLOTS)
        .where(SLOTS.c.store_id == store_id, SLOTS.c.starts_at == starts_at, SLOTS.c.used > 0)
        .values(used=SLOTS.c.used - 1)
    )


async def hold(
    session: AsyncSession,
    store: StoreRef,
    variant_id: int,
    sku: str,
    quantity: int,
    safety_stock: int,
) -> None:
    """Reserve ``quantity`` pieces where at least the safety stock is available."""
    available = STOCK.c.on_hand - STOCK.c.reserved
    result = await session.execute(
        update(STOCK)
        .where(
            STOCK.c.variant_id == variant_id,
            STOCK.c.store_id == store.id,
            available >= quantity,
            available >= safety_stock,
        )
        .values(reserved=STOCK.c.reserved + quantity)
    )
    if affected(result) != 1:
        raise ItemNotBookable(sku, store.code, "not_enough_stock")


async def release_items(session: AsyncSession, booking_id: int, store_id: int) -> None:
    """The booking's held pieces go back to the shelf."""
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
        if affected(result) != 1:
            log.warning(
                "booking %s: hold of variant %s in store %s was already gone",
                booking_id, variant_id, store_id,
            )


async def stock_of(
    session: AsyncSession, skus: Collection[str], store_ids: Collection[int]
) -> list[tuple[int, str, int]]:
    """(store id, SKU, pieces available) for the SKUs in the stores."""
    rows = await session.execute(
        select(StoreStock.store_id, Variant.sku, StoreStock.on_hand - StoreStock.reserved)
        .join(Variant, Variant.id == StoreStock.variant_id)
        .where(Variant.sku.in_(list(skus)), StoreStock.store_id.in_(list(store_ids)))
    )
    return [(int(store_id), str(sku), int(available)) for store_id, sku, available in rows.all()]


async def variant_ids(session: AsyncSession, skus: Collection[str]) -> dict[str, int]:
    rows = await session.execute(select(Variant.sku, Variant.id).where(Variant.sku.in_(list(skus))))
    return {str(sku): int(id_) for sku, id_ in rows.all()}


async def customer_exists(session: AsyncSession, customer_id: str) -> bool:
    return await session.get(Customer, customer_id) is not None


# --- bookings --------------------------------------------------------------------------------


async def leave_status(
    session: AsyncSession, booking: Booking, to: BookingStatus, now: datetime
) -> None:
    """confirmed → ``to``, or BookingNotActive (the caller's transaction rolls back)."""
    result = await session.execute(
        update(BOOKINGS)
        .where(BOOKINGS.c.id == booking.id, BOOKINGS.c.status == BookingStatus.CONFIRMED.value)
        .values(status=to.value, updated_at=now)
    )
    if affected(result) != 1:
        raise BookingNotActive(booking.code, await status_of(session, booking.id) or "gone")


async def status_of(session: AsyncSession, booking_id: int) -> str | None:
    return await session.scalar(select(BOOKINGS.c.status).where(BOOKINGS.c.id == booking_id))


async def owned(session: AsyncSession, customer_id: str, code: str) -> Booking:
    """The customer's booking by code; the same error for unknown and someone else's."""
    normal = normalise_code(code)
    booking = await session.scalar(
        select(Booking).where(Booking.code == normal, Booking.customer_id == customer_id)
    )
    if booking is None:
        raise BookingNotFound(normal)
    return booking


async def by_code(
    session: AsyncSession, code: str, store_code: str | None = None
) -> Booking | None:
    query = select(Booking).where(Booking.code == normalise_code(code))
    if store_code is not None:
        query = query.join(Store, Store.id == Booking.store_id).where(Store.code == store_code)
    booking: Booking | None = await session.scalar(query)
    return booking


async def pieces_of(session: AsyncSession, booking_id: int) -> int:
    pieces = await session.scalar(
        select(func.coalesce(func.sum(BookingItem.quantity), 0)).where(
            BookingItem.booking_id == booking_id
        )
    )
    return int(pieces or 0)


async def held_items(session: AsyncSession, booking_id: int) -> dict[int, int]:
    """variant id → pieces the booking holds."""
    rows = await session.execute(
        select(BookingItem.variant_id, BookingItem.quantity).where(
            BookingItem.booking_id == booking_id
        )
    )
    return {int(v): int(q) for v, q in rows.all()}


async def add_pieces(
    session: AsyncSession, booking_id: int, variant_id: int, quantity: int
) -> None:
    await session.execute(
        update(ITEMS)
        .where(ITEMS.c.booking_id == booking_id, ITEMS.c.variant_id == variant_id)
        .values(quantity=ITEMS.c.quantity + quantity)
    )


async def touch_confirmed(session: AsyncSession, booking: Booking, now: datetime) -> None:
    """Lock a confirmed booking's row (``updated_at``), or :class:`BookingNotActive`."""
    result = await session.execute(
        update(BOOKINGS)
        .where(BOOKINGS.c.id == booking.id, BOOKINGS.c.status == BookingStatus.CONFIRMED.value)
        .values(updated_at=now)
    )
    if affected(result) != 1:
        raise BookingNotActive(booking.code, await status_of(session, booking.id) or "gone")


async def move_booking(
    session: AsyncSession,
    booking: Booking,
    old_start: datetime,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> None:
    """A confirmed booking still at ``old_start`` moves; the reminder is due again."""
    result = await session.execute(
        update(BOOKINGS)
        .where(
            BOOKINGS.c.id == booking.id,
            BOOKINGS.c.status == BookingStatus.CONFIRMED.value,
            BOOKINGS.c.starts_at == old_start,
        )
        .values(starts_at=starts_at, ends_at=ends_at, reminder_sent_at=None, updated_at=now)
    )
    if affected(result) != 1:
        raise BookingNotActive(booking.code, await status_of(session, booking.id) or "gone")


async def claim_reminder(
    session: AsyncSession, code: str, starts_at: datetime, now: datetime
) -> bool:
    """Mark the reminder sent, once: False if another process did or the booking changed."""
    claimed = await session.execute(
        update(BOOKINGS)
        .where(
            BOOKINGS.c.code == code,
            BOOKINGS.c.status == BookingStatus.CONFIRMED.value,
            BOOKINGS.c.starts_at == starts_at,
            BOOKINGS.c.reminder_sent_at.is_(None),
        )
        .values(reminder_sent_at=now)
    )
    return affected(claimed) == 1


async def confirmed_ids_before(session: AsyncSession, cutoff: datetime) -> list[int]:
    return list(
        (
            await session.scalars(
                select(Booking.id)
                .where(
                    Booking.status == BookingStatus.CONFIRMED.value,
                    Booking.starts_at <= cutoff,
                    ~exists().where(BookingCheckIn.booking_id == Booking.id),
                )
                .order_by(Booking.starts_at)
            )
        ).all()
    )


async def unreminded(session: AsyncSession, after: datetime, until: datetime) -> list[Booking]:
    """Confirmed bookings starting in ``(after, until]`` whose reminder is not sent."""
    return list(
        (
            await session.scalars(
                select(Booking)
                .where(
                    Booking.status == BookingStatus.CONFIRMED.value,
                    Booking.reminder_sent_at.is_(None),
                    Booking.starts_at > after,
                    Booking.starts_at <= until,
                )
                .order_by(Booking.starts_at)
            )
        ).all()
    )


async def customers_by_id(session: AsyncSession, ids: Collection[str]) -> dict[str, Customer]:
    if not ids:
        return {}
    rows = await session.scalars(select(Customer).where(Customer.id.in_(list(ids))))
    return {c.id: c for c in rows.all()}


async def of_customer(
    session: AsyncSession, customer_id: str, *, upcoming_after: datetime | None
) -> list[Booking]:
    """The customer's bookings: confirmed ones ending after ``upcoming_after`` soonest
    first, or (``None``) every booking, latest first."""
    query = select(Booking).where(Booking.customer_id == customer_id)
    if upcoming_after is None:
        query = query.order_by(Booking.starts_at.desc())
    else:
        query = query.where(
            Booking.status == BookingStatus.CONFIRMED.value, Booking.ends_at > upcoming_after
        ).order_by(Booking.starts_at)
    return list((await session.scalars(query)).all())


async def of_store_between(
    session: AsyncSession, store_id: int, start: datetime, end: datetime
) -> list[Booking]:
    return list(
        (
            await session.scalars(
                select(Booking)
                .where(
                    Booking.store_id == store_id,
                    Booking.starts_at >= start,
                    Booking.starts_at < end,
                )
                .order_by(Booking.starts_at, Booking.id)
            )
        ).all()
    )


async def fresh_view(session: AsyncSession, booking_id: int) -> BookingView:
    """The booking as this transaction now sees it (after Core updates to its row)."""
    fresh = await session.scalar(
        select(Booking).where(Booking.id == booking_id).execution_options(populate_existing=True)
    )
    if fresh is None:
        raise BookingNotFound(str(booking_id))
    return (await views(session, [fresh]))[0]


async def views(
    session: AsyncSession, bookings: Sequence[Booking], *, with_names: bool = False
) -> list[BookingView]:
    """The read model of each booking: store, items and (for staff) the customer's name."""
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
        names = {
            id_: name
            for id_, name in (
                await session.execute(
                    select(Customer.id, Customer.display_name).where(
                        Customer.id.in_({b.customer_id for b in bookings})
                    )
                )
            ).all()
        }
    result = []
    for b in bookings:
        store = stores[b.store_id]
        result.append(
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
    return result

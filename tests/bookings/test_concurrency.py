"""No overbooking under concurrency: 50 simultaneous attempts for one remaining place (or
the last bookable piece) let exactly one through, on SQLite and on PostgreSQL.

The attempts run as 50 coroutines gathered at once, each with its own session and so its
own pooled connection while it holds one; the database guards (conditional UPDATEs under
row locks / SQLite's single writer) decide, not Python.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from tests.bookings.conftest import NOW, SATURDAY, Shop, add_customers, set_stock, stock_of
from vetrina.bookings.errors import BookingError, ItemNotBookable, SlotFull
from vetrina.bookings.models import Booking, SlotUsage
from vetrina.bookings.service import BookingOptions, Bookings

ATTEMPTS = 50
SAT_1030 = datetime(2026, 3, 21, 9, 30, tzinfo=timezone.utc)


def _different_slots(count: int) -> list[tuple[str, str]]:
    """``count`` distinct (day, time) slots at MI (closed on the 22nd)."""
    times = [f"{h:02d}:{m:02d}" for h in range(10, 19) for m in (0, 30)]
    days = ["2026-03-21", "2026-03-23", "2026-03-24"]
    return [(d, t) for d in days for t in times][:count]


async def _race(
    bookings: Bookings,
    customers: list[str],
    sku: str,
    slots: list[tuple[str, str]] | None = None,
) -> Counter[str]:
    async def attempt(customer: str, day: str, at: str) -> str:
        try:
            await bookings.book(customer, "MI", day, at, [(sku, 1)], channel="web", now=NOW)
        except BookingError as error:
            return type(error).__name__
        return "booked"

    slots = slots or [(SATURDAY, "10:30")] * len(customers)
    results = await asyncio.gather(
        *(attempt(c, day, at) for c, (day, at) in zip(customers, slots, strict=False)),
        return_exceptions=True,
    )
    unexpected = [r for r in results if isinstance(r, BaseException)]
    assert not unexpected, unexpected[:3]
    return Counter(results)  # type: ignore[arg-type]


async def _bookings_count(shop: Shop) -> int:
    async with shop.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Booking)) or 0)


async def test_fifty_attempts_for_the_last_place_in_a_slot(shop: Shop) -> None:
    bookings = Bookings(shop.db, BookingOptions(capacity=2, safety_stock=1))
    await bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-40", 1)], channel="web", now=NOW
    )
    await set_stock(shop.db, "MI", "BOOT-NER-41", 100)
    customers = await add_customers(shop.db, ATTEMPTS)

    results = await _race(bookings, customers, "BOOT-NER-41")

    assert results == Counter({"booked": 1, SlotFull.__name__: ATTEMPTS - 1})
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (100, 1)  # held exactly once
    async with shop.db.sessions() as session:
        used = await session.scalar(select(SlotUsage.used).where(SlotUsage.starts_at == SAT_1030))
    assert used == 2
    assert await _bookings_count(shop) == 2


async def test_fifty_attempts_for_the_last_bookable_piece(shop: Shop) -> None:
    # Each attempt in a slot of its own (so no slot row serialises them); one piece on
    # hand and safety stock 1: exactly one hold fits.
    bookings = Bookings(shop.db, BookingOptions(capacity=2, safety_stock=1))
    await set_stock(shop.db, "MI", "BOOT-NER-42", 1)
    customers = await add_customers(shop.db, ATTEMPTS)

    results = await _race(bookings, customers, "BOOT-NER-42", _different_slots(ATTEMPTS))

    assert results == Counter({"booked": 1, ItemNotBookable.__name__: ATTEMPTS - 1})
    assert await stock_of(shop.db, "MI", "BOOT-NER-42") == (1, 1)
    async with shop.db.sessions() as session:
        used = await session.scalar(select(func.sum(SlotUsage.used)))
    assert used == 1  # the refused attempts took no place (rolled back)
    assert await _bookings_count(shop) == 1


async def test_fifty_concurrent_cancels_of_one_booking_release_once(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 3)], channel="web", now=NOW
    )
    await shop.bookings.book(
        shop.bob, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )

    async def cancel() -> str:
        try:
            await shop.bookings.cancel(shop.alice, view.code, channel="web", now=NOW)
        except BookingError as error:
            return type(error).__name__
        return "cancelled"

    results = Counter(await asyncio.gather(*(cancel() for _ in range(ATTEMPTS))))
    assert results == Counter({"cancelled": 1, "BookingNotActive": ATTEMPTS - 1})
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 1)  # bob's piece still held
    async with shop.db.sessions() as session:
        used = await session.scalar(select(SlotUsage.used).where(SlotUsage.starts_at == SAT_1030))
    assert used == 1


async def test_reschedules_and_new_bookings_racing_for_the_last_place(shop: Shop) -> None:
    bookings = Bookings(shop.db, BookingOptions(capacity=1, safety_stock=1))
    customers = await add_customers(shop.db, ATTEMPTS)
    movers = customers[: ATTEMPTS // 2]
    newcomers = customers[ATTEMPTS // 2 :]
    await set_stock(shop.db, "MI", "BOOT-NER-40", 100)
    await set_stock(shop.db, "MI", "BOOT-NER-41", 100)
    codes = {}
    # Each mover has a booking of its own elsewhere; Saturday 10:00 (the first slot) is free.
    for customer, (day, at) in zip(movers, _different_slots(len(movers) + 1)[1:], strict=True):
        codes[customer] = (
            await bookings.book(
                customer, "MI", day, at, [("BOOT-NER-40", 1)], channel="web", now=NOW
            )
        ).code

    async def move(customer: str) -> str:
        try:
            await bookings.reschedule(
                customer, codes[customer], SATURDAY, "10:00", channel="web", now=NOW
            )
        except BookingError as error:
            return type(error).__name__
        return "moved"

    async def book(customer: str) -> str:
        try:
            await bookings.book(
                customer, "MI", SATURDAY, "10:00", [("BOOT-NER-41", 1)], channel="web", now=NOW
            )
        except BookingError as error:
            return type(error).__name__
        return "booked"

    results = Counter(
        await asyncio.gather(*(move(c) for c in movers), *(book(c) for c in newcomers))
    )
    assert results["moved"] + results["booked"] == 1
    assert results[SlotFull.__name__] == ATTEMPTS - 1
    async with shop.db.sessions() as session:
        slot_used = dict(
            (await session.execute(select(SlotUsage.starts_at, SlotUsage.used))).all()
        )
        starts = list((await session.scalars(select(Booking.starts_at))).all())
    sat_10 = datetime(2026, 3, 21, 9, 0, tzinfo=timezone.utc)
    assert slot_used[sat_10] == 1
    # Every slot's counter equals the bookings in it: nothing leaked by the refused moves.
    assert {k: v for k, v in slot_used.items() if v} == dict(Counter(starts))

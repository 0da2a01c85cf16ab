"""Adding items to a booking: held like the first ones, refused with nothing changed."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.bookings.conftest import NOW, SATURDAY, Shop, set_stock, stock_of
from vetrina.bookings.errors import (
    BookingError,
    BookingNotActive,
    BookingNotFound,
    InvalidItems,
    ItemNotBookable,
    PastTime,
)
from vetrina.bookings.service import BOOKING_ITEMS_ADDED, BookingOptions, Bookings
from vetrina.customers.interactions import Interaction


async def _booked(shop: Shop, customer: str | None = None, *, pieces: int = 1):
    return await shop.bookings.book(
        customer or shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-40", pieces)],
        channel="web", now=NOW,
    )


async def test_an_added_item_is_held_and_shows_in_the_booking(shop: Shop) -> None:
    booking = await _booked(shop)
    view = await shop.bookings.add_items(
        shop.alice, booking.code.lower(), [("BOOT-NER-42", 1)], channel="whatsapp", now=NOW
    )
    assert [(i.sku, i.quantity) for i in view.items] == [("BOOT-NER-40", 1), ("BOOT-NER-42", 1)]
    assert (view.code, view.starts_at, view.status) == (booking.code, booking.starts_at, "confirmed")
    assert await stock_of(shop.db, "MI", "BOOT-NER-42") == (5, 1)
    assert await stock_of(shop.db, "RM", "BOOT-NER-42") == (5, 0)
    sheet = await shop.bookings.day_sheet("MI", SATURDAY)
    assert [(i.sku, i.quantity) for i in sheet[0].items] == [("BOOT-NER-40", 1), ("BOOT-NER-42", 1)]
    async with shop.db.sessions() as session:
        added = (
            await session.scalars(
                select(Interaction).where(Interaction.kind == BOOKING_ITEMS_ADDED)
            )
        ).one()
    assert added.customer_id == shop.alice and added.channel == "whatsapp"
    assert added.data["added"] == {"BOOT-NER-42": 1} and added.data["code"] == booking.code


async def test_the_same_item_again_gets_one_more_piece_and_cancel_releases_all(shop: Shop) -> None:
    booking = await _booked(shop)
    view = await shop.bookings.add_items(
        shop.alice, booking.code, [("BOOT-NER-40", 1), ("BOOT-NER-41", 2)], channel="web", now=NOW
    )
    assert [(i.sku, i.quantity) for i in view.items] == [("BOOT-NER-40", 2), ("BOOT-NER-41", 2)]
    assert await stock_of(shop.db, "MI", "BOOT-NER-40") == (5, 2)
    await shop.bookings.cancel(shop.alice, booking.code, channel="web", now=NOW)
    for sku in ("BOOT-NER-40", "BOOT-NER-41"):
        assert await stock_of(shop.db, "MI", sku) == (5, 0)


async def test_refusals_change_nothing(shop: Shop) -> None:
    booking = await _booked(shop)
    theirs = await _booked(shop, shop.bob)
    await set_stock(shop.db, "MI", "BOOT-NER-42", 1)  # below the safety stock of 2

    async def refused(error: type[BookingError], customer: str, code: str, items, now=NOW) -> None:
        with pytest.raises(error):
            await shop.bookings.add_items(customer, code, items, channel="web", now=now)

    await refused(ItemNotBookable, shop.alice, booking.code, [("BOOT-NER-41", 1), ("BOOT-NER-42", 1)])
    await refused(ItemNotBookable, shop.alice, booking.code, [("NO-SUCH-SKU", 1)])
    await refused(InvalidItems, shop.alice, booking.code, [("BOOT-NER-41", 10)])  # 11 pieces
    await refused(InvalidItems, shop.alice, booking.code, [])
    await refused(BookingNotFound, shop.alice, theirs.code, [("BOOT-NER-41", 1)])
    await refused(BookingNotFound, shop.alice, "ZZZZ22", [("BOOT-NER-41", 1)])
    await refused(
        PastTime, shop.alice, booking.code, [("BOOT-NER-41", 1)], now=booking.starts_at + timedelta(minutes=1)
    )
    await shop.bookings.cancel(shop.alice, booking.code, channel="web", now=NOW)
    await refused(BookingNotActive, shop.alice, booking.code, [("BOOT-NER-41", 1)])

    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)  # the failed holds rolled back
    assert await stock_of(shop.db, "MI", "BOOT-NER-40") == (5, 1)  # bob's only
    assert [(i.sku, i.quantity) for i in (await shop.bookings.get(shop.bob, theirs.code)).items] == [
        ("BOOT-NER-40", 1)
    ]


async def test_concurrent_additions_never_exceed_the_pieces_or_the_stock(shop: Shop) -> None:
    """20 additions at once to one booking: the last bookable pieces go once, and the
    booking never holds more than its maximum of pieces."""
    bookings = Bookings(shop.db, BookingOptions(slot_minutes=30, capacity=2, max_pieces=4))
    booking = await bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-40", 1)], channel="web", now=NOW
    )
    await set_stock(shop.db, "MI", "BOOT-NER-41", 3)  # two holdable pieces

    async def add(sku: str) -> str:
        try:
            await bookings.add_items(shop.alice, booking.code, [(sku, 1)], channel="web", now=NOW)
        except BookingError as error:
            return type(error).__name__
        return "added"

    results = Counter(
        await asyncio.gather(*(add("BOOT-NER-41" if n % 2 else "BOOT-NER-42") for n in range(20)))
    )
    view = await bookings.get(shop.alice, booking.code)
    pieces = {i.sku: i.quantity for i in view.items}
    assert sum(pieces.values()) == 4 and results["added"] == 3, (results, pieces)
    # BOOT-NER-41: 3 on hand and a safety stock of 2 (a piece is held while at least 2
    # are available): two pieces at most.
    assert pieces.get("BOOT-NER-41", 0) <= 2
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (3, pieces.get("BOOT-NER-41", 0))
    assert await stock_of(shop.db, "MI", "BOOT-NER-42") == (5, pieces.get("BOOT-NER-42", 0))

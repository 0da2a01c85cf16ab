"""Bookings announces a due reminder to its listener inside the claiming transaction: the
claim and whatever the listener writes commit together, or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.conftest import NOW, SATURDAY, Shop
from vetrina.bookings.models import Booking
from vetrina.bookings.service import Bookings, ReminderDue
from vetrina.conversations.models import Message

UTC = timezone.utc
AT = datetime(2026, 3, 20, 9, 1, tzinfo=UTC)  # 10:01 in Milan, the day before


async def _booked(shop: Shop) -> str:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web",
        now=NOW - timedelta(days=2),
    )
    return view.code


async def test_the_listener_hears_each_due_reminder_once(shop: Shop) -> None:
    code = await _booked(shop)
    heard: list[tuple[str, str | None, datetime]] = []

    async def listener(session: AsyncSession, due: ReminderDue, now: datetime) -> None:
        heard.append((due.booking.code, due.channel, now))

    bookings = Bookings(shop.db, shop.bookings.options, on_reminder_due=listener)
    assert await bookings.send_reminders(AT) == 1
    assert await bookings.send_reminders(AT + timedelta(minutes=1)) == 0
    assert heard == [(code, "web", AT)]
    async with shop.db.sessions() as session:  # this listener queued nothing itself
        assert (await session.scalars(select(Message))).all() == []


async def test_a_failing_listener_leaves_the_reminder_due(shop: Shop) -> None:
    await _booked(shop)

    async def broken(session: AsyncSession, due: ReminderDue, now: datetime) -> None:
        raise RuntimeError("the outbox is gone")

    with pytest.raises(RuntimeError):
        await Bookings(shop.db, shop.bookings.options, on_reminder_due=broken).send_reminders(AT)
    async with shop.db.sessions() as session:
        assert await session.scalar(select(Booking.reminder_sent_at)) is None
    # The default listener queues it on the next round.
    assert await shop.bookings.send_reminders(AT) == 1
    async with shop.db.sessions() as session:
        (message,) = (await session.scalars(select(Message))).all()
    assert message.author == "system" and message.payload["booking_code"]

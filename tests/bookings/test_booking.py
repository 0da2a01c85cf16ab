"""Booking, holding items, my bookings, cancel, reschedule, no-shows, reminders — on SQLite
and PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.bookings.conftest import NOW, SATURDAY, Shop, set_stock, stock_of, switch_try_on
from vetrina.bookings import calendar as calendar_module
from vetrina.bookings.calendar import CODE_ALPHABET
from vetrina.bookings.errors import (
    BookingNotActive,
    BookingNotFound,
    InvalidDate,
    InvalidItems,
    ItemNotBookable,
    NotASlot,
    PastTime,
    SlotFull,
    StoreNotBookable,
    TooFarAhead,
)
from vetrina.bookings.models import Booking, SlotUsage
from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.catalog.availability import SqlInventory, Status
from vetrina.conversations.models import Message
from vetrina.customers.interactions import recent_interactions
from vetrina.customers.models import Customer

UTC = timezone.utc
SAT_1030 = datetime(2026, 3, 21, 9, 30, tzinfo=UTC)  # 10:30 in Milan


async def used(shop: Shop, starts_at: datetime) -> int | None:
    async with shop.db.sessions() as session:
        return await session.scalar(select(SlotUsage.used).where(SlotUsage.starts_at == starts_at))


async def test_a_booking_holds_the_items_and_confirms_with_code_address_and_calendar(
    shop: Shop,
) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1), ("BOOT-NER-42", 2)],
        channel="whatsapp", now=NOW,
    )
    assert len(view.code) == 6 and set(view.code) <= set(CODE_ALPHABET)
    assert not set(view.code) & set("0O1IL")
    assert view.status == "confirmed"
    assert view.store_address == "Corso Vittorio Emanuele II, 15, 20122 Milano"
    assert (view.starts_at, view.ends_at) == (SAT_1030, SAT_1030 + timedelta(minutes=30))
    assert f"{view.local_start:%H:%M}" == "10:30"
    assert view.calendar_path == f"/bookings/{view.code}/calendar.ics?t={view.calendar_token}"
    assert len(view.calendar_token) >= 32
    assert [(i.sku, i.quantity) for i in view.items] == [("BOOT-NER-41", 1), ("BOOT-NER-42", 2)]
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 1)
    assert await stock_of(shop.db, "MI", "BOOT-NER-42") == (5, 2)
    assert await stock_of(shop.db, "RM", "BOOT-NER-41") == (5, 0)  # other stores untouched
    # What other shoppers see drops with the hold.
    level = await SqlInventory(shop.db, safety_stock=2).availability("BOOT-NER-42", "MI")
    assert (level.available, level.status) == (3, Status.IN_STOCK)
    assert await used(shop, SAT_1030) == 1
    async with shop.db.sessions() as session:
        (interaction,) = await recent_interactions(session, shop.alice)
    assert (interaction.kind, interaction.channel) == ("booking_created", "whatsapp")
    assert interaction.data["code"] == view.code and interaction.data["store"] == "MI"


async def test_a_slot_takes_as_many_bookings_as_its_capacity(shop: Shop) -> None:
    for customer in (shop.alice, shop.bob):
        await shop.bookings.book(
            customer, "MI", SATURDAY, "10:30", [("BOOT-NER-40", 1)], channel="web", now=NOW
        )
    with pytest.raises(SlotFull):
        await shop.bookings.book(
            shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
        )
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)  # refused: nothing held
    slots = {s.starts_at: s.free for s in await shop.bookings.slots("MI", SATURDAY, now=NOW)}
    assert slots[SAT_1030] == 0
    assert slots[SAT_1030 + timedelta(minutes=30)] == 2
    (first,) = await shop.bookings.next_free_slots("MI", after=SAT_1030 - timedelta(minutes=1), limit=1)
    assert first.starts_at == SAT_1030 + timedelta(minutes=30)


async def test_items_below_the_safety_stock_are_refused(shop: Shop) -> None:
    await set_stock(shop.db, "MI", "BOOT-NER-40", 2)
    await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-40", 1)], channel="web", now=NOW
    )
    # One piece is left: the last pieces are not held for a try-on.
    with pytest.raises(ItemNotBookable) as refused:
        await shop.bookings.book(
            shop.bob, "MI", SATURDAY, "11:00", [("BOOT-NER-40", 1)], channel="web", now=NOW
        )
    assert (refused.value.sku, refused.value.reason) == ("BOOT-NER-40", "not_enough_stock")
    assert await stock_of(shop.db, "MI", "BOOT-NER-40") == (2, 1)
    assert await used(shop, SAT_1030 + timedelta(minutes=30)) in (None, 0)  # rolled back
    with pytest.raises(ItemNotBookable):  # more pieces than there are
        await shop.bookings.book(
            shop.bob, "RM", SATURDAY, "11:00", [("BOOT-NER-40", 6)], channel="web", now=NOW
        )
    with pytest.raises(ItemNotBookable) as unknown:
        await shop.bookings.book(
            shop.bob, "RM", SATURDAY, "11:00", [("NOPE", 1)], channel="web", now=NOW
        )
    assert unknown.value.reason == "unknown_sku"
    assert await shop.bookings.bookable_stores([("BOOT-NER-40", 1)]) == ["RM"]


async def test_stores_without_try_on_or_switched_off_are_refused(shop: Shop) -> None:
    args = (SATURDAY, "10:30", [("BOOT-NER-41", 1)])
    with pytest.raises(StoreNotBookable) as no_service:
        await shop.bookings.book(shop.alice, "TO", *args, channel="web", now=NOW)
    assert no_service.value.reason == "no_try_on"
    await switch_try_on(shop.db, "MI", False)
    with pytest.raises(StoreNotBookable) as off:
        await shop.bookings.book(shop.alice, "MI", *args, channel="web", now=NOW)
    assert off.value.reason == "switched_off"
    with pytest.raises(StoreNotBookable) as unknown:
        await shop.bookings.book(shop.alice, "XX", *args, channel="web", now=NOW)
    assert unknown.value.reason == "unknown"
    assert await shop.bookings.bookable_stores([("BOOT-NER-41", 1)]) == ["RM"]
    assert await shop.bookings.set_try_on_enabled("MI", True)
    await shop.bookings.book(shop.alice, "MI", *args, channel="web", now=NOW)


@pytest.mark.parametrize(
    ("day", "at", "error"),
    [
        ("2026-02-31", "10:30", InvalidDate),  # "31 febbraio"
        ("2026-03-21", "25:00", InvalidDate),
        ("2026-03-29", "02:30", InvalidDate),  # skipped by DST
        ("2026-03-20", "09:30", PastTime),  # today, already gone (now is 10:00 local)
        ("2025-03-21", "10:30", PastTime),
        ("2026-03-21", "10:15", NotASlot),  # not a slot start
        ("2026-03-21", "19:30", NotASlot),  # closing time
        ("2026-03-22", "10:30", NotASlot),  # the store is closed that day
        ("2026-12-25", "10:30", TooFarAhead),
    ],
)
async def test_impossible_and_past_times_are_refused(
    shop: Shop, day: str, at: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await shop.bookings.book(
            shop.alice, "MI", day, at, [("BOOT-NER-41", 1)], channel="web", now=NOW
        )
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)


@pytest.mark.parametrize(
    "items", [[], [("BOOT-NER-41", 0)], [("BOOT-NER-41", -1)], [("BOOT-NER-41", 1.5)], [("", 1)],
              [("BOOT-NER-41", 11)]],
)
async def test_bad_items_are_refused(shop: Shop, items: list[tuple[str, int]]) -> None:
    with pytest.raises(InvalidItems):
        await shop.bookings.book(shop.alice, "MI", SATURDAY, "10:30", items, channel="web", now=NOW)


async def test_someone_elses_code_and_an_unknown_code_look_the_same(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    errors = []
    for call in (
        shop.bookings.get(shop.bob, view.code),
        shop.bookings.cancel(shop.bob, view.code, channel="web", now=NOW),
        shop.bookings.reschedule(shop.bob, view.code, SATURDAY, "11:00", channel="web", now=NOW),
    ):
        with pytest.raises(BookingNotFound) as found:
            await call
        errors.append(str(found.value))
    with pytest.raises(BookingNotFound) as unknown:
        await shop.bookings.get(shop.bob, "ZZZZZZ")
    assert errors == [f"no booking {view.code!r} for this customer"] * 3
    assert str(unknown.value) == "no booking 'ZZZZZZ' for this customer"
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 1)  # nothing changed
    assert (await shop.bookings.get(shop.alice, view.code.lower())).code == view.code
    assert await shop.bookings.my_bookings(shop.bob, now=NOW) == []


async def test_cancel_releases_once_and_cancelling_twice_is_refused(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 2)], channel="web", now=NOW
    )
    cancelled = await shop.bookings.cancel(shop.alice, view.code, channel="instagram", now=NOW)
    assert cancelled.status == "cancelled"
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)
    assert await used(shop, SAT_1030) == 0
    with pytest.raises(BookingNotActive) as again:
        await shop.bookings.cancel(shop.alice, view.code, channel="web", now=NOW)
    assert again.value.status == "cancelled"
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)
    assert await used(shop, SAT_1030) == 0
    assert await shop.bookings.my_bookings(shop.alice, now=NOW) == []
    async with shop.db.sessions() as session:
        kinds = [i.kind for i in await recent_interactions(session, shop.alice)]
    assert kinds == ["booking_cancelled", "booking_created"]


async def test_reschedule_moves_the_place_and_keeps_the_items(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    moved = await shop.bookings.reschedule(
        shop.alice, view.code, "2026-03-23", "17:00", channel="whatsapp", now=NOW
    )
    assert moved.code == view.code
    assert f"{moved.local_start:%Y-%m-%d %H:%M}" == "2026-03-23 17:00"
    assert await used(shop, SAT_1030) == 0
    assert await used(shop, moved.starts_at) == 1
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 1)
    # A full slot refuses the move and leaves the booking where it was.
    for customer in (shop.bob, shop.bob):
        await shop.bookings.book(
            customer, "MI", SATURDAY, "12:00", [("BOOT-NER-40", 1)], channel="web", now=NOW
        )
    with pytest.raises(SlotFull):
        await shop.bookings.reschedule(
            shop.alice, view.code, SATURDAY, "12:00", channel="web", now=NOW
        )
    assert (await shop.bookings.get(shop.alice, view.code)).starts_at == moved.starts_at
    assert await used(shop, moved.starts_at) == 1
    with pytest.raises(InvalidDate):
        await shop.bookings.reschedule(
            shop.alice, view.code, "2026-02-30", "10:00", channel="web", now=NOW
        )
    (mine,) = await shop.bookings.my_bookings(shop.alice, now=NOW)
    assert mine.starts_at == moved.starts_at


async def test_no_shows_release_the_items_after_the_grace_period(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    other = await shop.bookings.book(
        shop.bob, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    await shop.bookings.complete("MI", other.code, now=SAT_1030 + timedelta(minutes=5))
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 1)
    assert await shop.bookings.release_no_shows(SAT_1030 + timedelta(minutes=29)) == []
    assert await shop.bookings.release_no_shows(SAT_1030 + timedelta(minutes=30)) == [view.code]
    assert await shop.bookings.release_no_shows(SAT_1030 + timedelta(hours=3)) == []
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)
    statuses = {
        v.code: v.status for v in await shop.bookings.my_bookings(shop.alice, include_past=True)
    } | {v.code: v.status for v in await shop.bookings.my_bookings(shop.bob, include_past=True)}
    assert statuses == {view.code: "no_show", other.code: "completed"}
    with pytest.raises(BookingNotActive):
        await shop.bookings.complete("MI", view.code, now=SAT_1030 + timedelta(hours=1))
    with pytest.raises(BookingNotFound):  # another store's staff
        await shop.bookings.complete("RM", view.code, now=SAT_1030)


async def test_the_reminder_goes_out_once_the_day_before_on_the_last_channel(shop: Shop) -> None:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web",
        now=NOW - timedelta(days=2),
    )
    async with shop.db.transaction() as session:  # she wrote on WhatsApp since
        (await session.get_one(Customer, shop.alice)).last_channel = "whatsapp"
    before = datetime(2026, 3, 20, 8, 59, tzinfo=UTC)  # 09:59 in Milan, the day before
    assert await shop.bookings.due_reminders(before) == []
    at = datetime(2026, 3, 20, 9, 1, tzinfo=UTC)
    (due,) = await shop.bookings.due_reminders(at)
    assert (due.booking.code, due.channel) == (view.code, "whatsapp")
    assert await shop.bookings.send_reminders(at) == 1
    assert await shop.bookings.send_reminders(at + timedelta(minutes=1)) == 0
    async with shop.db.sessions() as session:
        (message,) = (await session.scalars(select(Message))).all()
        sent_at = await session.scalar(select(Booking.reminder_sent_at))
    assert (message.channel, message.direction, message.status) == ("whatsapp", "out", "pending")
    assert message.payload["must_send"] == {
        "template": "booking_reminder",
        "variables": {"1": "21/03 10:30", "2": "Vetrina Milano", "3": view.code},
    }
    assert view.code in message.text and "10:30" in message.text
    assert sent_at == at
    # Rescheduling asks for a new reminder.
    await shop.bookings.reschedule(shop.alice, view.code, SATURDAY, "11:00", channel="web", now=at)
    assert len(await shop.bookings.due_reminders(at)) == 1


async def test_a_booking_made_after_the_reminder_time_gets_no_reminder(shop: Shop) -> None:
    late = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
    await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=late
    )
    assert await shop.bookings.due_reminders(late + timedelta(minutes=5)) == []


async def test_a_code_collision_is_retried(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    first = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    codes = iter([first.code, "ABCDEF"])
    monkeypatch.setattr("vetrina.bookings.lifecycle.new_code", lambda: next(codes))
    second = await shop.bookings.book(
        shop.bob, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    assert second.code == "ABCDEF"
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 2)  # the failed try held nothing
    assert await used(shop, SAT_1030) == 2
    assert calendar_module.new_code() != calendar_module.new_code()


def test_codes_always_mix_a_digit_and_a_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that "cancel k7mqrt" typed in lower case is still told apart from a word."""
    drawn = iter("ABCDEF" + "234567" + "AB2CDE")  # all letters, all digits, then mixed
    monkeypatch.setattr(calendar_module.secrets, "choice", lambda _alphabet: next(drawn))
    assert calendar_module.new_code() == "AB2CDE"
    monkeypatch.undo()
    for _ in range(500):
        code = calendar_module.new_code()
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code), code


async def test_the_day_sheet_lists_a_local_day_with_items(shop: Shop) -> None:
    a = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "18:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    b = await shop.bookings.book(
        shop.bob, "MI", SATURDAY, "10:00", [("BOOT-NER-42", 2)], channel="web", now=NOW
    )
    await shop.bookings.book(
        shop.bob, "MI", "2026-03-23", "10:00", [("BOOT-NER-42", 1)], channel="web", now=NOW
    )
    sheet = await shop.bookings.day_sheet("MI", SATURDAY)
    assert [v.code for v in sheet] == [b.code, a.code]
    assert sheet[0].customer_name == "Cliente 1"
    assert [(i.sku, i.quantity) for i in sheet[0].items] == [("BOOT-NER-42", 2)]
    assert await shop.bookings.day_sheet("RM", SATURDAY) == []


async def test_options_change_slot_length_and_capacity(shop: Shop) -> None:
    one = Bookings(shop.db, BookingOptions(slot_minutes=60, capacity=1))
    await one.book(shop.alice, "RM", SATURDAY, "11:00", [("BOOT-NER-41", 1)], channel="web", now=NOW)
    with pytest.raises(SlotFull):
        await one.book(shop.bob, "RM", SATURDAY, "11:00", [("BOOT-NER-42", 1)], channel="web", now=NOW)
    with pytest.raises(NotASlot):
        await one.book(shop.bob, "RM", SATURDAY, "11:30", [("BOOT-NER-42", 1)], channel="web", now=NOW)

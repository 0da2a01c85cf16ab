"""From words to slots against a store's real hours and capacity (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.bookings.conftest import NOW, SATURDAY, Shop, switch_try_on
from vetrina.bookings.errors import StoreNotBookable
from vetrina.bookings.planner import Fit, propose
from vetrina.bookings.when import DayPart, WhenAsked

ROME = ZoneInfo("Europe/Rome")
SAT = date(2026, 3, 21)


def local(slot_start: datetime) -> str:
    return slot_start.astimezone(ROME).strftime("%a %H:%M")


async def test_a_free_exact_time_is_taken_as_it_is(shop: Shop) -> None:
    proposal = await propose(shop.bookings, "MI", WhenAsked(SAT, time(17, 0)), NOW)
    assert proposal.fit is Fit.EXACT
    assert proposal.slot is not None and local(proposal.slot.starts_at) == "Sat 17:00"


async def test_a_full_slot_offers_the_nearest_free_ones_that_day(shop: Shop) -> None:
    for customer in (shop.alice, shop.bob):
        await shop.bookings.book(
            customer, "MI", SATURDAY, "17:00", [("BOOT-NER-40", 1)], channel="web", now=NOW
        )
    proposal = await propose(shop.bookings, "MI", WhenAsked(SAT, time(17, 0)), NOW)
    assert proposal.fit is Fit.FULL
    assert [local(s.starts_at) for s in proposal.options] == ["Sat 16:00", "Sat 16:30", "Sat 17:30"]  # ties: the earlier


async def test_closed_days_and_hours_offer_the_next_free_slots(shop: Shop) -> None:
    # Sunday 22 March is a closure; 21:00 is after closing time.
    closed_day = await propose(shop.bookings, "MI", WhenAsked(date(2026, 3, 22), time(11, 0)), NOW)
    assert closed_day.fit is Fit.CLOSED
    assert next(local(s.starts_at) for s in closed_day.options) == "Mon 10:00"
    late = await propose(shop.bookings, "MI", WhenAsked(SAT, time(21, 0)), NOW)
    assert late.fit is Fit.CLOSED
    assert all(local(s.starts_at) < "Sat 19:30" for s in late.options)
    whole_day = await propose(shop.bookings, "MI", WhenAsked(date(2026, 3, 22)), NOW)
    assert whole_day.fit is Fit.CLOSED and whole_day.options


async def test_past_times_are_never_offered(shop: Shop) -> None:
    # NOW is Friday 10:00 in Milan.
    earlier_today = await propose(shop.bookings, "MI", WhenAsked(date(2026, 3, 20), time(9, 0)), NOW)
    yesterday = await propose(shop.bookings, "MI", WhenAsked(date(2026, 3, 19)), NOW)
    for proposal in (earlier_today, yesterday):
        assert proposal.fit is Fit.PAST
        assert proposal.options and all(s.starts_at > NOW for s in proposal.options)


async def test_a_part_of_the_day_offers_slots_spread_over_it(shop: Shop) -> None:
    proposal = await propose(shop.bookings, "MI", WhenAsked(SAT, None, DayPart.AFTERNOON), NOW)
    assert proposal.fit is Fit.CHOOSE
    times = [local(s.starts_at) for s in proposal.options]
    assert times == ["Sat 13:00", "Sat 15:00", "Sat 17:30"]


async def test_a_time_alone_means_today_while_it_is_ahead_else_tomorrow(shop: Shop) -> None:
    later = await propose(shop.bookings, "MI", WhenAsked(None, time(15, 0)), NOW)
    assert later.slot is not None and local(later.slot.starts_at) == "Fri 15:00"
    evening_now = NOW.replace(hour=18)  # 19:00 in Milan
    gone = await propose(shop.bookings, "MI", WhenAsked(None, time(15, 0)), evening_now)
    assert gone.slot is not None and local(gone.slot.starts_at) == "Sat 15:00"


async def test_nothing_asked_offers_the_first_free_slots(shop: Shop) -> None:
    proposal = await propose(shop.bookings, "MI", WhenAsked(), NOW)
    assert proposal.fit is Fit.NO_TIME
    assert [local(s.starts_at) for s in proposal.options] == ["Fri 10:30", "Fri 11:00", "Fri 11:30"]


async def test_too_far_ahead(shop: Shop) -> None:
    far = NOW.date() + timedelta(days=shop.bookings.options.horizon_days + 5)
    proposal = await propose(shop.bookings, "MI", WhenAsked(far, time(11, 0)), NOW)
    assert proposal.fit is Fit.TOO_FAR and proposal.options


async def test_a_store_with_bookings_switched_off_is_refused(shop: Shop) -> None:
    await switch_try_on(shop.db, "MI", False)
    with pytest.raises(StoreNotBookable):
        await propose(shop.bookings, "MI", WhenAsked(SAT, time(11, 0)), NOW)
    assert NOW.tzinfo is timezone.utc

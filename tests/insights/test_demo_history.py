"""``vetrina demo``'s history: seeded, written once, and a living Insights page."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from vetrina.bookings.models import Booking
from vetrina.catalog.demo import load_demo
from vetrina.conversations.models import Message
from vetrina.customers.models import Customer
from vetrina.insights.demo_history import load_demo_history, plan_history
from vetrina.insights.kpis import KpiQuery
from vetrina.insights.models import Order
from vetrina.insights.service import Insights
from vetrina.storage.database import Database

TODAY = date(2026, 11, 30)


async def _counts(db: Database) -> tuple[int, ...]:
    counts = []
    async with db.sessions() as session:
        for table in (Customer, Message, Booking, Order):
            counts.append(int(await session.scalar(select(func.count()).select_from(table)) or 0))
    return tuple(counts)


async def test_twice_is_once_with_the_same_figures(db: Database) -> None:
    """On SQLite and on PostgreSQL."""
    await load_demo(db)
    insights = Insights(db)
    first = await load_demo_history(db, 7, months=2, insights=insights, today=TODAY)
    query = KpiQuery(TODAY - timedelta(days=60), TODAY - timedelta(days=1), group_by="store")
    before, counted = await insights.kpis(query), await _counts(db)
    # Run again on a later day: the stored anchor keeps the same history.
    again = await load_demo_history(
        db, 7, months=2, insights=insights, today=TODAY + timedelta(days=3)
    )
    assert (first.written, again.written) == (True, False)
    assert again.anchor == first.anchor == TODAY
    assert (again.orders_applied, again.merges) == (0, 0)
    assert first.orders_applied > 500 and first.merges == 12
    assert await _counts(db) == counted
    assert await insights.kpis(query) == before
    totals = before["totals"]
    for name in ("share_after_booking", "share_after_chat", "e_reservations",
                 "store_locator_uses", "conversations", "handed_off", "bookings_attended",
                 "bookings_no_show", "bookings_cancelled", "refunds", "last_touch_revenue_cents",
                 "influenced_revenue_cents"):
        assert totals[name], name
    assert 0 < totals["match_rate"] < 1  # some sales nobody can match
    assert before["top_out_of_stock"]
    assert {"booking_code", "phone"} <= set(totals["key_mix"])
    async with db.sessions() as session:
        # Nothing can reach a shopper: no reply waiting to be sent, no booking to come.
        pending = await session.scalar(
            select(func.count()).select_from(Message).where(Message.status == "pending")
        )
        confirmed = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.status == "confirmed")
        )
        merged = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_not(None))
        )
    assert (pending, confirmed, merged) == (0, 0, 12)


def test_the_plan_is_a_function_of_seed_and_anchor() -> None:
    from vetrina.insights.demo_history import Sku, StoreInfo

    stores = [StoreInfo("MI", 45.46, 9.19, True, 3.0), StoreInfo("RM", 41.9, 12.48, False, 1.0)]
    skus = [Sku(f"S-{n}", f"P{n}", 1000 + n) for n in range(20)]
    one = plan_history(1, TODAY, stores, skus, months=1)
    assert one == plan_history(1, TODAY, stores, skus, months=1)
    assert one.orders != plan_history(2, TODAY, stores, skus, months=1).orders
    assert all(o["occurred_at"] < f"{TODAY.isoformat()}T00:00" for o in one.orders)
    assert all(b.store == "MI" for b in one.bookings)  # only stores that offer try-ons

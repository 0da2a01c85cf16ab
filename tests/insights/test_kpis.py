"""Every KPI on one hand-made two-day history, against figures worked out by hand.

The history (D1 = 9 March 2026, D2 = 10 March; T0 = D2 12:00 UTC):

conversations
  anna  D2 whatsapp: bot T0-6h; handoff to MI T0-5h, Giulia claims +120 s, writes +300 s
  bruno D2 web: bot T0-3h (never handed off)
  carla D2 instagram: writes T0-2h-10s; handoff to RM T0-2h, Marco claims +60 s, writes +90 s
  dora  D1 whatsapp: bot T0-1d-1h (never handed off)
  → 4 conversations, 2 automated, 2 handed off; first response 300 and 90 s (median 90,
    p90 300); queue wait 120 and 60 s (median 60, p90 120)
bookings (start, store, status)
  b1 anna  D1 MI completed;  b2 bruno D1 MI no-show;  b3 carla D2 RM cancelled (created D1);
  b4 dora  D2 MI confirmed and checked in (created D1)
  → 4 bookings, 1 cancelled, 2 attended, 1 no-show, show rate 2/3, 2 e-reservations
stock checks
  anna D2 TRENCH@MI in stock (web); bruno D2 BOOT@MI out (web); carla D2 BOOT@RM out
  (instagram); dora D1 BOOT@MI last pieces (whatsapp); dora D1 nearest stores (whatsapp)
  → 4 asks, 2 out (0.5), 1 last pieces (0.25), 1 store-locator use
orders (all D2)
  O1 anna  pos MI 100.00 by phone: last touch Giulia (whatsapp); influenced also the bot
     (whatsapp), b1 (web), the TRENCH stock check (web)
  O2 dora  pos MI  50.00 by email: last touch b4 (web); influenced also her bot chat and
     BOOT stock check (whatsapp)
  O3 bruno web    200.00 by shop account: last touch his bot chat (web)
  O4 nobody pos RM 100.00 (unmatched)
  R1 refund of O1, 40.00
  → revenue 410.00; last-touch = influenced = 60 + 50 + 200 = 310.00; per conversation
    310.00 / 4 = 77.50; 3 store purchases, 2 after a booking, 2 after a chat; 3 of 4
    matched; bookings b1 and b4 converted (2 of 3 not cancelled)
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.insights.world import DAY, NOW, SECOND, T0, World, refund, sale
from vetrina.bookings.models import Booking
from vetrina.bookings.outcomes import BookingCheckIn
from vetrina.customers.interactions import Interaction
from vetrina.customers.models import Customer
from vetrina.insights.kpis import KpiError, KpiQuery, percentile, to_csv

D1, D2 = date(2026, 3, 9), date(2026, 3, 10)
H = 3600 * SECOND


async def build(world: World) -> dict[str, str]:
    dora = await world.customer("Dora", email="dora@example.com")
    anna, bruno, carla = world.anna, world.bruno, world.carla
    # Conversations.
    await world.message(anna, T0 - 6 * H)
    await world.handoff(anna, T0 - 5 * H, T0 - 5 * H + 120 * SECOND, world.giulia, "MI")
    await world.message(
        anna, T0 - 5 * H + 300 * SECOND, author="consultant", consultant=world.giulia
    )
    await world.message(bruno, T0 - 3 * H, channel="web")
    await world.inbound(carla, T0 - 2 * H - 10 * SECOND, channel="instagram")
    await world.handoff(carla, T0 - 2 * H, T0 - 2 * H + 60 * SECOND, world.marco, "RM")
    await world.message(
        carla,
        T0 - 2 * H + 90 * SECOND,
        author="consultant",
        consultant=world.marco,
        channel="instagram",
    )
    await world.message(dora, T0 - DAY - H)
    # Bookings.
    await world.booking(anna, "MI", T0 - DAY, status="completed")
    await world.booking(bruno, "MI", T0 - DAY + H, status="no_show")
    await world.booking(carla, "RM", T0 - 2 * H, status="cancelled", created=T0 - DAY)
    b4 = await world.booking(dora, "MI", T0 - 4 * H, created=T0 - DAY)
    async with world.db.transaction() as session:
        booking_id = (
            await session.execute(
                update(Booking)
                .where(Booking.code == b4)
                .values(updated_at=T0 - 4 * H)
                .returning(Booking.id)
            )
        ).scalar_one()
        session.add(
            BookingCheckIn(
                booking_id=booking_id, checked_in_at=T0 - 4 * H, checked_in_by="giulia@example.com"
            )
        )
    # Stock checks.
    await world.stock_check(anna, T0 - 7 * H, "TRENCH", "MI", "in_stock")
    await world.stock_check(bruno, T0 - 8 * H, "BOOT", "MI", "out_of_stock")
    await world.stock_check(carla, T0 - 9 * H, "BOOT", "RM", "out_of_stock", channel="instagram")
    await world.stock_check(dora, T0 - DAY - 2 * H, "BOOT", "MI", "last_pieces", channel="whatsapp")
    await world.stock_check(
        dora, T0 - DAY - 3 * H, None, None, None, channel="whatsapp", outcome="nearest_stores"
    )
    # Where they live: Anna and Bruno by favourite store, Dora shared Bergamo (~46 km).
    async with world.db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.id == anna).values(favourite_store_code="MI")
        )
        await session.execute(
            update(Customer).where(Customer.id == bruno).values(favourite_store_code="RM")
        )
        session.add(
            Interaction(
                customer_id=dora,
                kind="location_shared",
                channel="whatsapp",
                created_at=T0 - DAY,
                data={"location": {"latitude": 45.6983, "longitude": 9.6773}},
            )
        )
    # Orders.
    result = await world.insights.ingest(
        [
            sale("O1", T0, customer={"phone": "+39 333 111 1111"}),
            sale(
                "O2",
                T0 + H,
                sku="BO-42",
                unit="50.00",
                total="50.00",
                customer={"email": "DORA@example.com"},
            ),
            sale(
                "O3",
                T0 + 2 * H,
                source="web",
                store=None,
                quantity=2,
                total="200.00",
                customer={"shop_account": "shop-bruno"},
            ),
            sale("O4", T0 + 3 * H, store="RM", customer={"phone": "+39 333 999 9999"}),
            refund("R1", "O1", T0 + 4 * H, total="40.00"),
        ],
        now=NOW,
    )
    assert (result.applied, result.matched, result.problems) == (5, 4, [])
    return {"dora": dora}


TOTALS: dict[str, Any] = {
    "store_purchases": 3,
    "store_purchases_after_booking": 2,
    "share_after_booking": 0.6667,
    "store_purchases_after_chat": 2,
    "share_after_chat": 0.6667,
    "e_reservations": 2,
    "store_locator_uses": 1,
    "conversations": 4,
    "automated": 2,
    "handed_off": 2,
    "automation_rate": 0.5,
    "handoff_rate": 0.5,
    "first_response_median_s": 90,
    "first_response_p90_s": 300,
    "queue_wait_median_s": 60,
    "queue_wait_p90_s": 120,
    "bookings": 4,
    "bookings_attended": 2,
    "bookings_no_show": 1,
    "bookings_cancelled": 1,
    "show_rate": 0.6667,
    "bookings_converted": 2,
    "booking_conversion": 0.6667,
    "orders": 4,
    "refunds": 1,
    "revenue_cents": 41000,
    "last_touch_revenue_cents": 31000,
    "last_touch_orders": 3,
    "influenced_revenue_cents": 31000,
    "influenced_orders": 3,
    "revenue_per_conversation_cents": 7750,
    "matched_orders": 3,
    "match_rate": 0.75,
    "key_mix": {"email": 1, "phone": 1, "shop_account": 1},
    "stock_asks": 4,
    "out_of_stock_asks": 2,
    "last_pieces_asks": 1,
    "out_of_stock_share": 0.5,
    "last_pieces_share": 0.25,
    "purchases_by_distance": {
        "<5 km": {"online": 1, "store": 1},
        "20-50 km": {"online": 0, "store": 1},
    },
}


async def test_every_kpi_over_two_days(world: World) -> None:
    await build(world)
    document = await world.insights.kpis(KpiQuery(D1, D2))
    assert document["totals"] == TOTALS
    assert document["top_out_of_stock"] == [
        {"product_code": "BOOT", "store": None, "asks": 3, "out_of_stock": 2, "last_pieces": 1},
    ]
    milan = await world.insights.kpis(KpiQuery(D1, D2, store="MI"))
    assert milan["top_out_of_stock"] == [
        {"product_code": "BOOT", "store": "MI", "asks": 2, "out_of_stock": 1, "last_pieces": 1},
    ]


async def test_one_store(world: World) -> None:
    await build(world)
    figures = (await world.insights.kpis(KpiQuery(D1, D2, store="MI")))["totals"]
    expected = {
        "store_purchases": 2,
        "store_purchases_after_booking": 2,
        "orders": 2,
        "refunds": 1,
        "revenue_cents": 11000,
        "last_touch_revenue_cents": 11000,
        "conversations": 1,
        "handed_off": 1,
        "first_response_median_s": 300,
        "bookings": 3,
        "bookings_attended": 2,
        "bookings_no_show": 1,
        "bookings_cancelled": 0,
        "bookings_converted": 2,
        "booking_conversion": 0.6667,
        "stock_asks": 3,
        "out_of_stock_asks": 1,
        "revenue_per_conversation_cents": 11000,
        "match_rate": 1.0,
    }
    assert {k: figures[k] for k in expected} == expected


async def test_grouped_by_day_store_channel_and_consultant(lite: World) -> None:
    await build(lite)
    by_day = await lite.insights.kpis(KpiQuery(D1, D2, group_by="day"))
    assert [
        (g["key"], g["conversations"], g["orders"], g["bookings"], g["stock_asks"])
        for g in by_day["groups"]
    ] == [("2026-03-09", 1, 0, 2, 1), ("2026-03-10", 3, 4, 2, 3)]
    assert by_day["totals"] == TOTALS
    by_store = await lite.insights.kpis(KpiQuery(D1, D2, group_by="store"))
    assert [(g["key"], g["revenue_cents"], g["store_purchases"]) for g in by_store["groups"]] == [
        (None, 20000, 0),
        ("MI", 11000, 2),
        ("RM", 10000, 1),
    ]
    by_channel = await lite.insights.kpis(KpiQuery(D1, D2, group_by="channel"))
    assert {
        g["key"]: (
            g["last_touch_revenue_cents"],
            g["influenced_revenue_cents"],
            g["conversations"],
            g["e_reservations"],
            g["stock_asks"],
        )
        for g in by_channel["groups"]
    } == {
        "instagram": (0, 0, 1, 0, 1),
        "web": (25000, 31000, 1, 2, 2),
        "whatsapp": (6000, 11000, 2, 0, 1),
    }
    whatsapp = await lite.insights.kpis(KpiQuery(D1, D2, channel="whatsapp"))
    assert whatsapp["totals"]["last_touch_revenue_cents"] == 6000
    by_consultant = await lite.insights.kpis(KpiQuery(D1, D2, group_by="consultant"))
    assert [
        (
            g["name"],
            g["conversations"],
            g["first_response_median_s"],
            g["queue_wait_median_s"],
            g["last_touch_revenue_cents"],
        )
        for g in by_consultant["groups"]
    ] == [("Giulia", 1, 300, 120, 6000), ("Marco", 1, 90, 60, 0)]


async def test_csv_twin_has_the_same_figures(lite: World) -> None:
    await build(lite)
    document = await lite.insights.kpis(KpiQuery(D1, D2, group_by="store"))
    rows = list(csv.DictReader(io.StringIO(to_csv(document))))
    assert [(r["key"], r["revenue_cents"], r["key_mix.phone"]) for r in rows] == [
        ("", "20000", "0"),
        ("MI", "11000", "1"),
        ("RM", "10000", "0"),
    ]


async def test_later_events_update_the_rollups_incrementally(lite: World) -> None:
    await build(lite)
    # A late refund of O2 and a new conversation: only those keys are redone.
    await lite.inbound(lite.bruno, T0 + 5 * H, channel="web")
    result = await lite.insights.ingest([refund("R2", "O2", T0 + 6 * H, total="50.00")], now=NOW)
    assert result.applied == 1
    figures = (await lite.insights.kpis(KpiQuery(D1, D2)))["totals"]
    assert figures["revenue_cents"] == 36000
    assert figures["last_touch_revenue_cents"] == 26000
    assert figures["conversations"] == 4  # Bruno already had a conversation on D2
    assert figures["bookings_converted"] == 1  # b4's sale was refunded in full


def test_percentiles_are_nearest_rank() -> None:
    assert percentile({1: 1, 2: 1, 3: 1}, 0.5) == 2
    assert percentile({1: 1, 2: 1}, 0.5) == 1
    assert percentile({10: 9, 100: 1}, 0.9) == 10
    assert percentile({10: 8, 100: 2}, 0.9) == 100
    assert percentile({}, 0.5) is None


def test_bad_queries_are_refused() -> None:
    with pytest.raises(KpiError, match="before"):
        KpiQuery(D2, D1)
    with pytest.raises(KpiError, match="group_by"):
        KpiQuery(D1, D2, group_by="week")
    with pytest.raises(KpiError, match="at most"):
        KpiQuery(D1, D1 + timedelta(days=800))


async def test_report_formats(lite: World) -> None:
    import json

    from vetrina.insights.kpis import render

    await build(lite)
    document = await lite.insights.kpis(KpiQuery(D1, D2, group_by="store"))
    assert json.loads(render(document, "json")) == json.loads(json.dumps(document))
    table = render(document, "table").splitlines()
    assert table[0].split() == ["-", "MI", "RM"]
    revenue = next(line for line in table if line.startswith("revenue_cents "))
    assert revenue.split() == ["revenue_cents", "20000", "11000", "10000"]
    assert render(document, "csv") == to_csv(document)
    with pytest.raises(KpiError, match="format"):
        render(document, "xml")

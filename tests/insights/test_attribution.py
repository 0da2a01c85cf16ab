"""Attribution and reconciliation on hand-made histories: windows to the second, the last
touch, refunds, re-runs, changed windows, merges and their undo, erasure, late links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.insights.world import DAY, NOW, SECOND, T0, World, make_world, refund, sale
from vetrina.customers.merging import merge_customers, undo_merge
from vetrina.customers.privacy import erase_customer, export_customer
from vetrina.insights.attribution import AttributionOptions
from vetrina.insights.kpis import KpiQuery
from vetrina.insights.models import AttributionCredit, Order, OrderContact
from vetrina.insights.service import Insights, InsightsOptions

ANNA_PHONE = {"phone": "+39 333 111 1111"}
DAY_OF_T0 = KpiQuery(T0.date(), T0.date())


async def credits(world: World, order_id: str) -> list[tuple[Any, ...]]:
    async with world.db.sessions() as session:
        rows = (
            await session.execute(
                select(
                    AttributionCredit.view,
                    AttributionCredit.touch_kind,
                    AttributionCredit.rule,
                    AttributionCredit.window_seconds,
                    AttributionCredit.matched_key,
                    AttributionCredit.amount_cents,
                    AttributionCredit.channel,
                    AttributionCredit.consultant_id,
                )
                .join(Order, Order.id == AttributionCredit.order_pk)
                .where(Order.order_id == order_id)
                .order_by(AttributionCredit.view.desc(), AttributionCredit.touch_at.desc())
            )
        ).all()
    return [tuple(r) for r in rows]


async def buyer(world: World, order_id: str) -> tuple[str | None, str | None]:
    async with world.db.sessions() as session:
        order = await session.scalar(select(Order).where(Order.order_id == order_id))
    assert order is not None
    return order.buyer_id, order.matched_key


async def totals(world: World, query: KpiQuery = DAY_OF_T0) -> dict[str, Any]:
    document = await world.insights.kpis(query)
    result: dict[str, Any] = document["totals"]
    return result


THREE_DAYS = 3 * 86400


async def test_conversation_window_edges_to_the_second(lite: World) -> None:
    await lite.message(lite.anna, T0 - 3 * DAY)  # exactly 3 days before: inside
    await lite.message(lite.bruno, T0 - 3 * DAY - SECOND)  # one second more: outside
    await lite.insights.ingest(
        [
            sale("A", T0, customer=ANNA_PHONE),
            sale("B", T0, customer={"shop_account": "shop-bruno"}),
        ],
        now=NOW,
    )
    assert await credits(lite, "A") == [
        (
            "last_touch",
            "conversation",
            "conversation",
            THREE_DAYS,
            "phone",
            10000,
            "whatsapp",
            None,
        ),
        (
            "influenced",
            "conversation",
            "conversation",
            THREE_DAYS,
            "phone",
            10000,
            "whatsapp",
            None,
        ),
    ]
    assert await credits(lite, "B") == []
    figures = await totals(lite)
    assert figures["store_purchases"] == 2
    assert figures["store_purchases_after_chat"] == 1
    assert figures["share_after_chat"] == 0.5
    assert figures["key_mix"] == {"phone": 1, "shop_account": 1}


async def test_booking_window_edges_and_store_purchases_only(lite: World) -> None:
    inside = await lite.booking(lite.anna, "RM", T0 - 3 * DAY)
    await lite.booking(lite.bruno, "MI", T0 - 3 * DAY - SECOND)
    await lite.insights.ingest(
        [
            sale("A", T0, customer=ANNA_PHONE),
            sale("B", T0, customer={"shop_account": "shop-bruno"}),
            sale("W", T0, source="web", store=None, customer=ANNA_PHONE),
        ],
        now=NOW,
    )
    assert await credits(lite, "A") == [
        ("last_touch", "booking", "booking", THREE_DAYS, "phone", 10000, "web", None),
        ("influenced", "booking", "booking", THREE_DAYS, "phone", 10000, "web", None),
    ]
    assert await credits(lite, "B") == []
    assert await credits(lite, "W") == []  # a booking counts for store purchases only
    figures = await totals(lite)
    assert (figures["store_purchases"], figures["store_purchases_after_booking"]) == (2, 1)
    assert figures["share_after_booking"] == 0.5
    booked = await totals(lite, KpiQuery(T0.date() - timedelta(days=5), T0.date()))
    assert booked["bookings"] == 2
    assert booked["bookings_converted"] == 1  # the RM booking, by the MI sale
    assert inside.startswith("B")


async def test_a_named_booking_is_credited_and_matches_first(lite: World) -> None:
    code = await lite.booking(lite.bruno, "MI", T0 + 2 * DAY, created=T0 - DAY)
    # Anna's phone, but Bruno's booking code: the booking code is the stronger key.
    await lite.insights.ingest(
        [sale("A", T0, customer=ANNA_PHONE, booking_code=code.lower())], now=NOW
    )
    assert await buyer(lite, "A") == (lite.bruno, "booking_code")
    assert await credits(lite, "A") == [
        ("last_touch", "booking", "booking_code", 0, "booking_code", 10000, "web", None),
        ("influenced", "booking", "booking_code", 0, "booking_code", 10000, "web", None),
    ]


async def test_consultant_window_of_14_days_for_their_own_store(lite: World) -> None:
    await lite.message(lite.anna, T0 - 14 * DAY, author="consultant", consultant=lite.giulia)
    await lite.message(
        lite.bruno, T0 - 14 * DAY - SECOND, author="consultant", consultant=lite.giulia
    )
    await lite.insights.ingest(
        [
            sale("A-MI", T0, customer=ANNA_PHONE),
            sale("A-RM", T0, store="RM", customer=ANNA_PHONE),
            sale("B-MI", T0, customer={"shop_account": "shop-bruno"}),
        ],
        now=NOW,
    )
    fourteen = 14 * 86400
    assert await credits(lite, "A-MI") == [
        (
            "last_touch",
            "consultant",
            "consultant_store",
            fourteen,
            "phone",
            10000,
            "whatsapp",
            lite.giulia,
        ),
        (
            "influenced",
            "consultant",
            "consultant_store",
            fourteen,
            "phone",
            10000,
            "whatsapp",
            lite.giulia,
        ),
    ]
    assert await credits(lite, "A-RM") == []  # not Giulia's store, and older than 3 days
    assert await credits(lite, "B-MI") == []  # one second too old
    by_consultant = await lite.insights.kpis(KpiQuery(T0.date(), T0.date(), group_by="consultant"))
    assert [
        (g["key"], g["name"], g["last_touch_revenue_cents"]) for g in by_consultant["groups"]
    ] == [(str(lite.giulia), "Giulia", 10000)]


async def test_several_touches_the_last_one_is_credited_and_refunds_reduce_both(
    world: World,
) -> None:
    await world.message(world.anna, T0 - 2 * DAY, channel="whatsapp")
    await world.stock_check(world.anna, T0 - DAY, "TRENCH", "MI", "in_stock", channel="web")
    await world.stock_check(world.anna, T0 - DAY, "BOOT", "MI", "in_stock")  # not bought
    await world.message(
        world.anna,
        T0 - 5 * 3600 * SECOND,
        author="consultant",
        consultant=world.giulia,
        channel="instagram",
    )
    await world.insights.ingest([sale("A", T0, customer=ANNA_PHONE)], now=NOW)
    assert [(c[0], c[1], c[2], c[6]) for c in await credits(world, "A")] == [
        ("last_touch", "consultant", "consultant", "instagram"),
        ("influenced", "consultant", "consultant", "instagram"),
        ("influenced", "stock_check", "stock_check", "web"),
        ("influenced", "conversation", "conversation", "whatsapp"),
    ]
    await world.insights.ingest([refund("R", "A", T0 + DAY, total="40.00")], now=NOW)
    assert {c[5] for c in await credits(world, "R")} == {-4000}
    assert len(await credits(world, "R")) == 4
    week = KpiQuery(T0.date(), T0.date() + timedelta(days=1))
    figures = await totals(world, week)
    assert figures["revenue_cents"] == 6000
    assert figures["last_touch_revenue_cents"] == 6000
    assert figures["influenced_revenue_cents"] == 6000
    assert (figures["orders"], figures["refunds"]) == (1, 1)
    by_channel = await world.insights.kpis(
        KpiQuery(T0.date(), T0.date() + timedelta(days=1), group_by="channel")
    )
    assert {
        g["key"]: (g["last_touch_revenue_cents"], g["influenced_revenue_cents"])
        for g in by_channel["groups"]
    } == {
        "instagram": (6000, 6000),
        "web": (0, 6000),
        "whatsapp": (0, 6000),
    }


async def test_a_rerun_and_a_full_recompute_give_the_same_rows(lite: World) -> None:
    await lite.message(lite.anna, T0 - 2 * DAY)
    await lite.booking(lite.anna, "MI", T0 - DAY)
    await lite.insights.ingest([sale("A", T0, customer=ANNA_PHONE)], now=NOW)
    before = await credits(lite, "A")
    figures = await totals(lite, KpiQuery(T0.date() - timedelta(days=3), T0.date()))
    await lite.insights.refresh()
    await lite.insights.recompute()
    assert await credits(lite, "A") == before
    assert await totals(lite, KpiQuery(T0.date() - timedelta(days=3), T0.date())) == figures
    assert before[0][:3] == ("last_touch", "booking", "booking")


async def test_changed_windows_are_applied_on_the_next_refresh(lite: World) -> None:
    await lite.message(lite.anna, T0 - 2 * DAY)
    await lite.insights.ingest([sale("A", T0, customer=ANNA_PHONE)], now=NOW)
    assert len(await credits(lite, "A")) == 2
    narrow = Insights(lite.db, InsightsOptions(AttributionOptions(conversation_window=DAY)))
    report = await narrow.refresh()
    assert report.attributed == 1
    assert await credits(lite, "A") == []
    assert (await narrow.kpis(DAY_OF_T0))["totals"]["last_touch_revenue_cents"] == 0


async def test_an_unmatched_order_is_counted_then_matched_after_a_later_link(
    world: World,
) -> None:
    await world.message(world.carla, T0 - DAY)
    await world.insights.ingest([sale("C", T0, customer={"email": "Carla@Example.com"})], now=NOW)
    assert await buyer(world, "C") == (None, None)
    figures = await totals(world)
    assert (figures["orders"], figures["matched_orders"], figures["match_rate"]) == (1, 0, 0.0)
    assert figures["last_touch_revenue_cents"] == 0
    await world.link(world.carla, "email", "carla@example.com")
    await world.insights.refresh()
    assert await buyer(world, "C") == (world.carla, "email")
    figures = await totals(world)
    assert (figures["matched_orders"], figures["match_rate"]) == (1, 1.0)
    assert figures["key_mix"] == {"email": 1}
    assert figures["last_touch_revenue_cents"] == 10000


async def test_loyalty_id_is_learnt_from_an_earlier_matched_order(lite: World) -> None:
    await lite.insights.ingest(
        [sale("A", T0, customer={**ANNA_PHONE, "loyalty_id": "L-77"})], now=NOW
    )
    await lite.insights.ingest([sale("B", T0, customer={"loyalty_id": "L-77"})], now=NOW)
    assert await buyer(lite, "B") == (lite.anna, "loyalty_id")


async def test_a_merge_and_its_undo_are_followed(world: World) -> None:
    await world.link(world.carla, "email", "carla@example.com")
    await world.message(world.carla, T0 - DAY)  # Carla chatted; Anna bought
    await world.insights.ingest(
        [
            sale("A", T0, customer=ANNA_PHONE),
            sale("C", T0, customer={"email": "carla@example.com"}),
        ],
        now=NOW,
    )
    assert await credits(world, "A") == []
    assert await buyer(world, "C") == (world.carla, "email")
    merge = await merge_customers(world.db, world.anna, world.carla, actor="test", reason="same")
    await world.insights.refresh()
    assert await buyer(world, "C") == (world.anna, "email")  # the surviving customer
    assert [c[1] for c in await credits(world, "A")] == ["conversation", "conversation"]
    assert (await totals(world))["last_touch_revenue_cents"] == 20000
    await undo_merge(world.db, merge.id, actor="test")
    await world.insights.refresh()
    assert await buyer(world, "C") == (world.carla, "email")
    assert await credits(world, "A") == []
    assert len(await credits(world, "C")) == 2
    assert (await totals(world))["last_touch_revenue_cents"] == 10000


async def test_erasure_keeps_anonymous_amounts(world: World) -> None:
    await world.message(world.anna, T0 - DAY)
    await world.insights.ingest(
        [sale("A", T0, customer={**ANNA_PHONE, "loyalty_id": "L-1"})], now=NOW
    )
    exported = await export_customer(world.db, world.anna)
    assert [r["loyalty_id"] for r in exported["tables"]["order_contacts"]] == ["L-1"]
    before = await totals(world)
    assert before["last_touch_revenue_cents"] == 10000
    await erase_customer(world.db, world.anna)
    await world.insights.refresh()
    await world.insights.recompute()
    after = await totals(world)
    assert after == before
    async with world.db.sessions() as session:
        assert (await session.scalar(select(OrderContact))) is None  # the keys are gone
        order = await session.scalar(select(Order))
    assert order is not None and order.total_cents == 10000
    assert order.buyer_id == world.anna  # the tombstone, nothing personal


async def test_the_same_world_on_a_fresh_database_gives_the_same_figures(
    sqlite_db: Any, tmp_path: Any
) -> None:
    """Determinism across runs: two databases, same history, same KPI document."""
    from vetrina.storage.database import Database
    from vetrina.storage.migrate import upgrade_async

    documents = []
    for name in ("one", "two"):
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        await upgrade_async(url)
        db = Database(url)
        world = await make_world(db)
        await world.message(world.anna, T0 - DAY)
        await world.booking(world.anna, "MI", T0 - DAY)
        await world.insights.ingest([sale("A", T0, customer=ANNA_PHONE)], now=NOW)
        documents.append(
            await world.insights.kpis(KpiQuery(T0.date() - timedelta(days=2), T0.date()))
        )
        await db.dispose()
    assert documents[0] == documents[1]

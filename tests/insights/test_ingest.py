"""Taking in a batch: every bad record reported by index, nothing applied; idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.insights.world import NOW, T0, World, refund, sale
from vetrina.insights.models import AttributionCredit, Order, OrderContact


async def count_orders(world: World) -> int:
    async with world.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def test_a_batch_with_every_kind_of_bad_record_changes_nothing(world: World) -> None:
    assert (await world.insights.ingest([sale("OLD-1", T0)], now=NOW)).applied == 1
    batch = [
        sale("OK-1", T0),  # 0: fine
        sale("B-1", T0, sku="NOPE"),  # 1: unknown SKU
        sale("B-2", T0, store="XX"),  # 2: unknown store
        sale("B-3", T0, quantity=-2, total="-200.00"),  # 3: negative quantity
        sale("B-4", T0, total="99.00"),  # 4: total does not add up
        refund("B-5", "NEVER", T0),  # 5: refund of an unknown order
        sale("OLD-1", T0, total="200.00", quantity=2),  # 6: stored with other contents
        sale("B-7", NOW.replace(year=2027)),  # 7: future
        sale("B-8", T0, customer={"phone": "abc", "email": "x@"}),  # 8: phone and email
        sale("OK-1", T0, total="200.00", quantity=2),  # 9: twice in the batch, other contents
    ]
    result = await world.insights.ingest(batch, now=NOW)
    assert result.applied == 0
    by_index: dict[int, list[str]] = {}
    for problem in result.problems:
        by_index.setdefault(problem.index, []).append(problem.reason)
    assert sorted(by_index) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert by_index[1] == ["lines[1].sku: unknown SKU 'NOPE'"]
    assert by_index[2] == ["store: unknown store 'XX'"]
    assert by_index[3][0] == "lines[1].quantity: -2 is not a positive quantity"
    assert by_index[4] == ["total: 99.00 does not add up to the lines (100.00)"]
    assert by_index[5] == ["refund_of: no pos order 'NEVER' is known"]
    assert by_index[6][0].startswith("order_id: 'OLD-1' is already recorded with different")
    assert by_index[7][0].endswith("is in the future")
    assert len(by_index[8]) == 2
    assert by_index[9] == ["order_id: 'OK-1' appears twice with different contents"]
    assert [p.order_id for p in result.problems if p.index == 2] == ["B-2"]
    assert await count_orders(world) == 1  # OK-1 was not applied either


async def test_a_batch_of_1001_is_refused_whole(world: World) -> None:
    batch = [sale(f"S-{n}", T0) for n in range(1001)]
    result = await world.insights.ingest(batch, now=NOW)
    assert result.applied == 0
    assert [p.reason for p in result.problems] == ["at most 1000 records per batch, got 1001"]
    assert await count_orders(world) == 0
    assert (await world.insights.ingest(batch[:1000], now=NOW)).applied == 1000


async def test_resending_a_batch_changes_nothing(world: World) -> None:
    batch = [
        sale("S-1", T0, customer={"phone": "+39 333 111 1111"}),
        sale("S-2", T0, source="web", store=None),
        refund("R-1", "S-1", T0, total="40.00"),
    ]
    first = await world.insights.ingest(batch, now=NOW)
    assert (first.applied, first.matched, first.unchanged, first.problems) == (3, 2, 0, [])
    async with world.db.sessions() as session:
        before = (
            await session.execute(select(AttributionCredit.id).order_by(AttributionCredit.id))
        ).all()
    again = await world.insights.ingest(batch, now=NOW)
    assert (again.applied, again.matched, again.unchanged, again.problems) == (0, 0, 3, [])
    assert await count_orders(world) == 3
    async with world.db.sessions() as session:
        after = (
            await session.execute(select(AttributionCredit.id).order_by(AttributionCredit.id))
        ).all()
        web = await session.scalar(select(Order).where(Order.order_id == "S-2"))
    assert before == after
    assert web is not None and web.store_code is None and web.total_cents == 10000


async def test_refunds_cannot_exceed_what_was_paid(world: World) -> None:
    await world.insights.ingest([sale("S-1", T0), refund("R-1", "S-1", T0, total="60.00")], now=NOW)
    result = await world.insights.ingest([refund("R-2", "S-1", T0, total="50.00")], now=NOW)
    assert [p.reason for p in result.problems] == [
        "total: refunds of 'S-1' would exceed what was paid"
    ]
    assert (
        await world.insights.ingest([refund("R-2", "S-1", T0, total="40.00")], now=NOW)
    ).applied == 1


async def test_skip_invalid_applies_the_good_records(world: World) -> None:
    result = await world.insights.ingest(
        [sale("S-1", T0), sale("S-2", T0, sku="NOPE")], now=NOW, skip_invalid=True
    )
    assert result.applied == 1
    assert [p.index for p in result.problems] == [1]


async def test_money_is_stored_as_integer_cents(world: World) -> None:
    await world.insights.ingest(
        [
            sale(
                "S-1",
                T0,
                total="0.30",
                unit="0.10",
                quantity=3,
                customer={"email": "Anna@Example.com"},
            )
        ],
        now=NOW,
    )
    async with world.db.sessions() as session:
        order = await session.scalar(select(Order))
        contact = await session.scalar(select(OrderContact))
    assert order is not None and order.total_cents == 30
    assert isinstance(order.total_cents, int)
    assert order.lines[0]["unit_price_cents"] == 10
    assert contact is not None and contact.email == "anna@example.com"


async def test_a_customers_orders_for_timeline_and_export(world: World) -> None:
    from vetrina.insights.orders import customer_orders

    await world.insights.ingest(
        [
            sale("S-1", T0, customer={"phone": "+39 333 111 1111"}),
            refund("R-1", "S-1", T0 + timedelta(hours=1), total="40.00"),
            sale("S-2", T0, customer={"shop_account": "shop-bruno"}),
        ],
        now=NOW,
    )
    async with world.db.sessions() as session:
        orders = await customer_orders(session, [world.anna])
    assert [(o["order_id"], o["store"], o["total_cents"], o["matched_key"]) for o in orders] == [
        ("R-1", "MI", -4000, "phone"),
        ("S-1", "MI", 10000, "phone"),
    ]
    assert orders[1]["items"] == [{"sku": "TR-M", "quantity": 1, "unit_price_cents": 10000}]

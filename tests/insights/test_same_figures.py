"""The fast paths give the figures the plain code gave: a seeded mixed history, snapshotted.

``golden_figures.json`` was written by the row-by-row implementation (before the bulk
ingest, the time-ordered recompute and the range rebuilds of the rollups), on this very
history. Every later path must reproduce it exactly, on SQLite and on PostgreSQL:

- orders taken in through ``POST /api/orders``-sized batches (attributed after each) and
  through the CLI importer (one file, attributed at the end);
- a late identity link and a merge (re-match and re-attribution, incremental);
- a full recompute.

What is compared: each order's buyer, key and distance bucket; every credit (order,
view, touchpoint, rule, window, key, amount); every ``insights_daily`` and
``insights_conversation_days`` row; and the KPI documents of the period, whole and
grouped by day, store, channel and consultant.

The hand-checked figures of every KPI live in ``test_kpis.py`` and ``test_attribution.py``;
this test makes sure the bulk paths agree with the code those figures were checked on.
Regenerate the file (``VETRINA_WRITE_GOLDEN=1``) only for an intended change of results.
"""

from __future__ import annotations

import json
import os
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tests.insights.world import DAY, NOW, SECOND, T0, World, refund, sale
from vetrina.bookings.models import Booking
from vetrina.catalog.models import Store
from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Conversation, Message
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.merging import merge_customers
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.insights.importing import import_orders
from vetrina.insights.kpis import KpiQuery
from vetrina.insights.models import (
    AttributionCredit,
    ConversationDay,
    DailyRollup,
    Order,
)

GOLDEN = Path(__file__).with_name("golden_figures.json")
CUSTOMERS = 40
START = T0 - 20 * DAY  # the history runs from here to T0 + 5 days
SPAN = int((25 * DAY).total_seconds())
PERIOD = KpiQuery(START.date(), (T0 + 5 * DAY).date())


def cid(n: int) -> str:
    return f"golden{n:03d}"


def phone(n: int) -> str:
    return f"+39333{n:07d}"


def at(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randrange(SPAN))


async def build_history(world: World, rng: random.Random) -> list[str]:
    """Customers, identities, chats with handoffs, stock checks, locations and bookings."""
    async with world.db.transaction() as session:
        await session.execute(
            insert(Customer),
            [
                {
                    "id": cid(n),
                    "display_name": f"C{n}",
                    "language": "it",
                    "last_channel": "web",
                    "favourite_store_code": ("MI", "RM")[n % 2] if n % 7 == 0 else None,
                    "sizes": {},
                    "tags": [],
                }
                for n in range(CUSTOMERS)
            ],
        )
        identities = []
        for n in range(CUSTOMERS):
            if n % 2 == 0 and n != 10:  # 10 is linked later
                identities.append(("whatsapp", phone(n), n))
            if n % 3 == 0:
                identities.append(("email", f"c{n}@example.com", n))
            if n % 5 == 0:
                identities.append(("shop", f"shop-{n}", n))
        await session.execute(
            insert(ChannelIdentity),
            [
                {"customer_id": cid(n), "channel": ch, "external_id": ext, "linked_via": "contact"}
                for ch, ext, n in identities
            ],
        )
        await session.execute(
            insert(Conversation), [{"customer_id": cid(n), "status": "bot"} for n in range(40)]
        )
        conversation = {
            c: i
            for c, i in await session.execute(select(Conversation.customer_id, Conversation.id))
        }
        channels = ("whatsapp", "web", "instagram")
        messages: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        for _ in range(300):
            n = rng.randrange(CUSTOMERS)
            when = at(rng)
            base = {
                "conversation_id": conversation[cid(n)],
                "customer_id": cid(n),
                "channel": channels[rng.randrange(3)],
                "payload": {},
            }
            messages.append(
                {
                    **base,
                    "direction": "in",
                    "author": "customer",
                    "text": "ciao",
                    "status": "processed",
                    "created_at": when,
                }
            )
            if rng.random() < 0.25:
                consultant, store = rng.choice([(world.giulia, "MI"), (world.marco, "RM")])
                claimed = when + timedelta(seconds=5 + rng.randrange(600))
                moves += [
                    {
                        "conversation_id": conversation[cid(n)],
                        "customer_id": cid(n),
                        "from_status": "bot",
                        "to_status": "waiting",
                        "actor": "customer",
                        "store_code": store,
                        "created_at": when + 5 * SECOND,
                    },
                    {
                        "conversation_id": conversation[cid(n)],
                        "customer_id": cid(n),
                        "from_status": "waiting",
                        "to_status": "with_consultant",
                        "actor": "consultant",
                        "consultant_id": consultant,
                        "owner_id": consultant,
                        "store_code": store,
                        "created_at": claimed,
                    },
                ]
                messages.append(
                    {
                        **base,
                        "direction": "out",
                        "author": "consultant",
                        "text": "x",
                        "status": "sent",
                        "created_at": claimed + 30 * SECOND,
                        "payload": {"consultant": {"id": consultant, "name": "x"}},
                    }
                )
            else:
                messages.append(
                    {
                        **base,
                        "direction": "out",
                        "author": "bot",
                        "text": "ecco",
                        "status": "sent",
                        "created_at": when + SECOND,
                    }
                )
        await session.execute(insert(Message), messages)
        await session.execute(insert(HandoffTransition), moves)
        statuses = ("in_stock", "last_pieces", "out_of_stock")
        checks = [
            {
                "customer_id": cid(rng.randrange(CUSTOMERS)),
                "kind": STOCK_CHECK,
                "channel": channels[rng.randrange(3)],
                "created_at": at(rng),
                "data": {
                    "outcome": "answer",
                    "product_code": ("TRENCH", "BOOT")[rng.randrange(2)],
                    "store_code": ("MI", "RM")[rng.randrange(2)],
                    "status": statuses[rng.randrange(3)],
                },
            }
            for _ in range(80)
        ]
        checks += [
            {
                "customer_id": cid(n),
                "kind": "location_shared",
                "channel": "whatsapp",
                "created_at": at(rng),
                "data": {"location": {"latitude": 45.0 + n / 10, "longitude": 9.0 + n / 20}},
            }
            for n in range(1, CUSTOMERS, 6)
        ]
        await session.execute(insert(Interaction), checks)
        store_ids = {c: i for c, i in await session.execute(select(Store.code, Store.id))}
        codes = []
        bookings = []
        for k in range(30):
            starts = at(rng).replace(minute=0, second=0)
            code = f"GB{k:04d}"
            codes.append(code)
            bookings.append(
                {
                    "code": code,
                    "customer_id": cid(rng.randrange(CUSTOMERS)),
                    "store_id": store_ids[("MI", "RM")[k % 2]],
                    "starts_at": starts,
                    "ends_at": starts + timedelta(minutes=30),
                    "status": ("completed", "no_show", "cancelled", "confirmed")[k % 4],
                    "channel": channels[k % 3],
                    "calendar_token": f"token{k:04d}",
                    "created_at": starts - timedelta(hours=1 + rng.randrange(96)),
                    "updated_at": starts - 2 * DAY,
                }
            )
        await session.execute(insert(Booking), bookings)
    return codes


def records(rng: random.Random, codes: list[str], first: int, count: int) -> list[dict[str, Any]]:
    """Sales with every key (and none), web and till, and partial refunds of some."""
    out: list[dict[str, Any]] = []
    for k in range(first, first + count):
        n = rng.randrange(CUSTOMERS)
        roll = rng.random()
        customer: dict[str, str] | None = None
        booking = None
        if roll < 0.35:
            customer = {"phone": phone(n)}
        elif roll < 0.5:
            customer = {"email": f"C{n}@Example.com"}
        elif roll < 0.6:
            customer = {"shop_account": f"shop-{n}"}
        elif roll < 0.7:
            # Loyalty card m belongs to customer 2m; half the time the till also has her phone.
            m = n % 10
            customer = {"loyalty_id": f"L{m}"}
            if rng.random() < 0.5:
                customer["phone"] = phone(2 * m)
        elif roll < 0.8:
            booking = codes[rng.randrange(len(codes))]
        pos = rng.random() < 0.7 or booking is not None
        quantity = 1 + rng.randrange(2)
        sku, unit = rng.choice([("TR-M", 10000), ("TR-L", 10000), ("BO-42", 5000)])
        total = f"{unit * quantity // 100}.00"
        out.append(
            sale(
                f"G{k}",
                at(rng),
                store=("MI", "RM")[rng.randrange(2)] if pos else None,
                source="pos" if pos else "web",
                sku=sku,
                quantity=quantity,
                unit=f"{unit // 100}.00",
                total=total,
                customer=customer,
                booking_code=booking,
            )
        )
        if rng.random() < 0.1:
            sold = out[-1]
            out.append(
                refund(
                    f"GR{k}",
                    f"G{k}",
                    datetime.fromisoformat(sold["occurred_at"]) + DAY,
                    total="20.00",
                    store=sold.get("store"),
                    source=sold["source"],
                )
            )
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


async def snapshot(world: World) -> dict[str, Any]:
    """Everything the KPIs and the attribution views are made of, in a stable order."""
    async with world.db.sessions() as session:
        orders = [
            [r.order_id, r.buyer_id, r.matched_key, r.distance_bucket]
            for r in await session.execute(
                select(
                    Order.order_id, Order.buyer_id, Order.matched_key, Order.distance_bucket
                ).order_by(Order.source, Order.order_id)
            )
        ]
        credits = sorted(
            [
                [
                    r.order_id,
                    r.view,
                    r.touch_kind,
                    r.touch_ref,
                    _plain(r.touch_at),
                    r.touch_store_code,
                    r.channel,
                    r.consultant_id,
                    r.rule,
                    r.window_seconds,
                    r.matched_key,
                    r.amount_cents,
                ]
                for r in await session.execute(
                    select(
                        Order.order_id,
                        AttributionCredit.view,
                        AttributionCredit.touch_kind,
                        AttributionCredit.touch_ref,
                        AttributionCredit.touch_at,
                        AttributionCredit.touch_store_code,
                        AttributionCredit.channel,
                        AttributionCredit.consultant_id,
                        AttributionCredit.rule,
                        AttributionCredit.window_seconds,
                        AttributionCredit.matched_key,
                        AttributionCredit.amount_cents,
                    ).join(Order, Order.id == AttributionCredit.order_pk)
                )
            ],
            key=lambda row: [str(v) for v in row],
        )
        daily = sorted(
            [
                [_plain(v) for v in row]
                for row in await session.execute(
                    select(
                        DailyRollup.day,
                        DailyRollup.store_code,
                        DailyRollup.dim,
                        DailyRollup.dim_value,
                        DailyRollup.metric,
                        DailyRollup.bucket,
                        DailyRollup.value,
                    ).where(DailyRollup.value != 0)
                )
            ],
            key=lambda row: [str(v) for v in row],
        )
        days = sorted(
            [
                [_plain(v) for v in row]
                for row in await session.execute(
                    select(
                        ConversationDay.customer_ref,
                        ConversationDay.day,
                        ConversationDay.channel,
                        ConversationDay.store_code,
                        ConversationDay.handed_off,
                        ConversationDay.consultant_id,
                        ConversationDay.first_response_seconds,
                        ConversationDay.queue_wait_seconds,
                    )
                )
            ],
            key=lambda row: [str(v) for v in row],
        )
    kpis = {
        group or "totals": await world.insights.kpis(
            KpiQuery(PERIOD.start, PERIOD.end, group_by=group) if group else PERIOD
        )
        for group in (None, "day", "store", "channel", "consultant")
    }
    kpis["store RM"] = await world.insights.kpis(KpiQuery(PERIOD.start, PERIOD.end, store="RM"))
    return json.loads(
        json.dumps(
            {
                "orders": orders,
                "credits": credits,
                "daily": daily,
                "conversation_days": days,
                "kpis": kpis,
            },
            default=str,
        )
    )


def _lines(figures: dict[str, Any]) -> str:
    """The snapshot as JSON with one row per line (small diffs when it must change)."""
    parts = []
    for name in sorted(figures):
        value = figures[name]
        rows = value.items() if isinstance(value, dict) else enumerate(value)
        body = ",\n".join(
            (f"{json.dumps(k)}: " if isinstance(value, dict) else "")
            + json.dumps(v, sort_keys=True, separators=(",", ":"))
            for k, v in rows
        )
        brackets = "{}" if isinstance(value, dict) else "[]"
        parts.append(f"{json.dumps(name)}: {brackets[0]}\n{body}\n{brackets[1]}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


async def test_bulk_paths_give_the_golden_figures(world: World, tmp_path: Path) -> None:
    rng = random.Random(20260310)
    codes = await build_history(world, rng)
    await world.insights.refresh()
    batches = records(rng, codes, 0, 150)
    for start in range(0, len(batches), 40):
        result = await world.insights.ingest(batches[start : start + 40], now=NOW)
        assert result.problems == []
    path = tmp_path / "orders.ndjson"
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in records(rng, codes, 1000, 150)), encoding="utf-8"
    )
    imported = await import_orders(world.insights, path)
    assert imported.committed and imported.problems == []
    # A late link of a number that sales already carried, and a merge.
    await world.link(cid(10), "whatsapp", phone(10))
    await merge_customers(world.db, cid(4), cid(9), actor="test", reason="same person")
    await world.insights.refresh()
    incremental = await snapshot(world)
    await world.insights.recompute()
    recomputed = await snapshot(world)
    if os.environ.get("VETRINA_WRITE_GOLDEN"):
        GOLDEN.write_text(_lines(incremental))
    golden = json.loads(GOLDEN.read_text())
    for part in golden:
        assert incremental[part] == golden[part], f"incremental: {part} differs"
        assert recomputed[part] == golden[part], f"full recompute: {part} differs"

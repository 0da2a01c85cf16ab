"""Insights at scale: order ingest (CLI and API), attribution, full recompute, KPI queries.

Builds a history in a fresh database, then measures through the same functions the CLI
and the gateway call:

  - CLI ingest: ``import_orders`` on an NDJSON file of the whole order history (checks
    and writes; orders/s), then the attribution of all of it;
  - API ingest: batches of 1,000 through ``POST /api/orders`` on a real aiohttp server
    (each batch checked, written, matched and attributed before the answer; orders/s);
  - incremental attribution of 1,000 new orders (``refresh`` after a batch);
  - a full recompute (every order attributed again, every counter rebuilt);
  - p50/p99 of the KPI query over 90 days, all stores and one store, against the
    same-run baseline of one aggregate over the raw ``orders`` table for those 90 days.

Full size (``--scale 1``): 1,000,000 orders, 5,000,000 messages and interactions, 200
stores, 300,000 customers. The default is SQLite at a tenth of that; PostgreSQL with
``--postgres-url`` (a throw-away database is created there and dropped after).

    .venv/bin/python bench/insights.py [--scale 0.1] [--postgres-url URL] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# The package measured: this tree's, or another revision's exported by the parent process.
sys.path.insert(
    0, os.environ.get("VETRINA_BENCH_TREE", str(Path(__file__).resolve().parent.parent))
)

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, func, insert, select

from vetrina.bookings.models import Booking
from vetrina.catalog.models import Store
from vetrina.catalog.validation import ProductRow, StoreRow, VariantRow
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.conversations.consultants import Consultant, ConsultantStore
from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Conversation, Message
from vetrina.customers.interactions import Interaction
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.gateway.api.insights import KpiAccess, routes
from vetrina.insights.importing import import_orders
from vetrina.insights.kpis import KpiQuery
from vetrina.insights.models import Order
from vetrina.insights.service import Insights
from vetrina.storage.database import Database
from vetrina.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.now(timezone.utc).replace(microsecond=0)
HISTORY_DAYS = 180
CHUNK = 20_000
TARGETS = {"kpi_p99_ms": 300.0, "incremental_s": 2.0, "recompute_s": 120.0, "cli_orders_s": 5000}
EVERY_DAY = {d: ["09:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
TOKEN = "bench-orders-token-0123456789"  # noqa: S105 (a throw-away server of this run)


def sizes(scale: float) -> dict[str, int]:
    return {
        "orders": int(1_000_000 * scale),
        "messages": int(4_000_000 * scale),
        "interactions": int(1_000_000 * scale),
        "stores": max(5, int(200 * scale)),
        "customers": int(300_000 * scale),
        "bookings": int(100_000 * scale),
    }


def when(rng: random.Random) -> datetime:
    return NOW - timedelta(days=1) - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400))


def phone(n: int) -> str:
    return f"+39333{n:07d}"


async def insert_rows(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.transaction() as session:
            await session.execute(insert(model), rows[start : start + CHUNK])


async def build(db: Database, n: dict[str, int], rng: random.Random) -> dict[str, Any]:
    stores = [
        StoreRow(
            f"S{i:03d}",
            f"Store {i}",
            f"City {i}",
            "Via Roma 1",
            "20100",
            36.6 + rng.random() * 10.4,
            6.6 + rng.random() * 12.0,
            EVERY_DAY,
            {},
            ("try_on",),
        )
        for i in range(n["stores"])
    ]
    products = [
        ProductRow(
            f"P{p:04d}",
            f"Prodotto {p}",
            f"Product {p}",
            "capispalla",
            "Vetrina",
            variants=tuple(
                VariantRow(f"P{p:04d}-{s}", s, "nero", 1000 + 500 * (p % 20))
                for s in ("XS", "S", "M", "L", "XL")
            ),
        )
        for p in range(200)
    ]
    async with db.transaction() as session:
        await write_stores(session, stores)
        await write_catalog(session, products)
        store_ids: dict[str, int] = {
            code: sid for code, sid in await session.execute(select(Store.code, Store.id))
        }
        consultants = []
        for i, store in enumerate(stores):
            for k in range(2):
                consultant = Consultant(
                    email=f"c{i}-{k}@example.com",
                    name=f"C {i}-{k}",
                    password_hash="x",  # noqa: S106 (never signs in)
                )
                session.add(consultant)
                consultants.append((consultant, store.code))
        await session.flush()
        session.add_all([ConsultantStore(consultant_id=c.id, store_code=s) for c, s in consultants])
        consultant_ids = [(c.id, s) for c, s in consultants]
    customers = [uuid.uuid4().hex for _ in range(n["customers"])]
    await insert_rows(
        db,
        Customer,
        [
            {
                "id": c,
                "display_name": f"Cliente {i}",
                "language": "it",
                "last_channel": "whatsapp",
                "favourite_store_code": stores[i % len(stores)].code if i % 3 == 0 else None,
                "sizes": {},
                "tags": [],
            }
            for i, c in enumerate(customers)
        ],
    )
    identities = [
        {"customer_id": c, "channel": "whatsapp", "external_id": phone(i), "linked_via": "contact"}
        for i, c in enumerate(customers)
    ]
    identities += [
        {
            "customer_id": c,
            "channel": "email",
            "external_id": f"c{i}@example.com",
            "linked_via": "token",
        }
        for i, c in enumerate(customers)
        if i % 2 == 0
    ]
    await insert_rows(db, ChannelIdentity, identities)
    await insert_rows(db, Conversation, [{"customer_id": c, "status": "bot"} for c in customers])
    async with db.sessions() as session:
        conversation_of: dict[str, int] = {
            cid: conv
            for cid, conv in await session.execute(
                select(Conversation.customer_id, Conversation.id)
            )
        }
    messages: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    channels = ("whatsapp", "web", "instagram")
    while len(messages) < n["messages"]:
        c = customers[rng.randrange(len(customers))]
        at = when(rng)
        channel = channels[rng.randrange(3)]
        base = {
            "conversation_id": conversation_of[c],
            "customer_id": c,
            "channel": channel,
            "payload": {},
            "status": "processed",
        }
        messages.append(
            {**base, "direction": "in", "author": "customer", "text": "ciao", "created_at": at}
        )
        if rng.random() < 0.05:
            consultant_id, store_code = consultant_ids[rng.randrange(len(consultant_ids))]
            asked = at + timedelta(seconds=5)
            claimed = asked + timedelta(seconds=rng.randrange(10, 900))
            transitions.append(
                {
                    "conversation_id": conversation_of[c],
                    "customer_id": c,
                    "from_status": "bot",
                    "to_status": "waiting",
                    "actor": "customer",
                    "store_code": store_code,
                    "created_at": asked,
                }
            )
            transitions.append(
                {
                    "conversation_id": conversation_of[c],
                    "customer_id": c,
                    "from_status": "waiting",
                    "to_status": "with_consultant",
                    "actor": "consultant",
                    "consultant_id": consultant_id,
                    "owner_id": consultant_id,
                    "store_code": store_code,
                    "created_at": claimed,
                }
            )
            messages.append(
                {
                    **base,
                    "direction": "out",
                    "author": "consultant",
                    "text": "x",
                    "status": "sent",
                    "created_at": claimed + timedelta(seconds=30),
                    "payload": {"consultant": {"id": consultant_id, "name": "C"}},
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
                    "created_at": at + timedelta(seconds=1),
                }
            )
    await insert_rows(db, Message, messages)
    await insert_rows(db, HandoffTransition, transitions)
    statuses = ("in_stock", "last_pieces", "out_of_stock")
    await insert_rows(
        db,
        Interaction,
        [
            {
                "customer_id": customers[rng.randrange(len(customers))],
                "kind": "stock_check",
                "channel": channels[rng.randrange(3)],
                "created_at": when(rng),
                "data": {
                    "outcome": "answer",
                    "product_code": f"P{rng.randrange(200):04d}",
                    "store_code": stores[rng.randrange(len(stores))].code,
                    "status": statuses[rng.randrange(3)],
                },
            }
            for _ in range(n["interactions"])
        ],
    )
    booking_codes: list[tuple[str, str]] = []
    rows = []
    for _ in range(n["bookings"]):
        c = customers[rng.randrange(len(customers))]
        code = secrets.token_hex(4).upper()
        starts = when(rng).replace(minute=0, second=0)
        booking_codes.append((code, c))
        rows.append(
            {
                "code": code,
                "customer_id": c,
                "store_id": store_ids[stores[rng.randrange(len(stores))].code],
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=30),
                "status": ("completed", "no_show", "cancelled", "confirmed")[rng.randrange(4)],
                "channel": channels[rng.randrange(3)],
                "calendar_token": secrets.token_hex(16),
                "created_at": starts - timedelta(days=2),
                "updated_at": starts - timedelta(days=2),
            }
        )
    await insert_rows(db, Booking, rows)
    return {"stores": [s.code for s in stores], "customers": customers, "bookings": booking_codes}


def order(n: int, world: dict[str, Any], rng: random.Random, at: datetime) -> dict[str, Any]:
    pos = rng.random() < 0.7
    product = rng.randrange(200)
    quantity = 1 + rng.randrange(2)
    unit = 1000 + 500 * (product % 20)
    record: dict[str, Any] = {
        "order_id": f"O{n}",
        "type": "order",
        "occurred_at": at.isoformat(),
        "source": "pos" if pos else "web",
        "currency": "EUR",
        "lines": [
            {
                "sku": f"P{product:04d}-M",
                "quantity": quantity,
                "unit_price": f"{unit // 100}.{unit % 100:02d}",
            }
        ],
        "total": f"{unit * quantity // 100}.{unit * quantity % 100:02d}",
    }
    if pos:
        record["store"] = world["stores"][rng.randrange(len(world["stores"]))]
    roll = rng.random()
    i = rng.randrange(len(world["customers"]))
    if roll < 0.6:
        record["customer"] = {"phone": phone(i)}
    elif roll < 0.7:
        record["customer"] = {"email": f"c{i - i % 2}@example.com"}
    elif roll < 0.8 and pos:
        record["booking_code"] = world["bookings"][rng.randrange(len(world["bookings"]))][0]
    elif roll < 0.85:
        record["customer"] = {"loyalty_id": f"L{i % 5000}"}
    return record


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


async def timed_queries(insights: Insights, query: KpiQuery, count: int) -> tuple[float, float]:
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        await insights.kpis(query)
        durations.append((time.perf_counter() - started) * 1000)
    return summary(durations)


async def raw_baseline(db: Database, start: date, count: int) -> tuple[float, float]:
    """The same question asked of the raw orders table: what the rollups save."""
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        async with db.sessions() as session:
            await session.execute(
                select(Order.store_code, func.count(), func.sum(Order.total_cents))
                .where(
                    Order.occurred_at
                    >= datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
                )
                .group_by(Order.store_code)
            )
        durations.append((time.perf_counter() - started) * 1000)
    return summary(durations)


class Phases:
    """Progress of the importer, with the time each phase started."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def start(self, label: str, total: int) -> None:
        self.started[label] = time.perf_counter()
        self.cpu[label] = time.process_time()

    def advance(self, count: int) -> None:
        pass


class Statements:
    """Round trips per phase: every statement sent (an executemany counts once)."""

    def __init__(self, db: Database) -> None:
        self.phase = "build"
        self.counts: dict[str, int] = {}
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.counts[self.phase] = self.counts.get(self.phase, 0) + 1

    def start(self, phase: str) -> None:
        self.phase = phase


async def measure(
    url: str, world: dict[str, Any], orders_path: Path, queries: int, seed: int
) -> dict[str, Any]:
    """The measured phases, on a database that holds the built history and nothing else.

    Run once per implementation on identical copies of that database, so the figures of
    a baseline revision and of the working tree are comparable.
    """
    rng = random.Random(seed + 1)
    db = Database(url)
    sql = Statements(db)
    insights = Insights(db)
    figures: dict[str, Any] = {}
    try:
        sql.start("first_refresh")
        started = time.perf_counter()
        report = await insights.refresh()
        figures["first_refresh_s"] = time.perf_counter() - started
        print(
            f"first refresh (conversation-days, demand, bookings): "
            f"{figures['first_refresh_s']:.1f} s ({report.messages} messages)"
        )

        sql.start("cli_import")
        phases = Phases()
        started = time.perf_counter()
        imported = await import_orders(insights, orders_path, progress=phases)
        ended, ended_cpu = time.perf_counter(), time.process_time()
        if not imported.committed or imported.problems:
            raise SystemExit(f"import failed: {imported.problems[:3]}")
        ingest_s = phases.started.get("attributing", ended) - phases.started["checking"]
        attribute_s = ended - phases.started.get("attributing", ended)
        figures.update(
            cli_orders=imported.applied,
            cli_ingest_s=ingest_s,
            cli_orders_per_s=imported.applied / ingest_s,
            cli_attribute_s=attribute_s,
            cli_matched=imported.matched,
            cli_ingest_cpu_s=phases.cpu.get("attributing", ended_cpu) - phases.cpu["checking"],
            cli_attribute_cpu_s=ended_cpu - phases.cpu.get("attributing", ended_cpu),
        )
        print(
            f"CLI ingest: {imported.applied} orders in {ingest_s:.1f} s = "
            f"{figures['cli_orders_per_s']:,.0f} orders/s (target >= "
            f"{TARGETS['cli_orders_s']:,}); matched {imported.matched}; then attribution of "
            f"all of them {attribute_s:.1f} s"
        )

        async def everyone(_request: web.Request) -> KpiAccess:
            return KpiAccess()

        sql.start("api_ingest")
        app = web.Application()
        app.router.add_routes(
            routes(lambda _request: insights, orders_token=TOKEN, kpi_access=everyone)
        )
        client = TestClient(TestServer(app))
        await client.start_server()
        batches = 10
        latencies = []
        try:
            for b in range(batches):
                batch = [
                    order(
                        10_000_000 + b * 1000 + i,
                        world,
                        rng,
                        NOW - timedelta(hours=1 + rng.randrange(48)),
                    )
                    for i in range(1000)
                ]
                started = time.perf_counter()
                response = await client.post(
                    "/api/orders", json=batch, headers={"Authorization": f"Bearer {TOKEN}"}
                )
                if response.status != 200:
                    raise SystemExit(f"POST /api/orders: {response.status} {await response.text()}")
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await client.close()
        api_s = sum(latencies) / 1000
        p50, p99 = summary(latencies)
        figures.update(
            api_orders_per_s=batches * 1000 / api_s, api_batch_p50_ms=p50, api_batch_p99_ms=p99
        )
        print(
            f"API ingest: {batches * 1000} orders in {api_s:.1f} s = "
            f"{figures['api_orders_per_s']:,.0f} orders/s (each batch also attributed); "
            f"a batch of 1,000: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        )

        fresh = [
            order(20_000_000 + i, world, rng, NOW - timedelta(hours=1 + rng.randrange(72)))
            for i in range(1000)
        ]
        await insights.ingest(fresh, attribute=False)
        sql.start("incremental")
        started, cpu = time.perf_counter(), time.process_time()
        report = await insights.refresh()
        figures["incremental_s"] = time.perf_counter() - started
        figures["incremental_cpu_s"] = time.process_time() - cpu
        print(
            f"incremental attribution of 1,000 new orders: {figures['incremental_s']:.2f} s "
            f"(target < {TARGETS['incremental_s']} s; {report.order_keys} order keys, "
            f"{report.booking_keys} booking keys rebuilt)"
        )

        sql.start("recompute")
        started, cpu = time.perf_counter(), time.process_time()
        report = await insights.recompute()
        figures["recompute_s"] = time.perf_counter() - started
        figures["recompute_cpu_s"] = time.process_time() - cpu
        figures["recompute_orders"] = report.attributed
        print(
            f"full recompute: {figures['recompute_s']:.1f} s for {report.attributed} orders "
            f"(target < {TARGETS['recompute_s']:.0f} s)"
        )

        sql.start("kpi")
        end = (NOW - timedelta(days=1)).date()
        start = end - timedelta(days=89)
        every = await timed_queries(insights, KpiQuery(start, end), queries)
        one = await timed_queries(insights, KpiQuery(start, end, store=world["stores"][0]), queries)
        by_day = await timed_queries(insights, KpiQuery(start, end, group_by="day"), queries)
        raw = await raw_baseline(db, start, max(10, queries // 10))
        figures.update(
            kpi_all_p50_ms=every[0],
            kpi_all_p99_ms=every[1],
            kpi_store_p50_ms=one[0],
            kpi_store_p99_ms=one[1],
            kpi_day_p50_ms=by_day[0],
            kpi_day_p99_ms=by_day[1],
            raw_p50_ms=raw[0],
        )
        print(
            f"KPI query, 90 days, all stores: p50 {every[0]:.1f} ms, p99 {every[1]:.1f} ms "
            f"(target p99 < {TARGETS['kpi_p99_ms']:.0f} ms)"
        )
        print(f"KPI query, 90 days, one store:  p50 {one[0]:.1f} ms, p99 {one[1]:.1f} ms")
        print(f"KPI query, 90 days, by day:     p50 {by_day[0]:.1f} ms, p99 {by_day[1]:.1f} ms")
        print(
            f"raw query (one aggregate over the raw orders of those 90 days): p50 "
            f"{raw[0]:.1f} ms, p99 {raw[1]:.1f} ms; ratio KPI/raw p50 {every[0] / raw[0]:.2f}x"
        )
        document = await insights.kpis(KpiQuery(start - timedelta(days=HISTORY_DAYS), end))
        # The same history must give the same figures, whichever implementation ran.
        figures["kpi_digest"] = hashlib.sha256(
            json.dumps(document, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        totals = document["totals"]
        print(
            f"sanity: {totals['orders']} orders, match rate {totals['match_rate']}, "
            f"{totals['conversations']} conversations, share after chat "
            f"{totals['share_after_chat']}; KPI document digest {figures['kpi_digest']}"
        )
        figures["statements"] = dict(sql.counts)
        print(f"statements per phase: {sql.counts}")
    finally:
        await db.dispose()
    return figures


# --- the parent: build once, copy, measure each implementation -----------------------

ROWS = (
    ("CLI ingest (orders/s)", "cli_orders_per_s", "rate"),
    ("attribution after the import (s)", "cli_attribute_s", "time"),
    ("API ingest (orders/s)", "api_orders_per_s", "rate"),
    ("API batch of 1,000, p50 (ms)", "api_batch_p50_ms", "time"),
    ("API batch of 1,000, p99 (ms)", "api_batch_p99_ms", "time"),
    ("incremental attribution of 1,000 (s)", "incremental_s", "time"),
    ("full recompute (s)", "recompute_s", "time"),
    ("KPI 90 days all stores, p50 (ms)", "kpi_all_p50_ms", "time"),
    ("KPI 90 days all stores, p99 (ms)", "kpi_all_p99_ms", "time"),
    ("KPI 90 days one store, p99 (ms)", "kpi_store_p99_ms", "time"),
    ("KPI 90 days by day, p99 (ms)", "kpi_day_p99_ms", "time"),
    ("first refresh (s)", "first_refresh_s", "time"),
    # CPU of the benchmark's own process (SQLite works inside it; PostgreSQL's server does
    # not count): on a machine shared with other work, steadier than the wall clock.
    ("CPU: CLI ingest of all orders (s)", "cli_ingest_cpu_s", "time"),
    ("CPU: attribution after the import (s)", "cli_attribute_cpu_s", "time"),
    ("CPU: incremental attribution (s)", "incremental_cpu_s", "time"),
    ("CPU: full recompute (s)", "recompute_cpu_s", "time"),
)
PHASES = ("first_refresh", "cli_import", "api_ingest", "incremental", "recompute")


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one column per implementation, and how many times faster the last is."""
    names = list(results)
    lines = ["| figure | " + " | ".join(names) + (" | speed-up |" if len(names) > 1 else " |")]
    lines.append("|---" * (len(names) + 1 + (len(names) > 1)) + "|")
    for label, key, kind in ROWS:
        values = [float(results[n].get(key) or 0.0) for n in names]
        row = f"| {label} | " + " | ".join(f"{v:,.1f}" for v in values)
        if len(names) > 1 and all(v > 0 for v in values):
            first, last = values[0], values[-1]
            row += f" | {(last / first if kind == 'rate' else first / last):.2f}x"
        lines.append(row + " |")
    for phase in PHASES:
        counts = [str(results[n]["statements"].get(phase, 0)) for n in names]
        lines.append(
            f"| statements: {phase} | " + " | ".join(counts) + (" | |" if len(names) > 1 else " |")
        )
    digests = [results[n]["kpi_digest"] for n in names]
    lines.append(
        "| KPI document digest | " + " | ".join(digests) + (" | |" if len(names) > 1 else " |")
    )
    return "\n".join(lines)


async def prepare(url: str, scale: float, seed: int, folder: Path) -> tuple[Path, Path]:
    """Build the history once; write the world and the order file the phases use."""
    rng = random.Random(seed)
    n = sizes(scale)
    print(f"database: {url.split('@')[-1]}  scale {scale}: {n}")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        started = time.perf_counter()
        world = await build(db, n, rng)
        print(f"built the history in {time.perf_counter() - started:.1f} s")
    finally:
        await db.dispose()
    world_path, orders_path = folder / "world.json", folder / "orders.ndjson"
    world_path.write_text(json.dumps(world), encoding="utf-8")
    with orders_path.open("w", encoding="utf-8") as file:
        for i in range(n["orders"]):
            file.write(json.dumps(order(i, world, rng, when(rng))) + "\n")
    return world_path, orders_path


def checkout(revision: str, folder: Path) -> Path:
    """The package of another revision, exported (not checked out) beside the run."""
    tree = folder / f"tree-{revision}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "vetrina"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_measure(tree: Path, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """One implementation's phases in a child process that imports ``tree``'s package."""
    result = folder / f"result-{uuid.uuid4().hex[:6]}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure-url",
        url,
        "--world",
        str(folder / "world.json"),
        "--orders",
        str(folder / "orders.ndjson"),
        "--now",
        NOW.isoformat(),
        "--queries",
        str(args.queries),
        "--seed",
        str(args.seed),
        "--result",
        str(result),
    ]
    env = {**os.environ, "VETRINA_BENCH_TREE": str(tree), "PYTHONPATH": str(tree)}
    subprocess.run(command, env=env, check=True)
    figures: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="run on PostgreSQL (throw-away databases are created there and dropped)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="also measure this git revision's package on an identical copy of the history",
    )
    parser.add_argument("--markdown", default=None, help="append the figures to this file")
    parser.add_argument("--measure-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--world", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--orders", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--now", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_url:  # the child: one implementation's phases
        global NOW  # the parent's instant, so that both children see one history
        NOW = datetime.fromisoformat(args.now)
        world = json.loads(Path(args.world).read_text(encoding="utf-8"))
        figures = asyncio.run(
            measure(args.measure_url, world, Path(args.orders), args.queries, args.seed)
        )
        Path(args.result).write_text(json.dumps(figures), encoding="utf-8")
        return
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        targets = [(args.baseline, checkout(args.baseline, folder))] if args.baseline else []
        targets.append(("working tree", ROOT))
        results: dict[str, dict[str, Any]] = {}
        if args.postgres_url:
            results = postgres_runs(args, folder, targets)
        else:
            source = f"sqlite+aiosqlite:///{folder}/built.db"
            asyncio.run(prepare(source, args.scale, args.seed, folder))
            for label, tree in targets:
                copy = folder / f"copy-{len(results)}.db"
                shutil.copyfile(folder / "built.db", copy)
                print(f"\n== {label} ==", flush=True)
                results[label] = run_measure(tree, f"sqlite+aiosqlite:///{copy}", args, folder)
                copy.unlink()
        report(args, "PostgreSQL" if args.postgres_url else "SQLite", results)


def postgres_runs(
    args: argparse.Namespace, folder: Path, targets: list[tuple[str, Path]]
) -> dict[str, dict[str, Any]]:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(args.postgres_url).set(drivername="postgresql")
    plain = admin.render_as_string(hide_password=False)
    prefix = f"vetrina_bench_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_built"] + [f"{prefix}_{i}" for i in range(len(targets))]
    results: dict[str, dict[str, Any]] = {}
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{names[0]}"')
    try:
        source = admin.set(drivername="postgresql+psycopg", database=names[0])
        asyncio.run(
            prepare(source.render_as_string(hide_password=False), args.scale, args.seed, folder)
        )
        for (label, tree), name in zip(targets, names[1:], strict=True):
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{names[0]}"')
            url = admin.set(drivername="postgresql+psycopg", database=name)
            print(f"\n== {label} ==", flush=True)
            results[label] = run_measure(
                tree, url.render_as_string(hide_password=False), args, folder
            )
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def report(args: argparse.Namespace, database: str, results: dict[str, dict[str, Any]]) -> None:
    text = (
        f"\n### {database}, scale {args.scale} (seed {args.seed}, {args.queries} KPI queries), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n{table(results)}\n"
    )
    print(text)
    if args.markdown:
        with Path(args.markdown).open("a", encoding="utf-8") as file:
            file.write(text)


if __name__ == "__main__":
    main()

"""A hand-made little world for the insights tests: rows written with exact timestamps.

Two stores (MI, RM), two products, customers with identities, and helpers that add
messages, handoffs, stock checks and bookings at the instant a test names, so every
window edge and every KPI can be worked out by hand.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from vetrina.bookings.models import Booking
from vetrina.catalog.models import Store
from vetrina.catalog.validation import ProductRow, StoreRow, VariantRow
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.conversations.consultants import Consultant, ConsultantStore
from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Message
from vetrina.conversations.writing import conversation_for
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.insights import models as _insights_models  # noqa: F401  (tables in metadata)
from vetrina.insights.service import Insights
from vetrina.storage.database import Database

EVERY_DAY = {day: ["09:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# Tuesday 10 March 2026, noon UTC: the day most sales happen in these tests.
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)  # when batches arrive
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

STORES = [
    StoreRow(
        "MI",
        "Vetrina Milano",
        "Milano",
        "Corso Vittorio Emanuele II, 15",
        "20122",
        45.4651,
        9.1930,
        EVERY_DAY,
        {},
        ("try_on",),
    ),
    StoreRow(
        "RM",
        "Vetrina Roma",
        "Roma",
        "Via del Corso 189",
        "00186",
        41.9010,
        12.4813,
        EVERY_DAY,
        {},
        ("try_on",),
    ),
]
PRODUCTS = [
    ProductRow(
        "TRENCH",
        "Trench",
        "Trench coat",
        "capispalla",
        "Vetrina",
        variants=(VariantRow("TR-M", "M", "nero", 10000), VariantRow("TR-L", "L", "nero", 10000)),
    ),
    ProductRow(
        "BOOT",
        "Stivale",
        "Boot",
        "stivali",
        "Vetrina",
        variants=(VariantRow("BO-42", "42", "nero", 5000),),
    ),
]


@dataclass
class World:
    db: Database
    insights: Insights
    anna: str  # whatsapp +393331111111, email anna@example.com
    bruno: str  # shop account shop-bruno
    carla: str  # no identity yet
    giulia: int  # consultant of MI
    marco: int  # consultant of RM

    async def customer(self, name: str, **identities: str) -> str:
        async with self.db.transaction() as session:
            customer = Customer(display_name=name, language="it", last_channel="web")
            session.add(customer)
            await session.flush()
            for channel, external_id in identities.items():
                session.add(
                    ChannelIdentity(
                        customer_id=customer.id,
                        channel=channel,
                        external_id=external_id,
                        linked_via="contact",
                    )
                )
            return customer.id

    async def link(self, customer_id: str, channel: str, external_id: str) -> None:
        async with self.db.transaction() as session:
            session.add(
                ChannelIdentity(
                    customer_id=customer_id,
                    channel=channel,
                    external_id=external_id,
                    linked_via="code",
                )
            )

    async def message(
        self,
        customer_id: str,
        at: datetime,
        *,
        author: str = "bot",
        channel: str = "whatsapp",
        consultant: int | None = None,
    ) -> int:
        """A customer message at ``at - 1 s`` and the answer (bot or consultant) at ``at``."""
        async with self.db.transaction() as session:
            conversation = await conversation_for(session, customer_id)
            inbound = Message(
                conversation_id=conversation.id,
                customer_id=customer_id,
                direction="in",
                author="customer",
                channel=channel,
                text="ciao",
                status="processed",
                created_at=at - SECOND,
            )
            payload: dict[str, Any] = (
                {"consultant": {"id": consultant, "name": "x"}} if consultant else {}
            )
            answer = Message(
                conversation_id=conversation.id,
                customer_id=customer_id,
                direction="out",
                author=author,
                channel=channel,
                text="ecco",
                payload=payload,
                status="sent",
                created_at=at,
            )
            session.add_all([inbound, answer])
            await session.flush()
            return answer.id

    async def inbound(self, customer_id: str, at: datetime, channel: str = "whatsapp") -> None:
        async with self.db.transaction() as session:
            conversation = await conversation_for(session, customer_id)
            session.add(
                Message(
                    conversation_id=conversation.id,
                    customer_id=customer_id,
                    direction="in",
                    author="customer",
                    channel=channel,
                    text="ciao",
                    status="processed",
                    created_at=at,
                )
            )

    async def handoff(
        self,
        customer_id: str,
        asked: datetime,
        claimed: datetime | None,
        consultant: int | None,
        store: str | None = "MI",
    ) -> None:
        async with self.db.transaction() as session:
            conversation = await conversation_for(session, customer_id)
            session.add(
                HandoffTransition(
                    conversation_id=conversation.id,
                    customer_id=customer_id,
                    from_status="bot",
                    to_status="waiting",
                    actor="customer",
                    store_code=store,
                    reason="customer_asked",
                    created_at=asked,
                )
            )
            if claimed is not None:
                session.add(
                    HandoffTransition(
                        conversation_id=conversation.id,
                        customer_id=customer_id,
                        from_status="waiting",
                        to_status="with_consultant",
                        actor="consultant",
                        consultant_id=consultant,
                        owner_id=consultant,
                        store_code=store,
                        created_at=claimed,
                    )
                )

    async def stock_check(
        self,
        customer_id: str,
        at: datetime,
        product: str | None,
        store: str | None,
        status: str | None,
        *,
        channel: str = "web",
        outcome: str = "answer",
    ) -> None:
        async with self.db.transaction() as session:
            session.add(
                Interaction(
                    customer_id=customer_id,
                    kind=STOCK_CHECK,
                    channel=channel,
                    created_at=at,
                    data={
                        "outcome": outcome,
                        "product_code": product,
                        "store_code": store,
                        "status": status,
                    },
                )
            )

    async def booking(
        self,
        customer_id: str,
        store: str,
        starts: datetime,
        *,
        status: str = "confirmed",
        created: datetime | None = None,
        channel: str = "web",
    ) -> str:
        code = "B" + secrets.token_hex(3).upper()[:4] + "9"
        async with self.db.transaction() as session:
            store_id = await session.scalar(select(Store.id).where(Store.code == store))
            created_at = created or starts - 2 * DAY
            session.add(
                Booking(
                    code=code,
                    customer_id=customer_id,
                    store_id=store_id,
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=30),
                    status=status,
                    channel=channel,
                    calendar_token=secrets.token_hex(16),
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
        return code


def sale(
    order_id: str,
    at: datetime,
    *,
    store: str | None = "MI",
    source: str = "pos",
    total: str = "100.00",
    sku: str = "TR-M",
    quantity: int = 1,
    unit: str = "100.00",
    customer: dict[str, str] | None = None,
    booking_code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_id": order_id,
        "type": "order",
        "occurred_at": at.isoformat(),
        "source": source,
        "currency": "EUR",
        "total": total,
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": unit}],
    }
    if store is not None:
        record["store"] = store
    if customer is not None:
        record["customer"] = customer
    if booking_code is not None:
        record["booking_code"] = booking_code
    record.update(extra)
    return record


def refund(
    order_id: str,
    of: str,
    at: datetime,
    *,
    total: str = "100.00",
    store: str | None = "MI",
    source: str = "pos",
) -> dict[str, Any]:
    record = sale(order_id, at, store=store, source=source, total=total, unit=total)
    record.update(type="refund", refund_of=of)
    return record


async def make_world(db: Database, insights: Insights | None = None) -> World:
    async with db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
        giulia = Consultant(email="giulia@example.com", name="Giulia", password_hash="x")
        marco = Consultant(email="marco@example.com", name="Marco", password_hash="x")
        session.add_all([giulia, marco])
        await session.flush()
        session.add_all(
            [
                ConsultantStore(consultant_id=giulia.id, store_code="MI"),
                ConsultantStore(consultant_id=marco.id, store_code="RM"),
            ]
        )
        giulia_id, marco_id = giulia.id, marco.id
    world = World(db, insights or Insights(db), "", "", "", giulia_id, marco_id)
    world.anna = await world.customer("Anna", whatsapp="+393331111111", email="anna@example.com")
    world.bruno = await world.customer("Bruno", shop="shop-bruno")
    world.carla = await world.customer("Carla")
    return world

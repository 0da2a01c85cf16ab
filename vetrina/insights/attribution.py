"""Attribution: which touchpoints led to each order, last-touch and influenced.

Touchpoints of the order's buyer, each with the rule that lets it count and its window
(every window ends at the order; a touch exactly ``window`` before the order still
counts, one second more does not):

========================  ==============================================  ===========
rule                      touchpoint → order                               default
========================  ==============================================  ===========
``conversation``          the assistant answered (any channel) → any order  3 days
``consultant``            a consultant wrote (handoff) → any order         3 days
``consultant_store``      a consultant wrote → a purchase in one of that   14 days
                          consultant's stores
``stock_check``           a stock question about a product of the order    3 days
``booking``               a try-on booking's start (attended or not) →     3 days
                          a store (pos) purchase
``booking_code``          the booking named on the sale                    (named)
========================  ==============================================  ===========

Anchors: Gorgias credits the most recent ticket within 3 days of an order (conversation
windows); Clientela counts store purchases within 3 days of an appointment (booking);
Tulip credits the associate for 14 days (consultant_store).

Per order, the latest touch of each (kind, channel, consultant or booking) in its window
is one **influenced** credit; the latest of all is the **last-touch** credit (ties go to
booking, then consultant, stock check, conversation, then the higher reference, so a
re-run gives the same rows). A refund carries its order's credits with a negative amount.
Credits of an order are deleted and written again each time it is attributed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, insert, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.models import Booking
from vetrina.catalog.models import Store
from vetrina.conversations.consultants import ConsultantStore
from vetrina.conversations.models import Message
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import Customer
from vetrina.insights.models import CREDITS, ORDERS, AttributionCredit

CHUNK = 500
KIND_RANK = {"booking": 4, "consultant": 3, "stock_check": 2, "conversation": 1}
# Distance of the buyer's known location to the nearest store: upper bounds in km.
DISTANCE_BUCKETS = (5.0, 20.0, 50.0, math.inf)
DISTANCE_LABELS = ("<5 km", "5-20 km", "20-50 km", ">50 km")


@dataclass(frozen=True)
class AttributionOptions:
    """The windows (settings: ``VETRINA_ATTRIBUTION_*``); see the module docstring."""

    conversation_window: timedelta = timedelta(days=3)
    booking_window: timedelta = timedelta(days=3)
    consultant_store_window: timedelta = timedelta(days=14)

    @property
    def horizon(self) -> timedelta:
        return max(self.conversation_window, self.booking_window, self.consultant_store_window)

    def fingerprint(self) -> str:
        return ",".join(
            str(int(w.total_seconds()))
            for w in (self.conversation_window, self.booking_window, self.consultant_store_window)
        )


@dataclass(frozen=True)
class Touch:
    kind: str
    ref: str
    at: datetime
    channel: str | None = None
    consultant_id: int | None = None
    store_code: str | None = None
    product_code: str | None = None
    booking_code: str | None = None
    booking_created_at: datetime | None = None

    @property
    def group(self) -> tuple[str, str | None, int | None, str | None]:
        booking = self.ref if self.kind == "booking" else None
        return (self.kind, self.channel, self.consultant_id, booking)


@dataclass(frozen=True)
class Credit:
    touch: Touch
    rule: str
    window: timedelta
    at: datetime  # when it counts (a named booking may start after the sale)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def touches_of(
    session: AsyncSession, buyers: Sequence[str], since: datetime, until: datetime
) -> dict[str, list[Touch]]:
    """Every touchpoint of the buyers between ``since`` and ``until`` (bookings: by start,
    and any booking, since a sale may name one booked long before)."""
    touches: dict[str, list[Touch]] = defaultdict(list)
    for chunk in _chunks(sorted(set(buyers))):
        messages = await session.execute(
            select(
                Message.id,
                Message.customer_id,
                Message.author,
                Message.channel,
                # Only a consultant's message needs its payload (who wrote it): decoding
                # the JSON of every bot reply was most of the cost of this query.
                case((Message.author == "consultant", Message.payload), else_=null()),
                Message.created_at,
            ).where(
                Message.customer_id.in_(chunk),
                Message.direction == "out",
                Message.author.in_(("bot", "consultant")),
                Message.created_at >= since,
                Message.created_at <= until,
            )
        )
        for mid, cid, author, channel, payload, created_at in messages:
            if author == "consultant":
                consultant = (payload or {}).get("consultant") or {}
                raw_id = consultant.get("id") if isinstance(consultant, dict) else None
                touches[cid].append(
                    Touch(
                        "consultant",
                        f"message:{mid}",
                        created_at,
                        channel,
                        consultant_id=int(raw_id) if isinstance(raw_id, int) else None,
                    )
                )
            else:
                touches[cid].append(Touch("conversation", f"message:{mid}", created_at, channel))
        checks = await session.execute(
            select(
                Interaction.id,
                Interaction.customer_id,
                Interaction.channel,
                Interaction.data,
                Interaction.created_at,
            ).where(
                Interaction.customer_id.in_(chunk),
                Interaction.kind == STOCK_CHECK,
                Interaction.created_at >= since,
                Interaction.created_at <= until,
            )
        )
        for iid, cid, channel, data, created_at in checks:
            product = (data or {}).get("product_code")
            if product:
                touches[cid].append(
                    Touch(
                        "stock_check",
                        f"interaction:{iid}",
                        created_at,
                        channel,
                        store_code=(data or {}).get("store_code"),
                        product_code=str(product),
                    )
                )
        bookings = await session.execute(
            select(
                Booking.code,
                Booking.customer_id,
                Booking.channel,
                Booking.starts_at,
                Booking.created_at,
                Store.code,
            )
            .join(Store, Store.id == Booking.store_id)
            .where(
                Booking.customer_id.in_(chunk),
                Booking.status != "cancelled",
                Booking.created_at <= until,
            )
        )
        for code, cid, channel, starts_at, created_at, store in bookings:
            touches[cid].append(
                Touch(
                    "booking",
                    f"booking:{code}",
                    starts_at,
                    channel,
                    store_code=store,
                    booking_code=code,
                    booking_created_at=created_at,
                )
            )
    return touches


def credits_for(
    order: Any,
    touches: Sequence[Touch],
    consultant_stores: dict[int, set[str]],
    options: AttributionOptions,
) -> list[Credit]:
    """The influenced credits of one sale (latest per group), in a stable order."""
    t: datetime = order.occurred_at
    products = {line.get("product_code") for line in order.lines or []}
    best: dict[tuple[str, str | None, int | None, str | None], Credit] = {}

    def offer(credit: Credit) -> None:
        current = best.get(credit.touch.group)
        if current is None or (credit.at, credit.touch.ref) > (current.at, current.touch.ref):
            best[credit.touch.group] = credit

    conv = options.conversation_window
    for touch in touches:
        age = t - touch.at
        if touch.kind == "conversation":
            if timedelta(0) <= age <= conv:
                offer(Credit(touch, "conversation", conv, touch.at))
        elif touch.kind == "consultant":
            if timedelta(0) <= age <= conv:
                offer(Credit(touch, "consultant", conv, touch.at))
            elif (
                timedelta(0) <= age <= options.consultant_store_window
                and order.store_code
                and order.store_code in consultant_stores.get(touch.consultant_id or -1, set())
            ):
                offer(Credit(touch, "consultant_store", options.consultant_store_window, touch.at))
        elif touch.kind == "stock_check":
            if touch.product_code in products and timedelta(0) <= age <= conv:
                offer(Credit(touch, "stock_check", conv, touch.at))
        elif touch.kind == "booking":
            named = order.booking_code is not None and order.booking_code == touch.booking_code
            if named and touch.booking_created_at is not None and touch.booking_created_at <= t:
                offer(Credit(touch, "booking_code", timedelta(0), min(touch.at, t)))
            elif order.source == "pos" and timedelta(0) <= age <= options.booking_window:
                offer(Credit(touch, "booking", options.booking_window, touch.at))
    return sorted(
        best.values(),
        key=lambda c: (c.at, KIND_RANK[c.touch.kind], c.touch.ref),
        reverse=True,
    )


def _rows(order: Any, credits: Sequence[Credit], amount: int) -> list[dict[str, Any]]:
    rows = []
    for position, credit in enumerate(credits):
        views = ("last_touch", "influenced") if position == 0 else ("influenced",)
        for view in views:
            rows.append(
                {
                    "order_pk": order.id,
                    "view": view,
                    "touch_kind": credit.touch.kind,
                    "touch_ref": credit.touch.ref,
                    "touch_at": credit.at,
                    "touch_store_code": credit.touch.store_code,
                    "channel": credit.touch.channel,
                    "consultant_id": credit.touch.consultant_id,
                    "rule": credit.rule,
                    "window_seconds": int(credit.window.total_seconds()),
                    "matched_key": order.matched_key or "",
                    "amount_cents": amount,
                }
            )
    return rows


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def distance_bucket(km: float | None) -> int:
    if km is None:
        return -1
    return next(i for i, bound in enumerate(DISTANCE_BUCKETS) if km <= bound)


async def _locations(
    session: AsyncSession, buyers: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """Where each buyer is, if known: the latest location they shared (an interaction with
    ``data.location``), else their favourite store."""
    stores = {
        code: (lat, lon)
        for code, lat, lon in await session.execute(
            select(Store.code, Store.latitude, Store.longitude)
        )
    }
    located: dict[str, tuple[float, float]] = {}
    for chunk in _chunks(sorted(set(buyers))):
        for cid, favourite in await session.execute(
            select(Customer.id, Customer.favourite_store_code).where(Customer.id.in_(chunk))
        ):
            if favourite in stores:
                located[cid] = stores[favourite]
        rows = await session.execute(
            select(Interaction.customer_id, Interaction.data)
            .where(Interaction.customer_id.in_(chunk), Interaction.kind == "location_shared")
            .order_by(Interaction.created_at)
        )
        for cid, data in rows:
            place = (data or {}).get("location") or {}
            try:
                located[cid] = (float(place["latitude"]), float(place["longitude"]))
            except (KeyError, TypeError, ValueError):
                continue
    return located


@dataclass
class AttributionRun:
    orders: int = 0
    credited: int = 0
    # (UTC day, store code or "") keys whose order rollups must be rebuilt, and the
    # bookings (by code) whose conversion changed.
    order_keys: set[tuple[Any, str]] = field(default_factory=set)
    booking_codes: set[str] = field(default_factory=set)


async def attribute(
    session: AsyncSession, order_pks: Sequence[int], options: AttributionOptions
) -> AttributionRun:
    """Attribute the given orders (their credits replaced); refunds follow their orders."""
    run = AttributionRun()
    stores_of: dict[int, set[str]] = defaultdict(set)
    for consultant_id, store_code in await session.execute(
        select(ConsultantStore.consultant_id, ConsultantStore.store_code)
    ):
        stores_of[consultant_id].add(store_code)
    store_points = [
        (lat, lon) for lat, lon in await session.execute(select(Store.latitude, Store.longitude))
    ]
    for chunk in _chunks(sorted(set(order_pks))):
        # Core rows, not ORM objects: building and tracking an Order per row cost more
        # than the query (the rows are only read; the writes below are Core statements).
        orders = list(
            (await session.execute(select(*ORDERS.c).where(ORDERS.c.id.in_(chunk)))).all()
        )
        # Refunds of these orders are redone too (they copy the order's credits).
        ids = {o.id for o in orders}
        orders += (
            await session.execute(
                select(*ORDERS.c).where(ORDERS.c.refund_of_id.in_(ids), ORDERS.c.id.not_in(ids))
            )
        ).all()
        sales = [o for o in orders if o.kind == "order"]
        refunds = [o for o in orders if o.kind == "refund"]
        # Frozen: erased buyers keep the credits they had (their touchpoints are gone).
        erased = set()
        buyers = sorted({o.buyer_id for o in orders if o.buyer_id})
        for cid, erased_at in await session.execute(
            select(Customer.id, Customer.erased_at).where(Customer.id.in_(buyers))
        ):
            if erased_at is not None:
                erased.add(cid)
        live_sales = [o for o in sales if o.buyer_id and o.buyer_id not in erased]
        touches: dict[str, list[Touch]] = {}
        located: dict[str, tuple[float, float]] = {}
        if live_sales:
            since = min(o.occurred_at for o in live_sales) - options.horizon
            until = max(o.occurred_at for o in live_sales)
            touches = await touches_of(
                session, [o.buyer_id for o in live_sales if o.buyer_id], since, until
            )
            located = await _locations(session, [o.buyer_id for o in live_sales if o.buyer_id])
        # An erased buyer's sales keep their credits (their touchpoints are deleted);
        # refunds of them copy those credits.
        redo = [o for o in orders if not (o.kind == "order" and o.buyer_id in erased)]
        old_bookings = await session.scalars(
            select(AttributionCredit.touch_ref).where(
                AttributionCredit.order_pk.in_([o.id for o in redo]),
                AttributionCredit.touch_kind == "booking",
            )
        )
        run.booking_codes.update(ref.split(":", 1)[1] for ref in old_bookings)
        await session.execute(
            delete(AttributionCredit).where(AttributionCredit.order_pk.in_([o.id for o in redo]))
        )
        rows: list[dict[str, Any]] = []
        by_sale: dict[int, list[Credit]] = {}
        buckets: list[dict[str, Any]] = []
        for order in (o for o in redo if o.kind == "order"):
            credits: list[Credit] = []
            if order.buyer_id and order.buyer_id not in erased:
                credits = credits_for(order, touches.get(order.buyer_id, []), stores_of, options)
                point = located.get(order.buyer_id)
                bucket = distance_bucket(
                    min(_haversine_km(point, p) for p in store_points)
                    if point and store_points
                    else None
                )
                if bucket != order.distance_bucket:
                    buckets.append({"pk": order.id, "bucket": bucket})
            by_sale[order.id] = credits
            rows.extend(_rows(order, credits, order.total_cents))
        parents_needed = [
            o.refund_of_id
            for o in refunds
            if o.refund_of_id is not None and o.refund_of_id not in by_sale
        ]
        if parents_needed:
            by_sale.update(await _stored_credits(session, parents_needed))
        for refund in (o for o in redo if o.kind == "refund"):
            parent_credits = by_sale.get(refund.refund_of_id or -1, [])
            rows.extend(_rows(refund, parent_credits, -refund.total_cents))
        for row in rows:
            if row["touch_kind"] == "booking":
                run.booking_codes.add(row["touch_ref"].split(":", 1)[1])
        if rows:
            await session.execute(insert(CREDITS), rows)
        if buckets:
            table = ORDERS
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("pk"))
                .values(distance_bucket=bindparam("bucket")),
                buckets,
            )
        await session.execute(
            update(ORDERS).where(ORDERS.c.id.in_([o.id for o in orders])).values(attributed=True)
        )
        run.orders += len(orders)
        run.credited += sum(1 for o in redo if by_sale.get(o.id) or o.kind == "refund")
        for order in orders:
            run.order_keys.add((order.occurred_at.date(), order.store_code or ""))
    return run


async def _stored_credits(
    session: AsyncSession, order_pks: Sequence[int]
) -> dict[int, list[Credit]]:
    """Orders' credits as stored (for refunds whose order was not redone), one query per
    chunk of orders instead of one per refund."""
    rows_of: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(set(order_pks))):
        for row in await session.execute(
            select(
                AttributionCredit.id,
                AttributionCredit.order_pk,
                AttributionCredit.view,
                AttributionCredit.touch_kind,
                AttributionCredit.touch_ref,
                AttributionCredit.touch_at,
                AttributionCredit.channel,
                AttributionCredit.consultant_id,
                AttributionCredit.touch_store_code,
                AttributionCredit.rule,
                AttributionCredit.window_seconds,
            ).where(AttributionCredit.order_pk.in_(chunk))
        ):
            rows_of[row.order_pk].append(row)
    stored: dict[int, list[Credit]] = {}
    for pk in order_pks:
        rows = sorted(rows_of.get(pk, []), key=lambda r: r.id)
        last = [r for r in rows if r.view == "last_touch"]
        influenced = [r for r in rows if r.view == "influenced"]
        ordered = last + [r for r in influenced if not last or r.touch_ref != last[0].touch_ref]
        credits: list[Credit] = []
        for row in ordered:
            touch = Touch(
                row.touch_kind,
                row.touch_ref,
                row.touch_at,
                row.channel,
                row.consultant_id,
                row.touch_store_code,
            )
            credits.append(
                Credit(touch, row.rule, timedelta(seconds=row.window_seconds), row.touch_at)
            )
        stored[pk] = credits
    return stored

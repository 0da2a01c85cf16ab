"""Rollups: the counters the KPIs read, kept up to date incrementally.

``refresh`` is the one entry point (the gateway's worker calls it every minute, the
order endpoint after each batch, the importer after a file). It looks at what changed
since its watermarks (``insights_state``), and redoes only that:

- new messages and handoff transitions → the conversation-days they touch
  (``insights_conversation_days``), then those (day, store) keys of the rollup;
- new stock checks → added to ``insights_demand`` and the daily counters (append-only);
- new channel identities → unmatched orders with that phone, email or account are
  matched again; new merges and undone merges → the orders and conversation-days of both
  customers are redone;
- orders waiting for attribution (new, refunded, re-matched, or all of them when the
  windows changed) → attributed, then their (day, store) keys and the bookings they
  credit are rebuilt;
- bookings changed since the last run (status, check-ins) → their keys rebuilt.

A (day, store) key is rebuilt by deleting that family's metrics there and summing the
facts again, so a rebuild is exact and a re-run changes nothing. Days are UTC dates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.models import Booking
from vetrina.bookings.outcomes import BookingCheckIn, BookingOutcomeEvent
from vetrina.catalog.importing import Progress
from vetrina.catalog.models import Store
from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Message
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import ChannelIdentity, CustomerMerge
from vetrina.insights.attribution import AttributionOptions, attribute
from vetrina.insights.models import (
    CONVERSATION_DAYS,
    DAILY,
    DEMAND,
    DIRTY,
    AttributionCredit,
    ConversationDay,
    DailyRollup,
    DemandRollup,
    DirtyKey,
    InsightsState,
    Order,
    OrderContact,
)
from vetrina.insights.orders import rematch
from vetrina.storage.database import Database

CHUNK = 500
ALL, CHANNEL, CONSULTANT = "all", "channel", "consultant"
ALL_STORES = "*"
LOOK_BACK = timedelta(minutes=5)
ID_LOOK_BACK = 1000  # insights_demand rows summed over every store
ORDER_METRICS = (
    "orders",
    "refunds",
    "revenue",
    "store_purchases",
    "store_purchases_booking",
    "store_purchases_chat",
    "web_orders",
    "matched",
    "key_booking_code",
    "key_shop_account",
    "key_loyalty_id",
    "key_phone",
    "key_email",
    "last_touch_revenue",
    "last_touch_orders",
    "influenced_revenue",
    "influenced_orders",
    "purchases_pos_by_distance",
    "purchases_web_by_distance",
)
BOOKING_METRICS = (
    "bookings_created",
    "bookings",
    "bookings_attended",
    "bookings_no_show",
    "bookings_cancelled",
    "bookings_converted",
)
CONVERSATION_METRICS = (
    "conversations",
    "automated",
    "handed_off",
    "first_response",
    "queue_wait",
)
DEMAND_METRICS = ("stock_asks", "stock_out", "stock_last", "locator_uses")
CHAT_KINDS = frozenset({"conversation", "consultant", "stock_check"})
LOCATOR_OUTCOMES = frozenset({"nearest_stores", "need_location"})
HANDOFF_STATES = frozenset({"waiting", "with_consultant"})

Key = tuple[date, str]  # (UTC day, store code or "")
Counters = dict[tuple[date, str, str, str, str, int], int]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _daily_row(key: tuple[date, str, str, str, str, int], value: int) -> dict[str, Any]:
    """One ``insights_daily`` row from a :data:`Counters` entry."""
    day, store_code, dim, dim_value, metric, bucket = key
    return {
        "day": day, "store_code": store_code, "dim": dim, "dim_value": dim_value,
        "metric": metric, "bucket": bucket, "value": value,
    }


def duration_bucket(seconds: float) -> int:
    """Histogram bucket of a duration: exact seconds below an hour, then minutes, then hours."""
    whole = max(0, int(seconds))
    if whole < 3600:
        return whole
    if whole < 86400:
        return whole - whole % 60
    return whole - whole % 3600


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# --- watermarks --------------------------------------------------------------------------


async def _state(session: AsyncSession, name: str) -> InsightsState:
    row = await session.get(InsightsState, name)
    if row is None:
        row = InsightsState(name=name, number=0, text="")
        session.add(row)
        await session.flush()
    return row


# --- writing rollup rows ---------------------------------------------------------------


async def _replace(
    session: AsyncSession, keys: set[Key], metrics: Sequence[str], counters: Counters
) -> None:
    """Delete ``metrics`` at ``keys`` and write ``counters`` (which cover those keys)."""
    by_day: dict[date, set[str]] = defaultdict(set)
    for day, store in keys:
        by_day[day].add(store)
    for day, stores in by_day.items():
        for chunk in _chunks(sorted(stores)):
            await session.execute(
                delete(DailyRollup).where(
                    DailyRollup.day == day,
                    DailyRollup.store_code.in_(chunk),
                    DailyRollup.metric.in_(metrics),
                )
            )
    rows = [_daily_row(k, v) for k, v in counters.items() if v != 0 and (k[0], k[1]) in keys]
    for chunk in _chunks(rows):
        await session.execute(insert(DAILY), list(chunk))


def _add(
    counters: Counters, key: Key, dim: str, value: str, metric: str, n: int, bucket: int = 0
) -> None:
    counters[(key[0], key[1], dim, value, metric, bucket)] = (
        counters.get((key[0], key[1], dim, value, metric, bucket), 0) + n
    )


# --- orders ----------------------------------------------------------------------------


def _runs(days: Iterable[date], longest: int = 7) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs of at most ``longest`` days: one query per
    run instead of one per day, with a bounded number of rows in memory."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][1] == timedelta(days=1) and (day - runs[-1][0]).days < longest:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


async def rebuild_order_keys(session: AsyncSession, keys: set[Key]) -> None:
    """Recount the order metrics of these (day, store) keys from orders and credits: one
    query (orders joined with their credits) per run of consecutive days."""
    counters: Counters = {}
    by_day: dict[date, set[str]] = defaultdict(set)
    for day, store in keys:
        by_day[day].add(store)
    for first, last in _runs(by_day):
        stores: set[str] = set()
        for offset in range((last - first).days + 1):
            stores |= by_day.get(first + timedelta(days=offset), set())
        named = sorted(s for s in stores if s)
        conditions = []
        if named:
            conditions.append(Order.store_code.in_(named))
        if "" in stores:
            conditions.append(Order.store_code.is_(None))
        orders: dict[int, Any] = {}
        credits: dict[int, list[Any]] = defaultdict(list)
        for row in await session.execute(
            select(
                Order.id,
                Order.kind,
                Order.source,
                Order.store_code,
                Order.total_cents,
                Order.buyer_id,
                Order.matched_key,
                Order.distance_bucket,
                Order.occurred_at,
                AttributionCredit.view,
                AttributionCredit.touch_kind,
                AttributionCredit.channel,
                AttributionCredit.consultant_id,
            )
            .outerjoin(AttributionCredit, AttributionCredit.order_pk == Order.id)
            .where(
                Order.occurred_at >= day_start(first),
                Order.occurred_at < day_start(last) + timedelta(days=1),
                or_(*conditions),
            )
        ):
            orders.setdefault(row.id, row)
            if row.view is not None:
                credits[row.id].append(row)
        for order in orders.values():
            key = (order.occurred_at.date(), order.store_code or "")
            if key in keys:
                _count_order(counters, key, order, credits.get(order.id, []))
    await _replace(session, keys, ORDER_METRICS, counters)


def _count_order(counters: Counters, key: Key, order: Any, credits: list[Any]) -> None:
    sale = order.kind == "order"
    amount = order.total_cents if sale else -order.total_cents
    _add(counters, key, ALL, "", "orders" if sale else "refunds", 1)
    _add(counters, key, ALL, "", "revenue", amount)
    if sale:
        if order.source == "pos":
            _add(counters, key, ALL, "", "store_purchases", 1)
            kinds = {c.touch_kind for c in credits if c.view == "influenced"}
            if "booking" in kinds:
                _add(counters, key, ALL, "", "store_purchases_booking", 1)
            if kinds & CHAT_KINDS:
                _add(counters, key, ALL, "", "store_purchases_chat", 1)
        else:
            _add(counters, key, ALL, "", "web_orders", 1)
        if order.buyer_id:
            _add(counters, key, ALL, "", "matched", 1)
            _add(counters, key, ALL, "", f"key_{order.matched_key}", 1)
        if order.distance_bucket >= 0:
            metric = f"purchases_{'pos' if order.source == 'pos' else 'web'}_by_distance"
            _add(counters, key, ALL, "", metric, 1, bucket=order.distance_bucket)
    counted = 1 if sale else 0  # a refund takes back money, not the order
    for view in ("last_touch", "influenced"):
        mine = [c for c in credits if c.view == view]
        if not mine:
            continue
        _add(counters, key, ALL, "", f"{view}_revenue", amount)
        if counted:
            _add(counters, key, ALL, "", f"{view}_orders", counted)
        for channel in sorted({c.channel for c in mine if c.channel}):
            _add(counters, key, CHANNEL, channel, f"{view}_revenue", amount)
            if counted:
                _add(counters, key, CHANNEL, channel, f"{view}_orders", counted)
        for consultant in sorted({c.consultant_id for c in mine if c.consultant_id}):
            _add(counters, key, CONSULTANT, str(consultant), f"{view}_revenue", amount)
            if counted:
                _add(counters, key, CONSULTANT, str(consultant), f"{view}_orders", counted)


# --- bookings --------------------------------------------------------------------------


async def _booking_keys(session: AsyncSession, codes: Iterable[str] | None) -> set[Key]:
    """The (day, store) keys of these bookings (start and creation days); ``None``: of
    every booking, in one query."""
    query = select(Booking.starts_at, Booking.created_at, Store.code).join(
        Store, Store.id == Booking.store_id
    )
    keys: set[Key] = set()
    if codes is None:
        for starts_at, created_at, store in await session.execute(query):
            keys.add((starts_at.date(), store))
            keys.add((created_at.date(), store))
        return keys
    for chunk in _chunks(sorted(set(codes))):
        for starts_at, created_at, store in await session.execute(
            query.where(Booking.code.in_(chunk))
        ):
            keys.add((starts_at.date(), store))
            keys.add((created_at.date(), store))
    return keys


async def rebuild_booking_keys(session: AsyncSession, keys: set[Key]) -> None:
    counters: Counters = {}
    by_store: dict[str, set[date]] = defaultdict(set)
    for day, store in keys:
        if store:
            by_store[store].add(day)
    for store, days in by_store.items():
        store_id = await session.scalar(select(Store.id).where(Store.code == store))
        if store_id is None:
            continue
        first, last = day_start(min(days)), day_start(max(days)) + timedelta(days=1)
        rows = (
            await session.execute(
                select(
                    Booking.id,
                    Booking.code,
                    Booking.status,
                    Booking.channel,
                    Booking.starts_at,
                    Booking.created_at,
                    BookingCheckIn.booking_id,
                )
                .outerjoin(BookingCheckIn, BookingCheckIn.booking_id == Booking.id)
                .where(
                    Booking.store_id == store_id,
                    or_(
                        (Booking.starts_at >= first) & (Booking.starts_at < last),
                        (Booking.created_at >= first) & (Booking.created_at < last),
                    ),
                )
            )
        ).all()
        converted: set[str] = set()
        for chunk in _chunks([f"booking:{r.code}" for r in rows]):
            sums = await session.execute(
                select(AttributionCredit.touch_ref, func.sum(AttributionCredit.amount_cents))
                .where(
                    AttributionCredit.touch_kind == "booking",
                    AttributionCredit.view == "influenced",
                    AttributionCredit.touch_ref.in_(chunk),
                )
                .group_by(AttributionCredit.touch_ref)
            )
            converted.update(ref.split(":", 1)[1] for ref, total in sums if (total or 0) > 0)
        for row in rows:
            dims = [(ALL, "")] + ([(CHANNEL, row.channel)] if row.channel else [])
            created_day, start_day = row.created_at.date(), row.starts_at.date()
            for dim, value in dims:
                if created_day in days:
                    _add(counters, (created_day, store), dim, value, "bookings_created", 1)
                if start_day not in days:
                    continue
                key = (start_day, store)
                _add(counters, key, dim, value, "bookings", 1)
                if row.status == "cancelled":
                    _add(counters, key, dim, value, "bookings_cancelled", 1)
                    continue
                if row.status == "completed" or row.booking_id is not None:
                    _add(counters, key, dim, value, "bookings_attended", 1)
                elif row.status == "no_show":
                    _add(counters, key, dim, value, "bookings_no_show", 1)
                if row.code in converted:
                    _add(counters, key, dim, value, "bookings_converted", 1)
    await _replace(session, keys, BOOKING_METRICS, counters)


# --- conversations ---------------------------------------------------------------------


def _conversation_fact(
    customer_id: str, day: date, messages: Sequence[Any], moves: Sequence[Any]
) -> ConversationDay | None:
    """One conversation-day from that day's messages and handoff moves (time-ordered)."""
    inbound = [m for m in messages if m.direction == "in"]
    if not inbound:
        return None
    fact = ConversationDay(
        customer_ref=customer_id,
        day=day,
        channel=inbound[0].channel,
        store_code="",
        handed_off=False,
    )
    asked = next((m for m in moves if m.to_status in HANDOFF_STATES), None)
    if asked is not None:
        fact.handed_off = True
        fact.store_code = next((m.store_code for m in moves if m.store_code), "") or ""
        claimed = next((m for m in moves if m.to_status == "with_consultant"), None)
        if claimed is not None:
            fact.consultant_id = claimed.owner_id
            fact.queue_wait_seconds = int((claimed.created_at - asked.created_at).total_seconds())
        answer = next(
            (m for m in messages if m.author == "consultant" and m.created_at >= asked.created_at),
            None,
        )
        if answer is not None:
            fact.first_response_seconds = int(
                (answer.created_at - asked.created_at).total_seconds()
            )
    return fact


async def _redo_conversation_days(session: AsyncSession, pairs: set[tuple[str, date]]) -> set[Key]:
    """Recompute the facts of these (customer, day) pairs, a few queries per 500 customers."""
    keys: set[Key] = set()
    by_customer: dict[str, set[date]] = defaultdict(set)
    for customer_id, day in pairs:
        by_customer[customer_id].add(day)
    for chunk in _chunks(sorted(by_customer)):
        days = {d for c in chunk for d in by_customer[c]}
        start, end = day_start(min(days)), day_start(max(days)) + timedelta(days=1)
        messages: dict[tuple[str, date], list[Any]] = defaultdict(list)
        for row in await session.execute(
            select(
                Message.customer_id,
                Message.direction,
                Message.author,
                Message.channel,
                Message.created_at,
            )
            .where(
                Message.customer_id.in_(chunk),
                Message.created_at >= start,
                Message.created_at < end,
            )
            .order_by(Message.customer_id, Message.created_at, Message.id)
        ):
            messages[(row.customer_id, row.created_at.date())].append(row)
        moves: dict[tuple[str, date], list[Any]] = defaultdict(list)
        for move in await session.execute(
            select(
                HandoffTransition.customer_id,
                HandoffTransition.to_status,
                HandoffTransition.owner_id,
                HandoffTransition.store_code,
                HandoffTransition.created_at,
            )
            .where(
                HandoffTransition.customer_id.in_(chunk),
                HandoffTransition.created_at >= start,
                HandoffTransition.created_at < end,
            )
            .order_by(
                HandoffTransition.customer_id, HandoffTransition.created_at, HandoffTransition.id
            )
        ):
            moves[(move.customer_id, move.created_at.date())].append(move)
        wanted = [(c, d) for c in chunk for d in sorted(by_customer[c])]
        for part in _chunks(wanted):
            for day, store in await session.execute(
                select(ConversationDay.day, ConversationDay.store_code).where(
                    tuple_(ConversationDay.customer_ref, ConversationDay.day).in_(list(part))
                )
            ):
                keys.add((day, store))
            await session.execute(
                delete(ConversationDay).where(
                    tuple_(ConversationDay.customer_ref, ConversationDay.day).in_(list(part))
                )
            )
        rows = []
        for pair in wanted:
            fact = _conversation_fact(pair[0], pair[1], messages.get(pair, []), moves.get(pair, []))
            if fact is not None:
                keys.add((fact.day, fact.store_code))
                rows.append(
                    {
                        "customer_ref": fact.customer_ref,
                        "day": fact.day,
                        "channel": fact.channel,
                        "store_code": fact.store_code,
                        "handed_off": fact.handed_off,
                        "consultant_id": fact.consultant_id,
                        "first_response_seconds": fact.first_response_seconds,
                        "queue_wait_seconds": fact.queue_wait_seconds,
                    }
                )
        for part in _chunks(rows):
            await session.execute(insert(CONVERSATION_DAYS), list(part))
    return keys


async def rebuild_conversation_keys(session: AsyncSession, keys: set[Key]) -> None:
    counters: Counters = {}
    by_day: dict[date, set[str]] = defaultdict(set)
    for day, store in keys:
        by_day[day].add(store)
    for first, last in _runs(by_day):
        stores: set[str] = set()
        for offset in range((last - first).days + 1):
            stores |= by_day.get(first + timedelta(days=offset), set())
        facts = [
            fact
            for fact in await session.execute(
                select(
                    ConversationDay.day,
                    ConversationDay.store_code,
                    ConversationDay.channel,
                    ConversationDay.handed_off,
                    ConversationDay.consultant_id,
                    ConversationDay.first_response_seconds,
                    ConversationDay.queue_wait_seconds,
                ).where(
                    ConversationDay.day >= first,
                    ConversationDay.day <= last,
                    ConversationDay.store_code.in_(sorted(stores)),
                )
            )
            if (fact.day, fact.store_code) in keys
        ]
        for fact in facts:
            key = (fact.day, fact.store_code)
            dims = [(ALL, ""), (CHANNEL, fact.channel)]
            if fact.consultant_id is not None:
                dims.append((CONSULTANT, str(fact.consultant_id)))
            for dim, value in dims:
                _add(counters, key, dim, value, "conversations", 1)
                _add(counters, key, dim, value, "handed_off" if fact.handed_off else "automated", 1)
                if fact.first_response_seconds is not None:
                    _add(
                        counters,
                        key,
                        dim,
                        value,
                        "first_response",
                        1,
                        bucket=duration_bucket(fact.first_response_seconds),
                    )
                if fact.queue_wait_seconds is not None:
                    _add(
                        counters,
                        key,
                        dim,
                        value,
                        "queue_wait",
                        1,
                        bucket=duration_bucket(fact.queue_wait_seconds),
                    )
    await _replace(session, keys, CONVERSATION_METRICS, counters)


# --- demand (append-only) --------------------------------------------------------------


async def _add_demand(
    session: AsyncSession, demand: dict[tuple[date, str, str], list[int]]
) -> None:
    """Add to ``insights_demand``: read the rows concerned, delete, write the sums."""
    keys = sorted(demand)
    for chunk in _chunks(keys):
        wanted = [tuple(k) for k in chunk]
        existing = await session.execute(
            select(
                DemandRollup.day,
                DemandRollup.store_code,
                DemandRollup.product_code,
                DemandRollup.asks,
                DemandRollup.out_of_stock,
                DemandRollup.last_pieces,
            ).where(
                tuple_(DemandRollup.day, DemandRollup.store_code, DemandRollup.product_code).in_(
                    wanted
                )
            )
        )
        merged = {k: list(demand[k]) for k in chunk}
        for day, store, product, asks, out, last in existing:
            counts = merged[(day, store, product)]
            counts[0] += asks
            counts[1] += out
            counts[2] += last
        await session.execute(
            delete(DemandRollup).where(
                tuple_(DemandRollup.day, DemandRollup.store_code, DemandRollup.product_code).in_(
                    wanted
                )
            )
        )
        await session.execute(
            insert(DEMAND),
            [
                {
                    "day": d,
                    "store_code": s,
                    "product_code": p,
                    "asks": c[0],
                    "out_of_stock": c[1],
                    "last_pieces": c[2],
                }
                for (d, s, p), c in merged.items()
            ],
        )


async def _add_daily(session: AsyncSession, daily: Counters) -> None:
    """Add append-only counters to ``insights_daily`` the same way, per (day, store)."""
    metrics = sorted({k[4] for k in daily})
    by_key: dict[Key, Counters] = defaultdict(dict)
    for k, v in daily.items():
        by_key[(k[0], k[1])][k] = v
    for chunk in _chunks(sorted(by_key)):
        wanted = list(chunk)
        merged: Counters = {k: v for key in wanted for k, v in by_key[key].items()}
        existing = await session.execute(
            select(
                DailyRollup.day,
                DailyRollup.store_code,
                DailyRollup.dim,
                DailyRollup.dim_value,
                DailyRollup.metric,
                DailyRollup.bucket,
                DailyRollup.value,
            ).where(
                tuple_(DailyRollup.day, DailyRollup.store_code).in_(wanted),
                DailyRollup.metric.in_(metrics),
            )
        )
        for day, store, dim, value, metric, bucket, n in existing:
            key = (day, store, dim, value, metric, bucket)
            merged[key] = merged.get(key, 0) + n
        await session.execute(
            delete(DailyRollup).where(
                tuple_(DailyRollup.day, DailyRollup.store_code).in_(wanted),
                DailyRollup.metric.in_(metrics),
            )
        )
        await session.execute(insert(DAILY), [_daily_row(k, v) for k, v in merged.items()])


async def sync_demand(session: AsyncSession) -> int:
    mark = await _state(session, "interactions")
    rows = (
        await session.execute(
            select(Interaction.id, Interaction.channel, Interaction.data, Interaction.created_at)
            .where(Interaction.id > mark.number, Interaction.kind == STOCK_CHECK)
            .order_by(Interaction.id)
        )
    ).all()
    if not rows:
        return 0
    demand: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    daily: Counters = {}
    for row in rows:
        data = row.data or {}
        key = (row.created_at.date(), str(data.get("store_code") or ""))
        status = data.get("status")
        dims = [(ALL, "")] + ([(CHANNEL, row.channel)] if row.channel else [])
        for dim, value in dims:
            if data.get("outcome") in LOCATOR_OUTCOMES or data.get("location"):
                _add(daily, key, dim, value, "locator_uses", 1)
            if data.get("product_code"):
                _add(daily, key, dim, value, "stock_asks", 1)
                if status == "out_of_stock":
                    _add(daily, key, dim, value, "stock_out", 1)
                elif status == "last_pieces":
                    _add(daily, key, dim, value, "stock_last", 1)
        if data.get("product_code"):
            # Per store, and once more under "*" (every store) so that the all-stores top
            # list reads one row per product and day, not one per store.
            for store in (key[1], ALL_STORES):
                counts = demand[(key[0], store, str(data["product_code"]))]
                counts[0] += 1
                counts[1] += status == "out_of_stock"
                counts[2] += status == "last_pieces"
    await _add_demand(session, demand)
    await _add_daily(session, daily)
    mark.number = rows[-1].id
    return len(rows)


# --- the incremental run ---------------------------------------------------------------


@dataclass
class RefreshReport:
    messages: int = 0
    stock_checks: int = 0
    rematched: int = 0
    attributed: int = 0
    order_keys: int = 0
    booking_keys: int = 0
    conversation_keys: int = 0
    merges: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _margin(session: AsyncSession) -> int:
    """Ids to look back: on PostgreSQL, transactions commit out of id order, so a message
    with a lower id can appear after the last run saw a higher one. Conversation-days are
    recomputed from scratch, so seeing a message twice is harmless. SQLite has one writer
    at a time: ids commit in order."""
    return 0 if session.get_bind().dialect.name == "sqlite" else ID_LOOK_BACK


async def _sync_conversations(session: AsyncSession, report: RefreshReport) -> set[Key]:
    messages = await _state(session, "messages")
    handoffs = await _state(session, "handoffs")
    pairs, last_message, seen = await _customer_days_since(session, Message, messages.number)
    report.messages += seen
    handoff_pairs, last_handoff, _ = await _customer_days_since(
        session, HandoffTransition, handoffs.number
    )
    messages.number, handoffs.number = last_message, last_handoff
    return await _redo_conversation_days(session, pairs | handoff_pairs)


async def _customer_days_since(
    session: AsyncSession, table: type[Message] | type[HandoffTransition], after: int
) -> tuple[set[tuple[str, date]], int, int]:
    """The (customer, day) pairs of ``table``'s rows with an id above ``after`` (less the
    look-back margin), the last id read (``after`` when none) and how many rows were read."""
    pairs: set[tuple[str, date]] = set()
    last, seen = after, 0
    for row_id, customer_id, created_at in await session.execute(
        select(table.id, table.customer_id, table.created_at)
        .where(table.id > after - _margin(session))
        .order_by(table.id)
    ):
        pairs.add((customer_id, created_at.date()))
        last = row_id
        seen += 1
    return pairs, last, seen


async def _sync_identities(session: AsyncSession, report: RefreshReport) -> set[tuple[str, date]]:
    """New links and merges (done or undone): re-match and re-attribute what they touch.
    Returns the conversation-days to redo."""
    identities = await _state(session, "identities")
    values: dict[str, set[str]] = defaultdict(set)
    last = identities.number
    for iid, channel, external_id in await session.execute(
        select(ChannelIdentity.id, ChannelIdentity.channel, ChannelIdentity.external_id)
        .where(ChannelIdentity.id > identities.number)
        .order_by(ChannelIdentity.id)
    ):
        values[channel].add(external_id)
        last = iid
    identities.number = last
    candidates: set[int] = set()
    columns = {
        "shop": OrderContact.shop_account,
        "whatsapp": OrderContact.phone,
        "email": OrderContact.email,
    }
    for channel, column in columns.items():
        for chunk in _chunks(sorted(values.get(channel, set()))):
            candidates.update(
                (
                    await session.scalars(
                        select(OrderContact.order_pk).where(
                            column.in_(chunk), OrderContact.customer_id.is_(None)
                        )
                    )
                ).all()
            )
    # Merges since the last run, and undos since the last run.
    merges = await _state(session, "merges")
    undos = await _state(session, "undos")
    people: set[str] = set()
    last_merge = merges.number
    for mid, survivor, merged in await session.execute(
        select(CustomerMerge.id, CustomerMerge.survivor_id, CustomerMerge.merged_id)
        .where(CustomerMerge.id > merges.number)
        .order_by(CustomerMerge.id)
    ):
        people.update((survivor, merged))
        last_merge = mid
        report.merges += 1
    merges.number = last_merge
    since = datetime.fromisoformat(undos.text) if undos.text else None
    undo_rows = (
        await session.execute(
            select(
                CustomerMerge.survivor_id, CustomerMerge.merged_id, CustomerMerge.undone_at
            ).where(
                CustomerMerge.undone_at.is_not(None),
                CustomerMerge.undone_at > since if since else true(),
            )
        )
    ).all()
    for survivor, merged, undone_at in undo_rows:
        people.update((survivor, merged))
        report.merges += 1
        if since is None or undone_at > since:
            since = undone_at
    if since is not None:
        undos.text = since.isoformat()
    pairs: set[tuple[str, date]] = set()
    if people:
        ids = sorted(people)
        candidates.update(
            (
                await session.scalars(
                    select(Order.id).where(Order.buyer_id.in_(ids), Order.kind == "order")
                )
            ).all()
        )
        candidates.update(
            (
                await session.scalars(
                    select(OrderContact.order_pk).where(OrderContact.customer_id.in_(ids))
                )
            ).all()
        )
        # Their touchpoints moved: every order of theirs is attributed again.
        await session.execute(update(Order).where(Order.buyer_id.in_(ids)).values(attributed=False))
        for cid, created_at in await session.execute(
            select(Message.customer_id, Message.created_at).where(Message.customer_id.in_(ids))
        ):
            pairs.add((cid, created_at.date()))
        for cid, day in await session.execute(
            select(ConversationDay.customer_ref, ConversationDay.day).where(
                ConversationDay.customer_ref.in_(ids)
            )
        ):
            pairs.add((cid, day))
    if candidates:
        report.rematched = await rematch(session, sorted(candidates))
        # Loyalty ids are learnt from matched orders: one more pass for their siblings.
        loyalty = (
            await session.scalars(
                select(OrderContact.loyalty_id).where(
                    OrderContact.order_pk.in_(sorted(candidates)),
                    OrderContact.customer_id.is_not(None),
                    OrderContact.loyalty_id.is_not(None),
                )
            )
        ).all()
        siblings: set[int] = set()
        for chunk in _chunks(sorted(set(loyalty))):
            siblings.update(
                (
                    await session.scalars(
                        select(OrderContact.order_pk).where(
                            OrderContact.loyalty_id.in_(chunk),
                            OrderContact.customer_id.is_(None),
                        )
                    )
                ).all()
            )
        if siblings:
            report.rematched += await rematch(session, sorted(siblings))
    return pairs


async def _changed_bookings(session: AsyncSession) -> set[str]:
    mark = await _state(session, "bookings")
    since = datetime.fromisoformat(mark.text) if mark.text else None
    query = select(Booking.code, Booking.updated_at)
    if since is not None:
        # Look back a little: a booking changed in a transaction that committed after the
        # last run, with an earlier updated_at, is still seen (rebuilding is idempotent).
        query = query.where(Booking.updated_at > since - LOOK_BACK)
    codes: set[str] = set()
    latest = since
    for code, updated_at in await session.execute(query):
        codes.add(code)
        if latest is None or updated_at > latest:
            latest = updated_at
    events = await _state(session, "outcomes")
    last = events.number
    for eid, code in await session.execute(
        select(BookingOutcomeEvent.id, Booking.code)
        .join(Booking, Booking.id == BookingOutcomeEvent.booking_id)
        .where(BookingOutcomeEvent.id > events.number)
    ):
        codes.add(code)
        last = max(last, eid)
    events.number = last
    if latest is not None:
        mark.text = latest.isoformat()
    return codes


async def refresh(
    db: Database,
    options: AttributionOptions,
    *,
    batch: int = 2000,
    progress: Progress | None = None,
) -> RefreshReport:
    """Bring every rollup up to date with what changed since the last run. ``progress``
    is advanced by the orders attributed, a batch at a time (the caller starts its bar:
    the importer with the count it wrote); an import of history is long."""
    report = RefreshReport()
    async with db.locks.hold("insights", "refresh") as held:
        if not held:
            report.details["skipped"] = "another worker is refreshing"
            return report
        async with db.transaction() as session:
            conversation_keys = await _sync_conversations(session, report)
            pairs = await _sync_identities(session, report)
            conversation_keys |= await _redo_conversation_days(session, pairs)
            if conversation_keys:
                await rebuild_conversation_keys(session, conversation_keys)
            report.conversation_keys = len(conversation_keys)
            report.stock_checks = await sync_demand(session)
            windows = await _state(session, "windows")
            if windows.text != options.fingerprint():
                if windows.text:
                    await session.execute(update(Order).values(attributed=False))
                windows.text = options.fingerprint()
        await _attribute_pending(db, options, report, batch, progress)
    return report


async def _mark_dirty(session: AsyncSession, family: str, keys: Iterable[Key]) -> None:
    wanted = sorted(set(keys))
    if not wanted:
        return
    existing: set[Key] = set()
    for chunk in _chunks(wanted):
        rows = await session.execute(
            select(DirtyKey.day, DirtyKey.store_code).where(
                DirtyKey.family == family,
                tuple_(DirtyKey.day, DirtyKey.store_code).in_(list(chunk)),
            )
        )
        existing.update((day, store) for day, store in rows)
    fresh = [k for k in wanted if k not in existing]
    for chunk in _chunks(fresh):
        await session.execute(
            insert(DIRTY), [{"family": family, "day": d, "store_code": s} for d, s in chunk]
        )


async def _rebuild_dirty(db: Database, report: RefreshReport, per_transaction: int = 2000) -> None:
    """Rebuild the rollups of every dirty key, a slice per transaction."""
    for family, rebuild in (("orders", rebuild_order_keys), ("bookings", rebuild_booking_keys)):
        while True:
            async with db.transaction() as session:
                keys = {
                    (day, store)
                    for day, store in await session.execute(
                        select(DirtyKey.day, DirtyKey.store_code)
                        .where(DirtyKey.family == family)
                        .order_by(DirtyKey.day, DirtyKey.store_code)
                        .limit(per_transaction)
                    )
                }
                if not keys:
                    break
                await rebuild(session, keys)
                for chunk in _chunks(sorted(keys)):
                    await session.execute(
                        delete(DirtyKey).where(
                            DirtyKey.family == family,
                            tuple_(DirtyKey.day, DirtyKey.store_code).in_(list(chunk)),
                        )
                    )
                if family == "orders":
                    report.order_keys += len(keys)
                else:
                    report.booking_keys += len(keys)


async def _attribute_pending(
    db: Database,
    options: AttributionOptions,
    report: RefreshReport,
    batch: int,
    progress: Progress | None = None,
) -> None:
    """Attribute waiting orders a batch per transaction, marking their keys dirty in the
    same transaction; then rebuild the dirty keys.

    Batches follow ``occurred_at``, not ids: the orders of one batch then share a short
    stretch of time, so the touchpoints read for them (``horizon`` before the first to
    the last) are a few days of their buyers' history rather than all of it. A batch of
    ids spans the whole history when the orders were loaded in any other order than time
    (an import of history, a full recompute). Results do not depend on the batching.
    """
    while True:
        async with db.transaction() as session:
            pending = (
                await session.execute(
                    select(Order.id, Order.occurred_at).where(Order.attributed.is_(False))
                )
            ).all()
            if not pending:
                codes = await _changed_bookings(session)
                await _mark_dirty(session, "bookings", await _booking_keys(session, codes))
                break
        ordered = [pk for pk, _ in sorted(pending, key=lambda row: (row[1], row[0]))]
        for start in range(0, len(ordered), batch):
            async with db.transaction() as session:
                run = await attribute(session, ordered[start : start + batch], options)
                report.attributed += run.orders
                await _mark_dirty(session, "orders", run.order_keys)
                await _mark_dirty(
                    session, "bookings", await _booking_keys(session, run.booking_codes)
                )
            if progress is not None:
                progress.advance(len(ordered[start : start + batch]))
    await _rebuild_dirty(db, report)


async def full_recompute(
    db: Database, options: AttributionOptions, *, progress: Progress | None = None
) -> RefreshReport:
    """Attribute every order again and rebuild every order, booking and conversation
    counter from scratch (demand counters are append-only and stay)."""
    async with db.transaction() as session:
        await session.execute(update(Order).values(attributed=False))
        await session.execute(
            delete(DailyRollup).where(
                DailyRollup.metric.in_((*ORDER_METRICS, *BOOKING_METRICS, *CONVERSATION_METRICS))
            )
        )
        keys = {
            (day, store)
            for day, store in await session.execute(
                select(ConversationDay.day, ConversationDay.store_code).distinct()
            )
        }
        await rebuild_conversation_keys(session, keys)
        await _mark_dirty(session, "bookings", await _booking_keys(session, None))
    return await refresh(db, options, progress=progress)

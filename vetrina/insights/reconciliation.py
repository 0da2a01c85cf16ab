"""Reconciliation: which customer made an order, and by which key.

Keys, strongest first (the first that names a live customer wins, and is stored):

1. ``booking_code`` — the booking's customer;
2. ``shop_account`` — the ``shop`` identity (the ``sub`` of the identity token);
3. ``loyalty_id`` — an earlier order with that loyalty id that is already matched;
4. ``phone`` — E.164, the ``whatsapp`` identity;
5. ``email`` — case-folded, the ``email`` identity.

Everything is looked up in bulk (one query per key per chunk), so matching a batch of
a thousand orders is a handful of queries. A merged customer resolves to the survivor;
an erased one (a tombstone) matches nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings.models import Booking
from vetrina.customers.models import ChannelIdentity, Customer

KEYS = ("booking_code", "shop_account", "loyalty_id", "phone", "email")
IDENTITY_CHANNEL = {"shop_account": "shop", "phone": "whatsapp", "email": "email"}
CHUNK = 500


@dataclass(frozen=True)
class Keys:
    """The keys one order carries (already normalised by :mod:`vetrina.insights.records`)."""

    order_pk: int
    booking_code: str | None = None
    shop_account: str | None = None
    loyalty_id: str | None = None
    phone: str | None = None
    email: str | None = None

    def value(self, key: str) -> str | None:
        value: str | None = getattr(self, key)
        return value


@dataclass(frozen=True)
class Match:
    customer_id: str
    key: str


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def live_customers(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    """Each id → the customer it lives on as (following merges); erased ones left out."""
    wanted = sorted(set(ids))
    resolved: dict[str, str] = {}
    pending = {i: i for i in wanted}  # original id -> current hop
    for _ in range(16):  # merge chains are short; a cycle cannot happen (merge refuses it)
        if not pending:
            break
        hops = sorted(set(pending.values()))
        rows: dict[str, tuple[str | None, bool]] = {}
        for chunk in _chunks(hops):
            result = await session.execute(
                select(Customer.id, Customer.merged_into_id, Customer.erased_at).where(
                    Customer.id.in_(chunk)
                )
            )
            for cid, merged_into, erased_at in result:
                rows[cid] = (merged_into, erased_at is not None)
        following: dict[str, str] = {}
        for original, hop in pending.items():
            merged_into, erased = rows.get(hop, (None, True))
            if merged_into:
                following[original] = merged_into
            elif not erased:
                resolved[original] = hop
        pending = following
    return resolved


async def _owners(
    session: AsyncSession, key: str, values: set[str], exclude: set[int]
) -> dict[str, str]:
    """Value of ``key`` → the customer id that owns it (before following merges)."""
    from vetrina.insights.models import OrderContact

    owners: dict[str, str] = {}
    ordered = sorted(values)
    for chunk in _chunks(ordered):
        query: Select[Any]
        if key == "booking_code":
            query = select(Booking.code, Booking.customer_id).where(Booking.code.in_(chunk))
        elif key == "loyalty_id":
            query = (
                select(OrderContact.loyalty_id, OrderContact.customer_id)
                .where(
                    OrderContact.loyalty_id.in_(chunk),
                    OrderContact.customer_id.is_not(None),
                    OrderContact.order_pk.not_in(exclude) if exclude else true(),
                )
                .order_by(OrderContact.order_pk.desc())
            )
        else:
            query = select(ChannelIdentity.external_id, ChannelIdentity.customer_id).where(
                ChannelIdentity.channel == IDENTITY_CHANNEL[key],
                ChannelIdentity.external_id.in_(chunk),
            )
        for value, customer_id in await session.execute(query):
            if customer_id is not None:
                owners.setdefault(str(value), str(customer_id))
    return owners


async def match_orders(session: AsyncSession, orders: Sequence[Keys]) -> dict[int, Match]:
    """Order pk → the customer and key that matched it; unmatched orders are absent."""
    owners: dict[str, dict[str, str]] = {}
    # The orders themselves are not their own loyalty evidence. Stand-in keys (negative,
    # for sales not written yet) can never name a stored order: leaving them out spares
    # the loyalty query a NOT IN of a thousand values.
    exclude = {o.order_pk for o in orders if o.order_pk > 0}
    for key in KEYS:
        values = {v for o in orders if (v := o.value(key))}
        owners[key] = await _owners(session, key, values, exclude) if values else {}
    live = await live_customers(
        session, (cid for by_value in owners.values() for cid in by_value.values())
    )
    matches: dict[int, Match] = {}
    for order in orders:
        for key in KEYS:
            value = order.value(key)
            owner = owners[key].get(value) if value else None
            customer = live.get(owner) if owner else None
            if customer is not None:
                matches[order.order_pk] = Match(customer, key)
                break
    return matches

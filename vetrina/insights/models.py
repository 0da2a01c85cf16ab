"""Insights tables: orders and their contacts, attribution credits, rollups and facts.

Why the split between ``orders`` and ``order_contacts``:

- ``order_contacts`` holds what identifies the buyer (shop account, loyalty id, phone,
  email) and has a ``customer_id`` foreign key, so the generic machinery of
  :mod:`vetrina.customers` moves it on a merge, exports it and deletes it on erasure.
- ``orders`` holds the sale itself (store, lines, amounts) and names its buyer in
  ``buyer_id`` (deliberately *not* ``customer_id``): an erasure leaves the order, with
  its anonymous amounts, pointing at the customer's tombstone, so the KPIs keep it.

Money is integer cents. Rollups (``insights_daily``, ``insights_demand``) are what the
dashboard reads; they are rebuilt per (day, store) when something in that key changes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.storage.base import Base, utcnow


class Order(Base):
    """One "Order Completed" record (a web order or a till sale), or a refund of one."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "order_id"),
        CheckConstraint("source IN ('pos', 'web')", name="source"),
        CheckConstraint("kind IN ('order', 'refund')", name="kind"),
        CheckConstraint("total_cents >= 0", name="total_non_negative"),
        Index("ix_orders_store_occurred", "store_code", "occurred_at"),
        Index("ix_orders_occurred", "occurred_at"),
        Index("ix_orders_buyer", "buyer_id"),
        Index("ix_orders_pending", "attributed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    order_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    occurred_at: Mapped[datetime]
    store_code: Mapped[str | None] = mapped_column(String(32))
    staff: Mapped[str | None] = mapped_column(String(254))
    booking_code: Mapped[str | None] = mapped_column(String(12))
    coupon: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    # [{"sku", "product_code", "quantity", "unit_price_cents"}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # SHA-256 of the record as received (canonical JSON): a resend with the same digest is
    # a no-op, a resend with another digest is refused.
    digest: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    matched_key: Mapped[str | None] = mapped_column(String(20))
    # Bucket of the buyer's distance to the nearest store (see attribution.DISTANCE_BUCKETS),
    # -1 when no location of the buyer is known.
    distance_bucket: Mapped[int] = mapped_column(Integer, default=-1)
    # False until attribution has run for the order's current state (the incremental queue).
    attributed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderContact(Base):
    """Who bought: the keys the order carried. Personal data, so it follows the customer."""

    __tablename__ = "order_contacts"

    order_pk: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    shop_account: Mapped[str | None] = mapped_column(String(200), index=True)
    loyalty_id: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)


class AttributionCredit(Base):
    """One touchpoint credited for one order, in the last-touch or the influenced view."""

    __tablename__ = "attribution_credits"
    __table_args__ = (
        CheckConstraint("view IN ('last_touch', 'influenced')", name="view"),
        Index("ix_attribution_credits_order", "order_pk"),
        Index("ix_attribution_credits_touch", "touch_kind", "touch_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    view: Mapped[str] = mapped_column(String(12))
    touch_kind: Mapped[str] = mapped_column(String(20))  # conversation, consultant, ...
    touch_ref: Mapped[str] = mapped_column(String(40))  # "message:12", "booking:K7M2QX"
    touch_at: Mapped[datetime]
    touch_store_code: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(20))
    consultant_id: Mapped[int | None] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(40))
    window_seconds: Mapped[int] = mapped_column(Integer)
    matched_key: Mapped[str] = mapped_column(String(20))
    # Signed: a refund's credits are negative.
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class DailyRollup(Base):
    """A KPI counter per (UTC day, store, dimension value, metric, bucket).

    ``dim`` is ``all`` (``dim_value`` empty), ``channel`` or ``consultant``; each order or
    event adds to a given (dim, dim_value) at most once, so sums never double count.
    ``bucket`` is 0, or the seconds of a duration histogram, or a distance bucket.
    """

    __tablename__ = "insights_daily"
    # Covering indexes for the KPI query (a day range of one ``dim``, optionally one
    # store): SQLite and PostgreSQL answer it from the index alone, never the table.
    __table_args__ = (
        Index(
            "ix_insights_daily_dim_day",
            "dim",
            "day",
            "metric",
            "bucket",
            "store_code",
            "dim_value",
            "value",
        ),
        Index(
            "ix_insights_daily_dim_store_day",
            "dim",
            "store_code",
            "day",
            "metric",
            "bucket",
            "dim_value",
            "value",
        ),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    dim: Mapped[str] = mapped_column(String(12), primary_key=True)
    dim_value: Mapped[str] = mapped_column(String(40), primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class DemandRollup(Base):
    """Stock questions per (UTC day, store, product): what shoppers ask for, and miss."""

    __tablename__ = "insights_demand"
    # The top out-of-stock asks read one store code (or the all-stores row) over a range.
    __table_args__ = (
        Index(
            "ix_insights_demand_store_day",
            "store_code",
            "day",
            "product_code",
            "asks",
            "out_of_stock",
            "last_pieces",
        ),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    asks: Mapped[int] = mapped_column(Integer, default=0)
    out_of_stock: Mapped[int] = mapped_column(Integer, default=0)
    last_pieces: Mapped[int] = mapped_column(Integer, default=0)


class ConversationDay(Base):
    """A conversation as the KPIs count it: one customer's messages on one UTC day.

    Kept without a foreign key so an erasure (which deletes the messages) leaves the
    anonymous counts in place.
    """

    __tablename__ = "insights_conversation_days"
    __table_args__ = (Index("ix_insights_conversation_days_day", "day", "store_code"),)

    customer_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    store_code: Mapped[str] = mapped_column(String(32), default="")
    handed_off: Mapped[bool] = mapped_column(default=False)
    consultant_id: Mapped[int | None] = mapped_column(Integer)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    queue_wait_seconds: Mapped[int | None] = mapped_column(Integer)


class DirtyKey(Base):
    """A (family, day, store) whose rollup must be rebuilt: written in the same transaction
    as the change, deleted when rebuilt, so a crash in between loses nothing."""

    __tablename__ = "insights_dirty_keys"

    family: Mapped[str] = mapped_column(String(12), primary_key=True)  # orders, bookings
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_code: Mapped[str] = mapped_column(String(32), primary_key=True)


class InsightsState(Base):
    """Watermarks of the incremental work (last message id seen, window fingerprint…)."""

    __tablename__ = "insights_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, default=0)
    text: Mapped[str] = mapped_column(String(200), default="")


ORDERS: Table = cast(Table, Order.__table__)
ORDER_CONTACTS: Table = cast(Table, OrderContact.__table__)
CREDITS: Table = cast(Table, AttributionCredit.__table__)
DAILY: Table = cast(Table, DailyRollup.__table__)
DEMAND: Table = cast(Table, DemandRollup.__table__)
CONVERSATION_DAYS: Table = cast(Table, ConversationDay.__table__)
DIRTY: Table = cast(Table, DirtyKey.__table__)

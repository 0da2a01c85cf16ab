"""Catalog tables: products, variants, promotions, stores, store stock and online stock.

Money is in integer cents (exact on SQLite and PostgreSQL). Stock is sparse: a
``store_stock`` row exists only where a store has (or had) the variant; no row means
none there. Its primary key is (variant_id, store_id), so both questions the assistant
asks are index lookups: "this variant in this store" is one key probe, "stores that have
this variant" is a range scan of that key's prefix. On SQLite the table is WITHOUT ROWID,
so the key *is* the table and a probe reads no second b-tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vetrina.storage.base import Base, utcnow


class Product(Base):
    """What a shopper names: "the black leather Chelsea boot". Sold as variants."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_it: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_it: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(80), index=True)
    brand: Mapped[str] = mapped_column(String(80), index=True)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )


class Variant(Base):
    """One sellable item (size × colour) with its one list price, the same on every channel."""

    __tablename__ = "variants"
    __table_args__ = (CheckConstraint("price_cents > 0", name="price_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    ean: Mapped[str | None] = mapped_column(String(14), unique=True)
    size: Mapped[str] = mapped_column(String(20))
    colour: Mapped[str] = mapped_column(String(40))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(back_populates="variants")


class Promotion(Base):
    """A time-boxed discount on one variant: ``percent`` (value 1–99) or ``fixed`` (cents off).

    ``ends_at`` is exclusive and may be open. A catalog import restates the promotions of
    every variant it lists, so these rows always mirror the latest catalog file.
    """

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("kind IN ('percent', 'fixed')", name="kind"),
        CheckConstraint("value > 0", name="value_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]


class Store(Base):
    """A physical shop. Hours are JSON (weekday → ["10:00-19:30"]) plus dated exceptions."""

    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2), default="IT")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(40), default="Europe/Rome")
    phone: Mapped[str | None] = mapped_column(String(40))
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hours_exceptions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The store's own switch for try-on bookings (temporarily closed, no staff), on top of
    # offering the "try_on" service at all. Imports never touch it; staff flip it.
    try_on_enabled: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=sa_true()
    )
    # Temporarily closed (works, an emergency): the assistant offers no try-on and holds
    # nothing for pick-up there, and says why. Imports never touch it; a manager does.
    temporarily_closed: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StoreStock(Base):
    """Pieces of one variant in one store. ``reserved`` is held for bookings, not for sale."""

    __tablename__ = "store_stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
        # Per-store work (a store's whole stock, deleting a store) without a full scan.
        Index("ix_store_stock_store_id", "store_id"),
        {"sqlite_with_rowid": False},
    )

    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnlineStock(Base):
    """Pieces of one variant in the web shop's warehouse (``reserved``: open online orders)."""

    __tablename__ = "online_stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
    )

    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True
    )
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

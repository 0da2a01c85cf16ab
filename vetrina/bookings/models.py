"""Booking tables: bookings, their items, and the per-slot capacity counter.

The database, not Python, is what stops overbooking:

- ``slot_usage`` has one row per (store, slot start) with ``used <= capacity`` as a CHECK;
  a place is taken by a conditional ``UPDATE … SET used = used + 1 WHERE used < capacity``
  (row lock on PostgreSQL, the single writer on SQLite), so concurrent attempts for the
  last place let exactly one through.
- items are held in ``store_stock.reserved`` by a conditional ``UPDATE`` of the same kind
  (see :mod:`vetrina.bookings.holds`), and ``reserved >= 0`` is already a CHECK there.
- a booking changes status with ``UPDATE … WHERE status = 'confirmed'``, so cancelling
  twice (or cancelling while the no-show sweep runs) releases the holds once.

Times are UTC instants; the store's time zone turns them into wall-clock slots.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vetrina.storage.base import Base, utcnow


class BookingStatus(str, enum.Enum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


STATUSES = tuple(s.value for s in BookingStatus)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(
            "status IN ('confirmed', 'cancelled', 'completed', 'no_show')", name="status"
        ),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_bookings_store_starts", "store_id", "starts_at"),
        Index("ix_bookings_customer_starts", "customer_id", "starts_at"),
        Index("ix_bookings_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Six characters from an alphabet without 0/O/1/I/L: short and readable aloud.
    code: Mapped[str] = mapped_column(String(12), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default=BookingStatus.CONFIRMED.value)
    channel: Mapped[str | None] = mapped_column(String(20))
    # The secret part of the calendar (.ics) link; the code alone is guessable.
    calendar_token: Mapped[str] = mapped_column(String(64), unique=True)
    reminder_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[BookingItem]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="BookingItem.id"
    )


class BookingItem(Base):
    """One variant to prepare for the try-on, held in the booking's store."""

    __tablename__ = "booking_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("booking_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)

    booking: Mapped[Booking] = relationship(back_populates="items")


class SlotUsage(Base):
    """Places taken in one try-on slot of one store (fitting rooms / consultants)."""

    __tablename__ = "slot_usage"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_non_negative"),
        CheckConstraint("used <= capacity", name="used_within_capacity"),
    )

    store_id: Mapped[int] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)

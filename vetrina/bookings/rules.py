"""The booking rules every job shares: the options, the interaction kinds, the items check.

Options are passed in by whoever builds the service (the gateway, the action server): no
bookings module reads the settings. :meth:`BookingOptions.from_settings` takes anything
with the four ``VETRINA_SLOT_*``-style attributes, so the settings object fits without
bookings importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Protocol

from vetrina.bookings.errors import InvalidItems

TRY_ON = "try_on"
REMINDER_TEMPLATE = "booking_reminder"
CODE_ATTEMPTS = 5

# Interaction kinds recorded on the customer's profile.
BOOKING_CREATED = "booking_created"
BOOKING_CANCELLED = "booking_cancelled"
BOOKING_RESCHEDULED = "booking_rescheduled"
BOOKING_ITEMS_ADDED = "booking_items_added"
BOOKING_COMPLETED = "booking_completed"
BOOKING_NO_SHOW = "booking_no_show"
BOOKING_REMINDER = "booking_reminder"


class BookingSettings(Protocol):
    """The settings bookings needs (``vetrina.settings.Settings`` has them)."""

    @property
    def slot_minutes(self) -> int: ...
    @property
    def slot_capacity(self) -> int: ...
    @property
    def no_show_grace_minutes(self) -> int: ...
    @property
    def safety_stock(self) -> int: ...


@dataclass(frozen=True)
class BookingOptions:
    slot_minutes: int = 30
    capacity: int = 2  # fitting rooms / consultants per slot
    no_show_grace_minutes: int = 30
    safety_stock: int = 2
    horizon_days: int = 60  # how far ahead a slot may be booked
    max_pieces: int = 10  # pieces per booking
    reminder_time: time = time(10, 0)  # local time, the day before

    @classmethod
    def from_settings(cls, settings: BookingSettings) -> BookingOptions:
        """The options the gateway and the action server share (``VETRINA_SLOT_*``…)."""
        return cls(
            slot_minutes=settings.slot_minutes,
            capacity=settings.slot_capacity,
            no_show_grace_minutes=settings.no_show_grace_minutes,
            safety_stock=settings.safety_stock,
        )


def check_items(items: Sequence[tuple[str, int]], max_pieces: int) -> dict[str, int]:
    """``(sku, pieces)`` pairs → pieces per SKU; :class:`InvalidItems` when unusable."""
    wanted: dict[str, int] = {}
    for entry in items:
        try:
            sku, quantity = entry
        except (TypeError, ValueError):
            raise InvalidItems(f"an item is a (sku, quantity) pair, got {entry!r}") from None
        if not isinstance(sku, str) or not sku.strip():
            raise InvalidItems(f"an item needs a SKU, got {sku!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidItems(f"quantity of {sku} must be a whole number from 1, got {quantity!r}")
        wanted[sku.strip()] = wanted.get(sku.strip(), 0) + quantity
    if not wanted:
        raise InvalidItems("a try-on booking needs at least one item")
    if sum(wanted.values()) > max_pieces:
        raise InvalidItems(f"at most {max_pieces} pieces per booking")
    return wanted

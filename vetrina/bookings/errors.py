"""Why a booking request was refused, as exceptions the conversation layer can phrase.

Each carries what a good reply needs (the store, the SKU, the status), never more: a code
that does not exist and a code of another customer raise the same :class:`BookingNotFound`
with the same message, so nothing leaks about other people's bookings.
"""

from __future__ import annotations

from datetime import datetime


class BookingError(Exception):
    """Base of every refusal."""


class InvalidDate(BookingError, ValueError):
    """A day or time that does not exist ("31 febbraio", "25:00", a skipped DST hour)."""


class PastTime(BookingError, ValueError):
    def __init__(self, starts_at: datetime) -> None:
        super().__init__(f"{starts_at.isoformat()} is in the past")
        self.starts_at = starts_at


class TooFarAhead(BookingError, ValueError):
    def __init__(self, days: int) -> None:
        super().__init__(f"bookings are taken at most {days} days ahead")
        self.days = days


class NotASlot(BookingError, ValueError):
    """The store is closed then, or the time is not the start of a try-on slot."""

    def __init__(self, store_code: str, starts_at: datetime) -> None:
        super().__init__(f"no try-on slot at {store_code} starting {starts_at.isoformat()}")
        self.store_code = store_code
        self.starts_at = starts_at


class SlotFull(BookingError):
    def __init__(self, store_code: str, starts_at: datetime) -> None:
        super().__init__(f"the {starts_at.isoformat()} slot at {store_code} is full")
        self.store_code = store_code
        self.starts_at = starts_at


class StoreNotBookable(BookingError):
    """Unknown or inactive store, no try-on service, try-on switched off, or the store
    temporarily closed."""

    def __init__(self, store_code: str, reason: str) -> None:
        super().__init__(f"store {store_code!r} takes no try-on bookings: {reason}")
        self.store_code = store_code
        # "unknown", "inactive", "no_try_on", "switched_off", "temporarily_closed"
        self.reason = reason


class ItemNotBookable(BookingError):
    """An item cannot be held there: unknown SKU, none in that store, or below safety stock."""

    def __init__(self, sku: str, store_code: str, reason: str) -> None:
        super().__init__(f"{sku} cannot be held at {store_code}: {reason}")
        self.sku = sku
        self.store_code = store_code
        self.reason = reason  # "unknown_sku", "not_enough_stock"


class InvalidItems(BookingError, ValueError):
    """No items, a quantity that is not a whole number from 1, or too many pieces."""


class BookingNotFound(BookingError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no booking {code!r} for this customer")
        self.code = code


class BookingNotActive(BookingError):
    """The booking is already cancelled, completed or a no-show: nothing to change."""

    def __init__(self, code: str, status: str) -> None:
        super().__init__(f"booking {code} is {status}")
        self.code = code
        self.status = status

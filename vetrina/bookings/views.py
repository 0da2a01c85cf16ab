"""What the booking service returns: slots, bookings as the customer and the staff see
them, and the ``.ics`` of a booking. Plain frozen dataclasses, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from vetrina.bookings.calendar import CalendarEvent, render_ics
from vetrina.bookings.models import BookingStatus
from vetrina.storage.base import utcnow


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime
    free: int  # places left

    def local(self, zone: tzinfo) -> datetime:
        return self.starts_at.astimezone(zone)


@dataclass(frozen=True)
class BookedItem:
    sku: str
    product: str
    size: str
    colour: str
    quantity: int


@dataclass(frozen=True)
class BookingView:
    code: str
    status: str
    customer_id: str
    store_code: str
    store_name: str
    store_address: str
    store_timezone: str
    starts_at: datetime  # UTC
    ends_at: datetime
    channel: str | None
    items: tuple[BookedItem, ...]
    calendar_token: str
    customer_name: str | None = None

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.store_timezone))

    @property
    def local_end(self) -> datetime:
        return self.ends_at.astimezone(ZoneInfo(self.store_timezone))

    @property
    def calendar_path(self) -> str:
        """The unguessable link of the ``.ics`` (prefix it with the public URL)."""
        return f"/bookings/{self.code}/calendar.ics?t={self.calendar_token}"

    def facts(self) -> dict[str, Any]:
        """What the profile records about the booking."""
        return {
            "code": self.code,
            "store": self.store_code,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "items": [{"sku": i.sku, "quantity": i.quantity} for i in self.items],
        }


@dataclass(frozen=True)
class Reminder:
    """A reminder that is due: what bookings announces to its listener."""

    booking: BookingView
    channel: str | None  # the channel the customer last used; None: no way to reach them
    language: str | None


ReminderDue = Reminder


def ics_for(view: BookingView, *, stamp: datetime | None = None) -> str:
    times = "\N{MULTIPLICATION SIGN}"
    items = ", ".join(f"{i.product} {i.colour} {i.size} {times}{i.quantity}" for i in view.items)
    return render_ics(
        CalendarEvent(
            uid=f"{view.code}@vetrina",
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            summary=f"Prova in negozio / Try-on — {view.store_name}",
            location=f"{view.store_name}, {view.store_address}",
            description=f"Codice prenotazione / Booking code: {view.code}\n{items}",
            stamp=stamp or utcnow(),
            cancelled=view.status == BookingStatus.CANCELLED.value,
        )
    )

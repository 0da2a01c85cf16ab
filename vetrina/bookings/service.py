"""Try-on bookings: the one service object the gateway and the actions hold.

The work is split by job, each in its module, with every query in
:mod:`~vetrina.bookings.repository`:

- :mod:`~vetrina.bookings.availability`: slots and planning (places left, next free
  slots, which stores could hold a basket, the store's try-on switch);
- :mod:`~vetrina.bookings.lifecycle`: book, cancel, reschedule, add items, complete;
- :mod:`~vetrina.bookings.sweeps`: the no-show sweep;
- :mod:`~vetrina.bookings.reminders`: reminders the day before, announced to a listener
  (conversations queues the message);
- :mod:`~vetrina.bookings.read_models`: my bookings, the day sheet, the ``.ics``.

:class:`Bookings` puts them behind the names the callers already use. Every method works
for any channel: callers pass the customer id and the channel the request came from. All
refusals are :mod:`vetrina.bookings.errors`.

No overbooking, enforced by the database. One booking is one transaction that (1) takes
a place in the slot with ``UPDATE slot_usage SET used = used + 1 WHERE used < capacity``
and (2) holds each item with ``UPDATE store_stock SET reserved = reserved + q WHERE
on_hand - reserved >= q AND on_hand - reserved >= safety_stock``; a statement that
changes no row refuses the booking and the transaction rolls back. On PostgreSQL the
updates take row locks and re-check their condition after waiting; on SQLite writers are
serialised (WAL, busy timeout). Rows are always locked in the same order — slot rows (by
time), stock rows (by variant id), then the booking row — so two transactions never wait
on each other in a cycle.

Safety stock: an item is held only where it is *bookable* as the stock check shows it
(``StockLevel.bookable``: at least ``VETRINA_SAFETY_STOCK`` pieces available before the
hold), so what the bot offers and what the booking accepts agree.
"""

from __future__ import annotations

from vetrina.bookings.availability import Availability
from vetrina.bookings.lifecycle import Lifecycle
from vetrina.bookings.read_models import BookingQueries
from vetrina.bookings.reminders import ReminderListener, Reminders, queue_reminder
from vetrina.bookings.rules import (
    BOOKING_CANCELLED,
    BOOKING_COMPLETED,
    BOOKING_CREATED,
    BOOKING_ITEMS_ADDED,
    BOOKING_NO_SHOW,
    BOOKING_REMINDER,
    BOOKING_RESCHEDULED,
    REMINDER_TEMPLATE,
    TRY_ON,
    BookingOptions,
)
from vetrina.bookings.sweeps import Sweeps
from vetrina.bookings.views import BookedItem, BookingView, Reminder, ReminderDue, Slot, ics_for
from vetrina.storage.database import Database


class Bookings:
    """The booking service; one per process, sessions per call.

    ``on_reminder_due`` hears each reminder as it is claimed (default: queue the text in
    the customer's conversation).
    """

    def __init__(
        self,
        db: Database,
        options: BookingOptions | None = None,
        *,
        on_reminder_due: ReminderListener = queue_reminder,
    ) -> None:
        self._db = db
        self.options = options or BookingOptions()
        self.availability = Availability(db, self.options)
        self.lifecycle = Lifecycle(db, self.options)
        self.sweeps = Sweeps(db, self.options)
        self.reminders = Reminders(db, self.options, on_reminder_due)
        self.queries = BookingQueries(db)
        # Slots and planning
        self.slots = self.availability.slots
        self.store_zone = self.availability.store_zone
        self.next_free_slots = self.availability.next_free_slots
        self.bookable_stores = self.availability.bookable_stores
        self.set_try_on_enabled = self.availability.set_try_on_enabled
        # Lifecycle
        self.book = self.lifecycle.book
        self.cancel = self.lifecycle.cancel
        self.reschedule = self.lifecycle.reschedule
        self.add_items = self.lifecycle.add_items
        self.complete = self.lifecycle.complete
        # Periodic work
        self.release_no_shows = self.sweeps.release_no_shows
        self.due_reminders = self.reminders.due_reminders
        self.send_reminders = self.reminders.send_reminders
        # Read models
        self.get = self.queries.get
        self.my_bookings = self.queries.my_bookings
        self.day_sheet = self.queries.day_sheet
        self.calendar = self.queries.calendar
        self.calendar_token = self.queries.calendar_token


__all__ = [
    "BOOKING_CANCELLED",
    "BOOKING_COMPLETED",
    "BOOKING_CREATED",
    "BOOKING_ITEMS_ADDED",
    "BOOKING_NO_SHOW",
    "BOOKING_REMINDER",
    "BOOKING_RESCHEDULED",
    "REMINDER_TEMPLATE",
    "TRY_ON",
    "BookedItem",
    "BookingOptions",
    "BookingView",
    "Bookings",
    "Reminder",
    "ReminderDue",
    "Slot",
    "ics_for",
]

"""Reminders the day before a try-on.

Bookings decides *when* a reminder is due and claims it once (``reminder_sent_at``);
it then announces :class:`~vetrina.bookings.views.ReminderDue` to a listener, in the same
transaction, so the claim and the message commit together. The default listener,
:func:`queue_reminder`, writes the customer's text (from :mod:`vetrina.messages`) through
conversations' :func:`~vetrina.conversations.customer_data.queue_notice`: conversations
queues the message, bookings never writes outbox rows itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.bookings import repository as repo
from vetrina.bookings.rules import BOOKING_REMINDER, REMINDER_TEMPLATE, BookingOptions
from vetrina.bookings.views import BookingView, ReminderDue
from vetrina.conversations.customer_data import queue_notice
from vetrina.customers.interactions import record_interaction
from vetrina.messages import message
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

# (session, the reminder, now): queue it in the caller's transaction.
ReminderListener = Callable[[AsyncSession, ReminderDue, datetime], Awaitable[None]]


async def queue_reminder(session: AsyncSession, reminder: ReminderDue, now: datetime) -> None:
    """Queue the reminder in the outbox of the customer's last channel. On WhatsApp outside
    the 24-hour window the sender uses the approved template ``booking_reminder``
    (TWILIO_TEMPLATE_BOOKING_REMINDER) with the variables below: 1 = local date and time,
    2 = store, 3 = booking code."""
    if reminder.channel is None:
        return
    view = reminder.booking
    local = view.local_start
    text = message(
        "booking_reminder", reminder.language,
        time=f"{local:%H:%M}", store=view.store_name, address=view.store_address, code=view.code,
    )
    await queue_notice(
        session,
        customer_id=view.customer_id,
        channel=reminder.channel,
        text=text,
        payload={
            "booking_code": view.code,
            "must_send": {
                "template": REMINDER_TEMPLATE,
                "variables": {"1": f"{local:%d/%m %H:%M}", "2": view.store_name, "3": view.code},
            },
        },
        now=now,
    )


class Reminders:
    def __init__(
        self,
        db: Database,
        options: BookingOptions,
        on_due: ReminderListener = queue_reminder,
    ) -> None:
        self._db = db
        self.options = options
        self._on_due = on_due

    def remind_at(self, view: BookingView) -> datetime:
        """``reminder_time`` (store-local) the day before the booking, in UTC."""
        zone = ZoneInfo(view.store_timezone)
        day_before = view.local_start.date() - timedelta(days=1)
        return datetime.combine(day_before, self.options.reminder_time, tzinfo=zone).astimezone(
            timezone.utc
        )

    async def due_reminders(self, now: datetime | None = None) -> list[ReminderDue]:
        """Confirmed bookings to remind now: from ``reminder_time`` (local) the day before
        until the start, not yet reminded, and booked before that moment."""
        now = now or utcnow()
        async with self._db.sessions() as session:
            bookings = await repo.unreminded(session, now, now + timedelta(days=2))
            created = {b.code: b.created_at for b in bookings}
            views = await repo.views(session, bookings)
            customers = await repo.customers_by_id(session, {v.customer_id for v in views})
        due = []
        for view in views:
            remind_at = self.remind_at(view)
            if remind_at <= now and created[view.code] < remind_at:
                customer = customers.get(view.customer_id)
                due.append(
                    ReminderDue(
                        view,
                        customer.last_channel if customer else None,
                        customer.language if customer else None,
                    )
                )
        return due

    async def send_reminders(self, now: datetime | None = None) -> int:
        """Claim each due reminder once and announce it; returns how many could be sent
        (the customer has a channel)."""
        now = now or utcnow()
        queued = 0
        for reminder in await self.due_reminders(now):
            view = reminder.booking
            async with self._db.transaction() as session:
                if not await repo.claim_reminder(session, view.code, view.starts_at, now):
                    continue  # another process sent it, or the booking changed
                if reminder.channel:
                    await self._on_due(session, reminder, now)
                    queued += 1
                await record_interaction(
                    session, view.customer_id, BOOKING_REMINDER, channel=reminder.channel,
                    data={**view.facts(), "queued": bool(reminder.channel)}, at=now,
                )
        return queued

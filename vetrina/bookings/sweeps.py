"""The periodic no-show sweep: confirmed bookings whose start is past the grace period
become no-shows and their items go back to the shelf."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from vetrina.bookings import repository as repo
from vetrina.bookings.errors import BookingNotActive
from vetrina.bookings.models import Booking, BookingStatus
from vetrina.bookings.outcomes import is_checked_in
from vetrina.bookings.rules import BOOKING_NO_SHOW, BookingOptions
from vetrina.customers.interactions import record_interaction
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database


class Sweeps:
    def __init__(self, db: Database, options: BookingOptions) -> None:
        self._db = db
        self.options = options

    async def release_no_shows(self, now: datetime | None = None) -> list[str]:
        """Confirmed bookings whose start is more than the grace period ago become no-shows
        and their items are released; returns their codes."""
        now = now or utcnow()
        cutoff = now - timedelta(minutes=self.options.no_show_grace_minutes)
        async with self._db.sessions() as session:
            ids = await repo.confirmed_ids_before(session, cutoff)
        released = []
        for booking_id in ids:
            try:
                async with self._db.transaction() as session:
                    booking = await session.get_one(Booking, booking_id, with_for_update=True)
                    if await is_checked_in(session, booking.id):
                        continue  # arrived meanwhile: never a no-show
                    await repo.release_items(session, booking.id, booking.store_id)
                    await repo.leave_status(session, booking, BookingStatus.NO_SHOW, now)
                    view = replace(
                        (await repo.views(session, [booking]))[0],
                        status=BookingStatus.NO_SHOW.value,
                    )
                    await record_interaction(
                        session, booking.customer_id, BOOKING_NO_SHOW, channel=None,
                        data=view.facts(), at=now,
                    )
                    released.append(booking.code)
            except BookingNotActive:
                continue  # completed or cancelled meanwhile
        return released

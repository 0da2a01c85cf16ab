"""Reading bookings: the customer's (one, or all upcoming), the store's day sheet and the
``.ics`` behind a booking's calendar link."""

from __future__ import annotations

import hmac
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from vetrina.bookings import repository as repo
from vetrina.bookings.calendar import matches
from vetrina.bookings.errors import StoreNotBookable
from vetrina.bookings.slots import parse_day
from vetrina.bookings.views import BookingView, ics_for
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database


class BookingQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, customer_id: str, code: str) -> BookingView:
        async with self._db.sessions() as session:
            booking = await repo.owned(session, customer_id, code)
            return (await repo.views(session, [booking]))[0]

    async def my_bookings(
        self, customer_id: str, *, now: datetime | None = None, include_past: bool = False
    ) -> list[BookingView]:
        """Upcoming confirmed bookings, soonest first (all of them with ``include_past``)."""
        now = now or utcnow()
        async with self._db.sessions() as session:
            bookings = await repo.of_customer(
                session, customer_id, upcoming_after=None if include_past else now
            )
            return await repo.views(session, bookings)

    async def day_sheet(self, store_code: str, day: date | str) -> list[BookingView]:
        """A store's bookings of a local day (every status), in time order, for staff."""
        wanted = parse_day(day)
        async with self._db.sessions() as session:
            row = await repo.store_by_code(session, store_code)
            if row is None:
                raise StoreNotBookable(store_code, "unknown")
            zone = ZoneInfo(row.timezone)
            start = datetime.combine(wanted, time(0), tzinfo=zone).astimezone(timezone.utc)
            end = datetime.combine(wanted + timedelta(days=1), time(0), tzinfo=zone).astimezone(
                timezone.utc
            )
            bookings = await repo.of_store_between(session, row.id, start, end)
            return await repo.views(session, bookings, with_names=True)

    async def calendar_token(self, code: str, short_key: str) -> str | None:
        """The calendar token of booking ``code`` if ``short_key`` is its short link's key
        (:func:`~vetrina.bookings.calendar.matches`); else ``None``."""
        async with self._db.sessions() as session:
            booking = await repo.by_code(session, code)
        if booking is None or not matches(booking.calendar_token, short_key):
            return None
        return booking.calendar_token

    async def calendar(self, code: str, token: str) -> str | None:
        """The ``.ics`` of a booking, if ``token`` is its calendar token; else ``None``."""
        async with self._db.sessions() as session:
            booking = await repo.by_code(session, code)
            if booking is None or not hmac.compare_digest(
                booking.calendar_token.encode(), (token or "").encode()
            ):
                return None
            view = (await repo.views(session, [booking]))[0]
        return ics_for(view)

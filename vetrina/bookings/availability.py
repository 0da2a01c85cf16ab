"""Slots and planning: which try-on slots a store has, how many places are left, which
stores could hold a basket, and the store's try-on switch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from vetrina.bookings import repository as repo
from vetrina.bookings.errors import NotASlot, PastTime, TooFarAhead
from vetrina.bookings.rules import BookingOptions, check_items
from vetrina.bookings.slots import SlotTime, parse_day, slot_at, slots_on
from vetrina.bookings.views import Slot
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database


def bookable_slot(
    store: repo.StoreRef, starts_at: datetime, now: datetime, options: BookingOptions
) -> SlotTime:
    """The slot starting at ``starts_at``, if it can still be booked."""
    if starts_at <= now:
        raise PastTime(starts_at)
    if starts_at > now + timedelta(days=options.horizon_days):
        raise TooFarAhead(options.horizon_days)
    slot = slot_at(store.hours, starts_at, options.slot_minutes)
    if slot is None:
        raise NotASlot(store.code, starts_at)
    return slot


class Availability:
    def __init__(self, db: Database, options: BookingOptions) -> None:
        self._db = db
        self.options = options

    async def slots(
        self, store_code: str, day: date | str, *, now: datetime | None = None
    ) -> list[Slot]:
        """The store's try-on slots of a local day that are still ahead, with places left."""
        now = now or utcnow()
        wanted = parse_day(day)
        horizon = now + timedelta(days=self.options.horizon_days)
        async with self._db.sessions() as session:
            store = await repo.bookable_store(session, store_code)
            times = [
                s
                for s in slots_on(store.hours, wanted, self.options.slot_minutes)
                if now < s.starts_at <= horizon
            ]
            if not times:
                return []
            used = await repo.places_left(session, store.id, [s.starts_at for s in times])
        return [
            Slot(s.starts_at, s.ends_at, used.get(s.starts_at, self.options.capacity))
            for s in times
        ]

    async def store_zone(self, store_code: str) -> ZoneInfo:
        """The store's time zone; :class:`StoreNotBookable` when it takes no bookings."""
        async with self._db.sessions() as session:
            return (await repo.bookable_store(session, store_code)).hours.zone

    async def next_free_slots(
        self, store_code: str, *, after: datetime | None = None, limit: int = 3, days: int = 14
    ) -> list[Slot]:
        """The first free slots after ``after`` (for "that time is full: how about…")."""
        now = after or utcnow()
        async with self._db.sessions() as session:
            store = await repo.bookable_store(session, store_code)
        first_day = now.astimezone(store.hours.zone).date()
        found: list[Slot] = []
        for offset in range(days + 1):
            for slot in await self.slots(store_code, first_day + timedelta(days=offset), now=now):
                if slot.free > 0:
                    found.append(slot)
                    if len(found) >= limit:
                        return found
        return found

    async def bookable_stores(self, items: Sequence[tuple[str, int]]) -> list[str]:
        """Codes of the stores that take try-on bookings now and could hold all the items."""
        wanted = check_items(items, self.options.max_pieces)
        async with self._db.sessions() as session:
            candidates = await repo.try_on_stores(session)
            if not candidates:
                return []
            rows = await repo.stock_of(session, list(wanted), list(candidates))
        ok: dict[int, set[str]] = {}
        for store_id, sku, available in rows:
            if available >= max(wanted[sku], self.options.safety_stock):
                ok.setdefault(store_id, set()).add(sku)
        return sorted(code for id_, code in candidates.items() if ok.get(id_) == set(wanted))

    async def set_try_on_enabled(
        self, store_code: str, enabled: bool, *, actor: str | None = None
    ) -> bool:
        """The store's switch (no staff for try-ons); False if no such store. With an
        ``actor`` (the admin tools), the change is recorded with who and when."""
        async with self._db.transaction() as session:
            return await repo.set_try_on(session, store_code, enabled, utcnow(), actor)

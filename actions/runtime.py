"""What the action server shares between actions: one database, inventory and resolver.

Created lazily on the first action that needs it (the action server imports every
action module at start-up, before any event loop serves requests), from
``Settings.from_env()``: ``DATABASE_URL`` is given to the action server by
``scripts/stack.py``. The product index and store directory are built once and rebuilt
after ``RESOLVER_MAX_AGE`` seconds, so a catalog import shows up within minutes without
a restart. Tests install their own :class:`Runtime` with :func:`install`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.resolver_cache import ResolverCache
from vetrina.catalog.stock_check import StockChecker
from vetrina.settings import Settings
from vetrina.storage.database import Database

RESOLVER_MAX_AGE = 300.0  # seconds


@dataclass
class Runtime:
    db: Database
    inventory: SqlInventory
    resolvers: ResolverCache
    checker: StockChecker
    bookings: Bookings
    public_url: str  # links sent in chat (the .ics calendar file) start with it

    @classmethod
    def create(cls, settings: Settings, *, resolver_max_age: float = RESOLVER_MAX_AGE) -> Runtime:
        db = Database(settings.database_url)
        inventory = SqlInventory(db, safety_stock=settings.safety_stock)
        resolvers = ResolverCache(db, inventory, resolver_max_age)
        bookings = Bookings(db, BookingOptions.from_settings(settings))
        return cls(
            db, inventory, resolvers, StockChecker(db, inventory, resolvers.get), bookings,
            settings.public_url,
        )



_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.create(Settings.from_env())
    return _runtime


def install(runtime: Runtime | None) -> None:
    """Use ``runtime`` from now on (tests); ``None`` goes back to the lazy default."""
    global _runtime
    _runtime = runtime

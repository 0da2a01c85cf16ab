"""What the action server shares between actions: one :class:`Runtime`.

Settings, database, inventory, resolver, bookings, handoff options and the clock come
from one object, built once from one ``Settings`` (``DATABASE_URL`` is given to the
action server by ``scripts/stack.py``) on the first action that needs it: the action
server imports every action module at start-up, before any event loop serves requests,
and rasa-sdk builds the actions without arguments, so they ask :func:`get_runtime`.
Tests inject their own with :func:`install` (or :func:`using`), clock included, instead
of patching module globals. The product index and store directory are built once and
rebuilt after ``RESOLVER_MAX_AGE`` seconds, so a catalog import shows up within minutes
without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Every package that keeps rows per customer registers them when imported; linking
# merges customers here, and a merge must see every such table (customers/registry.py).
import vetrina.insights  # noqa: F401
from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.resolver_cache import ResolverCache
from vetrina.catalog.stock_check import StockChecker
from vetrina.conversations.handoff import HandoffOptions
from vetrina.conversations.routing import ConsultantHours
from vetrina.settings import Settings
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

RESOLVER_MAX_AGE = 300.0  # seconds


@dataclass
class Runtime:
    """Everything an action needs, injected: no action reads the environment itself."""

    db: Database
    inventory: SqlInventory
    resolvers: ResolverCache
    checker: StockChecker
    bookings: Bookings
    public_url: str  # links sent in chat (the .ics calendar file) start with it
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], datetime] = utcnow
    handoff: HandoffOptions | None = None  # None: from the settings

    @classmethod
    def create(cls, settings: Settings, *, resolver_max_age: float = RESOLVER_MAX_AGE) -> Runtime:
        db = Database(settings.database_url)
        inventory = SqlInventory(db, safety_stock=settings.safety_stock)
        resolvers = ResolverCache(db, inventory, resolver_max_age)
        bookings = Bookings(db, BookingOptions.from_settings(settings))
        return cls(
            db, inventory, resolvers, StockChecker(db, inventory, resolvers.get), bookings,
            settings.public_url, settings,
        )

    def now(self) -> datetime:
        return self.clock()

    @property
    def handoff_options(self) -> HandoffOptions:
        """Consultant hours and the estimate's pace (the settings unless injected)."""
        if self.handoff is None:
            self.handoff = HandoffOptions(
                ConsultantHours.parse(
                    self.settings.consultant_hours, self.settings.consultant_timezone
                ),
                self.settings.handoff_minutes_per_customer,
            )
        return self.handoff

    @property
    def link_code_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.link_code_minutes)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The action server's runtime: the installed one, else built from the environment."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.create(Settings.from_env())
    return _runtime


def install(runtime: Runtime | None) -> None:
    """Use ``runtime`` from now on (tests); ``None`` goes back to the lazy default."""
    global _runtime
    _runtime = runtime


@contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    """``runtime`` for the actions run inside the block, then the previous one again."""
    global _runtime
    previous, _runtime = _runtime, runtime
    try:
        yield runtime
    finally:
        _runtime = previous

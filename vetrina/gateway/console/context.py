"""What the console's handlers share (one :class:`Console` per app, under ``keys.CONSOLE``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vetrina.bookings.service import Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.resolver_cache import ResolverCache
from vetrina.catalog.stock_check import StockChecker
from vetrina.customers.ports import AssistantMemory
from vetrina.gateway.console.auth import CookiePolicy
from vetrina.gateway.console.desk import ConsoleDesk
from vetrina.gateway.console.login_guard import LoginGuard
from vetrina.gateway.console.proxies import TrustedProxies
from vetrina.gateway.live import LiveBus
from vetrina.storage.database import Database


@dataclass
class Console:
    db: Database
    desk: ConsoleDesk
    bus: LiveBus
    bookings: Bookings
    cookies: CookiePolicy
    stock: Callable[[], Awaitable[StockChecker]]
    guard: LoginGuard
    proxies: TrustedProxies
    memory: AssistantMemory
    # The global consultant timetable (VETRINA_CONSULTANT_HOURS): the admin page shows it
    # for stores without their own hours.
    consultant_hours: str = ""
    consultant_timezone: str = "Europe/Rome"


def lazy_stock_checker(db: Database, safety_stock: int) -> Callable[[], Awaitable[StockChecker]]:
    """The stock checker of the quick lookup, built at its first use (the product index
    takes a moment), the same way the action server builds its own."""
    built: list[StockChecker] = []

    async def get() -> StockChecker:
        if not built:
            inventory = SqlInventory(db, safety_stock=safety_stock)
            resolvers = ResolverCache(db, inventory, 300.0)
            built.append(StockChecker(db, inventory, resolvers.get))
        return built[0]

    return get

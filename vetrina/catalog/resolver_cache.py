"""A product index and store finder kept warm between stock lookups.

Building the product index reads the whole catalog, so the action server and the
console's quick stock lookup each keep one and rebuild it only after ``max_age``
seconds: a catalog import shows up within minutes without a restart.
"""

from __future__ import annotations

import asyncio
import time

from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.resolution import Resolver, StoreFinder
from vetrina.catalog.search import ProductIndex
from vetrina.storage.database import Database


class ResolverCache:
    """The product index (rebuilt every ``max_age`` seconds) and a store finder for the
    inventory's current store directory (rebuilt whenever the directory is reloaded)."""

    def __init__(self, db: Database, inventory: SqlInventory, max_age: float) -> None:
        self._db = db
        self._inventory = inventory
        self._max_age = max_age
        self._index: ProductIndex | None = None
        self._built_at = 0.0
        self._finder: StoreFinder | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Resolver:
        if self._index is None or time.monotonic() - self._built_at > self._max_age:
            async with self._lock:
                if self._index is None or time.monotonic() - self._built_at > self._max_age:
                    async with self._db.sessions() as session:
                        self._index = await ProductIndex.load(session)
                    self._built_at = time.monotonic()
        directory = await self._inventory.stores()
        if self._finder is None or self._finder.directory is not directory:
            self._finder = StoreFinder(directory)
        return Resolver(self._index, self._finder)

    def forget(self) -> None:
        self._index = None

"""Answer what waited for the assistant as soon as it is back, not after each backoff.

A message the assistant could not take is postponed with exponential backoff (up to a
minute). Once a turn has failed this way, :class:`ReadinessWatch` asks the assistant
whether it is ready every ``interval`` seconds, and the moment it is, makes the
postponed messages due and wakes the worker. While the assistant answers normally it
asks nothing. Only a "not ready" actually seen counts: if the assistant says it is ready
while turns fail (a bad answer rather than an outage), the backoff stays in charge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ReadinessWatch:
    """Polls ``ready`` (``None`` when ready, else a reason) only after ``unavailable()``."""

    def __init__(
        self,
        ready: Callable[[], Awaitable[str | None]],
        on_ready: Callable[[], Awaitable[object]],
        interval: float = 1.0,
    ) -> None:
        self._ready = ready
        self._on_ready = on_ready
        self._interval = interval
        self._down = asyncio.Event()

    def unavailable(self) -> None:
        """A turn just failed because the assistant was unavailable: start watching."""
        self._down.set()

    async def run(self) -> None:
        """Until cancelled: wait for a failure, poll until ready, then call ``on_ready``."""
        while True:
            await self._down.wait()
            self._down.clear()
            seen_down = False
            while True:
                try:
                    reason = await self._ready()
                except Exception:  # a failing check means "not ready yet", never a dead watch
                    log.exception("assistant readiness check failed")
                    reason = "check failed"
                if reason is None:
                    break
                seen_down = True
                await asyncio.sleep(self._interval)
            if not seen_down:
                continue
            log.info("assistant ready again")
            try:
                await self._on_ready()
            except Exception:
                log.exception("could not retry the messages that waited for the assistant")

"""Which turn goes to the assistant next, and how many it gets at once.

A bare Rasa server takes every request as it comes and shares its CPU among them, so at
20 busy customers each turn waits behind all the others. The gateway holds every message
durably and can do better: it lets through only as many turns as Rasa serves without
slowing down (an :class:`AdaptiveLimit`, measured, not a fixed number) and, when a slot
frees, gives it to the oldest waiting turn of any customer (:class:`TurnScheduler`), so
a customer who writes fast never keeps a slot from one who wrote earlier.

Only the assistant call takes a slot: a message for a consultant, or a fixed notice,
never waits here.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitOptions:
    initial: int = 8
    minimum: int = 2
    maximum: int = 32
    # A turn slower than ``tolerance`` x the latency floor means Rasa is queueing work.
    tolerance: float = 2.0
    # Turns over which the floor (the fastest recent turn) is taken.
    window: int = 500
    # Every so many turns, a few run at ``minimum`` to see Rasa's uncontended latency
    # again (as BBR probes for its RTT): under steady load every turn shares Rasa, and a
    # floor taken only from those would call any queue normal.
    probe_every: int = 200

    @classmethod
    def between(cls, minimum: int, maximum: int) -> LimitOptions:
        """Bounds from the settings; starts at 8 where they allow it."""
        return cls(initial=min(max(8, minimum), maximum), minimum=minimum, maximum=maximum)


class AdaptiveLimit:
    """Additive increase while turns stay near the latency floor and every slot is used;
    multiplicative decrease (at most once per round of ``limit`` turns) when they don't.

    The floor is the fastest of the last ``window`` turns, refreshed by short probes at
    the minimum, so it follows a model or a machine that got slower instead of holding
    on to one lucky sample forever.
    """

    def __init__(self, options: LimitOptions = LimitOptions()) -> None:
        if not 1 <= options.minimum <= options.initial <= options.maximum:
            raise ValueError("need 1 <= minimum <= initial <= maximum")
        self.options = options
        self._limit = float(options.initial)
        self._recent: deque[float] = deque(maxlen=options.window)
        self._since_decrease = 0
        self._turns = 0
        self._probe_left = 0

    @property
    def limit(self) -> int:
        """Turns allowed at once right now (the minimum while probing)."""
        return self.options.minimum if self._probe_left else self.adapted

    @property
    def adapted(self) -> int:
        """The limit learnt from latency, probes aside."""
        return int(self._limit)

    @property
    def floor(self) -> float | None:
        return min(self._recent) if self._recent else None

    def observe(self, seconds: float, busy: int) -> None:
        """One finished turn that took ``seconds`` while ``busy`` turns (itself included)
        were in flight when it started."""
        self._turns += 1
        if self._probe_left:  # only uncontended turns count, and they change nothing
            if busy <= self.options.minimum:
                self._recent.append(seconds)
                self._probe_left -= 1
            return
        if self._turns % self.options.probe_every == 0:
            self._probe_left = 2 * self.options.minimum
        self._recent.append(seconds)
        self._since_decrease += 1
        floor = min(self._recent)
        if seconds > floor * self.options.tolerance:
            if self._since_decrease >= self.adapted:  # one decrease per round, not per turn
                self._limit = max(float(self.options.minimum), self._limit * 0.8)
                self._since_decrease = 0
        elif busy >= self.adapted:  # grow only when the limit is what holds turns back
            self._limit = min(float(self.options.maximum), self._limit + 1 / self._limit)


class TurnScheduler:
    """Slots for assistant calls: at most ``limit.limit`` at once, lowest priority first
    (the caller passes the message id, so the oldest waiting turn wins)."""

    def __init__(
        self, limit: AdaptiveLimit | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit or AdaptiveLimit()
        self._clock = clock
        self._busy = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiting if not future.done())

    @asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        """Wait for a slot; time the work inside it (a failed call teaches nothing)."""
        await self._acquire(priority)
        busy = self._busy
        started = self._clock()
        try:
            yield
        except BaseException:
            self._release()
            raise
        self._release()
        self.limit.observe(self._clock() - started, busy)
        self._grant()

    async def _acquire(self, priority: int) -> None:
        if self._busy < self.limit.limit and not self.waiting:
            self._busy += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted just as it was cancelled: hand the slot on
            raise

    def _release(self) -> None:
        self._busy -= 1
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._busy < self.limit.limit:
            *_, future = heapq.heappop(self._waiting)
            if future.done():  # its waiter was cancelled
                continue
            self._busy += 1
            future.set_result(None)

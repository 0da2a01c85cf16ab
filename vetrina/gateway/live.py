"""Live updates between the parts of the gateway: a small publish/subscribe port.

The console's websockets subscribe to topics; whoever changes something publishes an
event (a JSON-able dict) on a topic. Delivery is best effort and at most once: a
subscriber that is gone or too slow misses events, so every console view can also
reload its state over HTTP (it does on reconnect). Order is kept per publisher.

Topics used by the console (``vetrina/gateway/console/desk.py``):

- ``queue``: a conversation entered, left or moved within a consultant queue;
  ``{"type": "queue", "conversation_id", "store_code", "status"}``.
- ``conversation``: something happened in one conversation (a message, a move);
  ``{"type": "message" | "state", "conversation_id", "owner_id", ...}``.
- ``presence``: a consultant's presence changed; ``{"type": "presence", "consultant_id",
  "presence"}``.

:class:`InProcessBus` serves one gateway process. With several instances, use an
implementation that carries events between them (e.g. Redis pub/sub): implement
:class:`LiveBus` — ``publish`` and ``subscribe``, nothing else — and pass it to
``init_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Event = dict[str, Any]


class LiveBus(Protocol):
    async def publish(self, topic: str, event: Event) -> None:
        """Send ``event`` to every current subscriber of ``topic``; never blocks on them."""

    def subscribe(self, topics: Iterable[str]) -> contextlib.AbstractAsyncContextManager[
        AsyncIterator[tuple[str, Event]]
    ]:
        """``async with bus.subscribe(["queue"]) as events: async for topic, event in events``.
        The subscription ends when the block is left."""


class Fanout:
    """This process's subscribers: bounded queues per topic; a full queue drops the event
    (a slow console must not hold up the others). Both buses deliver through it."""

    def __init__(self, max_pending: int = 1000) -> None:
        self._max_pending = max_pending
        self._subscribers: dict[str, set[asyncio.Queue[tuple[str, Event]]]] = {}

    def deliver(self, topic: str, event: Event) -> None:
        for queue in list(self._subscribers.get(topic, ())):
            try:
                queue.put_nowait((topic, event))
            except asyncio.QueueFull:
                log.warning("live subscriber too slow: dropped a %s event", topic)

    @contextlib.asynccontextmanager
    async def subscription(
        self, topics: Iterable[str]
    ) -> AsyncIterator[AsyncIterator[tuple[str, Event]]]:
        queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue(self._max_pending)
        names = list(topics)
        for name in names:
            self._subscribers.setdefault(name, set()).add(queue)

        async def events() -> AsyncIterator[tuple[str, Event]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            for name in names:
                subscribers = self._subscribers.get(name)
                if subscribers is not None:
                    subscribers.discard(queue)
                    if not subscribers:
                        del self._subscribers[name]


class InProcessBus:
    """One gateway process: a publish goes straight to this process's subscribers."""

    def __init__(self, max_pending: int = 1000) -> None:
        self._fanout = Fanout(max_pending)

    async def publish(self, topic: str, event: Event) -> None:
        self._fanout.deliver(topic, event)

    def subscribe(self, topics: Iterable[str]) -> contextlib.AbstractAsyncContextManager[
        AsyncIterator[tuple[str, Event]]
    ]:
        return self._fanout.subscription(topics)

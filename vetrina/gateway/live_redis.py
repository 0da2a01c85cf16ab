"""Live updates across gateway instances: the ``LiveBus`` port over Redis pub/sub.

With several gateway instances a consultant's console is connected to one of them while
the change it must show may happen on another. Every instance publishes on the Redis
channel ``vetrina-live:<topic>`` and listens to ``vetrina-live:*`` with one connection,
fanning events out to its own subscribers through bounded queues — the same contract as
:class:`vetrina.gateway.live.InProcessBus`: best effort, at most once, order kept per
publisher. If Redis restarts, the listener reconnects (events published meanwhile are
missed, which the port allows: consoles reload their state over HTTP on reconnect).

The composition root uses it when ``REDIS_URL`` is set, ``InProcessBus`` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable

import redis.asyncio as redis
from redis.exceptions import RedisError

from vetrina.gateway.live import Event, Fanout

log = logging.getLogger(__name__)

PREFIX = "vetrina-live:"


class RedisBus:
    def __init__(self, url: str, *, max_pending: int = 1000, prefix: str = PREFIX) -> None:
        self._url = url
        self._prefix = prefix
        self._redis = redis.Redis.from_url(url)
        self._fanout = Fanout(max_pending)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def publish(self, topic: str, event: Event) -> None:
        try:
            await self._redis.publish(self._prefix + topic, json.dumps(event, default=str))
        except (RedisError, OSError) as error:
            log.warning("live event on %s not published (Redis: %r)", topic, error)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topics: Iterable[str]
    ) -> AsyncIterator[AsyncIterator[tuple[str, Event]]]:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="live-bus-redis")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 5)
        async with self._fanout.subscription(topics) as events:
            yield events

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        channel = channel.decode() if isinstance(channel, bytes) else channel
        topic = channel[len(self._prefix):]
        try:
            event = json.loads(data)
        except ValueError:
            return
        self._fanout.deliver(topic, event)

    async def _listen(self) -> None:
        pause = 0.2
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                self._listening.set()
                pause = 0.2
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self._listening.clear()
                log.warning("live bus lost Redis (%r); reconnecting", error)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

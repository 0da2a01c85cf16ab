"""The Redis LiveBus: an event published on one gateway instance reaches subscribers on
another, and the bus keeps working after Redis restarts."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from scripts.prod import TempRedis
from tests.conftest import skip_or_fail
from vetrina.gateway.live_redis import RedisBus


def collect(events) -> asyncio.Queue:  # type: ignore[no-untyped-def,type-arg]
    """Read a subscription in a task of its own (a timed-out read must not end it)."""
    received: asyncio.Queue = asyncio.Queue()  # type: ignore[type-arg]

    async def pump() -> None:
        async for item in events:
            await received.put(item)

    received.task = asyncio.create_task(pump())  # type: ignore[attr-defined]
    return received


async def next_event(received: asyncio.Queue, timeout: float = 5):  # type: ignore[no-untyped-def,type-arg]
    return await asyncio.wait_for(received.get(), timeout)


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    server = TempRedis(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_events_cross_instances_and_survive_a_redis_restart(redis_server: TempRedis) -> None:
    one, two = RedisBus(redis_server.url), RedisBus(redis_server.url)
    try:
        async with two.subscribe(["queue"]) as queue_events, one.subscribe(["presence"]) as own:
            events, mine = collect(queue_events), collect(own)
            await one.publish("queue", {"type": "queue", "conversation_id": 7})
            assert await next_event(events) == ("queue", {"type": "queue", "conversation_id": 7})
            await two.publish("presence", {"type": "presence", "consultant_id": 3})
            assert await next_event(mine) == ("presence", {"type": "presence", "consultant_id": 3})

            redis_server.stop()
            await one.publish("queue", {"lost": True})  # best effort: no error while down
            redis_server.start()
            for _ in range(100):  # the listener reconnects with backoff
                await one.publish("queue", {"type": "queue", "conversation_id": 8})
                try:
                    topic, event = await next_event(events, 0.2)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                raise AssertionError("no event after Redis came back")
            assert (topic, event) == ("queue", {"type": "queue", "conversation_id": 8})
            events.task.cancel()
            mine.task.cancel()
    finally:
        await one.close()
        await two.close()

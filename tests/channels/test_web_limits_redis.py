"""Web chat limits shared by gateway instances through Redis: an address that spreads its
sockets over two instances is counted once; with Redis down each instance still limits."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.web.limits import MessageLimits, Window
from channels.web.limits_redis import RedisWindows
from scripts.prod import TempRedis
from tests.conftest import skip_or_fail


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[TempRedis]:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    server = TempRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def instance(url: str) -> MessageLimits:
    """One gateway's limits: 3 per socket or session, 4 per address, in 10 s."""
    return MessageLimits(Window(3, 10), Window(4, 10), RedisWindows(url))


async def test_one_address_over_two_instances_is_counted_once(redis_server: TempRedis) -> None:
    one, two = instance(redis_server.url), instance(redis_server.url)
    try:
        admitted = [
            await limits.admit(f"sock{i}", f"sess{i}", "203.0.113.9")
            for i, limits in enumerate([one, two] * 4)
        ]
        assert admitted == [True] * 4 + [False] * 4  # 4 per address, whichever instance
        # Another address is not held back by the first one's flood.
        assert await two.admit("sockX", "sessX", "198.51.100.7")
        # Concurrent attempts from one session on both instances: exactly 3 get through.
        tries = await asyncio.gather(
            *(limits.admit(f"tab{i}", "shared-session", f"192.0.2.{i}")
              for i, limits in enumerate([one, two] * 5))
        )
        assert sum(tries) == 3
    finally:
        await one.close()
        await two.close()


async def test_with_redis_down_each_instance_still_limits(redis_server: TempRedis) -> None:
    limits = instance(redis_server.url)
    try:
        redis_server.stop()
        admitted = [await limits.admit("s1", "sess1", "203.0.113.9") for _ in range(5)]
        assert admitted == [True] * 3 + [False] * 2  # the local windows, never open
    finally:
        await limits.close()

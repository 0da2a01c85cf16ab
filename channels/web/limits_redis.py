"""The web chat's message windows in Redis, for several gateway instances.

One Lua script per message: every key's sorted set is trimmed to its window, and only
if all have room is the message counted in each, so checking and counting are one atomic
step across instances (the same rule as the in-memory windows of
:mod:`channels.web.limits`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import redis.asyncio as redis

PREFIX = "vetrina-web-limit:"

# KEYS: the windows. ARGV[1] now (seconds), ARGV[2] a unique member, then per key its
# limit and window length. Returns 1 when admitted (and counted), else 0.
_ADMIT = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local seconds = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - seconds)
  if redis.call('ZCARD', key) >= limit then
    return 0
  end
end
for i, key in ipairs(KEYS) do
  local seconds = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(seconds * 1000))
end
return 1
"""


class RedisWindows:
    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._admit = self._redis.register_script(_ADMIT)
        self._clock = clock

    async def admit(self, keys: list[tuple[str, int, float]]) -> bool:
        args: list[str | int] = [repr(self._clock()), uuid.uuid4().hex]
        for _, limit, seconds in keys:
            args += [limit, repr(seconds)]
        reply = await self._admit(keys=[PREFIX + key for key, _, _ in keys], args=args)
        return bool(reply)

    async def close(self) -> None:
        await self._redis.aclose()

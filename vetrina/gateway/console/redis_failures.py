"""The login failure counter in Redis, for several gateway instances sharing ``REDIS_URL``.

Same contract as :class:`vetrina.conversations.login_failures.SqlFailureCounter`: one
Lua script per hit, so checking the block and counting are one atomic step in Redis.
Blocked account keys are also kept in a sorted set (score: blocked until) for the
admins' list.
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as redis

from vetrina.conversations.login_failures import Block, Hit, Rule

PREFIX = "vetrina-login:"
BLOCKED = PREFIX + "blocked"

# KEYS[1] the counter, KEYS[2] the blocked set; ARGV: now, window, free, first, most,
# only_if_open, the key's name. Returns {admitted, failures, blocked_until as text}.
_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local free = tonumber(ARGV[3])
local first = tonumber(ARGV[4])
local most = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'failures', 'start', 'until')
local failures = tonumber(state[1]) or 0
local start = tonumber(state[2]) or now
local blocked = tonumber(state[3]) or 0
if ARGV[6] == '1' and blocked > now then
  return {0, failures, tostring(blocked)}
end
if start < now - window then
  failures = 0
  start = now
end
failures = failures + 1
local delay = 0
if failures > free then
  delay = math.min(most, first * 2 ^ math.min(failures - free - 1, 40))
end
blocked = 0
if delay > 0 then
  blocked = now + delay
  redis.call('ZADD', KEYS[2], blocked, ARGV[7])
end
redis.call('HSET', KEYS[1], 'failures', failures, 'start', start, 'until', blocked)
redis.call('EXPIRE', KEYS[1], math.ceil(window + most))
return {1, failures, tostring(blocked)}
"""


class RedisFailureCounter:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)
        self._hit = self._redis.register_script(_HIT)

    async def hit(self, key: str, rule: Rule, now: float, *, only_if_open: bool) -> Hit:
        reply = await self._hit(
            keys=[PREFIX + key, BLOCKED],
            args=[repr(now), repr(rule.window), rule.free, repr(rule.first), repr(rule.most),
                  "1" if only_if_open else "0", key],
        )
        admitted, failures, until = cast("list[bytes | int]", reply)
        return Hit(bool(admitted), int(failures), float(until))

    async def blocked_until(self, key: str) -> float:
        until = await self._redis.hget(PREFIX + key, "until")
        return float(until or 0.0)

    async def clear(self, key: str) -> None:
        await self._redis.delete(PREFIX + key)
        await self._redis.zrem(BLOCKED, key)

    async def blocks(self, prefix: str, now: float) -> list[Block]:
        await self._redis.zremrangebyscore(BLOCKED, "-inf", repr(now))
        found: list[Block] = []
        scored = await self._redis.zrangebyscore(BLOCKED, repr(now), "+inf", withscores=True)
        for raw, until in cast("list[tuple[bytes, float]]", scored):
            key = raw.decode()
            if key.startswith(prefix):
                failures = await self._redis.hget(PREFIX + key, "failures")
                found.append(Block(key, int(failures or 0), float(until)))
        return sorted(found, key=lambda block: block.key)

    async def close(self) -> None:
        await self._redis.aclose()

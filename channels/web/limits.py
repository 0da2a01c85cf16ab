"""How many messages a web chat may send: per socket, per session and per address.

A sliding window per key. A message is let through only when every key it is counted
under (its socket, its session, its address) has room, and only then counted, so refused
attempts do not push a flooding socket's neighbours (same address, e.g. an office behind
one router) over their own limit.

In memory by default (one gateway instance). With ``REDIS_URL`` the windows live in Redis
(:mod:`channels.web.limits_redis`), so an address spreading its sockets over several
instances is counted once; if Redis is unreachable, each instance falls back to its own
windows: still limited, never open.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass
class Window:
    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        return hits

    def has_room(self, key: str) -> bool:
        return len(self._recent(key, self.clock())) < self.limit

    def count(self, key: str) -> None:
        self._recent(key, self.clock()).append(self.clock())
        if len(self._hits) > 10_000:  # forget idle keys now and then
            now = self.clock()
            for idle in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.seconds]:
                del self._hits[idle]

    def forget(self, key: str) -> None:
        self._hits.pop(key, None)


class SharedWindows(Protocol):
    """Windows shared by every gateway instance (Redis): all of ``keys`` (key, limit,
    seconds) have room, and then each is counted, as one atomic step."""

    async def admit(self, keys: list[tuple[str, int, float]]) -> bool: ...

    async def close(self) -> None: ...


@dataclass
class MessageLimits:
    per_socket: Window  # also applied per session: one chat open in several tabs
    per_address: Window
    shared: SharedWindows | None = None

    def _keys(self, sid: str, session_id: str, address: str) -> list[tuple[Window, str]]:
        return [(self.per_socket, f"sid:{sid}"), (self.per_socket, f"session:{session_id}"),
                (self.per_address, f"addr:{address}")]

    def allow(self, sid: str, session_id: str, address: str) -> bool:
        """This instance's windows only."""
        keys = self._keys(sid, session_id, address)
        if not all(window.has_room(key) for window, key in keys):
            return False
        for window, key in keys:
            window.count(key)
        return True

    async def admit(self, sid: str, session_id: str, address: str) -> bool:
        """The shared windows when there are some (the local ones if they fail)."""
        if self.shared is not None:
            keys = self._keys(sid, session_id, address)
            try:
                return await self.shared.admit(
                    [(key, window.limit, window.seconds) for window, key in keys]
                )
            except Exception:  # Redis down: limited per instance meanwhile, never open
                log.warning("shared web chat limits unavailable; counting locally")
        return self.allow(sid, session_id, address)

    def forget_socket(self, sid: str) -> None:
        self.per_socket.forget(f"sid:{sid}")

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()


def _trusted(address: str, proxies: Collection[str]) -> bool:
    """``address`` is one of ``proxies`` (addresses or networks, as in settings)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def client_address(environ: dict[str, object], trusted_proxies: Collection[str]) -> str:
    """The peer's address; behind a trusted proxy, the first untrusted hop of
    ``X-Forwarded-For`` (read right to left, as proxies append)."""
    request = environ.get("aiohttp.request")
    peer = getattr(request, "remote", None) or str(environ.get("REMOTE_ADDR") or "unknown")
    if not _trusted(str(peer), trusted_proxies):
        return str(peer)
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _trusted(hop, trusted_proxies):
            return hop
    return str(peer)

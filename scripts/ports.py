"""Free TCP ports for servers that start later (test stacks, benchmarks, ``run-prod``).

Why not ``bind(("127.0.0.1", 0))``: the kernel hands out a port from its *ephemeral*
range, the same range it uses for the local end of every outgoing connection. A port
chosen now and listened on a minute later (a Rasa server loads its model first) can
meanwhile become the local port of a connection to PostgreSQL or Redis, and the server
then fails to bind: a rare, timing-dependent failure. Ports here come from below that
range, are checked to be bindable, and are never handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000
_given: set[int] = set()
_lock = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default if unknown)."""
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port no server listens on, outside the ephemeral range, new to this process."""
    low = ephemeral_range()[0]
    top = low - 1 if low - 1 > _LOWEST + 1000 else 32767
    with _lock:
        for _ in range(500):
            port = random.randint(_LOWEST, top)  # noqa: S311 (not a secret)
            if port not in _given and _bindable(port):
                _given.add(port)
                return port
    raise RuntimeError(f"no free TCP port between {_LOWEST} and {top}")

"""Waiting for a wake-up or a poll interval, whichever comes first, in a worker loop.

``asyncio.wait_for(event.wait(), timeout)`` is the obvious way, and on Python 3.10 it
is wrong for a loop that must stop when cancelled: if the task is cancelled in the same
moment the event is set, ``wait_for`` returns normally and the cancellation is lost
(bpo-42130, fixed in 3.12). The worker then loops for ever and whoever awaits it (the
gateway's shutdown) hangs. :func:`wait_for_wake` cannot lose a cancellation.
"""

from __future__ import annotations

import asyncio


async def wait_for_wake(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set.

    A cancellation always propagates, whether or not the event was set meanwhile."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)

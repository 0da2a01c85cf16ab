"""The gateway's worker loops stop when cancelled, even when woken at the same moment.

On Python 3.10 ``asyncio.wait_for(event.wait(), timeout)`` returns normally when the
task is cancelled in the same loop iteration that sets the event, so a worker loop built
on it kept running and the gateway's shutdown hung (a CI timeout at teardown on
PostgreSQL, where LISTEN/NOTIFY wakes the outbox). Each case sets the event and cancels
in the same iteration; the old loop never finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.fakes import FakeAssistant, RecordingNotifier
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.processing import TurnProcessor
from vetrina.storage.database import Database
from vetrina.wakeup import wait_for_wake


async def _cancel_while_woken(run: Awaitable[None], wake: Callable[[], None]) -> None:
    task = asyncio.ensure_future(run)
    await asyncio.sleep(0.3)  # idle, waiting for a wake-up
    wake()
    task.cancel()  # in the same loop iteration as the wake-up
    done, _ = await asyncio.wait({task}, timeout=3)
    assert done, "the worker ignored its cancellation and kept running"
    assert task.cancelled()


async def test_wait_for_wake_cannot_lose_a_cancellation() -> None:
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            event.clear()
            await wait_for_wake(event, 5)

    await _cancel_while_woken(loop(), event.set)


async def test_wait_for_wake_reports_a_wake_and_a_timeout() -> None:
    event = asyncio.Event()
    assert await wait_for_wake(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_for_wake(event, 5) is True


async def test_the_outbox_stops_when_cancelled_as_it_is_woken(sqlite_db: Database) -> None:
    outbox = Outbox(sqlite_db, {}, poll_interval=5)
    await _cancel_while_woken(outbox.run(), outbox.wake)


async def test_the_turn_processor_stops_when_cancelled_as_it_is_woken(
    sqlite_db: Database,
) -> None:
    async def replies_stored(_customer_id: str) -> None:
        return None

    processor = TurnProcessor(sqlite_db, FakeAssistant(), RecordingNotifier(), replies_stored)
    await _cancel_while_woken(processor.run(), processor.wake)

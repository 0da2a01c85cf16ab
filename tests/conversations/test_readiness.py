"""When the assistant comes back, what waited for it is answered at once, not after its
backoff (issue 16, part 5); a ready assistant that still fails turns keeps the backoff."""

from __future__ import annotations

import asyncio
import time

from tests.conversations.test_processing import messages
from tests.fakes import FakeAssistant, RecordingNotifier, RecordingSender
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.processing import ProcessingOptions, TurnProcessor
from vetrina.conversations.readiness import ReadinessWatch
from vetrina.storage.database import Database

# Long enough that an answer within a few seconds can only come from the wake-up.
SLOW_BACKOFF = Backoff(30, 60)


async def wait_for(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return False


async def run_worker(
    db: Database, assistant: FakeAssistant, ready_when_down: bool
) -> tuple[TurnProcessor, RecordingSender, list[asyncio.Task[None]], list[str]]:
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender}, backoff=Backoff(0.01, 0.02))
    checks: list[str] = []

    async def ready() -> str | None:
        answer = None if (ready_when_down or not assistant.down) else "unreachable"
        checks.append(answer or "ok")
        return answer

    async def replies_stored(_customer_id: str) -> None:
        await outbox.deliver_due()

    watch = ReadinessWatch(ready, lambda: processor.retry_postponed_now(), interval=0.05)
    processor = TurnProcessor(
        db, assistant, RecordingNotifier(), replies_stored,
        ProcessingOptions(poll_interval=0.1, notice_after=0.2, backoff=SLOW_BACKOFF),
        on_unavailable=watch.unavailable,
    )
    tasks = [asyncio.create_task(processor.run()), asyncio.create_task(watch.run())]
    return processor, sender, tasks, checks


async def stop(processor: TurnProcessor, tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await processor.stop()


async def postponed(db: Database) -> bool:
    return any(m.attempts >= 1 and m.status == "processing" for m in await messages(db, "in"))


async def test_messages_waiting_for_the_assistant_are_answered_as_soon_as_it_is_ready(
    db: Database,
) -> None:
    inbox = Inbox(db)
    assistant = FakeAssistant(down=True)
    processor, sender, tasks, checks = await run_worker(db, assistant, ready_when_down=False)
    try:
        for i in range(3):
            await inbox.receive(InboundMessage("web", f"waiting-{i}", f"ciao {i}", f"w:{i}"))
        processor.wake()
        assert await wait_for(lambda: postponed(db), 5)
        await asyncio.sleep(0.3)  # the watch polls meanwhile and sees "not ready"
        assert "unreachable" in checks

        assistant.down = False
        back = time.monotonic()
        assert await wait_for(lambda: _all_answered(sender, 3), 5), sender.sent
        assert time.monotonic() - back < 5 < SLOW_BACKOFF.base / 2
        assert sorted(m.text for m in sender.sent) == [f"echo: ciao {i}" for i in range(3)]
        assert all(m.status == "processed" for m in await messages(db, "in"))
    finally:
        await stop(processor, tasks)


async def test_a_ready_assistant_that_fails_turns_keeps_the_backoff(db: Database) -> None:
    assistant = FakeAssistant(down=True)
    processor, sender, tasks, checks = await run_worker(db, assistant, ready_when_down=True)
    try:
        await Inbox(db).receive(InboundMessage("web", "still-failing", "ciao", "f:1"))
        processor.wake()
        assert await wait_for(lambda: postponed(db), 5)
        await asyncio.sleep(1.0)
        [stored] = await messages(db, "in")
        assert stored.attempts == 1  # no retry loop: the backoff (>= 15 s) still applies
        assert checks and set(checks) == {"ok"}
        assert sender.sent == []
    finally:
        await stop(processor, tasks)


async def _all_answered(sender: RecordingSender, count: int) -> bool:
    return len(sender.sent) >= count

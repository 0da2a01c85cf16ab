"""The worker: order per customer, retries while the assistant is down, resume after a crash."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import select

from tests.fakes import FakeAssistant, RecordingNotifier, RecordingSender
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.ports import BotReply, DeliveryError
from vetrina.conversations.processing import ProcessingOptions, TurnProcessor
from vetrina.conversations.scheduling import LimitOptions
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

FAST = ProcessingOptions(notice_after=0.2, backoff=Backoff(0.01, 0.02))


def make_processor(
    db: Database, assistant: FakeAssistant, notifier: RecordingNotifier | None = None
) -> tuple[TurnProcessor, Outbox, RecordingSender]:
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender}, backoff=Backoff(0.01, 0.02))

    async def replies_stored(_customer_id: str) -> None:
        await outbox.deliver_due()

    processor = TurnProcessor(db, assistant, notifier or RecordingNotifier(), replies_stored, FAST)
    return processor, outbox, sender


async def messages(db: Database, direction: str) -> list[Message]:
    async with db.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Message).where(Message.direction == direction).order_by(Message.id)
                )
            ).all()
        )


async def test_each_customer_is_answered_in_order(db: Database) -> None:
    inbox = Inbox(db)
    for i in range(6):
        for customer in ("anna-session", "bruno-session"):
            await inbox.receive(InboundMessage("web", customer, f"{customer} {i}", f"{customer}:{i}"))

    class Jittery(FakeAssistant):
        async def reply(self, turn):  # type: ignore[no-untyped-def]
            await asyncio.sleep(random.uniform(0, 0.02))
            return await super().reply(turn)

    assistant = Jittery()
    processor, _, sender = make_processor(db, assistant)
    await processor.drain()

    for customer in ("anna-session", "bruno-session"):
        asked = [t.text for t in assistant.calls if t.text.startswith(customer)]
        assert asked == [f"{customer} {i}" for i in range(6)]
        delivered = [m.text for m in sender.sent if m.text.startswith(f"echo: {customer}")]
        assert delivered == [f"echo: {customer} {i}" for i in range(6)]
    assert all(m.status == "processed" for m in await messages(db, "in"))
    outbound = await messages(db, "out")
    assert len(outbound) == 12 and all(m.status == "sent" for m in outbound)


async def test_assistant_down_keeps_message_and_answers_once_when_back(db: Database) -> None:
    received = await Inbox(db).receive(InboundMessage("web", "carla-session", "ciao", "c:1"))
    assistant = FakeAssistant(down=True)
    notifier = RecordingNotifier()
    processor, _, sender = make_processor(db, assistant, notifier)

    await processor.drain()
    await asyncio.sleep(0.05)
    await processor.drain()
    [stored] = await messages(db, "in")
    assert stored.status == "processing" and stored.attempts == 2
    assert "down" in (stored.last_error or "")
    assert notifier.notices == [(received.customer_id, "web", "it")]  # told once, not per retry
    assert await messages(db, "out") == []

    assistant.down = False
    await asyncio.sleep(0.05)
    await processor.drain()
    await processor.drain()
    assert [t.text for t in assistant.calls] == ["ciao"]
    assert [m.text for m in sender.sent] == ["echo: ciao"]
    [stored] = await messages(db, "in")
    assert stored.status == "processed" and stored.last_error is None


async def test_slow_assistant_triggers_one_delay_notice(db: Database) -> None:
    await Inbox(db).receive(InboundMessage("web", "dario-session", "hello there", "d:1"))
    notifier = RecordingNotifier()
    processor, _, sender = make_processor(db, FakeAssistant(delay=0.4), notifier)
    await processor.drain()
    assert len(notifier.notices) == 1 and notifier.notices[0][2] == "en"
    assert [m.text for m in sender.sent] == ["echo: hello there"]


async def test_crash_after_assistant_answered_does_not_answer_twice(db: Database) -> None:
    """A worker died after Rasa answered but before the replies were stored."""
    received = await Inbox(db).receive(InboundMessage("web", "elena-session", "ciao", "e:1"))
    async with db.transaction() as session:
        message = await session.get_one(Message, received.message_id)
        message.status, message.attempts = "processing", 1
    assistant = FakeAssistant(handled={received.message_id: [BotReply("Ciao! Sono l'assistente")]})

    processor, _, sender = make_processor(db, assistant)  # the restarted process
    await processor.drain()

    assert assistant.calls == []  # not sent to the assistant again
    assert assistant.recover_calls == [received.message_id]
    assert [m.text for m in sender.sent] == ["Ciao! Sono l'assistente"]


async def test_crash_before_assistant_saw_the_turn_sends_it_once(db: Database) -> None:
    received = await Inbox(db).receive(InboundMessage("web", "fabio-session", "ciao", "f:1"))
    async with db.transaction() as session:
        message = await session.get_one(Message, received.message_id)
        message.status, message.attempts = "processing", 1
    assistant = FakeAssistant()
    processor, _, sender = make_processor(db, assistant)
    await processor.drain()
    assert [t.message_id for t in assistant.calls] == [received.message_id]
    assert [m.text for m in sender.sent] == ["echo: ciao"]


async def test_undelivered_replies_are_sent_after_restart_exactly_once(db: Database) -> None:
    await Inbox(db).receive(InboundMessage("web", "gina-session", "ciao", "g:1"))
    assistant = FakeAssistant()
    first_sender = RecordingSender(failures=[DeliveryError("socket gone", transient=True)])
    outbox = Outbox(db, {"web": first_sender}, backoff=Backoff(0.01, 0.02))

    async def replies_stored(_customer_id: str) -> None:
        await outbox.deliver_due()

    await TurnProcessor(db, assistant, RecordingNotifier(), replies_stored, FAST).drain()
    [reply] = await messages(db, "out")
    assert reply.status == "pending" and reply.attempts == 1  # process "dies" here

    await asyncio.sleep(0.05)
    second_sender = RecordingSender()
    restarted = Outbox(db, {"web": second_sender}, backoff=Backoff(0.01, 0.02))
    assert await restarted.deliver_due() == 1
    assert await restarted.deliver_due() == 0
    assert [m.text for m in second_sender.sent] == ["echo: ciao"]
    [reply] = await messages(db, "out")
    assert reply.status == "sent" and reply.provider_message_id == f"provider-{reply.id}"


async def test_final_delivery_error_is_recorded_not_retried(db: Database) -> None:
    await Inbox(db).receive(InboundMessage("web", "ugo-session", "ciao", "u:1"))
    sender = RecordingSender(failures=[DeliveryError("number does not exist", transient=False)])
    outbox = Outbox(db, {"web": sender})

    async def replies_stored(_customer_id: str) -> None:
        await outbox.deliver_due()

    await TurnProcessor(db, FakeAssistant(), RecordingNotifier(), replies_stored, FAST).drain()
    [reply] = await messages(db, "out")
    assert reply.status == "failed" and "does not exist" in (reply.last_error or "")
    assert await outbox.deliver_due() == 0


async def test_later_messages_wait_for_an_earlier_retry(db: Database) -> None:
    inbox = Inbox(db)
    await inbox.receive(InboundMessage("web", "ivo-session", "uno", "i:1"))
    await inbox.receive(InboundMessage("web", "ivo-session", "due", "i:2"))
    assistant = FakeAssistant(down=True)
    processor, _, _ = make_processor(db, assistant)
    await processor.drain()
    first, second = await messages(db, "in")
    assert first.status == "processing" and second.status == "received"
    assert second.attempts == 0  # not overtaken while the first one waits
    assert first.next_attempt_at > utcnow() - timedelta(seconds=1)


async def test_auto_reply_message_is_answered_by_its_notice_without_the_assistant(
    db: Database,
) -> None:
    await Inbox(db).receive(
        InboundMessage(
            "web", "lia-session", "[story mention]", "l:1",
            metadata={"auto_reply": "story_mention", "language": "en"},
        )
    )
    assistant = FakeAssistant()
    processor, _, sender = make_processor(db, assistant)
    await processor.drain()
    assert assistant.calls == []
    [reply] = sender.sent
    assert reply.text.startswith("Thanks for mentioning us in your story")
    [inbound] = await messages(db, "in")
    assert inbound.status == "processed"


async def test_a_fast_writer_keeps_no_slot_from_a_customer_who_wrote_later(db: Database) -> None:
    """One assistant slot, one worker: Anna's 8 queued messages go one turn at a time,
    and Bruno's single message (received after all of hers) is answered second, not
    ninth; each customer's own order still holds."""
    inbox = Inbox(db)
    for i in range(8):
        await inbox.receive(InboundMessage("web", "anna-session", f"anna {i}", f"a:{i}"))
    await inbox.receive(InboundMessage("web", "bruno-session", "bruno 0", "b:0"))

    class Slow(FakeAssistant):
        async def reply(self, turn):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            return await super().reply(turn)

    assistant = Slow()
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender}, backoff=Backoff(0.01, 0.02))

    async def replies_stored(_customer_id: str) -> None:
        await outbox.deliver_due()

    one = ProcessingOptions(
        concurrency=1, notice_after=5, backoff=Backoff(0.01, 0.02),
        assistant=LimitOptions(initial=1, minimum=1, maximum=1),
    )
    processor = TurnProcessor(db, assistant, RecordingNotifier(), replies_stored, one)
    await processor.drain()

    asked = [t.text for t in assistant.calls]
    assert asked.index("bruno 0") <= 1, asked
    assert [text for text in asked if text.startswith("anna")] == [f"anna {i}" for i in range(8)]
    assert processor.scheduler.busy == 0


async def test_a_consultants_chat_never_waits_behind_turns_waiting_for_the_assistant(
    db: Database,
) -> None:
    """One worker, and it is stuck in a slow assistant call for Anna: Bruno's chat is
    held by a consultant, so his message reaches the desk meanwhile (the live path has
    no Rasa work on it and takes no worker)."""
    from tests.conversations.test_handoff import ALWAYS, PASSWORD, _stores
    from vetrina.conversations import handoff
    from vetrina.conversations.consultants import create_consultant
    from vetrina.conversations.handoff import ASSISTANT, Reason
    from vetrina.conversations.ports import Turn

    await _stores(db, "MI")
    inbox = Inbox(db)
    bruno = (await inbox.receive(InboundMessage("web", "bruno-session", "ciao", "b:0"))).customer_id
    mara = await create_consultant(db, "mara@example.com", "Mara", PASSWORD, stores=["MI"])
    asked = await handoff.request_consultant(
        db, bruno, reason=Reason.CUSTOMER_ASKED, actor=ASSISTANT, options=ALWAYS, store_hint="mi"
    )
    await handoff.claim(db, asked.conversation_id, mara.id)

    release = asyncio.Event()

    class Stuck(FakeAssistant):
        async def reply(self, turn):  # type: ignore[no-untyped-def]
            await release.wait()
            return await super().reply(turn)

    class Desk:
        def __init__(self) -> None:
            self.taken: list[str] = []
            self.arrived = asyncio.Event()

        async def take(self, turn: Turn) -> bool:
            state = await handoff.conversation_of_customer(db, turn.customer_id)
            if state is None or state.status != handoff.WITH_CONSULTANT:
                return False
            self.taken.append(turn.text)
            self.arrived.set()
            return True

    desk = Desk()
    one_worker = ProcessingOptions(
        concurrency=1, notice_after=30, backoff=Backoff(0.01, 0.02),
        assistant=LimitOptions(initial=1, minimum=1, maximum=1),
    )

    async def nothing(_customer_id: str) -> None:
        return None

    processor = TurnProcessor(db, Stuck(), RecordingNotifier(), nothing, one_worker, desk=desk)
    await processor.drain()  # Bruno's first "ciao" went to the desk already
    desk.taken.clear()
    desk.arrived.clear()
    await inbox.receive(InboundMessage("web", "anna-session", "anna 0", "a:0"))
    running = asyncio.create_task(processor.run())
    try:
        for _ in range(200):  # Anna's turn holds the only worker, stuck in the assistant
            if processor.scheduler.busy == 1:
                break
            await asyncio.sleep(0.01)
        assert processor.scheduler.busy == 1
        await inbox.receive(InboundMessage("web", "bruno-session", "bruno 1", "b:1"))
        processor.wake()
        await asyncio.wait_for(desk.arrived.wait(), 5)
        assert desk.taken == ["bruno 1"]
    finally:
        release.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await processor.stop()

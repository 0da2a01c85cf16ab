"""The outbox takes only due work, and is woken across instances (issue 17, part 8)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from tests.fakes import RecordingSender
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Author, Message, OutboundStatus
from vetrina.conversations.outbox import Outbox, due_customers
from vetrina.conversations.outbox_notify import listen_for_outbound
from vetrina.conversations.writing import conversation_for, pending_outbound
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database


async def customer(db: Database, name: str) -> str:
    received = await Inbox(db).receive(InboundMessage("web", name, "ciao", f"in-{name}"))
    return received.customer_id


async def store_replies(
    db: Database, customer_id: str, texts: list[str], *, due_in: float = 0
) -> None:
    now = utcnow()
    async with db.transaction() as session:
        conversation = await conversation_for(session, customer_id)
        for reply in texts:
            message = pending_outbound(
                conversation_id=conversation.id,
                customer_id=customer_id,
                channel="web",
                author=Author.BOT.value,
                text=reply,
                payload={},
                now=now,
            )
            message.next_attempt_at = now + timedelta(seconds=due_in)
            session.add(message)


async def test_a_backlog_of_not_due_retries_does_not_hide_a_due_reply(db: Database) -> None:
    """250 retries an hour away (Instagram rate-limited), stored first; one due reply last."""
    waiting = [await customer(db, f"waiting-{i}") for i in range(50)]
    for customer_id in waiting:
        await store_replies(db, customer_id, [f"later {n}" for n in range(5)], due_in=3600)
    due = await customer(db, "due")
    await store_replies(db, due, ["now"])
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender}, batch_size=200)

    assert await outbox.deliver_due() == 1
    assert [(m.customer_id, m.text) for m in sender.sent] == [(due, "now")]
    async with db.sessions() as session:
        pending = await session.scalar(
            select(text("count(*)"))
            .select_from(Message)
            .where(Message.status == OutboundStatus.PENDING.value)
        )
    assert pending == 250  # the backlog is untouched, still waiting for its time


async def test_one_customers_backlog_does_not_hide_others(db: Database) -> None:
    """300 due messages of one customer take one place in the scan, not 200."""
    busy = await customer(db, "busy")
    await store_replies(db, busy, [f"m{n}" for n in range(300)])
    other = await customer(db, "other")
    await store_replies(db, other, ["hello"])
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender}, batch_size=200)

    await outbox.deliver_due()  # one round
    assert "hello" in [m.text for m in sender.sent]


async def test_a_due_reply_waits_behind_the_customers_older_retry(db: Database) -> None:
    """Order per customer: a newer due message never overtakes an older one that waits."""
    anna = await customer(db, "anna")
    await store_replies(db, anna, ["first"], due_in=3600)
    await store_replies(db, anna, ["second"])
    sender = RecordingSender()
    outbox = Outbox(db, {"web": sender})
    assert await outbox.deliver_due() == 0 and sender.sent == []
    async with db.sessions() as session:
        assert list((await session.scalars(due_customers(utcnow(), 200))).all()) == []


async def test_the_scan_reads_due_rows_through_an_index(db: Database) -> None:
    """With a history of sent messages and a backlog of retries, analysed: the scan is a
    range on ``next_attempt_at`` in an index, and the oldest-pending check is one seek."""
    waiting = [await customer(db, f"waiting-{i}") for i in range(20)]
    for customer_id in waiting:
        await store_replies(db, customer_id, [f"later {n}" for n in range(10)], due_in=3600)
        await store_replies(db, customer_id, [f"old {n}" for n in range(40)])
    async with db.transaction() as session:  # the history: sent long ago
        await session.execute(text("UPDATE messages SET status = 'sent' WHERE text LIKE 'old %'"))
    await store_replies(db, await customer(db, "due"), ["now"])
    statement = due_customers(utcnow(), 200)
    async with db.sessions() as session:
        await session.execute(text("ANALYZE"))
        compiled = statement.compile(
            dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}
        )
        explain = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN"
        rows = (await session.execute(text(f"{explain} {compiled}"))).all()
    plan = " ".join(str(row[-1] if db.is_sqlite else row[0]) for row in rows)
    if db.is_sqlite:
        assert "USING INDEX" in plan and "next_attempt_at<" in plan, plan
        assert "SCAN messages" not in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "next_attempt_at <=" in plan and "Index Cond" in plan, plan
    assert "ix_messages_outbox_customer" in plan, plan


async def test_another_instance_is_woken_by_notify_long_before_its_poll(
    postgres_server: str,
) -> None:
    """Two outboxes on one PostgreSQL database, polling every 60 s: a reply stored through
    the first instance's database reaches the second's sender within a few seconds."""
    from tests.conftest import _reset_postgres
    from vetrina.storage.migrate import upgrade_async

    await _reset_postgres(postgres_server)
    await upgrade_async(postgres_server)
    first_db, second_db = Database(postgres_server), Database(postgres_server)
    first_sender, second_sender = RecordingSender(), RecordingSender()
    first = Outbox(first_db, {"web": first_sender}, poll_interval=60)
    second = Outbox(second_db, {"web": second_sender}, poll_interval=60)
    listening = asyncio.Event()
    tasks = [
        asyncio.create_task(second.run()),
        asyncio.create_task(
            listen_for_outbound(second_db, second.wake, on_listening=listening.set)
        ),
    ]
    try:
        await asyncio.wait_for(listening.wait(), 10)
        await asyncio.sleep(0.3)  # the second outbox's first round (nothing to do) is over
        anna = await customer(first_db, "anna")
        started = asyncio.get_running_loop().time()
        await store_replies(first_db, anna, ["from the other instance"])  # nobody calls wake()
        while not second_sender.sent:
            assert asyncio.get_running_loop().time() - started < 10, "not woken"
            await asyncio.sleep(0.02)
        elapsed = asyncio.get_running_loop().time() - started
        assert [m.text for m in second_sender.sent] == ["from the other instance"]
        assert elapsed < 5, elapsed  # the poll interval is 60 s
        assert first_sender.sent == []  # the first outbox never ran
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await first_db.dispose()
        await second_db.dispose()
    _ = first


async def test_a_rolled_back_store_wakes_nobody(postgres_server: str) -> None:
    """NOTIFY is sent on commit only: a transaction that fails notifies no one.

    A rolled-back store, then a committed one: notifications arrive in commit order, so
    had the first one been sent it would be seen before (or with) the second.
    """
    from tests.conftest import _reset_postgres
    from vetrina.storage.migrate import upgrade_async

    await _reset_postgres(postgres_server)
    await upgrade_async(postgres_server)
    db = Database(postgres_server)
    woken: list[float] = []
    arrived = asyncio.Event()
    listening = asyncio.Event()

    def wake() -> None:
        woken.append(asyncio.get_running_loop().time())
        arrived.set()

    task = asyncio.create_task(listen_for_outbound(db, wake, on_listening=listening.set))
    try:
        await asyncio.wait_for(listening.wait(), 10)
        anna = await customer(db, "anna")
        woken.clear()
        arrived.clear()
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                conversation = await conversation_for(session, anna)
                session.add(
                    pending_outbound(
                        conversation_id=conversation.id,
                        customer_id=anna,
                        channel="web",
                        author=Author.BOT.value,
                        text="never",
                        payload={},
                        now=utcnow(),
                    )
                )
                await session.flush()
                raise RuntimeError("rolled back")
        await store_replies(db, anna, ["kept"])
        await asyncio.wait_for(arrived.wait(), 10)
        # Let the listener drain anything else PostgreSQL had already sent with it.
        await asyncio.sleep(0.2)
        assert len(woken) == 1  # the committed store only
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()


class LostLocks:
    """Every worker is told it holds the lock: what two instances see when PostgreSQL
    restarts under one of them (its lock ended with its connection, it does not know)."""

    @contextlib.asynccontextmanager
    async def hold(self, _scope: str, _name: str):  # type: ignore[no-untyped-def]
        yield True


async def test_a_message_being_sent_is_not_sent_again_by_an_instance_that_took_the_lock(
    db: Database,
) -> None:
    """Instance A is inside the provider call when its lock is lost; instance B now holds
    the customer's lock and delivers. B must leave A's message alone (the row's claim),
    and send it only if A never records an outcome (the lease runs out)."""
    db.locks = LostLocks()
    customer_id = await customer(db, "in-flight")
    await store_replies(db, customer_id, ["first", "second"])
    in_provider, release = asyncio.Event(), asyncio.Event()

    class SlowProvider(RecordingSender):
        async def send(self, message):  # type: ignore[no-untyped-def]
            in_provider.set()
            await release.wait()
            return await super().send(message)

    provider = SlowProvider()
    instance_a = Outbox(db, {"web": provider})
    instance_b = Outbox(db, {"web": provider})
    a_round = asyncio.create_task(instance_a.deliver_due())
    await asyncio.wait_for(in_provider.wait(), 5)

    # "first" is A's, and "second" waits behind it. (Before the claim, B sent "first"
    # again: into the provider call that A is still inside, so this wait ran out.)
    assert await asyncio.wait_for(instance_b.deliver_due(), 5) == 0
    release.set()
    assert await a_round == 2
    assert [m.text for m in provider.sent] == ["first", "second"]
    assert await instance_b.deliver_due() == 0
    assert [m.text for m in provider.sent] == ["first", "second"]

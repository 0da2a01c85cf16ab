"""Several gateway instances on one PostgreSQL database: each message is answered and
delivered once, in order per customer; a dead instance's locks are free at once; and
migrations started together run once."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

import pytest
import pytest_asyncio
from sqlalchemy import select, text

from tests.conftest import _reset_postgres
from tests.fakes import FakeAssistant, RecordingNotifier
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.ports import BotReply, OutboundView, Turn
from vetrina.conversations.processing import ProcessingOptions, TurnProcessor
from vetrina.storage.database import Database
from vetrina.storage.locks import ProcessLocks, lock_key
from vetrina.storage.migrate import upgrade_async

pytestmark = pytest.mark.postgres

FAST = ProcessingOptions(notice_after=5, backoff=Backoff(0.01, 0.02))
CUSTOMERS = [f"shared-customer-{n}" for n in range(6)]
PER_CUSTOMER = 6


@pytest_asyncio.fixture
async def pg_url(postgres_server: str) -> str:
    await _reset_postgres(postgres_server)
    await upgrade_async(postgres_server)
    return postgres_server


class Log:
    """One record, across instances, of what reached the assistant and the customer."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Turn]] = []
        self.delivered: list[tuple[str, OutboundView]] = []


class Jittery(FakeAssistant):
    def __init__(self, name: str, log: Log) -> None:
        super().__init__()
        self.name, self.log = name, log

    async def reply(self, turn: Turn) -> list[BotReply]:
        self.log.asked.append((self.name, turn))
        await asyncio.sleep(random.uniform(0, 0.01))
        return [BotReply(text=f"echo: {turn.text}")]


class SlowSender:
    def __init__(self, name: str, log: Log) -> None:
        self.name, self.log = name, log

    async def send(self, message: OutboundView) -> str | None:
        await asyncio.sleep(random.uniform(0, 0.005))
        self.log.delivered.append((self.name, message))
        return None


async def test_two_instances_answer_and_deliver_each_message_once_in_order(pg_url: str) -> None:
    inbox_db = Database(pg_url)
    inbox = Inbox(inbox_db)
    for i in range(PER_CUSTOMER):
        for customer in CUSTOMERS:
            await inbox.receive(InboundMessage("web", customer, f"{customer} {i}", f"{customer}:{i}"))
    await inbox_db.dispose()

    log = Log()
    instances = []
    for name in ("a", "b"):
        db = Database(pg_url)  # each instance its own engine, as in its own process
        outbox = Outbox(db, {"web": SlowSender(name, log)}, backoff=Backoff(0.01, 0.02))

        async def stored(_customer: str, outbox: Outbox = outbox) -> None:
            await outbox.deliver_due()

        processor = TurnProcessor(db, Jittery(name, log), RecordingNotifier(), stored, FAST)
        instances.append((db, processor, outbox))

    # Both instances go through every due customer at the same time, several rounds.
    for _ in range(3):
        await asyncio.gather(*(p.drain() for _, p, _ in instances))
        await asyncio.gather(*(o.deliver_due() for _, _, o in instances))

    asked_ids = [turn.message_id for _, turn in log.asked]
    assert len(asked_ids) == len(CUSTOMERS) * PER_CUSTOMER
    assert len(set(asked_ids)) == len(asked_ids), "a message reached the assistant twice"
    delivered_ids = [m.id for _, m in log.delivered]
    assert len(delivered_ids) == len(CUSTOMERS) * PER_CUSTOMER
    assert len(set(delivered_ids)) == len(delivered_ids), "a reply was delivered twice"
    for customer in CUSTOMERS:
        asked = [t.text for _, t in log.asked if t.text.startswith(f"{customer} ")]
        assert asked == [f"{customer} {i}" for i in range(PER_CUSTOMER)]
        delivered = [m.text for _, m in log.delivered if m.text.startswith(f"echo: {customer} ")]
        assert delivered == [f"echo: {customer} {i}" for i in range(PER_CUSTOMER)]

    db = instances[0][0]
    async with db.sessions() as session:
        statuses = (await session.scalars(select(Message.status))).all()
    assert sorted(set(statuses)) == ["processed", "sent"]
    for db, processor, _ in instances:
        await processor.stop()
        await db.dispose()


async def test_a_lock_is_exclusive_and_freed_when_its_holder_dies(pg_url: str) -> None:
    first, second = Database(pg_url), Database(pg_url)
    try:
        async with first.locks.hold("turns", "c1") as held:
            assert held
            async with second.locks.hold("turns", "c1") as other:
                assert not other
            async with second.locks.hold("turns", "c2") as other:
                assert other  # another customer is free

        # A holder that dies without unlocking: its connection closes, the lock is free.
        import psycopg

        sync_url = pg_url.replace("postgresql+psycopg", "postgresql")
        dead = psycopg.connect(sync_url, autocommit=True)
        assert dead.execute("SELECT pg_try_advisory_lock(%s)", (lock_key("turns", "c3"),)).fetchone()[0]
        async with second.locks.hold("turns", "c3") as other:
            assert not other
        dead.close()  # what the kernel does for a process killed with SIGKILL
        await asyncio.sleep(0.2)
        async with second.locks.hold("turns", "c3") as other:
            assert other
    finally:
        await first.dispose()
        await second.dispose()


async def test_process_locks_are_exclusive_within_a_process() -> None:
    locks = ProcessLocks()
    async with locks.hold("outbox", "x") as held:
        assert held
        async with locks.hold("outbox", "x") as again:
            assert not again
    async with locks.hold("outbox", "x") as after:
        assert after


async def test_migrations_started_together_run_once(postgres_server: str) -> None:
    await _reset_postgres(postgres_server)
    script = "import sys; from vetrina.storage.migrate import upgrade; upgrade(sys.argv[1])"

    def run_all() -> list[subprocess.CompletedProcess[str]]:
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, postgres_server],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(4)
        ]
        return [
            subprocess.CompletedProcess(p.args, p.wait(120), *p.communicate()) for p in processes
        ]

    results = await asyncio.to_thread(run_all)
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    db = Database(postgres_server)
    try:
        async with db.sessions() as session:
            versions = (await session.execute(text("SELECT version_num FROM alembic_version"))).all()
            tables = await session.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_name = 'messages'")
            )
    finally:
        await db.dispose()
    assert len(versions) == 1 and tables == 1

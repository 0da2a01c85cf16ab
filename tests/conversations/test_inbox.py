"""Storing inbound messages: identities, dedup of redelivered provider ids."""

import asyncio

from sqlalchemy import func, select

from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.database import Database


async def count(db: Database, model: type) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_first_message_creates_customer_identity_and_message(db: Database) -> None:
    received = await Inbox(db).receive(
        InboundMessage("web", "session-aaaa", "ciao", "session-aaaa:m1", metadata={"language": "it"})
    )
    assert not received.duplicate
    async with db.sessions() as session:
        message = await session.get_one(Message, received.message_id)
        customer = await session.get_one(Customer, received.customer_id)
    assert (message.direction, message.author, message.status) == ("in", "customer", "received")
    assert message.text == "ciao"
    assert customer.language == "it"
    assert customer.last_channel == "web"


async def test_redelivered_provider_id_is_stored_once(db: Database) -> None:
    inbox = Inbox(db)
    inbound = InboundMessage("web", "session-bbbb", "ciao", "session-bbbb:m1")
    first = await inbox.receive(inbound)
    again = await inbox.receive(inbound)
    assert again.duplicate and again.message_id == first.message_id
    assert await count(db, Message) == 1


async def test_concurrent_redeliveries_store_one_message_and_one_customer(db: Database) -> None:
    inbox = Inbox(db)
    inbound = InboundMessage("web", "session-cccc", "hello", "session-cccc:m1")
    results = await asyncio.gather(*(inbox.receive(inbound) for _ in range(5)))
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await count(db, Message) == 1
    assert await count(db, Customer) == 1
    assert await count(db, ChannelIdentity) == 1


async def test_messages_without_provider_id_are_all_kept(db: Database) -> None:
    inbox = Inbox(db)
    first = await inbox.receive(InboundMessage("web", "session-dddd", "ciao"))
    second = await inbox.receive(InboundMessage("web", "session-dddd", "ciao"))
    assert first.message_id != second.message_id
    assert first.customer_id == second.customer_id


async def test_language_detected_and_remembered(db: Database) -> None:
    inbox = Inbox(db)
    received = await inbox.receive(
        InboundMessage("web", "session-eeee", "do you have the black trench in size M?")
    )
    await inbox.receive(InboundMessage("web", "session-eeee", "trench"))
    async with db.sessions() as session:
        customer = await session.get_one(Customer, received.customer_id)
    assert customer.language == "en"

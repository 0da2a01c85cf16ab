"""Two gateway instances' senders sharing one database (issue 17, part 7).

Each "instance" is its own sender with its own :class:`Database` object (its own engine
and connections) on the same database, talking to the same fake provider, as two
gateway processes do. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake
from channels.instagram.render import messages as instagram_messages
from channels.instagram.sender import InstagramSender
from channels.whatsapp.render import render as whatsapp_render
from channels.whatsapp.sender import TwilioSender, TwilioTransport
from tests.channels.conftest import (
    IG_ACCOUNT,
    META_SECRET,
    META_TOKEN,
    META_VERIFY,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    serve,
)
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Author, OutboundPart
from vetrina.conversations.ports import DeliveryError, OutboundView
from vetrina.conversations.sending import paused_for
from vetrina.conversations.writing import pending_outbound
from vetrina.settings import MetaSettings, TwilioSettings
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

IGSID = "6543210987654321"
NUMBER = "+393331234567"
# Three sentences of ~900 bytes: three Instagram messages (1,000 bytes each at most).
LONG_TEXT = " ".join(f"Frase numero {n}, " + "parola " * 120 + "fine." for n in range(3))
# Three WhatsApp messages (1,600 characters each at most).
LONGER_TEXT = " ".join(f"Frase numero {n}, " + "parola " * 210 + "fine." for n in range(3))


@dataclass
class Instance:
    db: Database
    instagram: InstagramSender
    whatsapp: TwilioSender
    http: httpx.AsyncClient


@pytest_asyncio.fixture
async def providers() -> AsyncIterator[tuple[MetaFake, str, TwilioFake, str]]:
    meta = MetaFake(META_SECRET, META_TOKEN, IG_ACCOUNT, version="v25.0")
    twilio = TwilioFake(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM)
    twilio.statuses = ()  # no status callbacks: there is no gateway to receive them
    meta_runner, meta_url = await serve(meta.app())
    twilio_runner, twilio_url = await serve(twilio.app())
    yield meta, meta_url, twilio, twilio_url
    await meta.close()
    await twilio.close()
    await meta_runner.cleanup()
    await twilio_runner.cleanup()


@pytest_asyncio.fixture
async def instances(
    database_url: str, providers: tuple[MetaFake, str, TwilioFake, str]
) -> AsyncIterator[tuple[Instance, Instance]]:
    _, meta_url, _, twilio_url = providers
    made: list[Instance] = []
    for _ in range(2):
        db = Database(database_url)
        http = httpx.AsyncClient()
        meta = MetaSettings(
            META_SECRET, META_VERIFY, META_TOKEN, IG_ACCOUNT, graph_base_url=f"{meta_url}/v25.0"
        )
        twilio = TwilioSettings(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, api_base_url=twilio_url)
        made.append(
            Instance(
                db,
                InstagramSender(meta, db, http),
                TwilioSender(twilio, db, TwilioTransport(twilio_url), status_callback_url=None),
                http,
            )
        )
    yield made[0], made[1]
    for instance in made:
        await instance.whatsapp.close()
        await instance.http.aclose()
        await instance.db.dispose()


async def outbound(db: Database, channel: str, external_id: str, text: str) -> OutboundView:
    """A customer who just wrote on ``channel``, and a reply waiting for them."""
    received = await Inbox(db).receive(
        InboundMessage(channel, external_id, "ciao", provider_message_id=f"in-{channel}-{text[:8]}")
    )
    now = utcnow()
    async with db.transaction() as session:
        from vetrina.conversations.writing import conversation_for

        conversation = await conversation_for(session, received.customer_id)
        message = pending_outbound(
            conversation_id=conversation.id,
            customer_id=received.customer_id,
            channel=channel,
            author=Author.BOT.value,
            text=text,
            payload={},
            now=now,
        )
        session.add(message)
        await session.flush()
        return OutboundView(
            message.id, received.customer_id, channel, Author.BOT.value, text, {}, now
        )


async def test_an_instagram_rate_limit_pause_stops_every_instance(
    instances: tuple[Instance, Instance], providers: tuple[MetaFake, str, TwilioFake, str]
) -> None:
    first, second = instances
    meta = providers[0]
    view = await outbound(first.db, "instagram", IGSID, "Ciao!")
    meta.fail_next(1, status=429, code=4, headers={"Retry-After": "3600"})
    with pytest.raises(DeliveryError) as told:
        await first.instagram.send(view)
    assert told.value.transient and (told.value.retry_after or 0) >= 3590
    assert meta.send_requests == 1

    # The other instance has never talked to Meta, and still waits: nothing is sent.
    with pytest.raises(DeliveryError) as waiting:
        await second.instagram.send(view)
    assert waiting.value.transient and 3500 < (waiting.value.retry_after or 0) <= 3600
    assert meta.send_requests == 1 and meta.sent == []
    assert 3500 < (await paused_for(second.db, second.instagram.pause_key) or 0) <= 3600


async def test_a_shorter_pause_does_not_shorten_a_longer_one(
    instances: tuple[Instance, Instance], providers: tuple[MetaFake, str, TwilioFake, str]
) -> None:
    first, second = instances
    meta = providers[0]
    view = await outbound(first.db, "instagram", IGSID, "Ciao!")
    meta.fail_next(1, status=429, code=4, headers={"Retry-After": "3600"})
    with pytest.raises(DeliveryError):
        await first.instagram.send(view)
    from vetrina.conversations.sending import pause

    await pause(second.db, second.instagram.pause_key, 5, "HTTP 429")
    assert (await paused_for(first.db, first.instagram.pause_key) or 0) > 3500


async def test_instagram_split_message_resumes_on_the_other_instance(
    instances: tuple[Instance, Instance], providers: tuple[MetaFake, str, TwilioFake, str]
) -> None:
    first, second = instances
    meta = providers[0]
    view = await outbound(first.db, "instagram", IGSID, LONG_TEXT)
    parts = [body["text"] for body in instagram_messages(view, None)]
    assert len(parts) >= 3
    meta.fail_next(1, status=500, code=2, after=1)  # the first part goes, the second fails
    with pytest.raises(DeliveryError):
        await first.instagram.send(view)
    assert [m["text"] for m in meta.sent_to(IGSID)] == parts[:1]

    last_id = await second.instagram.send(view)  # the retry, on the other instance
    assert [m["text"] for m in meta.sent_to(IGSID)] == parts  # each part once, in order
    assert last_id == meta.sent_to(IGSID)[-1]["mid"]
    async with second.db.sessions() as session:  # done: nothing left over
        assert await session.get(OutboundPart, (view.id, 0)) is None


async def test_whatsapp_split_message_resumes_on_the_other_instance(
    instances: tuple[Instance, Instance], providers: tuple[MetaFake, str, TwilioFake, str]
) -> None:
    first, second = instances
    twilio = providers[2]
    view = await outbound(first.db, "whatsapp", NUMBER, LONGER_TEXT)
    parts = [part.body for part in whatsapp_render(view, None)]
    assert len(parts) >= 3
    twilio.fail_next(1, status=500, code=20500, after=1)
    with pytest.raises(DeliveryError):
        await first.whatsapp.send(view)
    assert [m.body for m in twilio.sent_to(NUMBER)] == parts[:1]

    joined = await second.whatsapp.send(view)
    sent = twilio.sent_to(NUMBER)
    assert [m.body for m in sent] == parts  # each part once, in order
    assert joined == ",".join(m.sid for m in sent)


async def test_a_final_error_forgets_the_parts_so_a_resend_starts_over(
    instances: tuple[Instance, Instance], providers: tuple[MetaFake, str, TwilioFake, str]
) -> None:
    first, _ = instances
    meta = providers[0]
    view = await outbound(first.db, "instagram", IGSID, LONG_TEXT)
    meta.fail_next(1, status=400, code=100, transient=False, after=1)
    with pytest.raises(DeliveryError) as failed:
        await first.instagram.send(view)
    assert not failed.value.transient
    async with first.db.sessions() as session:
        assert await session.get(OutboundPart, (view.id, 0)) is None

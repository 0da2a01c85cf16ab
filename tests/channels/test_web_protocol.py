"""The web chat's socket.io protocol, through the real gateway app on a real port (a
scripted assistant instead of Rasa): Rasa 3.6's frames for stock clients, Vetrina's
extension for clients that ask, at-least-once delivery to the screen, sessions that
cannot be borrowed, and message limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import func, select

from tests.channels.web_server import IMAGE, SECRET, RawClient, serve
from vetrina.conversations.models import Message
from vetrina.conversations.notices import notice
from vetrina.customers.models import ChannelIdentity
from vetrina.customers.tokens import issue_identity_token
from vetrina.storage.database import Database


@pytest_asyncio.fixture
async def server(sqlite_db: Database) -> AsyncIterator[str]:
    async for url in serve(sqlite_db, web_redeliver_seconds=0.5):
        yield url


@pytest_asyncio.fixture
async def limited(sqlite_db: Database) -> AsyncIterator[str]:
    async for url in serve(sqlite_db, web_max_messages=5, web_max_messages_per_address=7,
                           web_rate_seconds=60.0):
        yield url


async def stored(db: Database, **where: object) -> list[Message]:
    async with db.sessions() as session:
        query = select(Message).order_by(Message.id)
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        return list((await session.scalars(query)).all())


def mid() -> str:
    return uuid.uuid4().hex


# --- Rasa's wire format -----------------------------------------------------------------


async def test_stock_clients_get_exactly_the_frames_rasa_emits(server: str) -> None:
    client = await RawClient(server).connect(vetrina=False)
    try:
        assert isinstance(client.session_id, str)
        await client.send("buttons", mid())
        first, second = await client.next("bot_uttered"), await client.next("bot_uttered")
        await client.send("image", mid())
        text, image = await client.next("bot_uttered"), await client.next("bot_uttered")
        await client.send("custom", mid())
        custom = await client.next("bot_uttered")
        assert await client.nothing("bot_uttered", 1.5)  # nothing else, nothing again
    finally:
        await client.close()
    # rasa/core/channels/socketio.py: text split on blank lines, buttons on the last part.
    assert first == {"text": "Prima parte.", "quick_replies": []}  # as Rasa does
    assert second == {"text": "Vuoi provarlo?", "quick_replies": [
        {"content_type": "text", "title": "Sì", "payload": "/affirm"},
        {"content_type": "text", "title": "No", "payload": "/deny"},
    ]}
    assert text == {"text": "Eccolo:"}
    assert image == {"attachment": {"type": "image", "payload": {"src": IMAGE}}}
    assert custom == {"card": "trench", "price": "129.00"}


async def test_vetrina_clients_get_one_frame_with_id_and_author(
    server: str, sqlite_db: Database
) -> None:
    client = await RawClient(server).connect(vetrina=True)
    try:
        await client.send("image", mid())
        frame = await client.next("bot_uttered")
    finally:
        await client.close()
    [reply] = await stored(sqlite_db, direction="out")
    assert frame == {"text": "Eccolo:", "id": reply.id, "author": "bot",
                     "attachment": {"type": "image", "payload": {"src": IMAGE}}}


# --- at least once to the screen --------------------------------------------------------


async def test_a_reply_is_sent_again_until_the_screen_confirms_it(
    server: str, sqlite_db: Database
) -> None:
    client = await RawClient(server).connect(vetrina=True)
    try:
        await client.send("ciao", mid())
        first = await client.next("bot_uttered")
        again = await client.next("bot_uttered", timeout=5)  # not confirmed: sent again
        assert again == first
        [reply] = await stored(sqlite_db, direction="out")
        assert reply.status == "sent" and reply.seen_at is None
        await client.sio.emit("vetrina_seen", {"ids": [first["id"]]})
        for _ in range(50):
            [reply] = await stored(sqlite_db, direction="out")
            if reply.seen_at is not None:
                break
            await asyncio.sleep(0.1)
        assert reply.seen_at is not None and reply.status == "sent"
        while not client.events["bot_uttered"].empty():  # those sent before the confirmation
            client.events["bot_uttered"].get_nowait()
        assert await client.nothing("bot_uttered", 2.0)
    finally:
        await client.close()


async def test_unconfirmed_replies_come_again_after_reconnecting(server: str) -> None:
    client = await RawClient(server).connect(vetrina=True)
    await client.send("ciao", mid())
    reply = await client.next("bot_uttered")
    session_id = client.session_id
    await client.close()
    again = await RawClient(server).connect(vetrina=True, session_id=session_id)
    try:
        assert again.session_id == session_id
        assert await again.next("bot_uttered", timeout=3) == reply  # right after the confirm
    finally:
        await again.close()


async def test_stock_clients_get_each_reply_once_recorded_as_sent(
    server: str, sqlite_db: Database
) -> None:
    client = await RawClient(server).connect(vetrina=False)
    try:
        await client.send("ciao", mid())
        assert await client.next("bot_uttered") == {"text": "echo: ciao"}
        assert await client.nothing("bot_uttered", 2.5)  # the redelivery is for Vetrina clients
    finally:
        await client.close()
    [reply] = await stored(sqlite_db, direction="out")
    assert reply.status == "sent" and reply.seen_at is None


async def test_a_screen_cannot_confirm_someone_elses_replies(
    server: str, sqlite_db: Database
) -> None:
    victim = await RawClient(server).connect(vetrina=True)
    other = await RawClient(server).connect(vetrina=True)
    try:
        await victim.send("ciao", mid())
        reply = await victim.next("bot_uttered")
        await other.send("hello", mid())
        await other.next("bot_uttered")
        await other.sio.emit("vetrina_seen", {"ids": [reply["id"]]})
        await asyncio.sleep(0.5)
        assert (await stored(sqlite_db, id=reply["id"]))[0].seen_at is None
    finally:
        await victim.close()
        await other.close()


# --- sessions that cannot be borrowed ---------------------------------------------------


async def test_a_session_id_the_server_never_issued_starts_a_new_session(server: str) -> None:
    for proposed in ("aaaaaaaa", "A" * 22 + "." + "B" * 22, uuid.uuid4().hex):
        client = await RawClient(server).connect(vetrina=True, session_id=proposed)
        try:
            assert client.session_id != proposed
            assert isinstance(client.session_id, str) and "." in client.session_id
        finally:
            await client.close()


async def test_a_second_socket_with_someone_elses_id_can_neither_read_nor_write(
    server: str, sqlite_db: Database
) -> None:
    victim = await RawClient(server).connect(vetrina=True)
    await victim.send("il mio indirizzo è via Roma 1", mid())
    await victim.next("bot_uttered")
    async with sqlite_db.sessions() as session:
        shown_id = await session.scalar(  # what staff and the customer API see
            select(ChannelIdentity.external_id).where(ChannelIdentity.channel == "web")
        )
    assert shown_id and victim.session_id and victim.session_id.startswith(shown_id + ".")
    before = len(await stored(sqlite_db))

    # 1. No session_request: user_uttered and history_request with the victim's ids.
    thief = await RawClient(server).connect(vetrina=True, request=False)
    try:
        for stolen in (victim.session_id, shown_id):
            await thief.send("scrivo io", "thief-0001", session_id=stolen)
            error = await thief.next("vetrina_error")
            assert error["code"] == "no_session" and error["message_id"] == "thief-0001"
        await thief.sio.emit("history_request", {"session_id": victim.session_id})
        assert (await thief.next("vetrina_error"))["code"] == "no_session"
        assert await thief.nothing("history", 0.5)
    finally:
        await thief.close()

    # 2. Its own session, then writing with the victim's id.
    thief = await RawClient(server).connect(vetrina=True)
    try:
        await thief.send("scrivo io", "thief-0002", session_id=victim.session_id)
        assert (await thief.next("vetrina_error"))["code"] == "no_session"
    finally:
        await thief.close()

    # 3. Asking for the session by the id that staff see: a new, empty session.
    thief = await RawClient(server).connect(vetrina=True, session_id=shown_id)
    try:
        assert thief.session_id != victim.session_id
        await thief.sio.emit("history_request", {})
        assert (await thief.next("history"))["messages"] == []
        await victim.send("e il mio numero", mid())  # the victim's reply does not reach it
        await victim.next("bot_uttered")
        assert await thief.nothing("bot_uttered", 1.0)
    finally:
        await thief.close()
        await victim.close()
    inbound = await stored(sqlite_db, direction="in")
    assert [m.text for m in inbound] == ["il mio indirizzo è via Roma 1", "e il mio numero"]
    assert len(await stored(sqlite_db)) == before + 2  # the victim's second turn only


async def test_a_shop_login_opens_the_account_chat_only_for_its_socket_and_its_time(
    server: str, sqlite_db: Database
) -> None:
    token = issue_identity_token(SECRET, "acct-77", name="Giulia", ttl=3)
    shopper = await RawClient(server).connect(vetrina=True, identity_token=token)
    try:
        await shopper.send("ciao", mid())
        await shopper.next("bot_uttered")
        session_id = shopper.session_id
        # Same device, signed out (no token): the account's chat stays closed.
        guest = await RawClient(server).connect(vetrina=True, session_id=session_id)
        try:
            assert (await guest.next("vetrina_error"))["code"] == "signed_out"
            assert guest.session_id != session_id
            await guest.sio.emit("history_request", {})
            assert (await guest.next("history"))["messages"] == []
        finally:
            await guest.close()
        # After the token's expiry the shopper's socket is let go too.
        await asyncio.sleep(max(0.0, 3.2 - (time.time() % 1)))
        await shopper.send("ancora io", "late-0001")
        expired = await shopper.next("vetrina_error")
        assert expired["code"] == "identity_token_expired"
        assert expired["message"] == notice("identity_token_expired", None)
        renewed = await shopper.next("session_confirm")
        assert renewed != session_id
    finally:
        await shopper.close()
    assert [m.text for m in await stored(sqlite_db, direction="in")] == ["ciao"]


# --- limits -----------------------------------------------------------------------------


async def test_beyond_the_limit_messages_are_refused_with_a_notice(
    limited: str, sqlite_db: Database
) -> None:
    flood = await RawClient(limited).connect(vetrina=True)
    stock = await RawClient(limited).connect(vetrina=False)
    try:
        for index in range(8):
            await flood.send(f"messaggio {index}", f"flood-{index:04d}", language="it")
        acks = [await flood.next("message_ack") for _ in range(5)]
        refused = [await flood.next("vetrina_error") for _ in range(3)]
        # The same address: 7 in the window, 5 of them used by the flood.
        for index in range(3):
            await stock.send(f"altro {index}", f"other-{index:04d}")
        assert len([await stock.next("message_ack") for _ in range(2)]) == 2
        told = await stock.next("bot_uttered")
        while told.get("text", "").startswith("echo"):
            told = await stock.next("bot_uttered")
    finally:
        await flood.close()
        await stock.close()
    assert [a["message_id"] for a in acks] == [f"flood-{i:04d}" for i in range(5)]
    assert [e["message_id"] for e in refused] == [f"flood-{i:04d}" for i in range(5, 8)]
    assert {e["code"] for e in refused} == {"too_many_messages"}
    assert refused[0]["message"] == notice("too_many_messages", "it")
    assert told == {"text": notice("too_many_messages", None)}  # stock widgets: a bot line
    async with sqlite_db.sessions() as session:
        inbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    assert inbound == 7  # refused, not queued


async def test_a_malformed_session_request_changes_nothing(server: str) -> None:
    client = await RawClient(server).connect(vetrina=True)
    try:
        for junk in (["list"], "text", 42):
            await client.sio.emit("session_request", junk)
            assert (await client.next("vetrina_error"))["code"] == "invalid_payload"
        assert await client.nothing("session_confirm", 0.3)
        await client.send("ciao", mid())  # the confirmed session still works
        assert (await client.next("bot_uttered"))["text"] == "echo: ciao"
    finally:
        await client.close()


async def test_messages_carry_a_keyed_client_address_not_the_address(
    server: str, sqlite_db: Database
) -> None:
    """The assistant limits link codes per client address: every session from one address
    carries the same ``client_key``, a keyed hash, never the address itself."""
    clients = [await RawClient(server).connect(vetrina=True) for _ in range(2)]
    try:
        for client in clients:
            await client.send("ciao", mid())
            await client.next("message_ack")
    finally:
        for client in clients:
            await client.close()
    inbound = await stored(sqlite_db, direction="in")
    keys = {m.payload["metadata"]["client_key"] for m in inbound}
    assert len(inbound) == 2 and len({m.customer_id for m in inbound}) == 2
    assert len(keys) == 1 and "127.0.0.1" not in repr([m.payload for m in inbound])

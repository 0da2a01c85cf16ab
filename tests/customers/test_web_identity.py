"""The web chat with a signed identity token, through the real gateway app and a
socket.io client (no Rasa: a fake assistant): a good token joins the shop account; an
expired or tampered one gets a clear ``vetrina_error`` and changes nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from tests.chat_client import WebCustomer
from tests.fakes import FakeAssistant
from vetrina.conversations.notices import notice
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.customers.tokens import issue_identity_token
from vetrina.gateway.app import init_app
from vetrina.settings import Settings
from vetrina.storage.database import Database

SECRET = "web-identity-test-secret-0123456789abcdef"


class TokenCustomer(WebCustomer):
    def __init__(self, base_url: str, token: object) -> None:
        super().__init__(base_url)
        self.token = token

    async def connect(self) -> TokenCustomer:
        await self.sio.connect(self.base_url, transports=["websocket"], socketio_path="socket.io")
        await self.sio.emit("session_request", {"session_id": None, "identity_token": self.token,
                                                "language": "en"})
        confirmed = await self.next("session_confirm")
        self.session_id = confirmed if isinstance(confirmed, str) else confirmed["session_id"]
        return self


@pytest_asyncio.fixture
async def server(sqlite_db: Database) -> AsyncIterator[str]:
    settings = Settings(database_url=sqlite_db.url, identity_secret=SECRET,
                        tracker_store_url="", rasa_url="http://127.0.0.1:9")
    test_server = TestServer(init_app(settings, assistant=FakeAssistant()))
    await test_server.start_server()
    yield str(test_server.make_url("/")).rstrip("/")
    await test_server.close()


async def shop_identities(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(
            select(func.count()).where(ChannelIdentity.channel == "shop")) or 0)


async def test_a_signed_in_shopper_joins_their_account(server: str, sqlite_db: Database) -> None:
    token = issue_identity_token(SECRET, "acct-1", name="Giulia Rossi", language="it")
    first = await TokenCustomer(server, token).connect()
    try:
        await first.say("ciao")
    finally:
        await first.close()
    # Another device, another session: the same customer, with the first chat's history.
    second = await TokenCustomer(server, issue_identity_token(SECRET, "acct-1")).connect()
    try:
        history = await second.history()
    finally:
        await second.close()
    assert [m["text"] for m in history] == ["ciao", "echo: ciao"]
    async with sqlite_db.sessions() as session:
        owners = set((await session.scalars(select(ChannelIdentity.customer_id))).all())
        name = await session.scalar(select(Customer.display_name))
    assert len(owners) == 1 and name == "Giulia Rossi"


async def test_expired_and_tampered_tokens_change_nothing(
    server: str, sqlite_db: Database
) -> None:
    expired = issue_identity_token(SECRET, "acct-2", ttl=60, now=time.time() - 7200)
    good = issue_identity_token(SECRET, "acct-2")
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    for token, code in ((expired, "identity_token_expired"),
                        (tampered, "identity_token_invalid"),
                        ({"sub": "acct-2"}, "identity_token_invalid")):
        customer = await TokenCustomer(server, token).connect()
        try:
            error = await customer.next("vetrina_error", timeout=5)
            assert error["code"] == code
            assert error["message"] == notice(code, "en")
            replies = await customer.say("hello")  # the chat still works, as a guest
            assert replies[0]["text"] == "echo: hello"
        finally:
            await customer.close()
    assert await shop_identities(sqlite_db) == 0

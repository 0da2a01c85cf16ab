"""A gateway wired to local fake Twilio and Meta servers, with a fake assistant."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import web
from sqlalchemy import func, select

from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake
from tests.conftest import free_port
from tests.fakes import FakeAssistant
from vetrina.conversations.models import Message
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.gateway.app import SERVICES, Services, init_app
from vetrina.gateway.keys import PROVIDER_CHANNELS
from vetrina.gateway.webhooks.providers import ProviderChannels
from vetrina.settings import Settings
from vetrina.storage.migrate import upgrade_async

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "test-twilio-auth-token"
TWILIO_FROM = "whatsapp:+14155238886"
META_SECRET = "test-meta-app-secret"
META_VERIFY = "test-verify-token"
META_TOKEN = "test-instagram-access-token"
IG_ACCOUNT = "17841405793187218"
MAX_BYTES = 8192


async def serve(app: web.Application, port: int | None = None) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Harness:
    url: str
    public_url: str
    services: Services
    channels: ProviderChannels
    twilio: TwilioFake
    meta: MetaFake
    assistant: FakeAssistant
    twilio_url: str = ""  # where the fake providers listen
    meta_url: str = ""

    @property
    def whatsapp_url(self) -> str:
        return f"{self.url}/webhooks/whatsapp"

    @property
    def instagram_url(self) -> str:
        return f"{self.url}/webhooks/instagram"

    async def messages(self, **where: Any) -> list[Message]:
        async with self.services.db.sessions() as session:
            query = select(Message).order_by(Message.id)
            for column, value in where.items():
                query = query.where(getattr(Message, column) == value)
            return list((await session.scalars(query)).all())

    async def count(self, model: type) -> int:
        async with self.services.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def identity(self, channel: str, external_id: str) -> ChannelIdentity | None:
        async with self.services.db.sessions() as session:
            return await session.scalar(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
                )
            )

    async def until(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Poll ``predicate`` (sync or async) until it is truthy."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    async def quiet(self, seconds: float = 0.6) -> None:
        """Let workers and callbacks run, then check nothing else is in flight."""
        await asyncio.sleep(seconds)
        await self.twilio.settle()
        await self.meta.settle()


@contextlib.asynccontextmanager
async def make_harness(
    tmp_path: Path, assistant: FakeAssistant | None = None, **env: str
) -> AsyncIterator[Harness]:
    twilio = TwilioFake(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM)
    meta = MetaFake(META_SECRET, META_TOKEN, IG_ACCOUNT, version="v25.0")
    twilio_runner, twilio_url = await serve(twilio.app())
    meta_runner, meta_url = await serve(meta.app())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    values = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "VETRINA_ENV": "test",
        "VETRINA_PORT": str(port),
        "VETRINA_PUBLIC_URL": url,
        "VETRINA_RETRY_BASE_DELAY": "0.05",
        "VETRINA_RETRY_MAX_DELAY": "0.2",
        "VETRINA_WORKER_POLL_INTERVAL": "0.1",
        "VETRINA_DELAYED_NOTICE_AFTER": "30",
        "VETRINA_WEBHOOK_MAX_BYTES": str(MAX_BYTES),
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_WHATSAPP_FROM": TWILIO_FROM,
        "TWILIO_API_BASE_URL": twilio_url,
        "META_APP_SECRET": META_SECRET,
        "META_VERIFY_TOKEN": META_VERIFY,
        "INSTAGRAM_ACCESS_TOKEN": META_TOKEN,
        "INSTAGRAM_ACCOUNT_ID": IG_ACCOUNT,
        "META_GRAPH_BASE_URL": f"{meta_url}/v25.0",
    }
    values.update(env)
    settings = Settings.from_env(values)
    await upgrade_async(settings.database_url)
    assistant = assistant or FakeAssistant()
    app = init_app(settings, assistant=assistant)
    runner, _ = await serve(app, port)
    meta.webhook_url = f"{url}/webhooks/instagram"  # echoes come back, as Meta sends them
    try:
        yield Harness(
            url,
            settings.public_url,
            app[SERVICES],
            app[PROVIDER_CHANNELS],
            twilio,
            meta,
            assistant,
            twilio_url,
            meta_url,
        )
    finally:
        await twilio.close()
        await meta.close()
        await runner.cleanup()
        await twilio_runner.cleanup()
        await meta_runner.cleanup()


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with make_harness(tmp_path) as running:
        yield running


__all__ = ["Customer", "Harness", "make_harness"]

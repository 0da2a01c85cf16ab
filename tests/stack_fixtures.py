"""One real Rasa server, one action server and one gateway for the whole test session."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake
from scripts.stack import MODEL, RASA_BIN, Ports, Service, Stack
from tests.conftest import free_port, skip_or_fail
from vetrina.catalog.demo import load_demo
from vetrina.gateway.app import SERVICES, Services, init_app
from vetrina.settings import Settings
from vetrina.storage.database import Database
from vetrina.storage.migrate import upgrade, upgrade_async


@dataclass
class RunningStack:
    stack: Stack
    rasa: Service
    actions: Service
    database_url: str

    def restart_rasa(self) -> None:
        self.rasa = self.stack.rasa()
        self.rasa.start()
        self.rasa.wait_ready(timeout=240)


def prepare_database(url: str) -> None:
    """Migrate and load the demo retailer: the action server answers stock questions from
    it, so it must be there before the action server starts."""

    async def load() -> None:
        db = Database(url)
        try:
            await load_demo(db)
        finally:
            await db.dispose()

    def prepare() -> None:
        upgrade(url)
        asyncio.run(load())

    # In a thread of its own: asyncio.run() (also inside the sync upgrade()) would unset
    # the main thread's event loop, which the session's async tests still use.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(prepare).result()


@pytest.fixture(scope="session")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if not RASA_BIN.exists():
        skip_or_fail(f"Rasa is not installed at {RASA_BIN}: run `make setup`")
    if not MODEL.exists():
        skip_or_fail(f"no trained model at {MODEL}: run `make train`")
    var: Path = tmp_path_factory.mktemp("stack")
    database_url = f"sqlite+aiosqlite:///{var / 'vetrina.db'}"
    prepare_database(database_url)
    stack = Stack(
        Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
        var=var,
        extra_env={"DATABASE_URL": database_url},
    )
    running = RunningStack(stack, stack.rasa(), stack.actions(), database_url)
    running.actions.start()
    running.rasa.start()
    try:
        running.actions.wait_ready(timeout=90)
        running.rasa.wait_ready(timeout=240)
        yield running
    finally:
        running.rasa.stop()
        running.actions.stop()


@dataclass
class Gateway:
    url: str
    services: Services
    twilio: TwilioFake | None = None  # the fake Twilio the WhatsApp channel sends to
    meta: MetaFake | None = None  # the fake Meta Graph API the Instagram channel sends to
    tracker_store_url: str = ""  # Rasa's SQL tracker store (the stack's SQLite file)


STACK_TWILIO = TwilioFake("AC" + "5" * 32, "stack-twilio-auth-token", "whatsapp:+14155238886")
STACK_META = MetaFake(
    "stack-meta-app-secret", "stack-instagram-token", "17840000000000001", version="v25.0"
)
# Customer API token and the secret the demo shop signs identity tokens with (issue 6).
STACK_API_TOKEN = "stack-customer-api-token"
STACK_IDENTITY_SECRET = "stack-identity-secret-0123456789abcdef"
STACK_LINK_TEMPLATE = "HX" + "1" * 32  # TWILIO_TEMPLATE_LINK_CODE
# Bearer tokens of the till / shop orders API, the reporting API and the check-in API
# (issue 12; each endpoint is off while its token is unset).
STACK_ORDERS_TOKEN = "stack-orders-token-0123456789"
STACK_INSIGHTS_TOKEN = "stack-insights-token-0123456789"
STACK_CHECKIN_TOKEN = "stack-checkin-token-0123456789"


@pytest_asyncio.fixture(scope="session")
async def gateway(rasa_stack: RunningStack) -> AsyncIterator[Gateway]:
    stack = rasa_stack.stack
    twilio_runner = web.AppRunner(STACK_TWILIO.app())  # a local fake Twilio for WhatsApp
    await twilio_runner.setup()
    twilio_port = free_port()
    await web.TCPSite(twilio_runner, "127.0.0.1", twilio_port).start()
    meta_runner = web.AppRunner(STACK_META.app())  # a local fake Meta for Instagram
    await meta_runner.setup()
    meta_port = free_port()
    await web.TCPSite(meta_runner, "127.0.0.1", meta_port).start()
    tracker_store_url = f"sqlite:///{stack.var / 'rasa-tracker.db'}"
    settings = Settings.from_env(
        {
            "TWILIO_ACCOUNT_SID": STACK_TWILIO.account_sid,
            "TWILIO_AUTH_TOKEN": STACK_TWILIO.auth_token,
            "TWILIO_WHATSAPP_FROM": STACK_TWILIO.whatsapp_from,
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
            "DATABASE_URL": rasa_stack.database_url,
            "RASA_URL": f"http://127.0.0.1:{stack.ports.rasa}",
            "RASA_TOKEN": stack.token,
            "ACTION_SERVER_URL": f"http://127.0.0.1:{stack.ports.actions}",
            "VETRINA_PORT": str(stack.ports.gateway),
            "VETRINA_DELAYED_NOTICE_AFTER": "3",
            "VETRINA_RETRY_BASE_DELAY": "0.5",
            "VETRINA_RETRY_MAX_DELAY": "2",
            "VETRINA_WORKER_POLL_INTERVAL": "0.2",
            "VETRINA_ENV": "test",
            "META_APP_SECRET": STACK_META.app_secret,
            "META_VERIFY_TOKEN": "stack-meta-verify-token",
            "INSTAGRAM_ACCESS_TOKEN": STACK_META.access_token,
            "INSTAGRAM_ACCOUNT_ID": STACK_META.account_id,
            "META_GRAPH_BASE_URL": f"http://127.0.0.1:{meta_port}/v25.0",
            "VETRINA_API_TOKEN": STACK_API_TOKEN,
            "VETRINA_IDENTITY_SECRET": STACK_IDENTITY_SECRET,
            "TWILIO_TEMPLATE_LINK_CODE": STACK_LINK_TEMPLATE,
            "RASA_TRACKER_STORE_URL": tracker_store_url,
            "VETRINA_ORDERS_TOKEN": STACK_ORDERS_TOKEN,
            "VETRINA_INSIGHTS_TOKEN": STACK_INSIGHTS_TOKEN,
            "VETRINA_CHECKIN_TOKEN": STACK_CHECKIN_TOKEN,
        }
    )
    await upgrade_async(settings.database_url)
    app = init_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", stack.ports.gateway).start()
    try:
        yield Gateway(
            f"http://127.0.0.1:{stack.ports.gateway}", app[SERVICES], STACK_TWILIO, STACK_META,
            tracker_store_url,
        )
    finally:
        await runner.cleanup()
        await STACK_TWILIO.close()
        await twilio_runner.cleanup()
        await STACK_META.close()
        await meta_runner.cleanup()

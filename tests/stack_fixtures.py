"""One real Rasa server, one action server and one gateway for the whole test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from scripts.stack import MODEL, RASA_BIN, Ports, Service, Stack
from tests.conftest import free_port, skip_or_fail
from vetrina.gateway.app import SERVICES, Services, init_app
from vetrina.settings import Settings
from vetrina.storage.migrate import upgrade_async


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


@pytest.fixture(scope="session")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if not RASA_BIN.exists():
        skip_or_fail(f"Rasa is not installed at {RASA_BIN}: run `make setup`")
    if not MODEL.exists():
        skip_or_fail(f"no trained model at {MODEL}: run `make train`")
    var: Path = tmp_path_factory.mktemp("stack")
    database_url = f"sqlite+aiosqlite:///{var / 'vetrina.db'}"
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


@pytest_asyncio.fixture(scope="session")
async def gateway(rasa_stack: RunningStack) -> AsyncIterator[Gateway]:
    stack = rasa_stack.stack
    settings = Settings.from_env(
        {
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
        }
    )
    await upgrade_async(settings.database_url)
    app = init_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", stack.ports.gateway).start()
    try:
        yield Gateway(f"http://127.0.0.1:{stack.ports.gateway}", app[SERVICES])
    finally:
        await runner.cleanup()

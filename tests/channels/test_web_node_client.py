"""A second, independent client: ``socket.io-client`` from npm in Node, speaking Rasa's
socket.io events to the gateway (tests/clients/rasa_events.mjs), as stock Rasa widgets do."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.channels.web_server import IMAGE, serve
from tests.conftest import skip_or_fail
from vetrina.storage.database import Database

CLIENTS = Path(__file__).resolve().parent.parent / "clients"


@pytest_asyncio.fixture
async def server(sqlite_db: Database) -> AsyncIterator[str]:
    async for url in serve(sqlite_db):
        yield url


async def run_node(*args: str) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules" / "socket.io-client").exists():
        skip_or_fail("node or tests/clients/node_modules missing: run `make test-clients`")
    process = await asyncio.create_subprocess_exec(
        str(node), str(CLIENTS / "rasa_events.mjs"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=CLIENTS,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_node_socket_io_client_speaks_rasa_events(server: str) -> None:
    events = await run_node(server, "buttons", "/affirm", "image")
    confirm, *frames, again = events
    assert confirm["event"] == "session_confirm" and isinstance(confirm["data"], str)
    assert again == {"event": "session_confirm_again", "data": confirm["data"]}
    assert [f["event"] for f in frames] == ["bot_uttered"] * 5
    assert [f["data"] for f in frames] == [
        {"text": "Prima parte.", "quick_replies": []},
        {"text": "Vuoi provarlo?", "quick_replies": [
            {"content_type": "text", "title": "Sì", "payload": "/affirm"},
            {"content_type": "text", "title": "No", "payload": "/deny"},
        ]},
        {"text": "Perfetto, affirmed."},  # the quick reply's payload, sent as the text
        {"text": "Eccolo:"},
        {"attachment": {"type": "image", "payload": {"src": IMAGE}}},
    ]

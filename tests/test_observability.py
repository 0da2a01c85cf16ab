"""Metrics at /metrics, request ids, JSON log lines, and socket.io across instances via Redis."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest
import socketio
from aiohttp import web

from channels.web.socket import RedisSocketManager
from tests.channels.conftest import make_harness
from tests.conftest import free_port, skip_or_fail
from vetrina.gateway.app import socket_manager
from vetrina.observability.logs import JsonFormatter, request_id, working_on
from vetrina.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_messages_and_requests_carry_an_id(tmp_path: Path) -> None:
    async with make_harness(tmp_path) as harness, httpx.AsyncClient() as client:
        before = (await client.get(f"{harness.url}/metrics")).text
        name = 'vetrina_messages_in_total{channel="whatsapp"}'
        params = harness.twilio.incoming("+393330000111", "ciao")
        status, _ = await harness.twilio.deliver(harness.whatsapp_url, params)
        assert status == 200
        await harness.until(lambda: harness.twilio.sent_to("+393330000111"))
        response = await client.get(f"{harness.url}/metrics", headers={"X-Request-Id": "abc-123"})
        after = response.text
        assert response.status_code == 200
        assert response.headers["X-Request-Id"] == "abc-123"
        assert sample(after, name) == sample(before, name) + 1
        assert sample(after, 'vetrina_messages_out_total{channel="whatsapp"}') >= 1
        assert 'vetrina_queue_depth{queue="inbound"}' in after
        assert "vetrina_rasa_latency_seconds_count" in after
        assert "vetrina_handoff_queue_length" in after
        bad = await client.get(f"{harness.url}/healthz", headers={"X-Request-Id": "x" * 300})
        assert bad.headers["X-Request-Id"] != "x" * 300 and len(bad.headers["X-Request-Id"]) == 32


def test_json_log_lines_carry_request_and_message_ids() -> None:
    formatter = JsonFormatter("gateway")
    record = logging.LogRecord("vetrina.test", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    token = request_id.set("req-1")
    try:
        with working_on(42):
            line = json.loads(formatter.format(record))
    finally:
        request_id.reset(token)
    assert line["msg"] == "hello you" and line["level"] == "INFO"
    assert line["request_id"] == "req-1" and line["message_id"] == 42
    assert "message_id" not in json.loads(formatter.format(record))


def test_redis_manager_only_when_configured() -> None:
    assert socket_manager(Settings.from_env({})) is None
    assert isinstance(socket_manager(Settings.from_env({"REDIS_URL": REDIS_URL})), RedisSocketManager)


async def _redis_reachable() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 2)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def test_an_emit_on_one_instance_reaches_a_socket_on_another() -> None:
    if not await _redis_reachable():
        skip_or_fail("Redis not reachable at 127.0.0.1:6379")
    channel = f"vetrina-test-{free_port()}"
    servers, runners, urls = [], [], []
    for _ in range(2):
        sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=RedisSocketManager(REDIS_URL, channel=channel)
        )
        app = web.Application()
        sio.attach(app)

        async def join(sid: str, data: object, sio: socketio.AsyncServer = sio) -> None:
            await sio.enter_room(sid, str(data))

        sio.on("join", join)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        servers.append(sio)
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}")
    client = socketio.AsyncClient()
    got: asyncio.Queue[object] = asyncio.Queue()
    client.on("bot_uttered", got.put)
    try:
        await client.connect(urls[1], transports=["websocket"])
        await client.emit("join", "customer:c1")
        await asyncio.sleep(0.5)  # the join and the Redis subscriptions settle
        await servers[0].emit("bot_uttered", {"text": "from instance 0"}, room="customer:c1")
        assert await asyncio.wait_for(got.get(), 5) == {"text": "from instance 0"}
    finally:
        await client.disconnect()
        for runner in runners:
            await runner.cleanup()
        for sio in servers:
            await sio.manager.close()


async def test_an_emit_that_cannot_reach_redis_fails_loudly() -> None:
    manager = RedisSocketManager(f"redis://127.0.0.1:{free_port()}/0", channel="nowhere")
    with pytest.raises(ConnectionError):
        await manager._publish({"method": "emit"})



async def test_console_updates_cross_gateway_instances_through_redis(tmp_path: Path) -> None:
    if not await _redis_reachable():
        skip_or_fail("Redis not reachable at 127.0.0.1:6379")
    from tests.fakes import FakeAssistant
    from vetrina.gateway.app import init_app
    from vetrina.gateway.keys import CONSOLE
    from vetrina.gateway.live_redis import RedisBus
    from vetrina.storage.migrate import upgrade_async

    runners, buses = [], []
    for name in ("one", "two"):  # two gateway instances, each its own app
        settings = Settings.from_env({
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / name}.db",
            "VETRINA_ENV": "test", "REDIS_URL": REDIS_URL,
        })
        await upgrade_async(settings.database_url)
        app = init_app(settings, assistant=FakeAssistant())
        runner = web.AppRunner(app)
        await runner.setup()  # runs the cleanup contexts' start: the services exist now
        runners.append(runner)
        buses.append(app[CONSOLE].bus)
    try:
        assert all(isinstance(bus, RedisBus) for bus in buses)
        topic = f"test-{free_port()}"
        got: asyncio.Queue[object] = asyncio.Queue()
        async with buses[1].subscribe([topic]) as events:

            async def pump() -> None:
                async for item in events:
                    await got.put(item)

            reader = asyncio.create_task(pump())
            await buses[0].publish(topic, {"type": "queue", "conversation_id": 1})
            event = await asyncio.wait_for(got.get(), 5)
            reader.cancel()
        assert event == (topic, {"type": "queue", "conversation_id": 1})
    finally:
        for runner in runners:
            await runner.cleanup()

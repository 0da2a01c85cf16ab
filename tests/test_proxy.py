"""The `make run-prod` reverse proxy: round robin, sticky socket.io polling, failover when
an instance is down, WebSockets passed through, request ids added."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from scripts.proxy import COOKIE, build_app
from tests.conftest import free_port


async def upstream(name: str) -> tuple[web.AppRunner, str]:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"instance": name, "request_id": request.headers.get("X-Request-Id")})

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"{name}:{message.data}")
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_balancing_stickiness_failover_and_websockets() -> None:
    one, url_one = await upstream("one")
    two, url_two = await upstream("two")
    dead = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    proxy = web.AppRunner(build_app([url_one, url_two, dead]))
    await proxy.setup()
    port = free_port()
    await web.TCPSite(proxy, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
            seen = []
            for _ in range(6):
                async with client.get(f"{base}/healthz") as response:
                    assert response.status == 200  # the dead one is skipped
                    body = await response.json()
                    seen.append(body["instance"])
                    assert body["request_id"]
            assert set(seen) == {"one", "two"}

            async with client.get(f"{base}/socket.io/?EIO=4&transport=polling") as response:
                first = (await response.json())["instance"]
                sticky = response.cookies[COOKIE].value
            for _ in range(4):
                async with client.get(f"{base}/socket.io/?EIO=4&transport=polling&sid=x",
                                      headers={"Cookie": f"{COOKIE}={sticky}"}) as response:
                    assert (await response.json())["instance"] == first

            async with client.ws_connect(f"{base}/ws") as ws:
                await ws.send_str("ping")
                reply = await ws.receive_str()
                assert reply.endswith(":ping") and reply.split(":")[0] in {"one", "two"}

            await two.cleanup()  # an instance dies: everything goes to the other
            for _ in range(4):
                async with client.get(f"{base}/anything",
                                      headers={"Cookie": f"{COOKIE}=1"}) as response:
                    assert (await response.json())["instance"] == "one"
    finally:
        await proxy.cleanup()
        await one.cleanup()

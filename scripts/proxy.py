"""A small reverse proxy for `make run-prod`: the role nginx plays in docker-compose.

- Spreads requests over the gateway instances (round robin), and moves on to the next
  one when an instance refuses the connection (it died or is restarting), so a webhook
  or a page load never sees a dead instance.
- Sticky sessions for socket.io's long-polling transport: the first response sets a
  ``vetrina_upstream`` cookie, and later requests carrying it go to the same instance
  (a polling session lives in one process). WebSocket upgrades are proxied as
  WebSockets; they need no stickiness, being one connection.
- Adds ``X-Request-Id`` (kept if the client sent one) and ``X-Forwarded-For/Proto``.

Run: ``python -m scripts.proxy --port 8080 --upstream http://127.0.0.1:8081 --upstream …``.
``make run-prod`` also runs one in front of the Rasa servers (``--no-resend``): a turn
goes to any Rasa that is up (they share trackers and locks), so one Rasa down costs
the gateways nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import uuid

import aiohttp
from aiohttp import web

log = logging.getLogger("vetrina.proxy")

COOKIE = "vetrina_upstream"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}
UPSTREAMS = web.AppKey("upstreams", list)
CLIENT = web.AppKey("client", aiohttp.ClientSession)


def build_app(upstreams: list[str], *, resend_after_disconnect: bool = True) -> web.Application:
    """``resend_after_disconnect``: a request whose instance died while handling it goes
    to the next one. Right for the gateways (webhooks and socket.io are idempotent);
    wrong in front of Rasa, where the gateway must check the tracker before resending."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[UPSTREAMS] = upstreams
    turn = itertools.cycle(range(len(upstreams)))

    async def client_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[CLIENT] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=2, sock_read=120),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        yield
        await app[CLIENT].close()

    app.cleanup_ctx.append(client_ctx)

    def order(request: web.Request) -> list[int]:
        sticky = request.cookies.get(COOKIE, "")
        first = int(sticky) if sticky.isdigit() and int(sticky) < len(upstreams) else next(turn)
        return [first] + [i for i in range(len(upstreams)) if i != first]

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers.setdefault("X-Request-Id", uuid.uuid4().hex)
        headers["X-Forwarded-For"] = request.remote or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        last_error: Exception | None = None
        for index in order(request):
            url = upstreams[index] + request.rel_url.path_qs
            try:
                if websocket:
                    return await _websocket(request, app[CLIENT], url, headers)
                async with app[CLIENT].request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                ) as upstream:
                    payload = await upstream.read()
                    response = web.Response(status=upstream.status, body=payload)
                    for key, value in upstream.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            response.headers.add(key, value)
                    if request.path.startswith("/socket.io/"):
                        response.set_cookie(COOKIE, str(index), httponly=True, samesite="Lax")
                    return response
            except aiohttp.ClientConnectorError as error:
                last_error = error  # that instance is down: try the next one
                continue
            except aiohttp.ServerDisconnectedError as error:
                if not resend_after_disconnect:
                    return web.Response(status=502, text="the instance died handling this")
                last_error = error
                continue
        log.warning("no gateway instance reachable: %r", last_error)
        return web.Response(status=502, text="no gateway instance reachable")

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _websocket(
    request: web.Request, client: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> web.StreamResponse:
    ws_headers = {k: v for k, v in headers.items() if not k.lower().startswith("sec-websocket")}
    async with client.ws_connect(url, headers=ws_headers, autoping=False) as upstream:
        downstream = web.WebSocketResponse(autoping=False)
        await downstream.prepare(request)

        async def pump(source, target) -> None:  # type: ignore[no-untyped-def]
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await target.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await target.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await target.ping(message.data)
                elif message.type == aiohttp.WSMsgType.PONG:
                    await target.pong(message.data)
                else:
                    break

        tasks = [
            asyncio.create_task(pump(downstream, upstream)),
            asyncio.create_task(pump(upstream, downstream)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await downstream.close()
        return downstream


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--upstream", action="append", required=True)
    parser.add_argument("--no-resend", action="store_true",
                        help="answer 502 when an instance dies handling a request (for Rasa)")
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(
        build_app([u.rstrip("/") for u in args.upstream], resend_after_disconnect=not args.no_resend),
        host=args.host, port=args.port, print=None,
    )


if __name__ == "__main__":
    main()

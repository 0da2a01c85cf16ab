"""The gateway's composition root: ``init_app(settings)`` wires adapters to the domain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import socketio
from aiohttp import web

from channels.web.socket import RedisSocketManager, WebChat, WebNotifier, WebSender
from integrations.rasa import RasaAssistant, RasaMemory, action_server_ready
from integrations.rasa_tracker import RasaTracker
from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.handoff import AssistantTracker
from vetrina.conversations.inbox import Inbox
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.ports import Assistant
from vetrina.conversations.processing import ProcessingOptions, TurnProcessor
from vetrina.conversations.readiness import ReadinessWatch
from vetrina.customers.linking import ShopLogin
from vetrina.gateway import bookings_web, console, customers_api, inventory_api
from vetrina.gateway.console_auth import CookiePolicy, LoginLimiter
from vetrina.gateway.console_desk import ConsoleDesk
from vetrina.gateway.live import InProcessBus, LiveBus
from vetrina.gateway.live_redis import RedisBus
from vetrina.gateway.notifiers import ChannelNotifiers
from vetrina.gateway.observability import metrics_handler, request_ids
from vetrina.gateway.provider_channels import PROVIDER_CHANNELS, ProviderChannels
from vetrina.settings import Settings
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

WEB_STATIC = Path(__file__).resolve().parent.parent.parent / "channels" / "web" / "static"


@dataclass
class Services:
    """Everything a request handler may need, built once per app."""

    settings: Settings
    db: Database
    http: httpx.AsyncClient
    rasa: RasaAssistant
    inbox: Inbox
    processor: TurnProcessor
    outbox: Outbox
    sio: socketio.AsyncServer


SERVICES = web.AppKey("services", Services)


def init_app(
    settings: Settings,
    *,
    assistant: Assistant | None = None,
    assistant_tracker: AssistantTracker | None = None,
    live: LiveBus | None = None,
) -> web.Application:
    """Build the gateway. ``assistant`` and ``assistant_tracker`` (its tracker, for
    handoffs) replace Rasa in tests that do not need it; ``live`` carries console updates
    between instances (default: within this process only)."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=[request_ids])
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        # With several gateway instances, an emit on one reaches sockets on every other.
        client_manager=socket_manager(settings),
        cors_allowed_origins="*",
        max_http_buffer_size=64 * 1024,
        # One connection's events are handled one after another, so two messages
        # typed in quick succession are stored in the order they were sent.
        async_handlers=False,
    )
    sio.attach(app, socketio_path="socket.io")
    channels = ProviderChannels(settings)  # WhatsApp, Instagram: on, simulated, or off
    app[PROVIDER_CHANNELS] = channels

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        http = httpx.AsyncClient()
        rasa = RasaAssistant(http, settings.rasa_url, settings.rasa_token, settings.rasa_timeout)
        backoff = Backoff(settings.retry_base_delay, settings.retry_max_delay)
        outbox = Outbox(
            db, {"web": WebSender(sio), **channels.senders(db, http)}, backoff=backoff,
            poll_interval=settings.worker_poll_interval,
        )

        # Several instances (REDIS_URL): console updates cross them through Redis.
        redis_bus = RedisBus(settings.redis_url) if settings.redis_url and live is None else None
        bus = live or redis_bus or InProcessBus()
        desk = ConsoleDesk(
            db,
            assistant_tracker
            or RasaTracker(http, settings.rasa_url, settings.rasa_token, settings.rasa_timeout),
            bus, outbox.wake, settings.max_message_chars,
        )

        async def replies_stored(customer_id: str) -> None:
            outbox.wake()
            try:  # a new consultant request shows in the consoles' queues
                await desk.after_bot_turn(customer_id)
            except Exception:
                log.exception("could not tell the consoles about %s", customer_id)

        # Rasa back after being down: answer what waited at once, not after its backoff.
        # (A test's own assistant has no readiness to watch.)
        readiness = (
            ReadinessWatch(rasa.ready, lambda: processor.retry_postponed_now())
            if assistant is None else None
        )
        processor = TurnProcessor(
            db,
            assistant or rasa,
            ChannelNotifiers({"web": WebNotifier(sio), **channels.notifiers(db, outbox.wake)}),
            replies_stored,
            ProcessingOptions(
                concurrency=settings.worker_concurrency,
                poll_interval=settings.worker_poll_interval,
                notice_after=settings.delayed_notice_after,
                default_language=settings.default_language,
                backoff=backoff,
            ),
            desk=desk,  # a consultant's conversations never reach the assistant
            on_unavailable=readiness.unavailable if readiness is not None else None,
        )
        inbox = Inbox(db)
        memory = RasaMemory(http, settings.rasa_url, settings.rasa_token, settings.tracker_store_url)
        app[customers_api.MEMORY] = memory
        app[customers_api.DATABASE] = db
        WebChat(
            sio, db, inbox, processor.wake, settings.max_message_chars,
            ShopLogin(db, settings.identity_secret, memory),
        )
        channels.bind(
            db=db, inbox=inbox, on_stored=processor.wake, wake_outbox=outbox.wake, backoff=backoff
        )
        app[SERVICES] = Services(settings, db, http, rasa, inbox, processor, outbox, sio)
        bookings = Bookings(db, BookingOptions.from_settings(settings))
        app[bookings_web.BOOKINGS] = bookings
        app[console.CONSOLE] = console.Console(
            db, desk, bus, bookings, CookiePolicy(settings.console_secure_cookies),
            console.lazy_stock_checker(db, settings.safety_stock), LoginLimiter(),
        )
        workers = [
            asyncio.create_task(processor.run(), name="turn-processor"),
            asyncio.create_task(outbox.run(), name="outbox"),
            asyncio.create_task(
                bookings_web.booking_worker(bookings, outbox.wake), name="bookings"
            ),
        ]
        if readiness is not None:
            workers.append(asyncio.create_task(readiness.run(), name="assistant-readiness"))
        yield
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await processor.stop()
        await channels.close()
        if redis_bus is not None:
            await redis_bus.close()
        await sio.shutdown()
        if isinstance(sio.manager, RedisSocketManager):
            await sio.manager.close()
        await http.aclose()
        await db.dispose()

    app.cleanup_ctx.append(services_ctx)
    app.router.add_get("/", storefront)
    app.router.add_get("/widget.js", widget)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler(lambda request: request.app[SERVICES].db))
    app.router.add_post("/api/inventory/stock", inventory_api.post_stock)
    bookings_web.add_routes(app)
    app[customers_api.TOKEN] = settings.api_token
    customers_api.add_routes(app)
    console.add_routes(app)
    app.router.add_static("/static/", WEB_STATIC, follow_symlinks=False)
    channels.add_routes(app)
    return app


def socket_manager(settings: Settings) -> socketio.AsyncManager | None:
    """socket.io rooms shared through Redis pub/sub when ``REDIS_URL`` is set."""
    if not settings.redis_url:
        return None
    return RedisSocketManager(settings.redis_url, channel="vetrina-socketio")



async def storefront(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_STATIC / "storefront.html")


async def widget(_request: web.Request) -> web.FileResponse:
    response = web.FileResponse(WEB_STATIC / "widget.js")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Database, Rasa (model loaded) and action server are all reachable."""
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    try:
        await services.db.ping()
        checks["database"] = "ok"
    except Exception as error:  # any driver error means not ready
        checks["database"] = f"error: {error.__class__.__name__}"
    checks["rasa"] = await services.rasa.ready() or "ok"
    checks["action_server"] = (
        await action_server_ready(services.http, services.settings.action_server_url) or "ok"
    )
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )

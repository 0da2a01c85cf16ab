"""The gateway's composition root: ``init_app(settings)`` wires adapters to the domain.

Each resource opens in its own cleanup context, in order, and closes in reverse (as in
aio-libs/aiohttp-demos): the database, the HTTP client, the live bus, the services
built on them, then the background workers. Routes are thin routers per surface:
``console/`` (the consultants), ``api/`` (customers, inventory), ``webhooks/`` (the
providers), plus the web chat's pages and the booking pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import socketio
from aiohttp import web

from channels.web.socket import RedisSocketManager, WebNotifier, WebSender, open_web_chat
from integrations.rasa import RasaAssistant, RasaMemory, action_server_ready
from integrations.rasa_tracker import RasaTracker
from vetrina.bookings.outcomes import BookingOutcomes
from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.handoff import AssistantTracker
from vetrina.conversations.inbox import Inbox
from vetrina.conversations.login_failures import FailureCounter, SqlFailureCounter
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.outbox_notify import listen_for_outbound
from vetrina.conversations.ports import Assistant
from vetrina.conversations.processing import ProcessingOptions, TurnProcessor
from vetrina.conversations.readiness import ReadinessWatch
from vetrina.conversations.scheduling import LimitOptions
from vetrina.customers.link_proofs import LinkProofs
from vetrina.customers.linking import ShopLogin
from vetrina.gateway import bookings_web
from vetrina.gateway.api import customers as customers_api
from vetrina.gateway.api import insights as insights_api
from vetrina.gateway.api import inventory as inventory_api
from vetrina.gateway.console import routes as console_routes
from vetrina.gateway.console.auth import CookiePolicy
from vetrina.gateway.console.context import Console, lazy_stock_checker
from vetrina.gateway.console.desk import ConsoleDesk
from vetrina.gateway.console.login_guard import LoginGuard
from vetrina.gateway.console.proxies import TrustedProxies
from vetrina.gateway.console.redis_failures import RedisFailureCounter
from vetrina.gateway.console.responses import security_headers
from vetrina.gateway.http import errors
from vetrina.gateway.keys import (
    BOOKING_OUTCOMES,
    BOOKINGS,
    CONSOLE,
    DATABASE,
    HTTP_CLIENT,
    INSIGHTS,
    LIVE_BUS,
    PROVIDER_CHANNELS,
    READINESS,
    SERVICES,
    WEB_CHAT,
)
from vetrina.gateway.live import InProcessBus, LiveBus
from vetrina.gateway.live_redis import RedisBus
from vetrina.gateway.notifiers import ChannelNotifiers
from vetrina.gateway.observability import metrics_handler, request_ids
from vetrina.gateway.services import Services
from vetrina.gateway.webhooks import routes as webhook_routes
from vetrina.gateway.webhooks.providers import ProviderChannels
from vetrina.insights.service import Insights, InsightsOptions
from vetrina.settings import Settings
from vetrina.storage.database import Database

__all__ = ["SERVICES", "Services", "init_app", "socket_manager"]

log = logging.getLogger(__name__)

WEB_STATIC = Path(__file__).resolve().parent.parent.parent / "channels" / "web" / "static"

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def init_app(
    settings: Settings,
    *,
    assistant: Assistant | None = None,
    assistant_tracker: AssistantTracker | None = None,
    live: LiveBus | None = None,
) -> web.Application:
    """Build the gateway. ``assistant`` and ``assistant_tracker`` (its tracker, for
    handoffs) replace Rasa in tests that do not need it; ``live`` carries console updates
    between instances (default: Redis when ``REDIS_URL`` is set, else this process)."""
    app = web.Application(
        client_max_size=1024 * 1024, middlewares=[request_ids, security_headers, errors]
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        # With several gateway instances, an emit on one reaches sockets on every other.
        client_manager=socket_manager(settings),
        cors_allowed_origins=(
            "*" if "*" in settings.widget_origins else list(settings.widget_origins)
        ),
        max_http_buffer_size=64 * 1024,
        # One connection's events are handled one after another, so two messages
        # typed in quick succession are stored in the order they were sent.
        async_handlers=False,
    )
    sio.attach(app, socketio_path="socket.io")
    channels = ProviderChannels(settings)  # WhatsApp, Instagram: on, simulated, or off
    app[PROVIDER_CHANNELS] = channels

    app.cleanup_ctx.extend([
        database_ctx(settings),
        http_client_ctx,
        live_bus_ctx(settings, live),
        services_ctx(settings, sio, channels, assistant, assistant_tracker),
        workers_ctx,
    ])
    app.router.add_get("/", storefront)
    app.router.add_get("/widget.js", widget)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler(lambda request: request.app[SERVICES].db))
    app.router.add_post("/api/inventory/stock", inventory_api.post_stock)
    bookings_web.add_routes(app)
    customers_api.add_routes(app)
    insights_api.add_routes(app, settings)
    console_routes.add_routes(app)
    app.router.add_static("/static/", WEB_STATIC, follow_symlinks=False)
    webhook_routes.add_routes(app, channels)
    return app


def database_ctx(settings: Settings) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[DATABASE] = Database(settings.database_url)
        yield
        await app[DATABASE].dispose()

    return ctx


async def http_client_ctx(app: web.Application) -> AsyncIterator[None]:
    async with httpx.AsyncClient() as client:
        app[HTTP_CLIENT] = client
        yield


def live_bus_ctx(settings: Settings, live: LiveBus | None) -> CleanupContext:
    """Several instances (``REDIS_URL``): console updates cross them through Redis."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if live is not None:
            app[LIVE_BUS] = live
            yield
            return
        if not settings.redis_url:
            app[LIVE_BUS] = InProcessBus()
            yield
            return
        bus = RedisBus(settings.redis_url)
        app[LIVE_BUS] = bus
        yield
        await bus.close()

    return ctx


def services_ctx(
    settings: Settings,
    sio: socketio.AsyncServer,
    channels: ProviderChannels,
    assistant: Assistant | None,
    assistant_tracker: AssistantTracker | None,
) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db, http, bus = app[DATABASE], app[HTTP_CLIENT], app[LIVE_BUS]
        rasa = RasaAssistant(http, settings.rasa_url, settings.rasa_token, settings.rasa_timeout)
        backoff = Backoff(settings.retry_base_delay, settings.retry_max_delay)
        outbox = Outbox(
            db, {"web": WebSender(sio), **channels.senders(db, http)}, backoff=backoff,
            poll_interval=settings.worker_poll_interval,
        )
        desk = ConsoleDesk(
            db,
            assistant_tracker
            or RasaTracker(http, settings.rasa_url, settings.rasa_token, settings.rasa_timeout),
            bus, outbox.wake, settings.max_message_chars,
            typing_indicators={"web": WebNotifier(sio), **channels.typing_indicators()},
        )

        async def replies_stored(customer_id: str) -> None:
            outbox.wake()
            try:  # a new consultant request shows in the consoles' queues
                await desk.after_bot_turn(customer_id)
            except Exception:  # the reply is stored either way; the console can reload
                log.exception("could not tell the consoles about %s", customer_id)

        # Rasa back after being down: answer what waited at once, not after its backoff.
        # (A test's own assistant has no readiness to watch.)
        readiness = (
            ReadinessWatch(rasa.ready, lambda: processor.retry_postponed_now())
            if assistant is None else None
        )
        app[READINESS] = readiness
        memory = RasaMemory(
            http, settings.rasa_url, settings.rasa_token, settings.tracker_store_url
        )
        processor = TurnProcessor(
            db,
            assistant or rasa,
            ChannelNotifiers({"web": WebNotifier(sio), **channels.notifiers(db, outbox.wake)}),
            replies_stored,
            ProcessingOptions(
                concurrency=settings.worker_concurrency,
                assistant=LimitOptions.between(
                    settings.rasa_concurrency_min, settings.rasa_concurrency_max
                ),
                poll_interval=settings.worker_poll_interval,
                notice_after=settings.delayed_notice_after,
                default_language=settings.default_language,
                backoff=backoff,
            ),
            desk=desk,  # a consultant's conversations never reach the assistant
            on_unavailable=readiness.unavailable if readiness is not None else None,
            links=LinkProofs(db, memory),  # codes sent from WhatsApp/Instagram link chats
        )
        inbox = Inbox(db)
        app[WEB_CHAT] = await open_web_chat(
            sio, db, inbox, processor.wake, ShopLogin(db, settings.identity_secret, memory),
            settings,
        )
        channels.bind(
            db=db, inbox=inbox, on_stored=processor.wake, wake_outbox=outbox.wake, backoff=backoff
        )
        app[SERVICES] = Services(settings, db, http, rasa, inbox, processor, outbox, sio, memory)
        bookings = Bookings(db, BookingOptions.from_settings(settings))
        app[BOOKINGS] = bookings
        app[INSIGHTS] = Insights(db, InsightsOptions.from_settings(settings))
        app[BOOKING_OUTCOMES] = BookingOutcomes(db)
        redis_counter = RedisFailureCounter(settings.redis_url) if settings.redis_url else None
        counter: FailureCounter = redis_counter or SqlFailureCounter(db)
        app[CONSOLE] = Console(
            db, desk, bus, bookings, CookiePolicy(settings.console_secure_cookies),
            lazy_stock_checker(db, settings.safety_stock), LoginGuard(counter),
            TrustedProxies.parse(settings.trusted_proxies), memory,
            settings.consultant_hours, settings.consultant_timezone,
        )
        yield
        await processor.stop()
        await channels.close()
        await sio.shutdown()
        if isinstance(sio.manager, RedisSocketManager):
            await sio.manager.close()
        if redis_counter is not None:
            await redis_counter.close()

    return ctx


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """The turn processor, the outbox and the booking sweeps, stopped before the rest."""
    services = app[SERVICES]
    workers = [
        asyncio.create_task(services.processor.run(), name="turn-processor"),
        asyncio.create_task(services.outbox.run(), name="outbox"),
        asyncio.create_task(app[WEB_CHAT].run(), name="web-redelivery"),
        asyncio.create_task(
            bookings_web.booking_worker(app[BOOKINGS], services.outbox.wake), name="bookings"
        ),
        # PostgreSQL: woken when another instance stores outbound work (LISTEN/NOTIFY).
        asyncio.create_task(
            listen_for_outbound(services.db, services.outbox.wake), name="outbox-listener"
        ),
        asyncio.create_task(insights_api.refresh_worker(app[INSIGHTS]), name="insights"),
    ]
    readiness = app[READINESS]
    if readiness is not None:
        workers.append(asyncio.create_task(readiness.run(), name="assistant-readiness"))
    yield
    for task in workers:
        task.cancel()
    for task in workers:
        with contextlib.suppress(asyncio.CancelledError):
            await task


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

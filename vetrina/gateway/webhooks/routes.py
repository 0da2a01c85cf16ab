"""The providers' webhook routes: ``POST /webhooks/whatsapp``, ``POST /webhooks/whatsapp/status``,
``GET|POST /webhooks/instagram``, and the simulator (``/simulator``) when it is on.

Verification and parsing live in ``channels/`` (signatures, payloads); these routes
only hand the request to the channel's webhook, bound once the app has started (503
"starting" before that).
"""

from __future__ import annotations

from aiohttp import web

from channels.simulator import Simulator
from vetrina.gateway.webhooks.providers import FAKE_META_PATH, FAKE_TWILIO_PATH, ProviderChannels


def _starting() -> web.Response:
    return web.Response(status=503, text="starting")


def add_routes(app: web.Application, channels: ProviderChannels) -> None:
    """Mount the webhooks of the channels that are on (simulated ones included)."""

    async def whatsapp_incoming(request: web.Request) -> web.StreamResponse:
        hook = channels.whatsapp_webhook
        return await hook.incoming(request) if hook is not None else _starting()

    async def whatsapp_status(request: web.Request) -> web.StreamResponse:
        hook = channels.whatsapp_webhook
        return await hook.status(request) if hook is not None else _starting()

    async def instagram_verify(request: web.Request) -> web.StreamResponse:
        hook = channels.instagram_webhook
        return await hook.verify(request) if hook is not None else _starting()

    async def instagram_receive(request: web.Request) -> web.StreamResponse:
        hook = channels.instagram_webhook
        return await hook.receive(request) if hook is not None else _starting()

    router = app.router
    if channels.twilio is not None:
        router.add_post("/webhooks/whatsapp", whatsapp_incoming)
        router.add_post("/webhooks/whatsapp/status", whatsapp_status)
    if channels.meta is not None:
        router.add_get("/webhooks/instagram", instagram_verify)
        router.add_post("/webhooks/instagram", instagram_receive)
    if channels.settings.simulator:
        if channels.twilio_fake is not None:
            app.add_subapp(FAKE_TWILIO_PATH, channels.twilio_fake.app())
        if channels.meta_fake is not None:
            app.add_subapp(FAKE_META_PATH, channels.meta_fake.app())
        Simulator(
            public_url=channels.settings.public_url,
            twilio_fake=channels.twilio_fake,
            meta_fake=channels.meta_fake,
        ).add_routes(app)

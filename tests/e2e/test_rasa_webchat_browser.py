"""The stock Rasa widget, ``rasa-webchat`` 1.0.1 from npm, unchanged, on a page Vetrina
does not serve, in Chromium, against the real stack (Rasa, action server, gateway):
replies and quick replies are shown, a clicked quick reply gets its answer, an image is
shown, and the conversation survives a reload."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from tests.conftest import free_port, skip_or_fail
from tests.e2e.test_widget_browser import browser  # noqa: F401  (the session's Chromium)
from tests.stack_fixtures import Gateway
from vetrina.conversations.models import Conversation
from vetrina.conversations.writing import pending_outbound
from vetrina.customers.models import ChannelIdentity
from vetrina.language import detect_language
from vetrina.storage.base import utcnow

pytestmark = pytest.mark.e2e

WEBCHAT = Path(__file__).resolve().parent.parent / "clients/node_modules/rasa-webchat/lib/index.js"
# A 1x1 PNG, served by the shop's own server.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def page_html(gateway_url: str) -> str:
    config = {
        "selector": "#webchat", "socketUrl": gateway_url, "socketPath": "/socket.io/",
        "customData": {"language": "it"}, "title": "Negozio", "embedded": True,
        "params": {"storage": "local"},
    }
    return (
        "<!doctype html><html lang='it'><head><meta charset='utf-8'><title>Shop</title></head>"
        "<body><div id='webchat' style='height:600px'></div>"
        "<script src='/rasa-webchat.js'></script>"
        f"<script>WebChat.default({json.dumps(config)}, null);</script></body></html>"
    )


@pytest_asyncio.fixture
async def shop(gateway: Gateway) -> AsyncIterator[str]:
    if not WEBCHAT.exists():
        skip_or_fail("rasa-webchat is not installed: run `make test-clients`")

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page_html(gateway.url), content_type="text/html")

    async def script(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEBCHAT)

    async def pixel(_request: web.Request) -> web.Response:
        return web.Response(body=PIXEL, content_type="image/png")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/rasa-webchat.js", script)
    app.router.add_get("/trench.png", pixel)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def send_image(gateway: Gateway, session_id: str, url: str) -> None:
    """A reply with a picture for this chat, through the outbox like any other."""
    db = gateway.services.db
    async with db.transaction() as session:
        customer_id = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.channel == "web",
                ChannelIdentity.external_id == session_id.split(".")[0],
            )
        )
        assert customer_id is not None
        conversation_id = await session.scalar(
            select(Conversation.id).where(Conversation.customer_id == customer_id)
        )
        assert conversation_id is not None
        session.add(pending_outbound(
            conversation_id=conversation_id, customer_id=customer_id, channel="web",
            author="bot", text="", payload={"image": url}, now=utcnow(),
        ))
    gateway.services.outbox.wake()


async def test_rasa_webchat_shows_replies_quick_replies_images_and_survives_a_reload(
    browser, gateway: Gateway, shop: str  # noqa: F811
) -> None:
    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    try:
        await page.goto(shop + "/")
        await page.wait_for_selector(".rw-new-message", timeout=15_000)
        # (a bare .rw-response is also the typing indicator)
        responses = page.locator(".rw-response .rw-message-text")
        await page.fill(".rw-new-message", "cosa sai fare?")
        await page.click(".rw-send")
        await responses.first.wait_for(timeout=60_000)
        first = await responses.first.inner_text()
        assert detect_language(first) == "it", first
        replies = page.locator(".rw-reply")
        await replies.first.wait_for(timeout=10_000)
        titles = [t.strip() for t in await replies.all_inner_texts()]
        assert "Prenota una prova" in titles, titles

        shown = await responses.count()
        await page.locator(".rw-reply", has_text="Prenota una prova").click()
        await page.wait_for_function(
            f"document.querySelectorAll('.rw-response .rw-message-text').length > {shown}",
            timeout=60_000,
        )
        answer = await responses.nth(shown).inner_text()
        assert answer.strip() and answer != first

        session_id = await page.evaluate(
            "() => JSON.parse(localStorage.getItem('chat_session')).session_id"
        )
        await send_image(gateway, session_id, shop + "/trench.png")
        image = page.locator("img.rw-image-frame")
        await image.wait_for(timeout=20_000)
        assert await image.get_attribute("src") == shop + "/trench.png"

        before = await page.locator(".rw-message-text").count()
        await page.reload()
        await page.wait_for_selector(".rw-new-message", timeout=15_000)
        await page.wait_for_function(
            f"document.querySelectorAll('.rw-message-text').length >= {before}", timeout=15_000
        )
        assert await page.evaluate(
            "() => JSON.parse(localStorage.getItem('chat_session')).session_id"
        ) == session_id  # the server confirmed the same session
        assert await responses.first.inner_text() == first
        shown = await responses.count()
        await page.fill(".rw-new-message", "grazie")
        await page.click(".rw-send")
        await page.wait_for_function(
            f"document.querySelectorAll('.rw-response .rw-message-text').length > {shown}",
            timeout=60_000,
        )
    finally:
        await context.close()
